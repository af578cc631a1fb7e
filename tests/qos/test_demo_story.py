"""The demo's QoS story (`edgeorch demo`, orchestrator/demo.py + orchestrator/story.py) on the real
stack: the sample apps placed, a latency fault at the busiest edge site, the video-analytics SLA
breached on chain exactly once (read back with cast), the offload to a real site and the fail-back,
all of it in the printed story.

The story runs on a stack of its own, as `make run` does: on the session's stack the workloads left by
earlier tests fill the far-edge sites, and the samples land where a fail-back gains too little to be
worth a migration (correct behaviour, but not the story the README promises).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import demo
from devstack.localstack import Stack
from sim.control import ExporterControlSync
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import ensure_namespace, get_json
from tests.qos.conftest import chain_breach_counts, chain_breaches

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain, pytest.mark.slow]
CITY = load_scenario(DEFAULT_SCENARIO)
TIER = {s.name: s.tier for s in CITY.sites}


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """A fresh stack of the default city with the operator, for this module alone."""
    st = Stack(Path(tmp_path_factory.mktemp("story-stack")))
    try:
        state = st.up(DEFAULT_SCENARIO, log=print)
        st.start_operator()
        yield StackHandle(st, state)
    finally:
        st.down(log=print)


def test_the_demo_story_tells_breach_offload_and_fail_back(own_stack: StackHandle) -> None:
    operator = own_stack
    ns = "demo-story"
    ensure_namespace(operator, ns)
    lines: list[str] = []
    try:
        told = demo.act(operator.state, lines.append, time.monotonic(), namespace=ns)
        text = "\n".join(lines)
        assert told is not None and told.complete, text
        assert all(re.match(r"^(\[ *\d+\.\ds\] |  )", line) for line in lines), text  # timestamped story

        # the fault went where video-analytics serves its users (the site with most of its replicas), which the
        # story names as the busiest edge site (the edge-tier site with the most replicas, counted here from the
        # printed placement) or else names the busiest edge site it left alone
        placement = text[:text.index("the QoS story")]
        edge = Counter(re.findall(r"\(edge site ([\w-]+)\)", placement))
        busiest = min(edge, key=lambda s: (-edge[s], s))
        home = Counter(told.home)
        assert told.fault_site == min(home, key=lambda s: (-home[s], s)), (edge, home, told.fault_site)
        assert f"fault: +40 ms of latency at {told.fault_site}, " in text
        assert f"the busiest edge site, {busiest} ({edge[busiest]} replicas)" in text \
            or f"{busiest}, the busiest edge site ({edge[busiest]} replicas)" in text

        # breach on chain, shown with its agreement and tx; exactly one for the agreement (cast reads it)
        assert told.agreement_id and told.contract
        assert f"SLA video-analytics-sla on chain: agreement {told.agreement_id}" in text
        on_chain = chain_breaches(operator, told.contract, told.agreement_id)
        assert len(on_chain) == 1, on_chain
        assert sum(chain_breach_counts(operator, told.contract, told.agreement_id)) == 1
        assert f"breach on chain: breach {on_chain[0]['topics'][1]}" in text
        assert on_chain[0]["transactionHash"] in text

        # the offload left the degraded site for real sites, and the fail-back came home
        assert told.offloaded and all(a == told.fault_site and b in TIER and b != a for a, b in told.offloaded)
        assert "offloaded video-analytics: " + ", ".join(f"{a} -> {b}" for a, b in told.offloaded) in text
        assert "recovery: the fault at " + told.fault_site + " healed" in text
        assert len(told.failed_back) == len(told.offloaded)
        assert all(b == told.fault_site and a != b for a, b in told.failed_back), told.failed_back
        assert "failed back video-analytics: " + ", ".join(f"{a} -> {b}" for a, b in told.failed_back) in text
        assert text.index("breach on chain") < text.index("offloaded") < text.index("healed") < text.index("failed back")
        hops = {(m.args["from_site"], m.args["to_site"]) for m in told.migrations}  # one record per pair of sites
        assert hops == set(told.offloaded) | set(told.failed_back), hops
        assert not [f for f in ExporterControlSync(operator.exporter_url).faults() if f.get("site") == told.fault_site]
        events = {e["reason"] for e in get_json(operator, "events", "-n", ns)["items"]}
        assert {"SLABreached", "Offloaded", "FailedBack"} <= events, events
    finally:
        operator.kubectl("delete", "namespace", ns, "--wait=false", check=False)
