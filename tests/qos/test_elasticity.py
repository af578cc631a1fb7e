"""SLA-driven elasticity (#22 part 2) on the real stack: the simulator's load and latency faults, its
metrics through Prometheus, the operator, the chain on anvil.  One test per behaviour: scale up then
down; out then in; resize-then-offload then fail-back; `suspend` freezes and `ignore` only records;
an HPA-owned workload is never resized horizontally; a resize survives an operator killed in the middle
and lands on chain once.  Every resize is read back from the chain (cast)
and from `edgeorch sla history`."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

import pytest
from click.testing import CliRunner

from devstack.cli import main
from devstack.localstack.tools import k8s_binary
from sim.control import ExporterControlSync
from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, own_namespace, wait_for, workload
from tests.qos.conftest import cast

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus, pytest.mark.chain]
CELL = "cell-gracia-1"
RESIZE_SIG = "ResizeRecorded(bytes32 indexed,bytes32 indexed,bytes32 indexed,bytes32,uint32,uint32,uint16,bool,uint16)"


def objective(name: str, warning_ms: float, breach_type: str = "act") -> dict[str, Any]:
    return {"name": name, "metric": "p95_latency_ms", "comparator": "lt", "window": "3s",
            "thresholds": {"warning": warning_ms}, "breachType": breach_type}


def elastic_sla(name: str, ns: str, wl: str, elasticity: dict[str, Any],
                objectives: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "edgeorch.io/v1alpha1", "kind": "ServiceLevelAgreement",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"provider": "bcn-edge-operator", "consumer": "tenant-test", "workloadRef": wl,
                 "objectives": objectives or [objective("latency", 12.0)],
                 "validity": {"start": "2026-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
                 "evaluation": {"intervalSeconds": 1, "breachAfter": 2, "recoverAfter": 2},
                 "elasticity": {"quietSeconds": 5, "stepSeconds": 2, **elasticity}},
    }


def app(name: str, ns: str, *, cpu: str, tiers: list[str] | None = None) -> dict[str, Any]:
    ew = workload(name, ns, cells={CELL: 1.0}, max_latency_ms=200, cpu=cpu, tiers=tiers or ["far-edge", "edge"])
    ew["spec"]["migration"] = {"budgetPerHour": 0}  # no offload: what moves here moves for a resize
    return ew


def _status(stack: StackHandle, kind: str, ns: str, name: str) -> dict[str, Any]:
    return get_json(stack, kind, name, "-n", ns).get("status") or {}  # type: ignore[no-any-return]


def pods(stack: StackHandle, ns: str) -> list[tuple[str, str]]:
    """(cpu request, site) of every replica Pod that is not going."""
    items = get_json(stack, "pods", "-n", ns)["items"]
    return sorted((p["spec"]["containers"][0]["resources"]["requests"]["cpu"], p["metadata"]["labels"]["edgeorch.io/site"])
                  for p in items if not p["metadata"].get("deletionTimestamp"))


def placed(stack: StackHandle, ns: str, name: str) -> list[dict[str, Any]]:
    return wait_for(lambda: _status(stack, "edgeworkload", ns, name).get("placements"), 60, "the workload placed")


def on_chain(stack: StackHandle, ns: str, sla_name: str) -> tuple[str, str]:
    st = wait_for(lambda: (lambda s: s if s.get("agreementId") and all(
        o["state"] == "Ok" for o in s.get("objectives") or [{"state": "none"}]) else None)(
        _status(stack, "sla", ns, sla_name)), 90, "the SLA on chain and its objectives met")
    return st["contractAddress"], st["agreementId"]


def chain_resizes(stack: StackHandle, contract: str, agreement: str) -> list[tuple[int, int, int, bool, int]]:
    """(seq, cpu_m, replicas, up, moved) of the agreement's ResizeRecorded events, read with cast."""
    logs = json.loads(cast("logs", "--json", "--rpc-url", stack.chain_url, "--address", contract,
                           "--from-block", "0", RESIZE_SIG))
    out = []
    for log in logs:
        if log["topics"][2] != agreement:
            continue
        f = cast("abi-decode", "--input", "f(bytes32,uint32,uint32,uint16,bool,uint16)", log["data"]).splitlines()
        out.append((int(f[1].split()[0]), int(f[2].split()[0]), int(f[3].split()[0]), f[4].strip() == "true",
                    int(f[5].split()[0])))
    return sorted(out)


