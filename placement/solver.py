"""The `cpsat` solver: filters, LP bound and rounding, CP-SAT, re-placement.

Small models (few feasible pairs): exact CP-SAT from the best of a portfolio of greedy
starts (skipped above Tuning.quick_pairs pairs on a limit too short for a second CP-SAT pass: it
would not prove them), then from the rounded LP and the best so far (after replica swaps and
moves, and, if a placeable workload is left out, after CP-SAT on the placement-only model),
then the swaps again on CP-SAT's result unless it is proven optimal. Larger ones: the grouped LP
relaxation (placement.lp) gives the proven bound of the full problem and, rounded
(placement.rounding), the start; replica swaps and moves (and ejections: placement.swaps,
where dense matrices are small enough) and CP-SAT neighbourhood search improve it until its
deterministic budget is spent, and left-out workloads are fitted in by moving others where
that pays. Re-placement (some workloads have a current placement): workloads whose
placement is still feasible and cannot gain more than a migration's cost by moving to a
node with room stay fixed; the affected ones (and a few that could gain) are freed; if a
freed workload of higher priority is then left out, the lower-priority workloads on its
candidate nodes are freed too; the result gets the swaps and moves, migrations counted.
A re-placement that runs no LP of its own proves its bound from an earlier solve's LP prices
(`SolverConfig.prices`, which every result with an LP hands on: placement.warm) and the
Lagrangian bound, whichever is higher.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from placement.baselines import regret_greedy
from placement.bounds import lower_bound
from placement.cpsat import BuiltModel, ModelSpec, build_model, build_placement_model, solve_built
from placement.explain import build_result
from placement.lns import improve
from placement.lp import solve_lp
from placement.model import Instance, Prices, SolverConfig, SolveResult, Status, Weights
from placement.objective import evaluate
from placement.portfolio import best_baseline, no_worse, value_of
from placement.problem import Problem, left_out
from placement.replace import replace_affected
from placement.rounding import lp_order, repair, round_lp
from placement.swaps import applicable, improve_swaps
from placement.tuning import TUNING as T
from placement.warm import warm_bound


def _best_start(problem: Problem, floor: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The best of a few greedy starts and the best baseline solution `floor`, by the shared
    objective (a portfolio of hints)."""
    inst = problem.instance
    starts = [regret_greedy(problem, order) for order in ("candidates", "tight", "regret")]
    starts.append(floor)
    scored = [(evaluate(inst, problem.weights, a, problem.penalty).objective, i) for i, a in enumerate(starts)]
    best_value, best_i = min(scored)
    best = starts[best_i]
    first: list[int] = []
    for _ in range(T.start_repair_rounds):  # repair: retry with the left-out workloads first
        missing = left_out(problem, best)
        if not missing:
            break
        first = first + [wi for wi in missing if wi not in first]
        trial = regret_greedy(problem, "regret", first=first)
        value = evaluate(inst, problem.weights, trial, problem.penalty).objective
        if value < best_value:
            best, best_value = trial, value
    return best


