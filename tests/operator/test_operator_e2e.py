"""The operator against the real stack: placement that honours latency, zone and tier rules,
Unplaceable with a reason, clean deletion, idempotent re-runs, and a crash in the middle of a wave."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from orchestrator.resources.common import parse_quantity
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import (
    apply_all,
    ensure_namespace,
    get_json,
    live_pods,
    own_namespace,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]

CITY = load_scenario(DEFAULT_SCENARIO)
LATENCY = CITY.latency_ms()
SITES = {s.name: s for s in CITY.sites}


def _feasible_bound(cells: dict[str, float], tiers: list[str] | None, zones: list[str] | None) -> float:
    """The smallest max-latency some allowed site meets for all cells (so the workload is placeable)."""
    best = min(
        max(LATENCY[c][s] for c in cells)
        for s, site in SITES.items()
        if (not tiers or site.tier in tiers) and (not zones or site.zone in zones)
    )
    return round(best * 1.5 + 1, 1)


def _random_workloads(ns: str, count: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    cells = sorted(LATENCY)
    zones_all = sorted({s.zone for s in SITES.values()})
    out = []
    for i in range(count):
        picked = rnd.sample(cells, rnd.randint(1, 3))
        shares = [round(1 / len(picked), 3) for _ in picked]
        shares[-1] = round(1 - sum(shares[:-1]), 3)
        tiers = rnd.choice([None, ["edge"], ["far-edge", "edge"], ["edge", "cloud"], ["cloud"]])
        zones = rnd.choice([None, None, ["es-bcn"], zones_all[:2]])
        if tiers and zones and not any(s.tier in tiers and s.zone in zones for s in SITES.values()):
            zones = None
        cellmap = dict(zip(picked, shares, strict=True))
        out.append(workload(f"w{i:03d}", ns, replicas=rnd.randint(1, 3), cells=cellmap,
                            max_latency_ms=_feasible_bound(cellmap, tiers, zones), tiers=tiers, zones=zones))
    return out


def _placed(stack: StackHandle, ns: str, count: int) -> list[dict[str, Any]] | None:
    items = get_json(stack, "edgeworkloads", "-n", ns)["items"]
    done = [w for w in items if (w.get("status") or {}).get("phase") == "Placed"]
    return items if len(done) == count else None


def _not_placed(stack: StackHandle, ns: str) -> dict[str, str]:
    """Workloads not Placed, with their phase and condition messages (for failure messages)."""
    out = {}
    for w in get_json(stack, "edgeworkloads", "-n", ns)["items"]:
        st = w.get("status") or {}
        if st.get("phase") != "Placed":
            conds = "; ".join(f"{c['type']}={c['status']}: {c.get('message', '')}" for c in st.get("conditions") or [])
            out[w["metadata"]["name"]] = f"{st.get('phase')} ({conds})"
    return out


def _wait_placed(stack: StackHandle, ns: str, count: int, timeout: float, what: str) -> list[dict[str, Any]]:
    try:
        return wait_for(lambda: _placed(stack, ns, count), timeout, what)  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; not placed: {_not_placed(stack, ns)}") from None


def _check_rules(stack: StackHandle, ns: str, workloads: list[dict[str, Any]]) -> None:
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"] for n in get_json(stack, "nodes")["items"]}
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for pod in live_pods(stack, ns):
        by_owner.setdefault(pod["metadata"]["ownerReferences"][0]["name"], []).append(pod)
    for w in workloads:
        spec, name = w["spec"], w["metadata"]["name"]
        pods = by_owner.get(name, [])
        assert len(pods) == spec["replicas"], f"{name}: {len(pods)} pods for {spec['replicas']} replicas"
        for pod in pods:
            assert pod["status"].get("phase") == "Running", f"{pod['metadata']['name']} not Running"
            site = nodes[pod["spec"]["nodeName"]]["edgeorch.io/site"]
            tiers = spec["placement"].get("allowedTiers")
            zones = spec["placement"].get("allowedZones")
            assert not tiers or SITES[site].tier in tiers, f"{name} on {site} breaks tiers {tiers}"
            assert not zones or SITES[site].zone in zones, f"{name} on {site} breaks zones {zones}"
            for cell in (c["cell"] for c in spec["users"]["cells"]):
                assert LATENCY[cell][site] <= spec["qos"]["maxLatencyMs"], f"{name}: {cell}->{site} too slow"


def test_fifty_workloads_are_placed_within_their_rules(operator: StackHandle) -> None:
    with own_namespace(operator, "fifty") as ns:
        _fifty(operator, ns)


def _fifty(operator: StackHandle, ns: str) -> None:
    docs = _random_workloads(ns, 50, seed=7)
    apply_all(operator, docs)
    items = _wait_placed(operator, ns, 50, 120, "50 placed EdgeWorkloads")
    wait_for(lambda: sum(p["status"].get("phase") == "Running" for p in live_pods(operator, ns))
             == sum(d["spec"]["replicas"] for d in docs), 60, "every replica Running")
    _check_rules(operator, ns, docs)
    for w in items:
        st = w["status"]
        assert st["solver"]["status"] in ("OPTIMAL", "FEASIBLE"), st["solver"]
        conds = {c["type"]: c["status"] for c in st["conditions"]}
        assert conds["Placed"] == "True"
        assert len(st["placements"]) == w["spec"]["replicas"]
    # applying twice changes nothing: the same objects again, and the pods stay the same
    uids = {p["metadata"]["uid"] for p in live_pods(operator, ns)}
    apply_all(operator, docs)
    operator.kubectl("annotate", "edgeworkloads", "--all", "-n", ns, "touched=1", "--overwrite")
    import time
    time.sleep(3)
    assert {p["metadata"]["uid"] for p in live_pods(operator, ns)} == uids


def test_an_unplaceable_workload_says_why(operator: StackHandle) -> None:
    ns = "unplaceable"
    ensure_namespace(operator, ns)
    cell = sorted(LATENCY)[0]
    apply_all(operator, [workload("too-strict", ns, cells={cell: 1.0}, max_latency_ms=0.01)])
    w = wait_for(lambda: (lambda o: o if (o.get("status") or {}).get("phase") == "Unplaceable" else None)(
        get_json(operator, "edgeworkload", "too-strict", "-n", ns)), 60, "phase Unplaceable")
    cond = {c["type"]: c for c in w["status"]["conditions"]}["Unplaceable"]
    assert cond["status"] == "True"
    assert cell in cond["message"] or "latency" in cond["message"].lower(), cond
    assert live_pods(operator, ns) == []
    events = get_json(operator, "events", "-n", ns)["items"]
    assert any(e["reason"] == "Unplaceable" for e in events)


def test_deleting_a_workload_removes_its_pods(operator: StackHandle) -> None:
    ns = "deletion"
    ensure_namespace(operator, ns)
    cell = sorted(LATENCY)[0]
    apply_all(operator, [workload("short-lived", ns, replicas=3, cells={cell: 1.0}, max_latency_ms=200)])
    wait_for(lambda: len(live_pods(operator, ns)) == 3, 60, "3 pods")
    operator.kubectl("delete", "edgeworkload", "short-lived", "-n", ns, "--wait=true", "--timeout=60s")
    wait_for(lambda: get_json(operator, "pods", "-n", ns)["items"] == [], 60, "pods garbage-collected")


def test_operator_killed_mid_wave_places_each_workload_exactly_once(operator: StackHandle) -> None:
    with own_namespace(operator, "crash") as ns:
        _crash(operator, ns)


def _crash(operator: StackHandle, ns: str) -> None:
    docs = _random_workloads(ns, 120, seed=11)
    apply_all(operator, docs)
    wait_for(lambda: len(live_pods(operator, ns)) >= 20, 60, "the wave to be under way")
    operator.stack.stop_operator(kill=True)
    operator.stack.start_operator()
    _wait_placed(operator, ns, 120, 180, "all 120 placed after the restart")
    want = sum(d["spec"]["replicas"] for d in docs)
    wait_for(lambda: len(live_pods(operator, ns)) == want, 60, f"{want} pods")
    owners = Counter(p["metadata"]["ownerReferences"][0]["name"] for p in live_pods(operator, ns))
    assert owners == Counter({d["metadata"]["name"]: d["spec"]["replicas"] for d in docs})
    _check_rules(operator, ns, docs)


def test_direct_binding_places_pods_without_the_scheduler(operator: StackHandle) -> None:
    """EDGEORCH_BINDING=direct: Pods are created bound (spec.nodeName) and keep the required node
    affinity; the kube-scheduler never binds them (no Scheduled Event), and they run where the rules say."""
    operator.stack.stop_operator()
    operator.stack.start_operator(extra_env={"EDGEORCH_BINDING": "direct"})
    try:
        with own_namespace(operator, "direct") as ns:
            docs = _random_workloads(ns, 10, seed=7)
            apply_all(operator, docs)
            _wait_placed(operator, ns, 10, 90, "10 placed EdgeWorkloads")
            want = sum(d["spec"]["replicas"] for d in docs)
            wait_for(lambda: sum(p["status"].get("phase") == "Running" for p in live_pods(operator, ns)) == want,
                     60, f"{want} pods Running")
            _check_rules(operator, ns, docs)
            for pod in live_pods(operator, ns):
                terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == [pod["spec"]["nodeName"]]
            reasons = Counter(e["reason"] for e in get_json(operator, "events", "-n", ns)["items"])
            assert reasons["Scheduled"] == 0 and reasons["Placed"] == 10, reasons
    finally:
        operator.stack.stop_operator()
        operator.stack.start_operator()


def test_pods_edgeorch_does_not_manage_take_their_room(operator: StackHandle) -> None:
    """A Pod of another controller fills the node a workload would go to: the next workload goes
    elsewhere, and its replica binds (the kube-scheduler would leave one pinned there Pending)."""
    with own_namespace(operator, "foreign") as ns:
        cell = sorted(LATENCY)[0]
        first = workload("probe", ns, cells={cell: 1.0}, max_latency_ms=200, cpu="1")
        apply_all(operator, [first])
        _wait_placed(operator, ns, 1, 60, "the probe workload placed")
        wait_for(lambda: len(live_pods(operator, ns)) == 1, 30, "its pod")
        node = live_pods(operator, ns)[0]["spec"]["nodeName"]
        operator.kubectl("delete", "edgeworkload", "probe", "-n", ns, "--wait=true", "--timeout=60s")
        wait_for(lambda: live_pods(operator, ns) == [], 60, "the probe's pod gone")
        alloc = get_json(operator, "node", node)["status"]["allocatable"]
        filler = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "filler", "namespace": ns},
                  "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/filler:1",
                           "resources": {"requests": {"cpu": f"{int(parse_quantity(alloc['cpu']) * 1000) - 200}m"}}}],
                           "tolerations": [{"operator": "Exists"}]}}
        apply_all(operator, [filler])
        wait_for(lambda: get_json(operator, "pod", "filler", "-n", ns)["status"].get("phase") == "Running", 60,
                 "the filler Pod Running")
        apply_all(operator, [workload("after", ns, cells={cell: 1.0}, max_latency_ms=200, cpu="1")])
        _wait_placed(operator, ns, 1, 60, "the second workload placed")
        wait_for(lambda: [p for p in live_pods(operator, ns) if p["metadata"]["name"] != "filler"
                          and p["status"].get("phase") == "Running"], 60, "its replica Running")
        (replica,) = [p for p in live_pods(operator, ns) if p["metadata"]["name"] != "filler"]
        assert replica["spec"]["nodeName"] != node


def test_the_templates_node_selector_is_honoured(operator: StackHandle) -> None:
    """A template's nodeSelector admits one node (not the nearest): the replica runs there.  One no
    node satisfies is Unplaceable, and says so (before, both were pinned where the kube-scheduler
    then refused them: Pending for ever)."""
    cell = sorted(LATENCY)[0]
    nearest = min(SITES, key=lambda s: LATENCY[cell][s])
    target = sorted(n["metadata"]["name"] for n in get_json(operator, "nodes")["items"]
                    if n["metadata"]["labels"].get("edgeorch.io/site") != nearest
                    and SITES[n["metadata"]["labels"]["edgeorch.io/site"]].tier != "far-edge")[0]
    operator.kubectl("label", "node", target, "edgeorch-test/disk=ssd", "--overwrite")
    try:
        with own_namespace(operator, "selector") as ns:
            docs = [workload("ssd", ns, cells={cell: 1.0}, max_latency_ms=500),
                    workload("nvme", ns, cells={cell: 1.0}, max_latency_ms=500)]
            docs[0]["spec"]["template"]["spec"]["nodeSelector"] = {"edgeorch-test/disk": "ssd"}
            docs[1]["spec"]["template"]["spec"]["nodeSelector"] = {"edgeorch-test/disk": "nvme"}
            apply_all(operator, docs)
            (pod,) = wait_for(lambda: [p for p in live_pods(operator, ns) if p["status"].get("phase") == "Running"]
                              or None, 60, "the ssd replica Running")
            assert pod["spec"]["nodeName"] == target
            assert pod["spec"]["nodeSelector"] == {"edgeorch-test/disk": "ssd"}
            w = wait_for(lambda: (lambda o: o if (o.get("status") or {}).get("phase") == "Unplaceable" else None)(
                get_json(operator, "edgeworkload", "nvme", "-n", ns)), 60, "nvme Unplaceable")
            cond = {c["type"]: c for c in w["status"]["conditions"]}["Unplaceable"]
            assert "nodeSelector" in cond["message"], cond
    finally:
        operator.kubectl("label", "node", target, "edgeorch-test/disk-", check=False)
