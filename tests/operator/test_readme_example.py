"""The README's example, as a user runs it: `kubectl apply --server-side -f deploy/examples/` on the real
stack with the operator running, then the README's `kubectl wait`, `kubectl get` and `kubectl describe`.
(tests/test_readme.py checks that the README shows exactly these files.)"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import get_json, own_namespace, wait_for
from tests.readme import EXAMPLES, README, shown_output

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain]

NS = "readme-example"


def _sla_recorded(stack: StackHandle) -> dict[str, Any] | None:
    st = get_json(stack, "sla", "crowd-counter-sla", "-n", NS).get("status") or {}
    recorded = any(c["type"] == "Recorded" and c["status"] == "True" for c in st.get("conditions") or [])
    return st if recorded and st.get("agreementId") and st.get("compliance") is not None else None


def test_the_readme_example_is_placed_and_its_sla_is_on_chain(operator: StackHandle) -> None:
    readme = README.read_text()
    assert "kubectl apply --server-side -f deploy/examples/" in readme
    with own_namespace(operator, NS):
        applied = operator.kubectl("apply", "--server-side", "-n", NS, "-f", str(EXAMPLES)).stdout
        assert applied.count("serverside-applied") == 3, applied

        assert "kubectl wait --for=jsonpath='{.status.phase}'=Placed ew/crowd-counter" in readme
        operator.kubectl("wait", "--for=jsonpath={.status.phase}=Placed", "ew/crowd-counter", "-n", NS,
                         "--timeout=120s", timeout=150)

        got = operator.kubectl("get", "ew", "crowd-counter", "-n", NS).stdout.splitlines()
        shown = shown_output("kubectl get ew crowd-counter")
        assert got[0].split() == shown[0].split()
        name, replicas, phase, sites, latency, _age = got[1].split()
        assert (name, replicas, phase) == ("crowd-counter", "2", "Placed")
        assert float(latency) <= 10  # spec.qos.maxLatencyMs
        workload = get_json(operator, "ew", "crowd-counter", "-n", NS)
        assert {p["tier"] for p in workload["status"]["placements"]} <= {"far-edge", "edge"}
        assert set(sites.split(",")) == {p["site"] for p in workload["status"]["placements"]}

        described = operator.kubectl("describe", "ew", "crowd-counter", "-n", NS).stdout
        for shown_line in ("Phase:", "Placements:", "Predicted Latency Ms:", "Solver:"):
            assert shown_line in "\n".join(shown_output("kubectl describe ew crowd-counter"))
            assert shown_line in described
        assert re.search(r"Phase:\s+Placed", described)
        assert re.search(r"Normal\s+Placed\s+\S+\s+edgeorch\s+2 replicas on", described), described

        status = wait_for(lambda: _sla_recorded(operator), 90, "the README's SLA recorded on chain and evaluated")
        assert status["agreementId"].startswith("0x") and status["contractAddress"].startswith("0x")
        got = operator.kubectl("get", "sla", "crowd-counter-sla", "-n", NS).stdout.splitlines()
        assert got[0].split() == shown_output("kubectl get sla crowd-counter-sla")[0].split()
        assert got[1].split()[:3] == ["crowd-counter-sla", "bcn-edge-operator", "crowd-counter"]