def history(stack: StackHandle, ns: str, name: str) -> str:
    result = CliRunner().invoke(main, ["sla", "history", "-n", ns, name, "--kubeconfig", str(stack.kubeconfig),
                                       "--rpc-url", stack.chain_url, "--state-dir", str(stack.state_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def resized(stack: StackHandle, ns: str, name: str, cpu: str, replicas: int, timeout: float = 90) -> dict[str, Any]:
    """Wait until the workload's status.resize says cpu x replicas and its Pods request that."""
    rec = wait_for(lambda: (lambda r: r if r.get("cpu") == cpu and r.get("replicas") == replicas else None)(
        _status(stack, "edgeworkload", ns, name).get("resize") or {}), timeout, f"status.resize {cpu} x {replicas}")
    wait_for(lambda: [c for c, _ in pods(stack, ns)] == [cpu] * replicas, 60, f"{replicas} Pod(s) requesting {cpu}")
    return rec  # type: ignore[no-any-return]


def test_scale_up_on_a_breach_with_high_use_then_down_after_a_quiet_period(operator: StackHandle) -> None:
    control = ExporterControlSync(operator.exporter_url)
    with own_namespace(operator, "el-updown") as ns:
        apply_all(operator, [app("up", ns, cpu="500m"), elastic_sla("up-sla", ns, "up", {
            "vertical": {"stepPercent": 20, "minCpu": "500m", "maxCpu": "600m"}})])
        (home,) = {p["site"] for p in placed(operator, ns, "up")}
        contract, agreement = on_chain(operator, ns, "up-sla")
        load = control.load_app(f"{ns}/up", 0.45)  # 90 % of 500m: high
        fault = control.inject_latency(home, 40.0)
        try:
            rec = resized(operator, ns, "up", "600m", 1)
            assert rec["direction"] == "Up" and "CPU use" in rec["reason"], rec
            conds = {c["type"]: c for c in _status(operator, "edgeworkload", ns, "up")["conditions"]}
            assert conds["Resized"]["status"] == "True" and conds["Resized"]["reason"] == "ScaledUp", conds
        finally:
            control.heal(fault)
            control.heal(load)  # idle: 0.02 of 600m is low
        rec = resized(operator, ns, "up", "500m", 1)
        assert rec["direction"] == "Down" and "quiet" in rec["reason"], rec
        got = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(chain_resizes(operator, contract, agreement)),
                       60, "both resizes on chain")
        # (a vertical step replaces every Pod anyway: solved without migration cost, it may also leave the
        # degraded site in the same step, and come back with the step down)
        assert [g[:4] for g in got] == [(1, 600, 1, True), (2, 500, 1, False)], got
        text = history(operator, ns, "up-sla")
        assert "resize   #1 up to cpu 600m x 1" in text and "resize   #2 down to cpu 500m x 1" in text, text
        assert "after a quiet period" in text, text


def test_scale_out_then_in(operator: StackHandle) -> None:
    control = ExporterControlSync(operator.exporter_url)
    with own_namespace(operator, "el-outin") as ns:
        apply_all(operator, [app("out", ns, cpu="500m"), elastic_sla("out-sla", ns, "out", {
            "horizontal": {"minReplicas": 1, "maxReplicas": 2}})])
        (home,) = {p["site"] for p in placed(operator, ns, "out")}
        contract, agreement = on_chain(operator, ns, "out-sla")
        load = control.load_app(f"{ns}/out", 0.45)
        fault = control.inject_latency(home, 40.0)
        try:
            rec = resized(operator, ns, "out", "500m", 2)
            assert rec["direction"] == "Up", rec
            assert _status(operator, "edgeworkload", ns, "out")["replicas"] == 2
            assert get_json(operator, "edgeworkload", "out", "-n", ns)["spec"]["replicas"] == 1  # the spec is the user's
        finally:
            control.heal(fault)
            control.heal(load)
        resized(operator, ns, "out", "500m", 1)
        got = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(chain_resizes(operator, contract, agreement)),
                       60, "both resizes on chain")
        assert [g[:4] for g in got] == [(1, 500, 2, True), (2, 500, 1, False)], got


def test_a_resize_that_no_longer_fits_the_edge_moves_up_a_tier_and_fails_back(operator: StackHandle) -> None:
    """3400m on a 4000m far-edge node: +20 % (4080m) fits no far-edge node, so the replica is resized
    and moved to the edge tier in one decision; the step down fits again and it comes back."""
    control = ExporterControlSync(operator.exporter_url)
    with own_namespace(operator, "el-offload") as ns:
        apply_all(operator, [app("big", ns, cpu="3400m"), elastic_sla("big-sla", ns, "big", {
            "vertical": {"stepPercent": 20, "minCpu": "3400m", "maxCpu": "4080m"}})])
        [first] = placed(operator, ns, "big")
        assert first["tier"] == "far-edge", first
        contract, agreement = on_chain(operator, ns, "big-sla")
        load = control.load_app(f"{ns}/big", 3.2)  # 94 % of 3400m
        fault = control.inject_latency(first["site"], 40.0)
        try:
            rec = resized(operator, ns, "big", "4080m", 1)
            [now] = _status(operator, "edgeworkload", ns, "big")["placements"]
            assert now["tier"] != "far-edge", now
            assert rec["moves"] == [{"fromSite": first["site"], "toSite": now["site"]}], rec
            assert pods(operator, ns) == [("4080m", now["site"])]
        finally:
            control.heal(fault)
            control.heal(load)
        rec = resized(operator, ns, "big", "3400m", 1)
        [back] = _status(operator, "edgeworkload", ns, "big")["placements"]
        assert back["tier"] == "far-edge" and rec["moves"] == [{"fromSite": now["site"], "toSite": back["site"]}], rec
        got = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(chain_resizes(operator, contract, agreement)),
                       60, "both resizes on chain")
        assert got == [(1, 4080, 1, True, 1), (2, 3400, 1, False, 1)], got
        events = {e["reason"] for e in get_json(operator, "events", "-n", ns)["items"]}
        assert {"ScaledUp", "ScaledDown"} <= events, events


