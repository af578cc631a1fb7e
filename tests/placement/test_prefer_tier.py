"""A workload's preferred tier (EdgeWorkload spec.placement.preferTier) is a soft wish: among
placements that meet its QoS it wins over a few milliseconds, never over the QoS bound, and the
objective reports what it cost."""

from __future__ import annotations

from placement import SolverConfig, Weights, Workload, evaluate, solve
from tests.placement.instances import small

CONFIG = SolverConfig(time_limit_s=2.0, deterministic=True)


def _site(w: Workload) -> tuple[str, float]:
    inst = small([w])
    result = solve(inst, Weights(), CONFIG)
    (node,) = result.assignment[w.name]
    return node.split("-")[0], evaluate(inst, Weights(), result.assignment).breakdown["preference"]


def test_the_preferred_tier_wins_over_a_few_milliseconds() -> None:
    near = Workload("cam", 1, 500, 256, cells={"c1": 1.0})  # fe1 at 1 ms, mec1 at 5 ms
    assert _site(near) == ("fe1", 0.0)
    assert _site(Workload("cam", 1, 500, 256, cells={"c1": 1.0}, prefer_tier="edge")) == ("mec1", 0.0)


def test_the_qos_bound_wins_over_the_preference() -> None:
    w = Workload("cam", 1, 500, 256, cells={"c1": 1.0}, max_latency_ms=3.0, prefer_tier="edge")
    site, cost = _site(w)  # only fe1 meets 3 ms: the wish costs its weight, once
    assert site == "fe1" and cost == Weights().preference


def test_no_preference_no_change_to_any_objective() -> None:
    w = Workload("cam", 2, 500, 256, cells={"c1": 0.5, "c2": 0.5})
    inst = small([w])
    result = solve(inst, Weights(), CONFIG)
    ev = evaluate(inst, Weights(), result.assignment)
    assert ev.breakdown["preference"] == 0.0 and abs(ev.objective - result.objective) < 1e-6
