"""Rollouts as a user drives them (#19 items 1 and 3), on the real stack: `kubectl patch` a new
image or new requests, and the replicas roll under spec.strategy, never below
`replicas - maxUnavailable` Ready (followed through a Pod watch), with Deployment-style status and conditions (`kubectl wait
--for=condition=Available` works); an operator killed mid-rollout finishes it after its restart
without making any replica twice."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import (
    ReadyWatch,
    apply_all,
    get_json,
    live_pods,
    own_namespace,
    pod_ready,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]


def _rolled(stack: StackHandle, ns: str, name: str, image: str, replicas: int) -> dict[str, Any] | None:
    ew = get_json(stack, "edgeworkload", name, "-n", ns)
    st = ew.get("status") or {}
    pods = [p for p in get_json(stack, "pods", "-n", ns)["items"] if not p["metadata"].get("deletionTimestamp")]
    conds = {c["type"]: c for c in st.get("conditions") or []}
    if st.get("observedGeneration") != ew["metadata"]["generation"] or len(pods) != replicas \
            or any(p["spec"]["containers"][0]["image"] != image for p in pods) \
            or conds.get("Progressing", {}).get("reason") != "RolloutComplete":
        return None
    return st


def test_an_image_change_rolls_within_the_budget_and_kubectl_wait_works(operator: StackHandle) -> None:
    name = "rolling-cam"
    with own_namespace(operator, "rollout") as ns:
        ew = workload(name, ns, replicas=4, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)
        apply_all(operator, [ew])
        operator.kubectl("wait", "--for=condition=Available", f"edgeworkload/{name}", "-n", ns, "--timeout=60s")
        first = wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:1", 4), 60, "4 replicas Ready")
        assert (first["replicas"], first["updatedReplicas"], first["readyReplicas"], first["availableReplicas"]) == (4,) * 4
        nodes = sorted(p["node"] for p in first["placements"])

        with ReadyWatch(operator, ns) as sampler:
            operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p", json.dumps(
                {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:2"}]}}}}))
            st = wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:2", 4), 90, "rolled to :2")
        assert sampler.events >= 3 and sampler.min_ready >= 3, "\n".join(sampler.log)  # 4 - 25 %
        assert len(sampler.names[f"registry.example/{name}:2"]) == 4, sampler.names  # none made twice
        assert sorted(p["node"] for p in st["placements"]) == nodes  # a new version stays where it ran
        assert st["updatedReplicas"] == st["readyReplicas"] == 4 and st.get("migrations", 0) == 0
        reasons = [e["reason"] for e in get_json(operator, "events", "-n", ns, "--field-selector",
                                                 f"involvedObject.name={name}")["items"]]
        assert "RollingUpdate" in reasons and "RolloutComplete" in reasons, reasons

        operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p",
                         json.dumps({"spec": {"resources": {"cpu": "500m"}}}))
        wait_for(lambda: (lambda pods: pods if len(pods) == 4 and all(
            p["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "500m" for p in pods) else None)(
            [p for p in get_json(operator, "pods", "-n", ns)["items"] if pod_ready(p)]), 90, "Pods with the new requests")
        operator.kubectl("wait", "--for=condition=Available", f"edgeworkload/{name}", "-n", ns, "--timeout=60s")


def test_a_rollout_that_cannot_progress_says_so_and_keeps_the_old_replicas(operator: StackHandle) -> None:
    name = "stuck-cam"
    with own_namespace(operator, "rollout-stuck") as ns:
        ew = workload(name, ns, replicas=2, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)
        ew["spec"]["strategy"] = {"maxSurge": 1, "maxUnavailable": 0, "progressDeadlineSeconds": 5}
        apply_all(operator, [ew])
        wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:1", 2), 60, "2 replicas Ready")
        # a version whose Pods never get Ready (the simulated kubelet never starts them)
        operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p", json.dumps(
            {"spec": {"template": {"metadata": {"annotations": {"sim.edgeorch.io/never-ready": "true"}}}}}))

        def stalled() -> dict[str, Any] | None:
            conds = {c["type"]: c for c in (get_json(operator, "edgeworkload", name, "-n", ns).get("status") or {})
                     .get("conditions") or []}
            return conds if conds.get("Progressing", {}).get("reason") == "ProgressDeadlineExceeded" else None

        conds = wait_for(stalled, 60, "Progressing=False ProgressDeadlineExceeded")
        assert conds["Progressing"]["status"] == "False" and conds["Available"]["status"] == "True"
        ready = [p for p in get_json(operator, "pods", "-n", ns)["items"] if pod_ready(p)]
        assert len(ready) == 2 and all("sim.edgeorch.io/never-ready" not in (p["metadata"].get("annotations") or {})
                                       for p in ready)  # the old ones stay


def test_an_operator_killed_mid_rollout_finishes_it_without_making_a_replica_twice(operator: StackHandle) -> None:
    name = "crash-roll"
    with own_namespace(operator, "rollout-crash") as ns:
        ew = workload(name, ns, replicas=4, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)
        ew["spec"]["strategy"] = {"maxSurge": 1, "maxUnavailable": 0}  # the slowest rollout: one at a time
        apply_all(operator, [ew])
        wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:1", 4), 60, "4 replicas Ready")
        with ReadyWatch(operator, ns) as sampler:
            operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p", json.dumps(
                {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:2"}]}}}}))
            wait_for(lambda: sampler.names.get(f"registry.example/{name}:2"), 30, "the first new replica")
            operator.stack.stop_operator(kill=True)
            time.sleep(1)
            operator.stack.start_operator()
            wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:2", 4), 120, "rolled after restart")
        assert len(sampler.names[f"registry.example/{name}:2"]) == 4, sampler.names
        assert sampler.min_ready >= 4, "\n".join(sampler.log)  # maxUnavailable 0: never below 4 Ready


def test_a_new_version_that_fits_nowhere_leaves_the_running_replicas_alone(operator: StackHandle) -> None:
    name = "too-big"
    with own_namespace(operator, "rollout-nofit") as ns:
        apply_all(operator, [workload(name, ns, replicas=2, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)])
        wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:1", 2), 60, "2 replicas Ready")
        before = sorted(p["metadata"]["name"] for p in get_json(operator, "pods", "-n", ns)["items"])
        operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p",
                         json.dumps({"spec": {"resources": {"cpu": "5000"}}}))  # valid, but no node has it

        def degraded() -> dict[str, Any] | None:
            st = get_json(operator, "edgeworkload", name, "-n", ns).get("status") or {}
            return st if st.get("phase") == "Degraded" else None

        st = wait_for(degraded, 60, "Degraded: no placement for the new version")
        placed = {c["type"]: c for c in st["conditions"]}["Placed"]
        assert placed["status"] == "True" and placed["reason"] == "KeptPrevious"
        time.sleep(35)  # past the 30 s retry: the new version is solved again, never rolled onto the old nodes
        pods = get_json(operator, "pods", "-n", ns)["items"]
        assert sorted(p["metadata"]["name"] for p in pods) == before, pods
        assert all(pod_ready(p) and p["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "250m" for p in pods)


def _phase(stack: StackHandle, ns: str, name: str) -> str | None:
    return (get_json(stack, "edgeworkload", name, "-n", ns).get("status") or {}).get("phase")


def test_a_workload_solved_during_a_request_rollout_is_never_refused_by_the_kube_scheduler(
        operator: StackHandle) -> None:
    """Capacity is what the Pods request now (#19 item 2): while `big` rolls from 3 cores to 1 per
    replica (stalled, its old Pods still holding 3 cores on every far-edge node), a new far-edge
    workload finds no room; counted by the spec (1 core each) it would have been put where the
    kube-scheduler refuses it.  Once the rollout completes, it fits."""
    big, late = "big", "late"
    with own_namespace(operator, "rollout-requests") as ns:
        ew = workload(big, ns, replicas=8, cells={"cell-sants-1": 1.0}, max_latency_ms=50, tiers=["far-edge"],
                      cpu="3", max_per_node=1)
        ew["spec"]["strategy"] = {"maxSurge": 2, "maxUnavailable": 0}
        apply_all(operator, [ew])
        wait_for(lambda: _rolled(operator, ns, big, f"registry.example/{big}:1", 8), 90, "8 replicas of 3 cores Ready")
        operator.kubectl("patch", "edgeworkload", big, "-n", ns, "--type=merge", "-p", json.dumps({"spec": {
            "resources": {"cpu": "1"},
            "template": {"metadata": {"annotations": {"sim.edgeorch.io/never-ready": "true"}}}}}))

        def surge() -> list[dict[str, Any]]:
            pods = get_json(operator, "pods", "-n", ns)["items"]
            return [p for p in pods if p["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"]

        assert len(wait_for(surge, 60, "the rollout's surge Pods (never Ready)")) <= 2
        apply_all(operator, [workload(late, ns, cells={"cell-sants-1": 1.0}, max_latency_ms=50, tiers=["far-edge"],
                                      cpu="1500m")])
        wait_for(lambda: _phase(operator, ns, late) == "Unplaceable", 60, f"{late} Unplaceable: no far-edge room")
        assert not [p for p in live_pods(operator, ns) if p["metadata"]["labels"].get("edgeorch.io/workload") == late]

        operator.kubectl("patch", "edgeworkload", big, "-n", ns, "--type=merge", "-p", json.dumps(
            {"spec": {"template": {"metadata": {"annotations": {"sim.edgeorch.io/never-ready": None}}}}}))

        def rolled_down() -> list[dict[str, Any]] | None:
            pods = [p for p in live_pods(operator, ns) if p["metadata"]["labels"].get("edgeorch.io/workload") == big]
            return pods if len(pods) == 8 and all(pod_ready(p) and p["spec"]["containers"][0]["resources"]
                                                  ["requests"]["cpu"] == "1" for p in pods) else None

        wait_for(rolled_down, 120, "8 replicas of 1 core Ready")

        def late_running() -> list[dict[str, Any]] | None:
            pods = [p for p in live_pods(operator, ns) if p["metadata"]["labels"].get("edgeorch.io/workload") == late]
            return pods if pods and all(pod_ready(p) for p in pods) else None

        wait_for(late_running, 90, f"{late} placed on the far edge once the old replicas are gone")
        placed = get_json(operator, "edgeworkload", late, "-n", ns)["status"]["placements"]
        assert [p["tier"] for p in placed] == ["far-edge"], placed
        refused = [e for e in get_json(operator, "events", "-n", ns)["items"] if e["reason"] == "FailedScheduling"]
        assert not refused, [e["message"] for e in refused]
