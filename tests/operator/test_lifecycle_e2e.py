"""Rollouts as a user drives them (#19 items 1 and 3), on the real stack: `kubectl patch` a new
image or new requests, and the replicas roll under spec.strategy, never below
`replicas - maxUnavailable` Ready, with Deployment-style status and conditions (`kubectl wait
--for=condition=Available` works); an operator killed mid-rollout finishes it after its restart
without making any replica twice."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, get_json, own_namespace, wait_for, workload

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]


def _ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


class Sampler:
    """Samples the namespace's Pods every 0.2 s while a rollout runs: the fewest Ready seen, and
    every Pod name seen per image."""

    def __init__(self, stack: StackHandle, ns: str) -> None:
        self.stack, self.ns = stack, ns
        self.min_ready = 10**9
        self.names: dict[str, set[str]] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pods = get_json(self.stack, "pods", "-n", self.ns)["items"]
            self.samples += 1
            self.min_ready = min(self.min_ready, sum(1 for p in pods if _ready(p)))
            for p in pods:
                self.names.setdefault(p["spec"]["containers"][0]["image"], set()).add(p["metadata"]["name"])
            time.sleep(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(10)


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

        with Sampler(operator, ns) as sampler:
            operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p", json.dumps(
                {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:2"}]}}}}))
            st = wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:2", 4), 90, "rolled to :2")
        assert sampler.samples >= 3 and sampler.min_ready >= 3, (sampler.samples, sampler.min_ready)  # 4 - 25 %
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
            [p for p in get_json(operator, "pods", "-n", ns)["items"] if _ready(p)]), 90, "Pods with the new requests")
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
        ready = [p for p in get_json(operator, "pods", "-n", ns)["items"] if _ready(p)]
        assert len(ready) == 2 and all("sim.edgeorch.io/never-ready" not in (p["metadata"].get("annotations") or {})
                                       for p in ready)  # the old ones stay


def test_an_operator_killed_mid_rollout_finishes_it_without_making_a_replica_twice(operator: StackHandle) -> None:
    name = "crash-roll"
    with own_namespace(operator, "rollout-crash") as ns:
        ew = workload(name, ns, replicas=4, cells={"cell-gracia-1": 1.0}, max_latency_ms=50)
        ew["spec"]["strategy"] = {"maxSurge": 1, "maxUnavailable": 0}  # the slowest rollout: one at a time
        apply_all(operator, [ew])
        wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:1", 4), 60, "4 replicas Ready")
        with Sampler(operator, ns) as sampler:
            operator.kubectl("patch", "edgeworkload", name, "-n", ns, "--type=merge", "-p", json.dumps(
                {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:2"}]}}}}))
            wait_for(lambda: sampler.names.get(f"registry.example/{name}:2"), 30, "the first new replica")
            operator.stack.stop_operator(kill=True)
            time.sleep(1)
            operator.stack.start_operator()
            wait_for(lambda: _rolled(operator, ns, name, f"registry.example/{name}:2", 4), 120, "rolled after restart")
        assert len(sampler.names[f"registry.example/{name}:2"]) == 4, sampler.names
        assert sampler.min_ready >= 4, sampler.min_ready  # maxUnavailable 0: never below 4 Ready


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
        assert all(_ready(p) and p["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "250m" for p in pods)