def test_suspend_freezes_every_resize_and_ignore_only_records(operator: StackHandle) -> None:
    """Objectives: `noise` (ignore, p95 < 12 ms), `latency` (act, < 35 ms), `radio` (suspend, < 65 ms).
    +20 ms breaks only noise: on chain, nothing changes.  +80 ms breaks all three: suspended, no resize
    although use is high.  Down to +40 ms, radio recovers: the act breach resizes (the earlier ignore
    breach does not stop it)."""
    control = ExporterControlSync(operator.exporter_url)
    with own_namespace(operator, "el-types") as ns:
        apply_all(operator, [app("typed", ns, cpu="500m"), elastic_sla("typed-sla", ns, "typed", {
            "vertical": {"stepPercent": 20, "minCpu": "500m", "maxCpu": "600m"}},
            [objective("noise", 12.0, "ignore"), objective("latency", 35.0), objective("radio", 65.0, "suspend")])])
        (home,) = {p["site"] for p in placed(operator, ns, "typed")}
        on_chain(operator, ns, "typed-sla")
        load = control.load_app(f"{ns}/typed", 0.45)
        fault = control.inject_latency(home, 20.0)
        try:
            wait_for(lambda: _status(operator, "sla", ns, "typed-sla").get("breaches", 0) >= 1, 60,
                     "the ignore breach recorded")
            wait_for(lambda: not _status(operator, "sla", ns, "typed-sla").get("outbox"), 30, "on chain")
            time.sleep(6)  # several evaluations with use high and a breach open
            st = _status(operator, "sla", ns, "typed-sla")
            assert not st.get("resizeIntent") and not st.get("offloadIntent"), st
            assert [o["state"] for o in st["objectives"]] == ["Breached", "Ok", "Ok"], st["objectives"]
            assert pods(operator, ns) == [("500m", home)]
            control.heal(fault)
            fault = control.inject_latency(home, 80.0)
            wait_for(lambda: any(c["type"] == "Suspended" and c["status"] == "True" for c in
                                 _status(operator, "sla", ns, "typed-sla").get("conditions") or []), 60, "suspended")
            time.sleep(6)
            st = _status(operator, "sla", ns, "typed-sla")
            assert [o["state"] for o in st["objectives"]] == ["Breached", "Breached", "Breached"], st["objectives"]
            assert not st.get("resizeIntent"), st
            assert pods(operator, ns) == [("500m", home)]
            control.heal(fault)
            fault = control.inject_latency(home, 40.0)
            resized(operator, ns, "typed", "600m", 1)
            st = _status(operator, "sla", ns, "typed-sla")
            assert st["resizeIntent"]["objective"] == 1, st["resizeIntent"]  # the act objective's breach
        finally:
            control.heal(fault)
            control.heal(load)


