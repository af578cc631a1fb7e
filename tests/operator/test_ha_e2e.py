"""Two operator processes against the real stack (orchestrator.leader): exactly one acts (only it writes
Pods and statuses, as the API server's managedFields say; the standby is not ready and counts nothing);
kill -9 of the leader in the middle of a wave of 120 EdgeWorkloads, and in the middle of a breach storm:
the standby takes over, nothing is placed twice, no breach is written twice, none is lost (the checks of
test_operator_e2e's kill-mid-wave test and test_faults_and_outages' breach-storm test)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.faults import Faults
from devstack.localstack import Stack
from devstack.localstack.components import operator_name
from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, live_pods, own_namespace, wait_for, workload
from tests.operator.test_operator_e2e import _check_rules, _random_workloads, _wait_placed
from tests.qos.conftest import chain_breaches, sla

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain, pytest.mark.slow]


def probe(stack: StackHandle, instance: int, path: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON) of operator process `instance`'s /healthz or /readyz ((0, {}) when it does not answer)."""
    url = Stack.operator_url(stack.state, instance, path)
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError:
        return 0, {}


def metric(stack: StackHandle, instance: int, name: str) -> float | None:
    with urllib.request.urlopen(Stack.operator_url(stack.state, instance, "metrics"), timeout=3) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def leader(stack: StackHandle) -> int:
    """Which process (1 or 2) leads and is ready, waiting for one to."""
    def ready() -> int:
        return next((i for i in (1, 2) if probe(stack, i, "readyz")[0] == 200), 0)
    found: int = wait_for(ready, 60, "an operator process to lead")
    return found


def identity(stack: StackHandle, instance: int) -> str:
    return str(probe(stack, instance, "healthz")[1]["identity"])


def slot_identity(instance: int) -> str:
    """The Lease identity the local stack gives operator process `instance` (also when it is not running)."""
    return f"{socket.gethostname()}-{operator_name(instance)}"


def writers(stack: StackHandle, kind: str, ns: str) -> set[str]:
    """The edgeorch processes that wrote the namespace's objects of `kind` (managedFields' managers:
    edgeorch@<identity>, the user agent of the operator's client)."""
    items = get_json(stack, kind, "-n", ns, "--show-managed-fields")["items"]
    return {m["manager"] for o in items for m in o["metadata"].get("managedFields") or []
            if m.get("manager", "").startswith("edgeorch@")}


@pytest.fixture()
def pair(operator: StackHandle) -> Iterator[StackHandle]:
    """Operator process 1 (leading) and a second one (a standby); afterwards process 1 leads alone again."""
    operator.stack.start_operator(instance=2, wait="healthy")
    try:
        yield operator
    finally:
        if operator.stack.supervisor.pid("operator") is None:
            operator.stack.start_operator(instance=1, wait="healthy")
        operator.stack.stop_operator(instance=2)  # a clean stop releases the Lease: process 1 takes it at once
        leader(operator)


def test_two_operators_exactly_one_acts(pair: StackHandle) -> None:
    assert leader(pair) == 1
    assert probe(pair, 2, "readyz")[0] == 503
    health = wait_for(lambda: (lambda h: h if h.get("holder") else None)(probe(pair, 2, "healthz")[1]), 10,
                      "the standby to read the Lease")
    assert health["role"] == "standby" and health["holder"] == identity(pair, 1)
    assert metric(pair, 1, "edgeorch_leader") == 1 and metric(pair, 2, "edgeorch_leader") == 0
    lease = get_json(pair, "lease", "edgeorch-operator", "-n", "edgeorch-system")["spec"]
    assert lease["holderIdentity"] == identity(pair, 1)
    with own_namespace(pair, "ha-one") as ns:
        docs = _random_workloads(ns, 15, seed=5)
        apply_all(pair, docs)
        _wait_placed(pair, ns, 15, 120, "15 placed EdgeWorkloads")
        wait_for(lambda: len(live_pods(pair, ns)) == sum(d["spec"]["replicas"] for d in docs), 60, "every replica made")
        assert writers(pair, "pods", ns) == writers(pair, "edgeworkloads", ns) == {f"edgeorch@{identity(pair, 1)}"}
        assert metric(pair, 2, 'edgeorch_placements_total{result="placed"}') in (None, 0)
        assert (metric(pair, 1, 'edgeorch_placements_total{result="placed"}') or 0) >= 15


