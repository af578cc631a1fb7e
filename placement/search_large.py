"""The stages of a large cold model: the LP's bound and rounding, then local improvement.

Owns: the grouped LP relaxation (placement.lp: the proven bound of the whole problem, when its first
solve fits the limit), its roundings (placement.rounding; twice, with two notions of a big workload,
where there are few enough workloads), the greedy and baseline starts when the rounding is worse or
leaves workloads out, replica swaps and moves with CP-SAT neighbourhood search (placement.swaps,
placement.lns), and the bound: the LP's, or the Lagrangian bound where no LP ran.

Must not: read the clock but through the Budget. The swaps and the search stop on their own
(deterministic) budgets; the clock is only a safety net, at the contract's end less the result's time
(at the deadline, a loaded machine cut them short and the same input gave another result).
"""

from __future__ import annotations

import math

from placement.baselines import regret_greedy
from placement.bounds import lower_bound
from placement.budget import Budget
from placement.lns import improve
from placement.lp import solve_lp
from placement.portfolio import better, value_of
from placement.rounding import lp_order, repair, round_lp
from placement.stages import State, bound_reserve, swap_reserve
from placement.swaps import applicable, improve_swaps
from placement.tuning import TUNING as T


def _after_lp(state: State) -> float:
    """Wall seconds a rounding and a swap pass take after the LP."""
    problem = state.problem
    swap_s = swap_reserve(problem) if applicable(problem) else 0.0
    return int(problem.pairs().start[-1]) * T.round_s_per_pair + swap_s


def lp_large(state: State, budget: Budget) -> None:
    """The grouped LP with column pricing on lp_share_large of the limit at most, leaving time for a
    rounding and a swap pass; none when not even its first solve fits."""
    pairs = int(state.problem.pairs().start[-1])
    lp_s = min(budget.left() - _after_lp(state), budget.wall_share(T.lp_share_large))
    if lp_s >= min(T.lp_min_s, pairs * T.lp_s_per_pair):
        state.lp = solve_lp(state.problem, {}, max(0.05, lp_s))
        state.bound, state.prices = state.lp.bound, state.lp.prices


def roundings(state: State, budget: Budget) -> None:
    """The LP rounded (twice where there are at most two_roundings_max_workloads workloads and the
    clock leaves time: big workloads packed first, by two notions of big); the better one."""
    problem, lp = state.problem, state.lp
    after_lp = _after_lp(state)
    twice = len(problem.instance.workloads) <= T.two_roundings_max_workloads
    for near_only in (True, False) if twice else (True,):
        if state.best and budget.left() < after_lp:
            break  # no time for the second rounding
        if lp is not None and lp.values:
            rounded = round_lp(problem, lp, lp_order(problem, lp, near_only), near_only)
            if not state.best or better(problem, rounded, state.best):
                state.best = rounded


def other_starts(state: State, budget: Budget) -> None:
    """The greedy start if the rounding left something out, and the best baseline solution, where either
    is better."""
    problem = state.problem
    greedy_s = budget.estimate(int(problem.pairs().start[-1]) * T.greedy_s_per_pair)
    if (len(state.best) < len(problem.instance.workloads)
            and (budget.left() > greedy_s or not (state.best or state.floor))):
        greedy = regret_greedy(problem, "regret")
        if not state.best or better(problem, greedy, state.best):
            state.best = greedy
    if state.floor is not None and (not state.best or better(problem, state.floor, state.best)):
        state.best = state.floor


def local_search(state: State, budget: Budget) -> None:
    """Swaps, moves and ejections, then CP-SAT neighbourhood search, then the repair of left-out
    workloads (each until its deterministic budget is spent)."""
    problem = state.problem
    # where no LP ran, the Lagrangian bound runs after the search: keep its time
    bound_s = 0.0 if state.lp is not None else bound_reserve(problem)
    # (a pass's time kept after the last one starts, longer on a busy machine: one took 0.5 s there)
    swapped = improve_swaps(problem, state.best, budget.hard_less(budget.estimate(swap_reserve(problem)) + bound_s))
    state.best = repair(problem, improve(problem, swapped, state.config, budget.hard_less(bound_s)))


def lp_or_lagrangian_bound(state: State, budget: Budget) -> None:
    """No LP duals at all: the cheaper Lagrangian bound."""
    if not math.isfinite(state.bound):
        value = value_of(state.problem, state.best)
        state.bound = max(state.bound, lower_bound(state.problem, upper=value, iterations=T.cold_bound_steps,
                                                   deadline=budget.hard))
