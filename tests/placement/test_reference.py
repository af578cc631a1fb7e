"""Our solver against an independent exact MIP (SCIP from OR-Tools, bench.reference): on an
instance SCIP proves optimal, our objective is never below the optimum and our proven bound
never above it; SCIP's solution meets every constraint we check (the two models agree)."""

from __future__ import annotations

from bench.reference import scip
from placement import SolverConfig, Status, Weights, check_violations, evaluate, solve
from placement.explain import build_result
from placement.generator import generate
from placement.problem import Problem


def test_bound_and_objective_bracket_the_scip_optimum() -> None:
    inst = generate(40, 10, seed=0)
    weights = Weights()
    assignment, scip_bound, optimal, _ = scip(inst, weights, 60.0)
    assert optimal, "SCIP did not prove the optimum within 60 s: no reference to compare with"
    ref = build_result(Problem(inst, weights), assignment, Status.OPTIMAL, scip_bound, 0.0, "scip")
    assert check_violations(inst, ref) == []
    optimum = evaluate(inst, weights, assignment).objective
    assert abs(optimum - scip_bound) <= 1e-4 * optimum + 1e-6
    ours = solve(inst, weights, SolverConfig(time_limit_s=1.0, seed=0))
    assert check_violations(inst, ours) == []
    assert ours.objective >= optimum - 1e-6
    assert ours.bound <= optimum + 1e-6
