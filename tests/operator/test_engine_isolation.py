"""One tenant's bad request must not stop the others batched with it (#25 bug 2).

The engine solves concurrent requests as one batch; when that solve raises (an invalid instance, or
a solver bug that one request trips), the batch is solved again in halves until the culprit stands
alone: the others are placed, the culprit is answered `invalid` with the error as its reason.  The
cluster and the metrics are stand-ins here (pure logic)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import orchestrator.engine as engine_module
from orchestrator.engine import Outcome, PlacementEngine
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.snapshot import QosMetrics, Request
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
