"""The pattern bound (bench.patterns): a valid lower bound that is at least our LP bound, checked
against the optimum an independent exact MIP (SCIP, bench.reference) proves on the same instance."""

from __future__ import annotations

from bench.patterns import pattern_bound
from bench.reference import scip
from placement import SolverConfig, Weights, evaluate, solve
from placement.generator import churn, generate
from placement.lp import solve_lp
from placement.problem import Problem


def test_pattern_bound_lies_between_the_lp_bound_and_the_optimum() -> None:
    inst = generate(40, 10, seed=0)
    weights = Weights()
    assignment, _, optimal, _ = scip(inst, weights, 60.0)
    assert optimal, "SCIP did not prove the optimum within 60 s: no reference to compare with"
    optimum = evaluate(inst, weights, assignment).objective
    lp_bound = solve_lp(Problem(inst, weights), {}, 10.0).bound
    start = dict(solve(inst, weights, SolverConfig(time_limit_s=0.5, seed=0)).assignment)
    pb = pattern_bound(inst, weights, start, 120.0)
    assert pb.converged, f"column generation did not converge in 120 s ({pb.iterations} iterations)"
    assert pb.bound <= optimum + 1e-6 * optimum
    assert pb.bound >= lp_bound - 1e-6 * abs(lp_bound)
    assert abs(pb.master - pb.bound) <= 1e-3 * optimum  # converged: the master's value is the bound


def test_pattern_bound_refuses_a_warm_instance() -> None:
    inst = generate(10, 6, seed=1)
    first = solve(inst, Weights(), SolverConfig(time_limit_s=0.3, seed=0))
    warm, _ = churn(inst, dict(first.assignment))
    try:
        pattern_bound(warm, Weights(), {}, 1.0)
    except ValueError as err:
        assert "cold instance" in str(err)
    else:
        raise AssertionError("a warm instance was accepted")
