"""One tenant's bad request must not stop the others batched with it (#25 bugs 2 and 3).

The engine solves concurrent requests as one batch; when that solve raises (an invalid instance, or
a solver bug that one request trips), the batch is solved again in halves until the culprit stands
alone: the others are placed, the culprit is answered `invalid` with the error as its reason.  A
template the Pod API refuses leaves no Pod behind and frees what the solve promised it.  The
cluster, the API server and the metrics are stand-ins here (pure logic)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import orchestrator.engine as engine_module
from orchestrator.engine import Outcome, PlacementEngine
from orchestrator.kube.errors import KubeForbidden, KubeInvalid
from orchestrator.replica_pods import FORBIDDEN_RETRY_S
from orchestrator.replica_pods import create as create_pods
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.snapshot import QosMetrics, Request
from orchestrator.workloads import template_rejected
from tests.operator.test_engine_capacity import METRICS, View, k8s_node, spec


def absurd(cpu: str) -> EdgeWorkloadSpec:
    """A spec with a cpu the CRD and the model now refuse (as one stored before the bound was)."""
    good = spec()
    return good.model_copy(update={"resources": good.resources.model_copy(update={"cpu": cpu})})


async def place_together(requests: list[Request]) -> dict[str, Outcome]:
    async def metrics() -> QosMetrics:
        return METRICS

    nodes = [k8s_node("near-1", "near", pods="110"), k8s_node("far-1", "far", pods="110")]
    engine = PlacementEngine(View(nodes), metrics, window_s=0.05)
    try:
        outcomes = await asyncio.wait_for(asyncio.gather(*(engine.place(r) for r in requests)), 30)
        return {o.key: o for o in outcomes}
    finally:
        await engine.stop()


@pytest.mark.parametrize("cpu", ["1e18", "99999999999999999999"])
def test_an_absurd_quantity_does_not_stop_its_batch(cpu: str) -> None:
    good = [Request(f"ns/ok-{i}", spec()) for i in range(5)]
    bad = Request("ns/absurd", absurd(cpu))
    out = asyncio.run(place_together([*good[:3], bad, *good[3:]]))
    assert all(out[r.key].placed and not out[r.key].invalid for r in good), {k: o.reason for k, o in out.items()}
    culprit = out["ns/absurd"]
    assert not culprit.placed and culprit.invalid
    assert "cpu_m" in (culprit.reason or "") and "must be <=" in (culprit.reason or ""), culprit.reason


def test_a_solver_crash_one_request_trips_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine_module.solve
    solves: list[int] = []

    def fragile(inst: Any, *args: Any, **kwargs: Any) -> Any:
        solves.append(len(inst.workloads))
        if any(w.name == "ns/trips" for w in inst.workloads):
            raise OverflowError("Python int too large to convert to C long")
        return real(inst, *args, **kwargs)

    monkeypatch.setattr(engine_module, "solve", fragile)
    good = [Request(f"ns/ok-{i}", spec()) for i in range(7)]
    out = asyncio.run(place_together([*good[:5], Request("ns/trips", spec()), *good[5:]]))
    assert all(out[r.key].placed for r in good), {k: o.reason for k, o in out.items()}
    culprit = out["ns/trips"]
    assert not culprit.placed and culprit.invalid
    assert culprit.reason == "placement failed: OverflowError: Python int too large to convert to C long"
    # bisection, not one solve per request: 8 -> 4+4 -> 2+2 -> 1+1
    assert solves[0] == 8 and len(solves) <= 7, solves


class RefusingKube:
    """Creates Pods, but the API server refuses the one named `refuse` (as for a 422 or a 403)."""

    def __init__(self, refuse: str, error: Exception) -> None:
        self.refuse, self.error = refuse, error
        self.created: list[str] = []
        self.deleted: list[str] = []

    async def ensure_priority_class(self, priority: int) -> str:
        return f"edgeorch-priority-{priority}"

    async def create_pod(self, manifest: dict[str, Any]) -> bool:
        name = manifest["metadata"]["name"]
        if name == self.refuse:
            raise self.error
        self.created.append(name)
        return True

    async def delete_pod(self, namespace: str, name: str, uid: str = "") -> bool:
        self.deleted.append(name)
        return True


@pytest.mark.parametrize(("error", "reason", "retry"), [
    (KubeInvalid('Pod "w-2" is invalid: spec.containers[1].name: Duplicate value: "app"', 422), "InvalidTemplate", None),
    (KubeForbidden('pods "w-2" is forbidden: exceeded quota', 403), "PodForbidden", FORBIDDEN_RETRY_S),
])
def test_replica_pods_made_before_a_refusal_are_deleted_again(error: Exception, reason: str, retry: float | None) -> None:
    kube = RefusingKube("w-2", error)
    pods = [{"metadata": {"name": f"w-{i}"}} for i in range(4)]
    refused = asyncio.run(create_pods(kube, "ns", pods))  # type: ignore[arg-type]
    assert refused is not None
    assert refused[0] == reason and str(error) in refused[1] and refused[2] == retry
    assert sorted(kube.deleted) == sorted(kube.created) == ["w-0", "w-1", "w-3"]


def test_a_template_no_pod_can_be_built_of_is_answered_and_its_capacity_freed() -> None:
    released: list[str] = []

    class Engine:
        def release(self, key: str) -> None:
            released.append(key)

        def forget(self, key: str) -> None:
            raise AssertionError("nothing runs: release, not forget")

    body = {"metadata": {"name": "w", "namespace": "ns", "generation": 3}, "status": {"placements": [
        {"replica": 0, "node": "n1", "site": "s", "tier": "edge"}]}}
    out = template_rejected(body, {}, Engine(), "InvalidTemplate", "x" * 5000)  # type: ignore[arg-type]
    assert released == ["ns/w"]
    assert out.status is not None and out.status["phase"] == "Unplaceable" and out.status["placements"] == []
    placed = {c["type"]: c for c in out.status["conditions"]}["Placed"]
    assert placed["status"] == "False" and placed["reason"] == "InvalidTemplate" and len(placed["message"]) == 1000
    assert out.retry_after is None and out.events[0][:2] == ("Warning", "InvalidTemplate")
