"""The stages of a small cold model (few feasible pairs): exact CP-SAT from good starts.

Owns: the quick CP-SAT try on the whole model (tiny instances, such as the operator's online batches,
are proven optimal in a fraction of the limit), the greedy start where there is no quick try, the LP
bound with its rounding (and the neighbourhood search on it), and the second CP-SAT pass: one worker
with presolve from each start, the rounding and the best so far, on equal deterministic budgets.
From which start CP-SAT finds the better solution varies from instance to instance; one worker is
reproducible without interleaving the portfolio, which on two cores finds far less in the same time.

Must not: read the clock but through the Budget; every budget that decides a result is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from placement.budget import Budget
from placement.cpsat import build_model, solve_built
from placement.lns import improve
from placement.lp import solve_lp
from placement.portfolio import best_start, better
from placement.rounding import lp_order, round_lp
from placement.stages import State, placement_first, whole, whole_spec
from placement.swaps import improve_swaps
from placement.tuning import TUNING as T


def quick_cpsat(state: State, budget: Budget) -> None:
    """CP-SAT on the whole model from the best greedy start, on quick_share of the limit: the best
    assignment, CP-SAT's bound, whether it proved optimality, and the model (the second pass solves it
    again from better starts)."""
    problem, config = state.problem, state.config
    built = build_model(problem, whole(problem))
    share = budget.share(T.quick_share)
    start = best_start(problem, state.floor or {})
    dtime = budget.dtime(share)
    # (the wall limit is only a safety net: the deterministic budget must stop it, or the result would vary)
    outcome = solve_built(problem, built, start, config, max(0.1, 3 * budget.wall_share(T.quick_share)), dtime=dtime)
    state.built = built
    optimal = outcome.solved and outcome.status == "OPTIMAL"
    if not optimal and not (outcome.solved and outcome.dtime >= 0.99 * dtime):
        state.best = start  # stopped by the wall clock: its incumbent would not be reproducible
        return
    # CP-SAT's objective has integer-scaled coefficients: keep the start if the exact objective prefers it
    state.best = start if better(problem, start, outcome.assignment) else outcome.assignment
    state.bound, state.optimal = outcome.bound, optimal


def greedy_start(state: State, budget: Budget) -> None:
    """The best greedy start (no quick try: it could prove nothing in an online batch's short limit)."""
    state.best = best_start(state.problem, state.floor or {})


def lp_rounding(search: bool) -> Callable[[State, Budget], None]:
    """The LP bound and its rounding (after swaps), and the neighbourhood search on it if `search`;
    the rounding is a start of the second pass."""
    def run(state: State, budget: Budget) -> None:
        problem = state.problem
        lp = solve_lp(problem, {}, budget.wall_share(T.lp_share_small))
        if lp.values:
            rounded = improve_swaps(problem, round_lp(problem, lp, lp_order(problem, lp)))
            state.starts.append(rounded)
            searched = improve(problem, rounded, state.config, budget.at(T.lp_share_small)) if search else rounded
            for candidate in (rounded, searched):
                if better(problem, candidate, state.best):
                    state.best = candidate
        state.bound = max(state.bound, lp.bound)
        state.prices = lp.prices
    return run


def fill(state: State, budget: Budget) -> None:
    """The placement-first model of the whole problem (a placeable workload is left out); the second
    pass then keeps after_fill_share of its budget."""
    state.filled = True
    placement_first(whole_spec)(state, budget)


def cpsat_passes(state: State, budget: Budget) -> None:
    """CP-SAT on the quick try's model with one worker and presolve, from each start in turn, each on
    an equal share of the second pass's deterministic budget; stops once one proves optimality. No
    pass starts with less than min_pass_s before the contract's end."""
    problem, built = state.problem, state.built
    assert built is not None
    starts = state.starts
    if state.best not in starts:
        starts.append(state.best)
    single = replace(state.config, workers=1)
    dtime = (budget.share(1.0 - T.lp_share_small) * T.pass_dtime_per_s
             * (T.after_fill_share if state.filled else 1.0) / len(starts))
    state.solved = False
    for hint in starts:
        left = budget.left(budget.pass_end)
        if left < T.min_pass_s:
            break
        outcome = solve_built(problem, built, hint, single, left, presolve=True, dtime=dtime)
        if not outcome.solved:
            continue
        state.solved = True
        state.bound = max(state.bound, outcome.bound)
        if better(problem, outcome.assignment, state.best):
            state.best = outcome.assignment
        if outcome.status == "OPTIMAL":
            state.optimal = True
            return
