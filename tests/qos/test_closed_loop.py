"""The QoS closed loop on the real stack: a latency fault at the hosting site breaches the SLA, the
breach lands on chain once (read back with cast), the workload moves to a compliant site, and it
fails back after the fault heals; the replica is never unavailable on the way (make before break)."""

from __future__ import annotations

from typing import Any

import pytest

from sim.control import ExporterControlSync
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import (
    ReadyWatch,
    apply_all,
    ensure_namespace,
    get_json,
    live_pods,
    pod_ready,
    wait_for,
    workload,
)
from tests.qos.conftest import chain_breach_counts, chain_breaches, sla

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain]
LATENCY = load_scenario(DEFAULT_SCENARIO).latency_ms()


def _ew(stack: StackHandle, ns: str, name: str) -> dict[str, Any]:
    return get_json(stack, "edgeworkload", name, "-n", ns)  # type: ignore[no-any-return]


def _sites(stack: StackHandle, ns: str, name: str) -> set[str]:
    return {p["site"] for p in (_ew(stack, ns, name).get("status") or {}).get("placements") or []}


def _pod_sites(stack: StackHandle, ns: str) -> set[str]:
    pods = get_json(stack, "pods", "-n", ns)["items"]
    return {p["metadata"]["labels"]["edgeorch.io/site"] for p in pods
            if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"}


def test_latency_fault_breach_on_chain_offload_and_fail_back(operator: StackHandle) -> None:
    ns, name = "qos-loop", "cam"
    ensure_namespace(operator, ns)
    cell = "cell-eixample-1"
    ew = workload(name, ns, cells={cell: 1.0}, max_latency_ms=20, tiers=["far-edge", "edge"])
    ew["spec"]["migration"] = {"budgetPerHour": 10, "cooldownSeconds": 2, "failBack": True}
    apply_all(operator, [ew, sla("cam-sla", ns, name)])
    first = wait_for(lambda: _sites(operator, ns, name), 60, "the workload placed")
    (home,) = first
    assert home == min((s for s in LATENCY[cell] if not s.startswith("cloud")), key=LATENCY[cell].get)
    rec = wait_for(lambda: (lambda s: s if s.get("agreementId") else None)(
        get_json(operator, "sla", "cam-sla", "-n", ns).get("status") or {}), 60, "the SLA recorded on chain")
    contract, agreement = rec["contractAddress"], rec["agreementId"]
    wait_for(lambda: all(o["state"] == "Ok" for o in (get_json(operator, "sla", "cam-sla", "-n", ns)
             .get("status") or {}).get("objectives") or [{"state": "none"}]), 60, "the objective evaluated Ok")
    assert chain_breach_counts(operator, contract, agreement) == [0, 0, 0, 0, 0]

    wait_for(lambda: [p for p in live_pods(operator, ns) if pod_ready(p)], 60, "the replica Ready")

    control = ExporterControlSync(operator.exporter_url)
    # make before break (#19 item 3): through the offload and the fail-back, the one replica's
    # successor is Ready before it goes (1 replica, maxUnavailable 25 %: none may be unavailable)
    with ReadyWatch(operator, ns) as watch:
        fault = control.inject_latency(home, 40.0)
        try:
            wait_for(lambda: chain_breaches(operator, contract, agreement), 60, "the breach on chain (cast)")
            moved = wait_for(lambda: (lambda s: s if s and home not in s else None)(_sites(operator, ns, name)),
                             60, "the workload moved off the degraded site")
            wait_for(lambda: _pod_sites(operator, ns) == moved, 60, "the pod running at the new site")
            status = get_json(operator, "sla", "cam-sla", "-n", ns)["status"]
            conds = {c["type"]: c["status"] for c in status["conditions"]}
            assert conds["Breached"] == "True" or status["objectives"][0]["state"] in ("Breached", "Ok")
            for site in moved:
                assert LATENCY[cell][site] <= 20
        finally:
            control.heal(fault)
        wait_for(lambda: _sites(operator, ns, name) == {home}, 90, "fail-back to the healed site")
        wait_for(lambda: _pod_sites(operator, ns) == {home} and len(live_pods(operator, ns)) == 1, 60,
                 "the pod back at the healed site, alone")
    assert watch.min_ready >= 1 and watch.events >= 4, (watch.min_ready, watch.events)
    breaches = chain_breaches(operator, contract, agreement)
    assert len(breaches) == 1, breaches  # exactly once
    assert sum(chain_breach_counts(operator, contract, agreement)) == 1
    events = {e["reason"] for e in get_json(operator, "events", "-n", ns)["items"]}
    assert {"SLABreached", "Offloaded", "FailedBack"} <= events, events
    ew_status = _ew(operator, ns, name)["status"]
    assert ew_status["migrations"] >= 2
