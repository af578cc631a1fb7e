"""The stages of the placement pipeline, and the state they hand on.

Owns: `State` (the incumbent assignment, the proven bound, whether it is optimal, the LP's prices,
the baseline floor and what a later stage needs of an earlier one) and `Stage` (a name, a guard,
and `run(state, budget)`), and the stages common to every recipe: the baselines, the swaps, the
placement-first model, the baseline floor and the bounds. The stages of one kind of model are in
placement.search_small, placement.search_large and placement.search_replace; placement.pipeline
composes them into recipes.

Must not: look at the clock but through the Budget, or decide which recipe runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from placement import binpack
from placement.bounds import lower_bound
from placement.budget import Budget
from placement.cpsat import BuiltModel, ModelSpec, build_placement_model, solve_built
from placement.lp import LpResult
from placement.model import Prices, SolverConfig
from placement.portfolio import Assignment, best_baseline, better, no_worse, value_of
from placement.problem import Problem, left_out
from placement.swaps import improve_swaps
from placement.tuning import TUNING as T


@dataclass(slots=True)
class State:
    """What the stages of one solve pass on to each other."""

    problem: Problem
    config: SolverConfig
    best: Assignment = field(default_factory=dict)  # the incumbent
    bound: float = -float("inf")  # the best proven lower bound so far
    optimal: bool = False  # CP-SAT proved `best` optimal
    solved: bool = True  # False: the CP-SAT passes that should have found a solution found none
    prices: Prices | None = None  # the LP's capacity prices, handed on in the result
    own_lp: bool = False  # re-placement: the whole problem's LP ran (its bound is the strongest)
    floor: Assignment | None = None  # the best baseline solution, once the baselines ran
    floor_value: float = float("inf")
    built: BuiltModel | None = None  # small models: the whole CP-SAT model, built once
    starts: list[Assignment] = field(default_factory=list)  # small models: the CP-SAT passes' hints
    filled: bool = False  # small models: a placeable workload was left out after the LP stage
    lp: LpResult | None = None  # large models: the LP, for its roundings

    @property
    def searching(self) -> bool:
        """Not proven optimal yet: the search stages still have something to do."""
        return not self.optimal


def always(state: State) -> bool:
    return True


def searching(state: State) -> bool:
    return state.searching


def leaves_one_out(state: State) -> bool:
    """A placeable workload is left out of the incumbent (and it is not proven optimal)."""
    return state.searching and bool(left_out(state.problem, state.best))


@dataclass(frozen=True, slots=True)
class Stage:
    """One named step of a recipe: `run` improves the state, if `when` says it has anything to do."""

    name: str
    run: Callable[[State, Budget], None]
    when: Callable[[State], bool] = always


def pairs_of(problem: Problem) -> int:
    """Feasible (workload, node) pairs of the whole problem."""
    return sum(len(problem.candidates(wi)) for wi in range(len(problem.instance.workloads)))


def swap_reserve(problem: Problem) -> float:
    """Wall seconds one pass of swaps, moves and ejections takes on this problem."""
    return problem.cat.all_replicas * T.swap_s_per_replica


# --- stages common to every recipe ------------------------------------------------------------------

def baselines(state: State, budget: Budget) -> None:
    """The four baselines on the problem: their best is a start where they are cheap next to the limit
    (decided on the limit: same input, same result); where they are not, their time is set aside and
    they run at the end, as a floor only (`baseline_floor`)."""
    baseline_s = pairs_of(state.problem) * T.baseline_s_per_pair
    if baseline_s <= budget.share(T.baseline_share):
        started = time.perf_counter()
        state.floor, state.floor_value, _ = best_baseline(state.problem)
        budget.measured(baseline_s, time.perf_counter() - started)
    else:
        budget.set_aside(baseline_s)


def baseline_floor(state: State, budget: Budget) -> None:
    """The result is never worse than the best baseline: if the search lost to it, start from it again
    (after the swaps)."""
    problem = state.problem
    if state.floor is None:
        state.floor, state.floor_value, _ = best_baseline(problem)
    if state.floor_value < value_of(problem, state.best) - 1e-9:
        swapped = improve_swaps(problem, state.floor, budget.hard_less(swap_reserve(problem)))
        state.best = no_worse(problem, swapped, state.floor, state.floor_value)


def swaps(state: State, budget: Budget) -> None:
    """Best-first replica swaps, moves and ejections on the incumbent (no pass after the safety net)."""
    state.best = improve_swaps(state.problem, state.best, budget.hard)


def bin_packing(state: State, budget: Budget) -> None:
    """Pure bin packing (placement.binpack): the decreasing heuristics, the incumbent and the best
    baseline, then the bin-emptying search on binpack_ops_per_s x the limit checks (deterministic;
    the search deadline is a safety net); its packing where it uses fewer nodes."""
    problem = state.problem
    it = binpack.items(problem)
    if it is None:
        return
    starts = [b for b in (binpack.bins_of(problem, a) for a in (state.best, state.floor) if a) if b is not None]
    ops = int(budget.share(1.0) * T.binpack_ops_per_s)
    packed = binpack.assignment_of(problem, binpack.solve(it, starts, ops, state.config.seed, budget.deadline))
    if not state.best or better(problem, packed, state.best):
        state.best = packed


def lagrangian_bound(steps: int) -> Callable[[State, Budget], None]:
    """The Lagrangian bound of the whole problem with `steps` subgradient steps, if it is higher."""
    def run(state: State, budget: Budget) -> None:
        value = value_of(state.problem, state.best)
        state.bound = max(state.bound, lower_bound(state.problem, upper=value, iterations=steps, deadline=budget.hard))
    return run


def bound_reserve(problem: Problem) -> float:
    """Wall seconds kept for the Lagrangian bound where it runs after the search: half its steps on an
    idle machine (they give most of its value: 1,000 x 200 at load 0.8, 5,297 after 40 steps, 5,331
    after 80); it stops at the safety net, not scaled by a busy machine (the search is worth more)."""
    return T.cold_bound_steps / 2 * len(problem.instance.workloads) * T.bound_s_per_step_workload


# --- the placement-first model --------------------------------------------------------------------

def whole(problem: Problem) -> ModelSpec:
    """Every workload free on all its candidate nodes."""
    n_w = len(problem.instance.workloads)
    return ModelSpec(list(range(n_w)), {wi: problem.candidates(wi) for wi in range(n_w)})


def fill_spec(problem: Problem, best: Assignment) -> ModelSpec:
    """The placement-first model of a large problem: the left-out workloads and every workload with
    a replica on one of their candidate nodes are free (on all their candidates), the rest fixed."""
    cat = problem.cat
    missing = left_out(problem, best)
    near = set(np.concatenate([problem.candidates(wi) for wi in missing]).tolist())
    free = set(missing)
    for name, nodes in best.items():
        if any(cat.node_index[n] in near for n in nodes):
            free.add(cat.workload_index[name])
    fixed = {cat.workload_index[name]: tuple(cat.node_index[n] for n in nodes)
             for name, nodes in best.items() if cat.workload_index[name] not in free}
    return ModelSpec(sorted(free), {wi: problem.candidates(wi) for wi in free}, fixed, complete=False)


def placement_first(spec_of: Callable[[Problem, Assignment], ModelSpec]) -> Callable[[State, Budget], None]:
    """The incumbent leaves a placeable workload out: CP-SAT on the model with only the unplaced
    penalties (over `spec_of`'s workloads) places the most it can from it, whatever that costs, and the
    swaps and moves then make it cheap; the better of that and the incumbent. Skipped when its model
    could not be built and solved in time: on more pairs than placement_first_build_share of the limit
    builds (decided on the limit: same input, same result), or than the clock leaves (a safety net)."""
    def run(state: State, budget: Budget) -> None:
        problem, config, best = state.problem, state.config, state.best
        spec = spec_of(problem, best)
        pairs = sum(len(spec.candidates[wi]) for wi in spec.free)
        dtime = max(T.placement_first_min_dtime, budget.share(T.placement_first_dtime))
        build_s = pairs * T.build_s_per_pair
        end = budget.pass_end
        # (the second test is a safety net: the build scaled by how busy the machine is)
        if build_s > budget.share(T.placement_first_build_share) or budget.estimate(build_s) + T.min_pass_s > budget.left(end):
            return
        built = build_placement_model(problem, spec)
        outcome = solve_built(problem, built, best, replace(config, workers=1), max(0.02, budget.left(end)),
                              presolve=True, dtime=dtime)
        if not outcome.solved:
            return
        filled = improve_swaps(problem, outcome.assignment, budget.hard_less(budget.estimate(swap_reserve(problem))))
        if better(problem, filled, best):
            state.best = filled
    return run


def whole_spec(problem: Problem, best: Assignment) -> ModelSpec:
    return whole(problem)
