"""A re-placement's bound from an earlier solve's LP prices: always a valid bound, tight when the
prices are the problem's own, and at 1,000 x 200 after churn stronger than the Lagrangian one."""

from __future__ import annotations

import numpy as np

from placement import Prices, SolverConfig, Weights, solve
from placement.bounds import lower_bound
from placement.generator import churn, generate
from placement.lp import solve_lp
from placement.problem import Problem
from placement.warm import best_demand_prices, warm_bound


def test_the_best_demand_price_maximises_the_workloads_term() -> None:
    rc = np.array([[3.0, 1.0, np.inf, 2.0], [5.0, 4.0, 6.0, np.inf]])
    upper = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 1.0, 1.0, 0.0]])
    reps = np.array([2.0, 2.0])
    leave_out = np.array([-100.0, -7.0])  # leaving the second out costs 7: at 3.5 a replica, it is cheaper

    def term(i: int, mu: float) -> float:
        finite = np.isfinite(rc[i])
        return float((upper[i][finite] * np.minimum(rc[i][finite] - mu, 0.0)).sum() + min(leave_out[i] + mu * reps[i], 0.0))

    mu = best_demand_prices(rc, upper, reps, leave_out)
    assert mu.tolist() == [2.0, 3.5]
    for i in range(2):  # no other price does better
        assert all(term(i, float(mu[i])) >= term(i, m) - 1e-12 for m in np.linspace(-10.0, 10.0, 401))


def test_warm_bound_is_valid_and_tight_on_its_own_prices() -> None:
    inst = generate(300, 60, seed=0)
    cold = solve(inst, Weights(), SolverConfig(time_limit_s=2.0))
    moved, _ = churn(inst, dict(cold.assignment), fraction=0.05, seed=1)
    problem = Problem(moved, Weights())
    lp = solve_lp(problem, {}, 5.0)
    assert lp.prices is not None and cold.prices is not None
    own = warm_bound(problem, lp.prices)
    assert own <= lp.lp_value + 1e-6  # a lower bound of the relaxation
    assert own >= lp.bound - 0.02 * abs(lp.bound)  # its own prices: within 2 % of the LP's bound
    replaced = solve(moved, Weights(), SolverConfig(time_limit_s=2.0, prices=cold.prices))
    before = warm_bound(problem, cold.prices)  # the cold solve's prices, on the churned city
    assert before <= lp.lp_value + 1e-6
    # the solver keeps the better of it and the Lagrangian bound (stale prices can be the weaker one)
    assert replaced.bound >= max(before, lower_bound(problem, upper=replaced.objective, iterations=20)) - 1e-6
    assert warm_bound(problem, Prices()) <= lp.lp_value + 1e-6  # no known group: still valid


def test_after_churn_the_earlier_prices_beat_the_lagrangian_bound() -> None:
    inst = generate(1_000, 200, seed=0)
    cold = solve(inst, Weights(), SolverConfig(time_limit_s=2.0))
    assert cold.prices is not None
    moved, _ = churn(inst, dict(cold.assignment), fraction=0.05, seed=1)
    problem = Problem(moved, Weights())
    lp = solve_lp(problem, {}, 5.0)
    warm = warm_bound(problem, cold.prices)
    assert lower_bound(problem, upper=lp.lp_value * 1.1, iterations=80) < warm <= lp.lp_value + 1e-6


def test_a_replacement_with_earlier_prices_proves_more() -> None:
    inst = generate(300, 60, seed=1)
    cold = solve(inst, Weights(), SolverConfig(time_limit_s=2.0))
    moved, _ = churn(inst, dict(cold.assignment), fraction=0.05, seed=2)
    plain = solve(moved, Weights(), SolverConfig(time_limit_s=2.0))
    warm = solve(moved, Weights(), SolverConfig(time_limit_s=2.0, prices=cold.prices))
    assert warm.assignment == plain.assignment  # the prices change the proof, not the placement
    assert warm.bound >= plain.bound - 1e-6
    assert warm.gap <= plain.gap + 1e-9