def _better(problem: Problem, a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> bool:
    inst, wt, pen = problem.instance, problem.weights, problem.penalty
    return evaluate(inst, wt, a, pen).objective < evaluate(inst, wt, b, pen).objective - 1e-9


def _cold_large(problem: Problem, config: SolverConfig, deadline: float, hard: float,
                floor: dict[str, tuple[str, ...]] | None) -> tuple[dict[str, tuple[str, ...]], float, Prices | None]:
    """LP bound, LP rounding (or the best baseline solution `floor`, if better), neighbourhood
    search (and the placement-first start if a placeable workload is still left out and its model
    can be built in time): (assignment, proven bound, the LP's prices)."""
    inst = problem.instance
    pairs = int(problem.pairs().start[-1])
    swap_s = problem.cat.all_replicas * T.swap_s_per_replica if applicable(problem) else 0.0
    after_lp = pairs * T.round_s_per_pair + swap_s  # a rounding and a swap pass
    lp_s = min(deadline - time.perf_counter() - after_lp, T.lp_share_large * config.time_limit_s)
    # (no LP when not even its first solve fits: 1,000 x 200 took 0.3-0.5 s for it, whatever its limit)
    lp = solve_lp(problem, {}, max(0.05, lp_s)) if lp_s >= min(T.lp_min_s, pairs * T.lp_s_per_pair) else None
    best: dict[str, tuple[str, ...]] = {}
    for near_only in (True, False) if len(inst.workloads) <= T.two_roundings_max_workloads else (True,):
        if best and time.perf_counter() + after_lp > deadline:
            break  # no time for the second rounding
        if lp is not None and lp.values:  # two notions of a big workload (packed first): keep the better rounding
            rounded = round_lp(problem, lp, lp_order(problem, lp, near_only), near_only)
            if not best or _better(problem, rounded, best):
                best = rounded
    if len(best) < len(inst.workloads):  # something left out: compare with the greedy start
        greedy = regret_greedy(problem, "regret")
        if not best or _better(problem, greedy, best):
            best = greedy
    if floor is not None and (not best or _better(problem, floor, best)):
        best = floor
    # the swaps and the search stop on their own (deterministic) budgets; the clock is only a safety net,
    # at the contract's end less the result's time (at `deadline`, a loaded machine cut them short and the
    # same input gave another result: 1,000 x 200 at loads 0.8 and 1.05, 2 s)
    swapped = improve_swaps(problem, best, hard - problem.cat.all_replicas * T.swap_s_per_replica)
    best = repair(problem, improve(problem, swapped, config, hard))
    if left_out(problem, best):
        best = _placement_first(problem, config, best, _fill_spec(problem, best), deadline)
    bound = lp.bound if lp is not None else -float("inf")
    if not np.isfinite(bound):  # no LP duals at all: the cheaper Lagrangian bound
        value = evaluate(inst, problem.weights, best, problem.penalty).objective
        bound = max(bound, lower_bound(problem, upper=value))
    return best, bound, lp.prices if lp is not None else None


def _whole(problem: Problem) -> ModelSpec:
    """Every workload free on all its candidate nodes."""
    n_w = len(problem.instance.workloads)
    return ModelSpec(list(range(n_w)), {wi: problem.candidates(wi) for wi in range(n_w)})


def _quick(problem: Problem, config: SolverConfig, floor: dict[str, tuple[str, ...]]) -> tuple[dict[str, tuple[str, ...]], float, bool, BuiltModel]:
    """CP-SAT on the whole small model from the greedy start, on Tuning.quick_share of the time limit (tiny
    instances, such as the operator's online batches, are proven optimal in a fraction of the full
    pipeline's time): the best assignment, CP-SAT's bound, whether it proved optimality, and the
    model (the second pass solves it again from a better start)."""
    spec = _whole(problem)
    built = build_model(problem, spec)
    share = config.time_limit_s * T.quick_share
    start = _best_start(problem, floor)
    budget = share * T.dtime_per_s
    # (the wall limit is only a safety net: the deterministic budget must stop it, or the result would vary)
    outcome = solve_built(problem, built, start, config, max(0.1, 3 * share), dtime=budget)
    optimal = outcome.solved and outcome.status == "OPTIMAL"
    if not optimal and not (outcome.solved and outcome.dtime >= 0.99 * budget):
        return start, -float("inf"), False, built  # stopped by the wall clock: its incumbent would not be reproducible
    # CP-SAT's objective has integer-scaled coefficients: keep the start if the exact objective prefers it
    best = start if _better(problem, start, outcome.assignment) else outcome.assignment
    return best, outcome.bound, optimal, built


def _placement_first(problem: Problem, config: SolverConfig, best: dict[str, tuple[str, ...]], spec: ModelSpec,
                     deadline: float) -> dict[str, tuple[str, ...]]:
    """`best` leaves a placeable workload out: CP-SAT on the model with only the unplaced penalties
    places the most it can from `best`, whatever that costs, and the swaps and moves then make it
    cheap; the better of that and `best`. (100 x 20, seeds 0-15: 3 placeable workloads left out
    without it, none with it; seed 9: 1,361.6 -> 655.3. 250 x 200 at load 0.8, seed 2, on the
    model of `_fill_spec`: 4,361.0 -> 2,431.5 in 0.24 s.) Skipped when its model could not be built
    and solved in time: on more pairs than Tuning.placement_first_build_share of the time limit builds (decided on
    the limit: same input, same result), or than the clock leaves (a safety net on a loaded machine)."""
    pairs = sum(len(spec.candidates[wi]) for wi in spec.free)
    dtime = max(T.placement_first_min_dtime, T.placement_first_dtime * config.time_limit_s)
    build_s = pairs * T.build_s_per_pair
    # the contract's end (1.1 x the limit + 50 ms) less what the result takes after it (SolverConfig)
    end = deadline + (T.reserve_share + T.late_share) * config.time_limit_s + T.late_s - T.result_s
    if build_s > T.placement_first_build_share * config.time_limit_s or build_s + T.min_pass_s > end - time.perf_counter():
        return best
    built = build_placement_model(problem, spec)
    outcome = solve_built(problem, built, best, replace(config, workers=1), max(0.02, end - time.perf_counter()),
                          presolve=True, dtime=dtime)
    if not outcome.solved:
        return best
    filled = improve_swaps(problem, outcome.assignment)
    return filled if _better(problem, filled, best) else best


def _fill_spec(problem: Problem, best: dict[str, tuple[str, ...]]) -> ModelSpec:
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


def _second_pass(
    problem: Problem, config: SolverConfig, best: dict[str, tuple[str, ...]], proven: float, start: float,
    deadline: float, spec: ModelSpec, built: BuiltModel | None, search: bool = True,
) -> tuple[dict[str, tuple[str, ...]], float, bool, bool, Prices | None]:
    """Small models the quick try did not prove: the LP bound and rounding (and the neighbourhood
    search on it, if `search`), the placement-first start if a placeable workload is still left out,
    then (if `built`: the limit leaves time) CP-SAT on the quick try's `built` model with one worker and
    presolve from two starts, the rounding and the best so far, each on half the deterministic
    budget: (assignment, bound, optimal, solved, LP prices). From which start CP-SAT finds the better
    solution varies from instance to instance; one worker is reproducible without interleaving
    the portfolio, which on two cores finds far less in the same time."""
    lp = solve_lp(problem, {}, config.time_limit_s * T.lp_share_small)
    starts: list[dict[str, tuple[str, ...]]] = []
    if lp.values:
        rounded = improve_swaps(problem, round_lp(problem, lp, lp_order(problem, lp)))
        starts.append(rounded)
        searched = improve(problem, rounded, config, start + config.time_limit_s * T.lp_share_small) if search else rounded
        for candidate in (rounded, searched):
            if _better(problem, candidate, best):
                best = candidate
    proven = max(proven, lp.bound)
    filled = bool(left_out(problem, best))
    if filled:
        best = _placement_first(problem, config, best, spec, deadline)
    if built is None:
        return best, proven, False, True, lp.prices
    if best not in starts:
        starts.append(best)
    single = replace(config, workers=1)
    dtime = (1.0 - T.lp_share_small) * config.time_limit_s * T.pass_dtime_per_s * (T.after_fill_share if filled else 1.0) / len(starts)
    solved = False
    hard = deadline + (T.reserve_share + T.late_share) * config.time_limit_s + T.late_s - T.result_s  # (small models: as in
    # _placement_first; a pass that started after the deadline with at least 0.1 s made 100 x 20 at 0.2-0.5 s late)
    for hint in starts:
        left = hard - time.perf_counter()
        if left < T.min_pass_s:
            break
        outcome = solve_built(problem, built, hint, single, left, presolve=True, dtime=dtime)
        if not outcome.solved:
            continue
        solved = True
        proven = max(proven, outcome.bound)
        if _better(problem, outcome.assignment, best):
            best = outcome.assignment
        if outcome.status == "OPTIMAL":
            return best, proven, True, True, lp.prices
    return best, proven, False, solved, lp.prices


def solve_cpsat(inst: Instance, weights: Weights, config: SolverConfig) -> SolveResult:
    """Exact CP-SAT on small models; LP rounding and CP-SAT neighbourhood search on large
    ones; for re-placement, a model over the affected workloads only."""
    start = time.perf_counter()
    # the rest: bound and result (at least what the result takes on this many workloads)
    reserve = max(T.reserve_share * config.time_limit_s, T.result_s_per_workload * len(inst.workloads))
    deadline = start + max(0.5 * config.time_limit_s, config.time_limit_s - reserve)
    hard = start + (1.0 + T.late_share) * config.time_limit_s + T.late_s - T.result_s - T.result_s_per_workload * len(inst.workloads)
    problem = Problem(inst, weights)
    incremental = config.incremental and any(w.current for w in inst.workloads)
    pairs = sum(len(problem.candidates(wi)) for wi in range(len(inst.workloads)))
    # every baseline is a start where they are cheap next to the limit (decided on the limit: same input,
    # same result), and the result is never worse than the best of them; where they are not (10,000 x
    # 1,000: 6-13 s of a 30 s limit before the LP), they run after the search, in time kept for them
    baseline_s = pairs * T.baseline_s_per_pair
    early = baseline_s <= T.baseline_share * config.time_limit_s
    floor: dict[str, tuple[str, ...]] | None = None
    if early:
        floor, floor_value, _ = best_baseline(problem)
    else:
        deadline, hard = deadline - baseline_s, hard - baseline_s
    proven = -float("inf")
    optimal = False
    solved_any = True
    prices: Prices | None = None
    own_lp = False  # a re-placement whose LP fallback ran has the whole problem's LP bound (the strongest)
    if incremental:
        replaced = replace_affected(problem, config, deadline)
        best, solved_any, proven = improve_swaps(problem, replaced.assignment), replaced.solved, replaced.bound
        prices, own_lp = replaced.prices, math.isfinite(proven)
        if not own_lp and config.prices is not None:  # no LP ran: the earlier solve's prices
            proven, prices = warm_bound(problem, config.prices), config.prices
    elif pairs > T.small_model_pairs:
        best, proven, prices = _cold_large(problem, config, deadline, hard, floor)
    else:
        second = config.time_limit_s * (1.0 - T.reserve_share - T.quick_share) >= T.second_pass_min_s
        quick = second or pairs <= T.quick_pairs
        built: BuiltModel | None = None
        if quick:
            best, proven, optimal, built = _quick(problem, config, floor or {})
        else:
            best, optimal = _best_start(problem, floor or {}), False
        if not optimal:
            # (no neighbourhood search without the quick try: with its time left, the wall clock
            # would decide how far the search gets, and the same input would not give the same result)
            best, proven, optimal, solved_any, prices = _second_pass(
                problem, config, best, proven, start, deadline, built.spec if built else _whole(problem),
                built if second else None, search=quick)
            if not optimal:  # CP-SAT's result can still take swaps, moves and ejections
                best = improve_swaps(problem, best, hard)
    if floor is None:
        floor, floor_value, _ = best_baseline(problem)
    if floor_value < value_of(problem, best) - 1e-9:  # the search lost to a baseline: start from it again
        best = no_worse(problem, improve_swaps(problem, floor, hard - problem.cat.all_replicas * T.swap_s_per_replica),
                        floor, floor_value)
    value = evaluate(inst, weights, best, problem.penalty).objective
    # the Lagrangian bound too, unless a re-placement already has the whole problem's LP bound (stronger)
    if not optimal and ((incremental and not own_lp) or (not incremental and pairs <= T.small_model_pairs)):
        proven = max(proven, lower_bound(problem, upper=value, iterations=T.replace_bound_steps if incremental else 80))
    if not solved_any:
        status = Status.TIMEOUT
    elif optimal:
        status = Status.OPTIMAL
    else:
        status = Status.FEASIBLE
    wall = time.perf_counter() - start
    return replace(build_result(problem, best, status, proven, wall, "cpsat"), prices=prices)