def test_the_leader_killed_mid_wave_the_standby_places_each_workload_exactly_once(pair: StackHandle) -> None:
    first = leader(pair)
    second = 3 - first
    with own_namespace(pair, "ha-crash") as ns:
        docs = _random_workloads(ns, 120, seed=13)
        apply_all(pair, docs)
        wait_for(lambda: len(live_pods(pair, ns)) >= 20, 60, "the wave to be under way")
        pair.stack.stop_operator(kill=True, instance=first)
        assert leader(pair) == second
        _wait_placed(pair, ns, 120, 180, "all 120 placed after the takeover")
        want = sum(d["spec"]["replicas"] for d in docs)
        wait_for(lambda: len(live_pods(pair, ns)) == want, 60, f"{want} pods")
        pods = live_pods(pair, ns)
        owners = Counter(p["metadata"]["ownerReferences"][0]["name"] for p in pods)
        assert owners == Counter({d["metadata"]["name"]: d["spec"]["replicas"] for d in docs})
        _check_rules(pair, ns, docs)
        both = {f"edgeorch@{slot_identity(second)}", f"edgeorch@{slot_identity(first)}"}
        assert writers(pair, "pods", ns) <= both and writers(pair, "edgeworkloads", ns) <= both
        # the new leader finished the wave (the Pods may all have been made before the kill, their
        # workloads' status not)
        assert f"edgeorch@{slot_identity(second)}" in writers(pair, "pods", ns) | writers(pair, "edgeworkloads", ns)
    pair.stack.start_operator(instance=first, wait="healthy")  # back, as the standby
    assert probe(pair, first, "healthz")[1]["role"] == "standby"


def test_the_leader_killed_mid_breach_storm_every_breach_lands_once(pair: StackHandle) -> None:
    first = leader(pair)
    ns, cell, count = "ha-storm", "cell-poblenou-1", 8
    faults = Faults(pair.exporter_url, pair.kubeconfig, pair.state.scenario)
    with own_namespace(pair, ns):
        docs: list[dict[str, Any]] = []
        for i in range(count):
            ew = workload(f"app{i}", ns, cells={cell: 1.0}, max_latency_ms=25, tiers=["far-edge", "edge"])
            ew["spec"]["migration"] = {"budgetPerHour": 0, "cooldownSeconds": 0, "failBack": False}  # stay put
            docs += [ew, sla(f"app{i}-sla", ns, f"app{i}")]
        apply_all(pair, docs)
        names = [f"app{i}-sla" for i in range(count)]

        def status(name: str) -> dict[str, Any]:
            return get_json(pair, "sla", name, "-n", ns).get("status") or {}  # type: ignore[no-any-return]

        recorded = wait_for(lambda: (lambda s: s if all(x.get("agreementId") for x in s) else None)(
            [status(n) for n in names]), 90, "every SLA recorded on chain")
        contract = recorded[0]["contractAddress"]
        sites = {p["site"] for i in range(count)
                 for p in (get_json(pair, "edgeworkload", f"app{i}", "-n", ns).get("status") or {}).get("placements") or []}
        ids = [faults.latency(site, 60.0) for site in sites]
        try:
            def storm() -> list[dict[str, Any]]:  # one read of every SLA (a kubectl per SLA is too slow)
                return [i.get("status") or {} for i in get_json(pair, "sla", "-n", ns)["items"]]

            def begun() -> list[dict[str, Any]] | None:  # the first breach recorded: the others are on their way
                now = storm()
                return now if any(st.get("breaches") for st in now) else None
            at_kill = wait_for(begun, 60, "the first breach", interval=0.05)
            killed_after = sum(bool(st.get("breaches")) for st in at_kill)
            print(f"leader killed with {killed_after} of {count} SLAs' breaches recorded")
            pair.stack.stop_operator(kill=True, instance=first)
            assert leader(pair) == 3 - first

            def landed() -> bool:
                return all(len(chain_breaches(pair, contract, r["agreementId"])) >= 1 for r in recorded) and \
                    all(not (status(n).get("outbox") or []) for n in names)
            wait_for(landed, 90, "every breach on chain, every outbox empty, after the takeover")
            time.sleep(5)  # a duplicate written late by the new leader would show now
            for rec in recorded:
                breaches = chain_breaches(pair, contract, rec["agreementId"])
                assert len(breaches) == 1, (rec["agreementId"], killed_after, breaches)
        finally:
            for f in ids:
                faults.heal(f)
    pair.stack.start_operator(instance=first, wait="healthy")
