"""CP-SAT reaches the exact optimum of small instances (brute force), and bounds are valid."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings

from placement import Instance, SolverConfig, SolveResult, Status, Weights, check_violations, evaluate, solve
from placement.bounds import lower_bound
from placement.lp import solve_lp
from placement.problem import Problem
from tests.placement.instances import instances

WEIGHTS = [Weights(), Weights(latency=1.0, cost=50.0, migration=5.0, active_nodes=20.0, energy=0.1, balance=10.0)]


def brute_force(inst: Instance, weights: Weights) -> float:
    """Minimum objective over every assignment (each workload: unplaced or a multiset of nodes)."""
    names = [n.name for n in inst.nodes]
    options = [
        [None, *itertools.combinations_with_replacement(names, w.replicas)] for w in inst.workloads
    ]
    best = math.inf
    for combo in itertools.product(*options):
        assignment = {w.name: c for w, c in zip(inst.workloads, combo, strict=True) if c is not None}
        fake = SolveResult(Status.FEASIBLE, assignment, {}, 0.0, 0.0, 0.0, {}, 0.0,
                           {w.name: "x" for w in inst.workloads if w.name not in assignment}, (), 0, "brute")
        if check_violations(inst, fake):
            continue
        best = min(best, evaluate(inst, weights, assignment).objective)
    return best


SMALL = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SMALL
@given(inst=instances(max_workloads=3, max_nodes=3, max_replicas=2))
def test_cpsat_finds_the_brute_force_optimum(inst: Instance) -> None:
    for weights in WEIGHTS:
        optimum = brute_force(inst, weights)
        result = solve(inst, weights, SolverConfig(time_limit_s=5.0, workers=1, incremental=False))
        assert math.isclose(result.objective, optimum, rel_tol=1e-6, abs_tol=1e-6), (result, optimum)
        assert result.bound <= optimum + 1e-6
        assert result.status in (Status.OPTIMAL, Status.INFEASIBLE)
        assert result.gap <= 1e-3  # integer scaling rounds coefficients down by < 1e-3 each


@SMALL
@given(inst=instances(max_workloads=3, max_nodes=3, max_replicas=2))
def test_lagrangian_bound_never_exceeds_the_optimum(inst: Instance) -> None:
    for weights in WEIGHTS:
        optimum = brute_force(inst, weights)
        assert lower_bound(Problem(inst, weights), upper=optimum * 1.5 + 10, iterations=50) <= optimum + 1e-6


@SMALL
@given(inst=instances(max_workloads=3, max_nodes=3, max_replicas=2))
def test_lp_bound_never_exceeds_the_optimum(inst: Instance) -> None:
    for weights in WEIGHTS:
        optimum = brute_force(inst, weights)
        lp = solve_lp(Problem(inst, weights), {}, 5.0)
        assert lp.bound <= optimum + 1e-6
        if lp.optimal:  # priced out: the bound is the LP value itself (up to the safety margin)
            assert lp.bound == pytest.approx(lp.lp_value, rel=1e-5, abs=1e-5)


@SMALL
@given(inst=instances(max_workloads=3, max_nodes=3, max_replicas=2))
def test_replacement_bound_never_exceeds_the_optimum(inst: Instance) -> None:
    """Re-placement (workloads with a current placement, some fixed, maybe the LP fallback):
    its bound is still one of the whole problem."""
    for weights in WEIGHTS:
        optimum = brute_force(inst, weights)
        result = solve(inst, weights, SolverConfig(time_limit_s=2.0, workers=1))
        assert result.bound <= optimum + 1e-6 <= result.objective + 2e-6


def test_lp_bound_is_tight_on_an_integral_instance() -> None:
    from placement import Workload
    from tests.placement.instances import small
    inst = small([Workload("a", 2, 500, 512, cells={"c1": 1.0}), Workload("b", 1, 1000, 512, cells={"c2": 1.0})])
    optimum = brute_force(inst, Weights())
    lp = solve_lp(Problem(inst, Weights()), {}, 5.0)
    assert lp.optimal
    assert optimum - 1e-3 <= lp.bound <= optimum + 1e-6  # nothing fractional: LP = optimum


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(max_workloads=4, max_nodes=4))
def test_same_input_and_seed_give_the_same_result(inst: Instance) -> None:
    config = SolverConfig(time_limit_s=2.0, seed=7)
    a, b = solve(inst, config=config), solve(inst, config=config)
    assert a.assignment == b.assignment
    assert a.objective == b.objective
