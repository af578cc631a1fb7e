"""The `cpsat` solver as recipes of named stages: which stages run, in which order, for which model.

Owns: the recipes (literal tuples of placement.stages.Stage), the choice of a recipe for an
instance and a limit (decided on the limit and the model's size, never on the clock: same input
and seed, same result), and the run: open the Budget, run each stage whose guard holds, and build
the result. Every recipe ends with the baseline floor (the result is never worse than the best
baseline) and a bound.

    REPLACE       some workloads already run somewhere: re-place the affected ones only
    COLD_LARGE    more than small_model_pairs feasible pairs: LP bound and rounding, local search
    COLD_SMALL    a small model and a limit that leaves time for a second CP-SAT pass: exact CP-SAT
    TINY_BATCH    a short limit, at most quick_pairs pairs: CP-SAT proves it in the quick try
    ONLINE_BATCH  a short limit and more pairs: a greedy start and the LP rounding, no CP-SAT
    BIN_PACKING   pure bin packing (placement.binpack) on more than small_model_pairs pairs: the
                  bin-emptying search instead of the LP and the neighbourhood search

Workloads of several priority bands: a recipe per band, the highest band first (placement.priority).

Must not: hold tuning numbers (placement.tuning) or time arithmetic (placement.budget).
"""

from __future__ import annotations

from dataclasses import replace

from placement import binpack
from placement.budget import Budget
from placement.explain import build_result
from placement.model import Instance, SolverConfig, SolveResult, Status, Weights
from placement.priority import solve_by_band
from placement.problem import Problem
from placement.search_large import local_search, lp_large, lp_or_lagrangian_bound, other_starts, roundings
from placement.search_replace import replace_affected_stage, warm_start_bound, without_own_lp
from placement.search_small import cpsat_passes, fill, greedy_start, lp_rounding, quick_cpsat
from placement.stages import (
    Stage,
    State,
    baseline_floor,
    baselines,
    bin_packing,
    fill_spec,
    lagrangian_bound,
    leaves_one_out,
    pairs_of,
    placement_first,
    searching,
    swaps,
)
from placement.tuning import TUNING as T

Recipe = tuple[Stage, ...]

BASELINES = Stage("baselines", baselines)
FLOOR = Stage("baseline floor", baseline_floor)
SWAPS = Stage("swaps", swaps, when=searching)
COLD_BOUND = Stage("Lagrangian bound", lagrangian_bound(T.cold_bound_steps), when=searching)

REPLACE: Recipe = (
    BASELINES,
    Stage("re-place the affected", replace_affected_stage),
    Stage("warm bound", warm_start_bound),
    FLOOR,
    Stage("Lagrangian bound", lagrangian_bound(T.replace_bound_steps), when=without_own_lp),
)

COLD_LARGE: Recipe = (
    BASELINES,
    Stage("LP", lp_large),
    Stage("LP roundings", roundings),
    Stage("greedy and baseline starts", other_starts),
    Stage("swaps and neighbourhood search", local_search),
    Stage("placement first", placement_first(fill_spec), when=leaves_one_out),
    Stage("LP or Lagrangian bound", lp_or_lagrangian_bound),
    FLOOR,
)

BIN_PACKING: Recipe = (
    BASELINES,
    Stage("bin packing", bin_packing),
    FLOOR,
    Stage("LP or Lagrangian bound", lp_or_lagrangian_bound),
)

COLD_SMALL: Recipe = (
    BASELINES,
    Stage("quick CP-SAT", quick_cpsat),
    Stage("bin packing", bin_packing, when=searching),
    Stage("LP rounding and search", lp_rounding(search=True), when=searching),
    Stage("placement first", fill, when=leaves_one_out),
    Stage("CP-SAT passes", cpsat_passes, when=searching),
    SWAPS,
    FLOOR,
    COLD_BOUND,
)

TINY_BATCH: Recipe = tuple(s for s in COLD_SMALL if s.name != "CP-SAT passes")

ONLINE_BATCH: Recipe = (
    BASELINES,
    Stage("greedy start", greedy_start),
    # (no neighbourhood search without the quick try: with its time left, the wall clock would decide
    # how far the search gets, and the same input would not give the same result)
    Stage("LP rounding", lp_rounding(search=False), when=searching),
    Stage("placement first", fill, when=leaves_one_out),
    SWAPS,
    FLOOR,
    COLD_BOUND,
)


def recipe_for(problem: Problem, config: SolverConfig) -> tuple[str, Recipe]:
    """The recipe for this problem and limit, and its name."""
    if config.incremental and any(w.current for w in problem.instance.workloads):
        return "REPLACE", REPLACE
    pairs = pairs_of(problem)
    if pairs > T.small_model_pairs:
        return ("BIN_PACKING", BIN_PACKING) if binpack.items(problem) is not None else ("COLD_LARGE", COLD_LARGE)
    if config.time_limit_s * (1.0 - T.reserve_share - T.quick_share) >= T.second_pass_min_s:
        return "COLD_SMALL", COLD_SMALL
    return ("TINY_BATCH", TINY_BATCH) if pairs <= T.quick_pairs else ("ONLINE_BATCH", ONLINE_BATCH)


def run(recipe: Recipe, state: State, budget: Budget) -> State:
    """Run every stage of `recipe` whose guard holds, in order."""
    for stage in recipe:
        if stage.when(state):
            stage.run(state, budget)
    return state


def solve_cpsat(inst: Instance, weights: Weights, config: SolverConfig) -> SolveResult:
    """Lexicographic by priority band (placement.priority), each band solved by `solve_band`."""
    return solve_by_band(inst, weights, config, solve_band)


def solve_band(inst: Instance, weights: Weights, config: SolverConfig) -> SolveResult:
    """Exact CP-SAT on small models; LP rounding and CP-SAT neighbourhood search on large ones; for
    re-placement, a model over the affected workloads only (see the recipes above)."""
    budget = Budget.open(config.time_limit_s, len(inst.workloads), wall=config.wall_limit_s)
    problem = Problem(inst, weights)
    _name, recipe = recipe_for(problem, config)
    state = run(recipe, State(problem, config), budget)
    if not state.solved:
        status = Status.TIMEOUT
    elif state.optimal:
        status = Status.OPTIMAL
    else:
        status = Status.FEASIBLE
    result = build_result(problem, state.best, status, state.bound, budget.elapsed(), "cpsat")
    return replace(result, prices=state.prices)