def test_a_workload_an_hpa_scales_is_never_resized_horizontally(operator: StackHandle) -> None:
    control = ExporterControlSync(operator.exporter_url)
    with own_namespace(operator, "el-hpa") as ns:
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": ns},
               "spec": {"scaleTargetRef": {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload", "name": "auto"},
                        "minReplicas": 1, "maxReplicas": 5,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                                      "target": {"type": "Utilization", "averageUtilization": 80}}}]}}
        apply_all(operator, [app("auto", ns, cpu="500m"), hpa, elastic_sla("auto-sla", ns, "auto", {
            "horizontal": {"minReplicas": 1, "maxReplicas": 3}})])
        (home,) = {p["site"] for p in placed(operator, ns, "auto")}
        on_chain(operator, ns, "auto-sla")
        load = control.load_app(f"{ns}/auto", 0.45)
        fault = control.inject_latency(home, 40.0)
        try:
            held = wait_for(lambda: [e for e in get_json(operator, "events", "-n", ns)["items"]
                                     if e["reason"] == "ResizeHeld"], 60, "a ResizeHeld Event")
            assert "HorizontalPodAutoscaler web" in held[0]["message"], held[0]
            time.sleep(5)
            assert not _status(operator, "sla", ns, "auto-sla").get("resizeIntent")
            assert _status(operator, "edgeworkload", ns, "auto")["replicas"] == 1
            assert len(pods(operator, ns)) == 1
        finally:
            control.heal(fault)
            control.heal(load)


def test_a_resize_survives_a_crash_and_lands_on_chain_once(operator: StackHandle) -> None:
    """The operator is killed -9 the moment the resize intent appears in the agreement's status (before
    the controller can carry it out), then restarted: the workload is resized, and the chain holds one
    record of that resize."""
    control = ExporterControlSync(operator.exporter_url)
    with own_namespace(operator, "el-crash") as ns:
        apply_all(operator, [app("crash", ns, cpu="500m"), elastic_sla("crash-sla", ns, "crash", {
            "vertical": {"stepPercent": 20, "minCpu": "500m", "maxCpu": "600m"}})])
        (home,) = {p["site"] for p in placed(operator, ns, "crash")}
        contract, agreement = on_chain(operator, ns, "crash-sla")
        killed = _kill_when(operator, ns, "crash-sla", "{.status.resizeIntent.seq}", "1")
        load = control.load_app(f"{ns}/crash", 0.45)
        fault = control.inject_latency(home, 40.0)
        try:
            assert killed.wait(90), "no resize intent appeared in the agreement's status"
            print(f"killed with the Pods at {pods(operator, ns)}")
            operator.stack.start_operator()
            resized(operator, ns, "crash", "600m", 1)
            got = wait_for(lambda: chain_resizes(operator, contract, agreement), 60, "the resize on chain")
        finally:
            control.heal(fault)
            control.heal(load)
        time.sleep(3)
        got = chain_resizes(operator, contract, agreement)
        assert [g[:4] for g in got] == [(1, 600, 1, True)], got


def _kill_when(stack: StackHandle, ns: str, sla_name: str, jsonpath: str, value: str) -> threading.Event:
    """Watch the agreement (kubectl get -w) and kill -9 the operator once `jsonpath` reads `value`."""
    killed = threading.Event()
    proc = subprocess.Popen(
        [str(k8s_binary("kubectl")), f"--kubeconfig={stack.kubeconfig}", "get", "sla", sla_name, "-n", ns,
         "-w", "-o", f'jsonpath={jsonpath}{{"\\n"}}'], stdout=subprocess.PIPE, text=True)

    def watch() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == value:
                stack.stack.stop_operator(kill=True)
                killed.set()
                break
        proc.kill()

    threading.Thread(target=watch, daemon=True).start()
    return killed
