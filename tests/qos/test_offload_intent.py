"""An offload survives a crash in the middle, and the intent of one fault never drives the next
(issue #25, bug 1), on the real stack.

The operator is killed -9 the moment the offload intent appears in the agreement's status (before
the controller can move the Pods), then restarted: the workload still leaves the degraded site, and
fails back after the heal.  A second fault at the same site is a new breach: the workload offloads
again, and every move is on chain under the breach it answered (read back with cast).
"""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import pytest

from devstack.localstack.tools import k8s_binary
from sim.control import ExporterControlSync
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import apply_all, get_json, own_namespace, wait_for, workload
from tests.qos.conftest import cast, chain_breaches, sla

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain]
LATENCY = load_scenario(DEFAULT_SCENARIO).latency_ms()
MIGRATION_SIG = "MigrationRecorded(bytes32 indexed,bytes32 indexed,bytes32 indexed,bytes32,string,string)"


def _sites(stack: StackHandle, ns: str, name: str) -> set[str]:
    ew = get_json(stack, "edgeworkload", name, "-n", ns)
    return {p["site"] for p in (ew.get("status") or {}).get("placements") or []}


def _pod_sites(stack: StackHandle, ns: str) -> set[str]:
    pods = get_json(stack, "pods", "-n", ns)["items"]
    return {p["metadata"]["labels"]["edgeorch.io/site"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def _kill_when_the_intent_appears(stack: StackHandle, ns: str, agreement: str) -> threading.Event:
    """Watch the agreement (kubectl get -w) and kill -9 the operator as soon as its status holds an
    offload intent.  The returned event is set once the kill happened."""
    killed = threading.Event()
    proc = subprocess.Popen(
        [str(k8s_binary("kubectl")), f"--kubeconfig={stack.kubeconfig}", "get", "sla", agreement, "-n", ns,
         "-w", "-o", 'jsonpath={.status.offloadIntent.action}{"\\n"}'],
        stdout=subprocess.PIPE, text=True)

    def watch() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "Offload":
                stack.stack.stop_operator(kill=True)
                killed.set()
                break
        proc.kill()

    threading.Thread(target=watch, daemon=True).start()
    return killed


def _migrations(stack: StackHandle, contract: str, agreement: str) -> dict[str, list[tuple[str, str]]]:
    """MigrationRecorded events of one agreement, by breach id: (from, to) per move (read with cast)."""
    logs = json.loads(cast("logs", "--json", "--rpc-url", stack.chain_url, "--address", contract,
                           "--from-block", "0", MIGRATION_SIG))
    out: dict[str, list[tuple[str, str]]] = {}
    for log in logs:
        if log["topics"][2] != agreement:
            continue
        fields = cast("abi-decode", "--input", "f(bytes32,string,string)", log["data"]).splitlines()
        out.setdefault(log["topics"][3], []).append((fields[1].strip('"'), fields[2].strip('"')))
    return out


def _fault_offload_heal(stack: StackHandle, control: ExporterControlSync, ns: str, name: str, home: str,
                        contract: str, agreement: str, breaches_before: int, *, kill: bool) -> None:
    killed = _kill_when_the_intent_appears(stack, ns, "crash-sla") if kill else None
    fault = control.inject_latency(home, 40.0)
    try:
        if killed is not None:
            assert killed.wait(90), "no offload intent appeared in the agreement's status"
            print(f"killed with the workload's status at {_sites(stack, ns, name)}, its pods at {_pod_sites(stack, ns)}")
            stack.stack.start_operator()
        wait_for(lambda: len(chain_breaches(stack, contract, agreement)) == breaches_before + 1, 90,
                 "the new breach on chain (cast)")
        moved = wait_for(lambda: (lambda s: s if s and home not in s else None)(_sites(stack, ns, name)),
                         90, "the workload moved off the degraded site")
        wait_for(lambda: _pod_sites(stack, ns) == moved, 60, "its pod at the new site")
    finally:
        control.heal(fault)
    wait_for(lambda: _sites(stack, ns, name) == {home}, 120, "fail-back to the healed site")
    wait_for(lambda: _pod_sites(stack, ns) == {home}, 60, "its pod back at the healed site")


def test_an_offload_survives_a_crash_and_the_next_fault_is_a_new_offload(operator: StackHandle) -> None:
    name, cell = "crash-cam", "cell-gracia-1"
    with own_namespace(operator, "qos-crash") as ns:
        ew: dict[str, Any] = workload(name, ns, cells={cell: 1.0}, max_latency_ms=20, tiers=["far-edge", "edge"])
        ew["spec"]["migration"] = {"budgetPerHour": 20, "cooldownSeconds": 2, "failBack": True}
        apply_all(operator, [ew, sla("crash-sla", ns, name)])
        (home,) = wait_for(lambda: _sites(operator, ns, name), 60, "the workload placed")
        rec = wait_for(lambda: (lambda s: s if s.get("agreementId") else None)(
            get_json(operator, "sla", "crash-sla", "-n", ns).get("status") or {}), 60, "the SLA on chain")
        contract, agreement = rec["contractAddress"], rec["agreementId"]
        wait_for(lambda: all(o["state"] == "Ok" for o in (get_json(operator, "sla", "crash-sla", "-n", ns)
                 .get("status") or {}).get("objectives") or [{"state": "none"}]), 60, "the objective evaluated Ok")
        control = ExporterControlSync(operator.exporter_url)

        _fault_offload_heal(operator, control, ns, name, home, contract, agreement, 0, kill=True)
        wait_for(lambda: all(o["state"] == "Ok" for o in get_json(operator, "sla", "crash-sla", "-n", ns)
                 ["status"]["objectives"]), 60, "the objective met again")
        _fault_offload_heal(operator, control, ns, name, home, contract, agreement, 1, kill=False)

        breaches = [b["topics"][1] for b in chain_breaches(operator, contract, agreement)]
        assert len(breaches) == 2 and len(set(breaches)) == 2, breaches
        moves = wait_for(lambda: (lambda m: m if all(len(m.get(b, [])) >= 2 for b in breaches) else None)(
            _migrations(operator, contract, agreement)), 60, "both faults' moves on chain")
        for b in breaches:  # each fault's offload and fail-back, under its own breach
            assert any(src == home for src, _ in moves[b]) and any(dst == home for _, dst in moves[b]), moves
        assert set(moves) == set(breaches), moves
        events = get_json(operator, "events", "-n", ns)["items"]
        by_reason: dict[str, int] = {}
        for e in events:
            by_reason[e["reason"]] = by_reason.get(e["reason"], 0) + int(e.get("count") or 1)
        assert by_reason.get("Offloaded", 0) >= 2 and by_reason.get("FailedBack", 0) >= 2, by_reason
