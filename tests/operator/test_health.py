"""Replica health (pure): which placed workloads lost replicas, what to avoid, and the controller's
repair queue (a problem must last, one repair per cool-down).  The real path (a site's Nodes go
NotReady, a Pod fails, a Pod is deleted) is proven by test_replica_repair.py on the local stack."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import pytest

from orchestrator import controller as ctl
from orchestrator.health import (
    CORDONED,
    DOWN,
    READY,
    Replica,
    avoid_annotation,
    avoided_nodes,
    diagnose,
    node_state,
    replica_of,
)
from orchestrator.snapshot import QosMetrics, Request, build_instance
from orchestrator.vocabulary import AVOID_NODES_ANNOTATION
from orchestrator.workloads import Reconciled
from tests.operator.test_engine_capacity import SITES, k8s_node, spec

NOW = 1_800_000_000.0
NODES = {"n1": READY, "n2": READY, "n3": DOWN, "n4": CORDONED}


def test_healthy_replicas_need_nothing() -> None:
    assert diagnose(["n1", "n2"], [Replica("a", "n1", running=True), Replica("b", "n2")], NODES, NOW) is None


@pytest.mark.parametrize(("replicas", "placed", "words", "avoid", "force"), [
    ([Replica("a", "n3", running=True)], ["n3"], "node n3 is NotReady", set(), True),
    ([Replica("a", "gone", running=True)], ["gone"], "node gone is gone", set(), True),
    ([Replica("a", "n4")], ["n4"], "cordoned and the Pod has not started", set(), True),
    ([Replica("a", "n1", "Pod a failed on node n1 (OutOfcpu: no room)")], ["n1"], "OutOfcpu", {"n1"}, True),
    ([Replica("a", "n1", "Pod a is Unschedulable on node n1 (x)", NOW - 60)], ["n1"], "Unschedulable", {"n1"}, True),
    ([Replica("a", "n1", running=True)], ["n1", "n2"], "missing on node(s) n2", set(), False),
])
def test_lost_replicas_are_diagnosed(replicas: list[Replica], placed: list[str], words: str, avoid: set[str],
                                     force: bool) -> None:
    repair = diagnose(placed, replicas, NODES, NOW)
    assert repair is not None
    assert words in " ".join(repair.reasons)
    assert repair.avoid_nodes == avoid
    assert repair.force is force


def test_a_running_replica_on_a_cordoned_node_stays_and_a_fresh_unschedulable_one_waits() -> None:
    assert diagnose(["n4"], [Replica("a", "n4", running=True)], NODES, NOW) is None
    fresh = Replica("a", "n1", "Pod a is Unschedulable on node n1 (x)", NOW - 5)
    assert diagnose(["n1"], [fresh], NODES, NOW) is None
    assert diagnose(["n1"], [fresh], NODES, NOW + 20) is not None


def test_pod_and_node_states_from_their_status() -> None:
    failed = replica_of("a", "n1", {"phase": "Failed", "reason": "OutOfcpu", "message": "Node didn't have enough"})
    assert "OutOfcpu" in failed.trouble and failed.since is None
    stuck = replica_of("a", "n1", {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes",
         "lastTransitionTime": "2026-12-02T10:00:00Z"}]})
    assert "0/3 nodes" in stuck.trouble and stuck.since is not None
    assert replica_of("a", "n1", {"phase": "Running"}) == Replica("a", "n1", running=True)
    assert replica_of("a", "n1", {}) == Replica("a", "n1")
    ready = k8s_node("n1", "near", pods="110")
    assert node_state(ready) == READY
    assert node_state({**ready, "spec": {"unschedulable": True}}) == CORDONED
    down = {**ready, "status": {**ready["status"], "conditions": [{"type": "Ready", "status": "False"}]}}
    assert node_state(down) == DOWN
    assert node_state({**down, "spec": {"unschedulable": True}}) == DOWN


def test_avoided_nodes_expire_and_bad_annotations_are_ignored() -> None:
    value = avoid_annotation({}, frozenset({"n1"}), NOW, hold_s=600)
    assert set(avoided_nodes({AVOID_NODES_ANNOTATION: value}, NOW + 599)) == {"n1"}
    assert avoided_nodes({AVOID_NODES_ANNOTATION: value}, NOW + 601) == {}
    later = avoid_annotation(avoided_nodes({AVOID_NODES_ANNOTATION: value}, NOW + 300), frozenset({"n2"}),
                             NOW + 300, hold_s=600)
    assert set(json.loads(later)) == {"n1", "n2"}
    for bad in ("not json", "[1, 2]", json.dumps({"n1": "yesterday"}), json.dumps({"n1": 5})):
        assert avoided_nodes({AVOID_NODES_ANNOTATION: bad}, NOW) == {}


def test_replicas_on_nodes_placement_cannot_use_are_no_current_placement() -> None:
    """A replica on a node that is gone (or avoided) must move: the instance does not keep it there
    (before, such a workload was rejected: 'current[0]: unknown node')."""
    nodes = [k8s_node("n1", "near", pods="110"), k8s_node("n2", "near", pods="110")]
    metrics = QosMetrics(latency_ms={"c1": {"near": 2.0, "far": 30.0}})
    req = Request("ns/a", spec(replicas=3), current=("gone", "n1", "n2"), avoid_nodes=frozenset({"n2"}))
    inst = build_instance(nodes, SITES, [req], metrics, {})
    (w,) = inst.workloads
    assert w.current == ("n1",)
    assert w.avoid_nodes == {"n2"}


class FakeKube:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []

    async def patch_custom(self, plural: str, ns: str, name: str, patch: dict[str, Any], *,
                           status: bool = False) -> dict[str, Any]:
        self.patches.append(patch)
        meta = {"name": name, "namespace": ns, "uid": "u", "generation": 1, **patch.get("metadata", {})}
        return {"metadata": meta, "spec": {}}

    async def post_event(self, involved: Any, type_: str, reason: str, message: str) -> None:
        self.events.append((reason, message))

    async def namespace_terminating(self, name: str) -> bool:
        return name == "leaving"


def test_the_controller_repairs_once_a_problem_lasts_and_not_again_within_the_cool_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    async def reconcile(b: dict[str, Any], *_: Any, **kw: Any) -> Reconciled:
        calls.append({"annotations": b["metadata"].get("annotations", {}), **kw})
        return Reconciled(None)

    monkeypatch.setattr(ctl.workloads, "reconcile", reconcile)
    repair = diagnose(["n1"], [Replica("a", "n1", "Pod a failed on node n1 (OutOfcpu: x)")], NODES, NOW)
    assert repair is not None
    found = {"city/cam": repair}

    async def run() -> tuple[list[list[str]], FakeKube]:
        kube = FakeKube()
        c = ctl.WorkloadController(object(), kube, workers=2, health=lambda: found)  # type: ignore[arg-type]
        c.observe("ADDED", {"metadata": {"name": "cam", "namespace": "city", "uid": "u", "generation": 1}})
        c.start()
        await asyncio.sleep(0.05)  # the ADDED reconciliation
        t = 100.0
        queued = [c.check_health(t), c.check_health(t + ctl.REPAIR_AFTER_S)]  # first seen; lasted: repair
        await asyncio.sleep(0.05)
        t += ctl.REPAIR_AFTER_S
        queued += [c.check_health(t + 0.1), c.check_health(t + 0.1 + ctl.REPAIR_AFTER_S)]  # in the cool-down
        queued.append(c.check_health(t + ctl.REPAIR_COOLDOWN_S))
        await asyncio.sleep(0.05)
        t += ctl.REPAIR_COOLDOWN_S
        queued.append(c.check_health(t + ctl.REPAIR_COOLDOWN_S + ctl.REPAIR_AFTER_S))  # the cool-down doubled
        queued.append(c.check_health(t + 2 * ctl.REPAIR_COOLDOWN_S))
        await asyncio.sleep(0.05)
        await c.stop()
        return queued, kube

    queued, kube = asyncio.run(run())
    assert queued == [[], ["city/cam"], [], [], ["city/cam"], [], ["city/cam"]]
    repairs = [c for c in calls if c.get("force")]
    assert len(repairs) == 3 and all(c["avoid_nodes"] == {"n1"} for c in repairs)
    assert "n1" in json.loads(repairs[0]["annotations"][AVOID_NODES_ANNOTATION])  # recorded before the solve
    assert [r for r, _ in kube.events] == ["ReplicaLost"] * 3


def test_no_repair_in_a_namespace_being_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing Pods of a workload reconciled a moment ago may just not be in the pod watch yet; later
    they are repaired, except in a namespace being deleted (it removes Pods before workloads)."""
    calls: list[str] = []

    async def reconcile(b: dict[str, Any], *_: Any, **kw: Any) -> Reconciled:
        calls.append(b["metadata"]["namespace"])
        return Reconciled(None, outcome=object())  # type: ignore[arg-type]  # Pods were re-created

    monkeypatch.setattr(ctl.workloads, "reconcile", reconcile)
    missing = diagnose(["n1"], [], NODES, NOW)
    assert missing is not None
    found = {"leaving/cam": missing, "city/cam": missing}

    async def run() -> FakeKube:
        kube = FakeKube()
        c = ctl.WorkloadController(object(), kube, workers=2, health=lambda: found)  # type: ignore[arg-type]
        for ns in ("leaving", "city"):
            c.observe("ADDED", {"metadata": {"name": "cam", "namespace": ns, "uid": "u", "generation": 1}})
        c.start()
        await asyncio.sleep(0.05)
        calls.clear()
        t = time.monotonic()
        assert c.check_health(t) == []  # just reconciled here: the pod watch may lag
        t += ctl.MISSING_GRACE_S
        c.check_health(t)
        assert c.check_health(t + ctl.REPAIR_AFTER_S) == ["city/cam", "leaving/cam"]
        await asyncio.sleep(0.05)
        await c.stop()
        return kube

    kube = asyncio.run(run())
    assert calls == ["city"]
    assert [r for r, _ in kube.events] == ["ReplicaLost"]


