"""A re-placement's proven bound from an earlier solve's LP prices, without an LP solve.

The grouped LP's Lagrangian (placement.lp) is a valid lower bound of the full relaxation at ANY
dual prices. After a little churn the capacity prices of the solve before are nearly right, so
those prices (`SolverConfig.prices`, carried over by group name; a group the earlier solve did
not have is priced 0), with each workload's demand price set to its best value given them, give
nearly the LP's bound for the cost of two pricing passes. Pure: no clock, no randomness.
"""

from __future__ import annotations

import numpy as np

from placement.catalog import FloatArray
from placement.lp import GroupedLp, build_groups
from placement.model import Prices
from placement.problem import Problem


def best_demand_prices(rc: FloatArray, upper: FloatArray, reps: FloatArray, leave_out: FloatArray) -> FloatArray:
    """Per workload, the demand price that maximises its part of the Lagrangian,
    sum_g upper[g] * min(rc[g] - mu, 0) + min(leave_out + mu * reps, 0) (concave in mu): the
    reduced cost at which the cheapest columns first hold all replicas, or where leaving the
    workload out becomes cheaper, whichever is lower. `rc` is the reduced cost at mu = 0 (inf:
    no column); `leave_out` the objective of leaving it out, less the penalty already counted."""
    order = np.argsort(rc, axis=1, kind="stable")
    cost = np.take_along_axis(rc, order, axis=1)
    room = np.where(np.isfinite(cost), np.take_along_axis(upper, order, axis=1), 0.0)
    reached = np.cumsum(room, axis=1) >= reps[:, None] - 1e-9
    first = reached.argmax(axis=1)
    fill = np.where(reached.any(axis=1), cost[np.arange(len(rc)), first], np.inf)
    mu: FloatArray = np.minimum(fill, -leave_out / reps)
    return mu


def warm_bound(problem: Problem, prices: Prices) -> float:
    """A proven lower bound of `problem` at `prices` (and the best demand prices given them)."""
    gr = build_groups(problem)
    yw, yg = np.nonzero(gr.current > 0)  # the kept columns (their migrations); link and spread rows priced 0
    lp = GroupedLp(problem, gr, yw.astype(np.int64), yg.astype(np.int64))
    duals = lp.with_prices(prices)
    # keeping a current replica saves its migration: priced at the full migration on its column
    duals[lp.r_keep:lp.r_keep + len(lp.kept)] = -problem.weights.migration
    _, rc = lp.lagrangian(duals)
    n_w = len(lp.reps)
    leave_out = -lp.pen + problem.weights.migration * lp.base
    duals[lp.r_dem:lp.r_dem + n_w] = best_demand_prices(rc, gr.upper, lp.reps, leave_out)
    bound, _ = lp.lagrangian(duals)
    return bound