def test_no_missing_replica_repair_while_a_rollout_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rollout deletes replicas itself and makes the missing ones at its next step; a repair there
    solved the workload again mid-rollout and, under load (bench.rollout), took its Ready replicas
    below the budget.  A lost node is still repaired at once."""
    async def reconcile(b: dict[str, Any], *_: Any, **kw: Any) -> Reconciled:
        return Reconciled(None, rolling=True)

    monkeypatch.setattr(ctl.workloads, "reconcile", reconcile)
    missing = diagnose(["n1"], [], NODES, NOW)
    assert missing is not None and not missing.force
    found = {"city/cam": missing}

    async def run() -> list[list[str]]:
        kube = FakeKube()
        c = ctl.WorkloadController(object(), kube, workers=2, health=lambda: found)  # type: ignore[arg-type]
        c.observe("ADDED", {"metadata": {"name": "cam", "namespace": "city", "uid": "u", "generation": 1}})
        c.start()
        await asyncio.sleep(0.05)
        t = time.monotonic() + ctl.MISSING_GRACE_S
        out = [c.check_health(t), c.check_health(t + ctl.REPAIR_AFTER_S)]
        found["city/cam"] = replace(missing, force=True)  # (a node gone: no waiting for the rollout)
        out += [c.check_health(t + 2 * ctl.REPAIR_AFTER_S), c.check_health(t + 3 * ctl.REPAIR_AFTER_S)]
        await c.stop()
        return out

    assert asyncio.run(run()) == [[], [], [], ["city/cam"]]
