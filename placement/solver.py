"""The `cpsat` solver: filters, LP bound and rounding, CP-SAT, re-placement.

Small models (few feasible pairs): exact CP-SAT from the best of a portfolio of greedy
starts and the rounded LP. Larger ones: the grouped LP relaxation (placement.lp) gives the
proven bound of the full problem and, rounded (placement.rounding), the start; CP-SAT
neighbourhood search improves it until its deterministic budget is spent, and left-out
workloads are fitted in by moving others where that pays. Re-placement (some workloads
have a current placement): workloads whose placement is still feasible and cannot gain
more than a migration's cost by moving to a node with room stay fixed; the affected ones
(and a few that could gain) are freed; if a freed workload of higher priority is then
left out, the lower-priority workloads on its candidate nodes are freed too.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np

from placement.baselines import ASSIGNERS, regret_greedy
from placement.bounds import lower_bound
from placement.catalog import FloatArray, IntArray
from placement.cpsat import DTIME_PER_SECOND, ModelSpec, solve_model
from placement.explain import build_result
from placement.lns import improve
from placement.lp import solve_lp
from placement.model import Instance, SolverConfig, SolveResult, Status, Weights
from placement.objective import evaluate
from placement.problem import Packing, Problem, priority_order
from placement.rounding import lp_order, repair, round_lp

SMALL_MODEL = 4_000  # pairs: below this, never prune
MAX_PAIRS = 60_000
MIN_NODES, MAX_NODES = 6, 12
MIN_SITES = 2
REPAIR_ROUNDS = 4
TWO_ROUNDINGS = 3_000  # workloads: up to this many, round the LP twice
RESERVE = 0.06  # share of the time limit kept for the bound and the result
LP_LARGE = 0.6  # most of the time limit the LP (all pricing rounds) may take on large models
LP_SHARE = 0.5  # share of the time limit the LP (and its rounding) may take on small models
QUICK_SHARE = 0.1  # small models: a first CP-SAT try on this share, which proves tiny ones (online batches)
IMPROVABLE_SHARE = 0.05  # re-placement also frees up to 5 % of workloads that could gain by moving
REPLACE_BOUND_STEPS = 20  # subgradient steps of the Lagrangian bound after a re-placement
REPLACE_SHARE = 0.05  # share of the time limit (in deterministic time) for the re-placement's CP-SAT
REPLACE_WALL = 0.08  # and at most this share of it in wall time (large models load slowly)


def _prune(problem: Problem, free: list[int], hint: dict[str, tuple[str, ...]]) -> tuple[dict[int, IntArray], bool]:
    """Candidate nodes per free workload; False if some feasible node was pruned."""
    cat = problem.cat
    inst = problem.instance
    total = sum(len(problem.candidates(wi)) for wi in free)
    full = {wi: problem.candidates(wi) for wi in free}
    if total <= SMALL_MODEL:
        return full, True
    budget = max(MIN_NODES, min(MAX_NODES, MAX_PAIRS // max(1, len(free))))
    out: dict[int, IntArray] = {}
    complete = True
    for wi in free:
        nodes = problem.candidates(wi)
        if len(nodes) <= budget:
            out[wi] = nodes
            continue
        sites = cat.node_site[nodes]
        unit = problem.unit_cost[wi]
        site_best: dict[int, float] = {}
        for s, c in zip(sites.tolist(), unit.tolist(), strict=True):
            if c < site_best.get(s, np.inf):
                site_best[s] = c
        ranked = sorted(site_best, key=lambda s: (site_best[s], s))
        keep_sites: set[int] = set()
        count = 0
        per_site = Counter(sites.tolist())
        for s in ranked:
            if len(keep_sites) >= MIN_SITES and count >= budget:
                break
            keep_sites.add(s)
            count += per_site[s]
        extra = {cat.node_index[n] for n in hint.get(inst.workloads[wi].name, ())}
        extra |= {cat.node_index[n] for n in inst.workloads[wi].current}
        mask = np.isin(sites, np.array(sorted(keep_sites), dtype=np.int64)) | np.isin(
            nodes, np.array(sorted(extra), dtype=np.int64))
        out[wi] = nodes[mask]
        complete = complete and bool(mask.all())
    return out, complete


def _still_valid(problem: Problem, wi: int) -> bool:
    w = problem.instance.workloads[wi]
    if len(w.current) != w.replicas:
        return False
    cands = set(problem.candidates(wi).tolist())
    counts = problem.current_counts(wi)
    if any(n not in cands for n in counts):
        return False
    if w.max_per_node is not None and max(counts.values()) > w.max_per_node:
        return False
    if w.max_per_site is not None:
        per_site = Counter(int(problem.cat.node_site[n]) for n in problem.current_counts(wi).elements())
        if max(per_site.values()) > w.max_per_site:
            return False
    return True


def _split(problem: Problem) -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """Free (affected or improvable) and fixed workloads for a re-placement. A valid workload
    is improvable if moving its replicas to the cheapest candidate nodes that still have room
    (after every valid current placement) gains more than the migrations cost."""
    inst = problem.instance
    cat = problem.cat
    valid = [wi for wi in range(len(inst.workloads)) if _still_valid(problem, wi)]
    cpu = np.zeros(len(cat.node_names), dtype=np.int64)
    mem = np.zeros(len(cat.node_names), dtype=np.int64)
    for wi in valid:
        w = inst.workloads[wi]
        for n, c in problem.current_counts(wi).items():
            cpu[n] += w.cpu_m * c
            mem[n] += w.memory_mb * c
    over = set(np.flatnonzero((cpu > cat.free_cpu) | (mem > cat.free_mem)).tolist())
    cpu_left, mem_left = cat.free_cpu - cpu, cat.free_mem - mem
    mark = np.zeros(len(cat.node_names), dtype=np.bool_)
    fixed: dict[int, tuple[int, ...]] = {}
    gains: list[tuple[float, int]] = []
    migration = problem.weights.migration
    for wi in valid:
        counts = problem.current_counts(wi)
        if any(n in over for n in counts):
            continue
        w = inst.workloads[wi]
        cands = problem.candidates(wi)
        unit = problem.unit_cost[wi]
        mark[list(counts)] = True
        room = mark[cands] | ((cpu_left[cands] >= w.cpu_m) & (mem_left[cands] >= w.memory_mb))
        mark[list(counts)] = False
        best = float(unit[room].min())
        by_node = dict(zip(cands.tolist(), unit.tolist(), strict=True))
        gain = sum((by_node[n] - best - migration) * c for n, c in counts.items())
        if gain > 1e-9:
            gains.append((-gain, wi))
        fixed[wi] = tuple(cat.node_index[n] for n in w.current)
    budget = math.ceil(IMPROVABLE_SHARE * len(inst.workloads))
    for _, wi in sorted(gains)[:budget]:
        del fixed[wi]
    free = [wi for wi in range(len(inst.workloads)) if wi not in fixed]
    return free, fixed


def _replace_start(problem: Problem, free: list[int], fixed: dict[int, tuple[int, ...]]) -> dict[str, tuple[str, ...]]:
    """The hint of a re-placement: fixed workloads where they are, free ones that are still
    valid too if they fit, the others one replica at a time at the lowest marginal cost."""
    inst = problem.instance
    cat = problem.cat
    opening = problem.weights.active_nodes + problem.weights.energy * cat.idle_power
    pack = Packing(problem)
    for wi, nodes in fixed.items():
        pack.commit(inst.workloads[wi], list(nodes))

    def score(p: Packing, wi: int, nodes: IntArray, idx: IntArray) -> FloatArray:
        s: FloatArray = problem.unit_cost[wi][idx] + np.where(p.active[nodes], 0.0, opening[nodes])
        return s

    order = priority_order(inst, [float(len(problem.candidates(wi))) for wi in range(len(inst.workloads))])
    rest = [wi for wi in order if wi in set(free)]
    kept = pack.keep_current([wi for wi in rest if _still_valid(problem, wi)])
    for wi in rest:
        if wi not in kept and len(problem.candidates(wi)):
            pack.place_one_by_one(wi, score)
    return pack.assignment


def _replace(problem: Problem, config: SolverConfig, end: float) -> tuple[dict[str, tuple[str, ...]], bool]:
    """Re-place the affected workloads with CP-SAT, the others fixed: (assignment, solved).
    CP-SAT stops on a deterministic budget (a share of the time limit), `end` is a safety net."""
    budget = REPLACE_SHARE * config.time_limit_s * DTIME_PER_SECOND
    free, fixed = _split(problem)
    best = _replace_start(problem, free, fixed)
    solved = False
    inst, wt, pen = problem.instance, problem.weights, problem.penalty
    value = evaluate(inst, wt, best, pen).objective
    for _round in range(2):
        candidates, _ = _prune(problem, free, best)
        spec = ModelSpec(sorted(free), candidates, fixed, complete=False)
        wall = min(end - time.perf_counter(), REPLACE_WALL * config.time_limit_s)
        outcome = solve_model(problem, spec, best, config, max(0.05, wall), dtime=budget)
        if outcome.solved:
            solved = True
            new = evaluate(inst, wt, outcome.assignment, pen).objective
            if new < value - 1e-9:
                best, value = outcome.assignment, new
        if not _release_for_priority(problem, best, free, fixed):
            break
    return repair(problem, best), solved


def _release_for_priority(
    problem: Problem, assignment: dict[str, tuple[str, ...]], free: list[int], fixed: dict[int, tuple[int, ...]],
) -> bool:
    """Free lower-priority fixed workloads sitting on nodes a left-out free workload could use."""
    inst = problem.instance
    released = False
    for wi in free:
        w = inst.workloads[wi]
        if w.name in assignment or len(problem.candidates(wi)) == 0:
            continue
        cands = set(problem.candidates(wi).tolist())
        for fj, nodes in list(fixed.items()):
            if inst.workloads[fj].priority < w.priority and cands.intersection(nodes):
                del fixed[fj]
                free.append(fj)
                released = True
    return released


def _best_start(problem: Problem) -> dict[str, tuple[str, ...]]:
    """The best of a few greedy starts, by the shared objective (a portfolio of hints)."""
    inst = problem.instance
    starts = [regret_greedy(problem, order) for order in ("candidates", "tight", "regret")]
    starts += [assign(problem) for assign in ASSIGNERS.values()]
    scored = [(evaluate(inst, problem.weights, a, problem.penalty).objective, i) for i, a in enumerate(starts)]
    best_value, best_i = min(scored)
    best = starts[best_i]
    first: list[int] = []
    for _ in range(REPAIR_ROUNDS):  # repair: retry with the left-out workloads first
        left_out = [wi for wi, w in enumerate(inst.workloads) if w.name not in best and len(problem.candidates(wi))]
        if not left_out:
            break
        first = first + [wi for wi in left_out if wi not in first]
        trial = regret_greedy(problem, "regret", first=first)
        value = evaluate(inst, problem.weights, trial, problem.penalty).objective
        if value < best_value:
            best, best_value = trial, value
    return best


def _better(problem: Problem, a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> bool:
    inst, wt, pen = problem.instance, problem.weights, problem.penalty
    return evaluate(inst, wt, a, pen).objective < evaluate(inst, wt, b, pen).objective - 1e-9


def _cold_large(problem: Problem, config: SolverConfig, deadline: float) -> tuple[dict[str, tuple[str, ...]], float]:
    """LP bound, LP rounding, neighbourhood search: (assignment, proven bound)."""
    inst = problem.instance
    lp = solve_lp(problem, {}, max(0.05, min(deadline - time.perf_counter(), LP_LARGE * config.time_limit_s)))
    best: dict[str, tuple[str, ...]] = {}
    for near_only in (True, False) if len(inst.workloads) <= TWO_ROUNDINGS else (True,):
        if lp.values:  # two notions of a big workload (packed first): keep the better rounding
            rounded = round_lp(problem, lp, lp_order(problem, lp, near_only), near_only)
            if not best or _better(problem, rounded, best):
                best = rounded
    if len(best) < len(inst.workloads):  # something left out: compare with the greedy start
        greedy = regret_greedy(problem, "regret")
        if not best or _better(problem, greedy, best):
            best = greedy
    best = repair(problem, improve(problem, best, config, deadline))
    bound = lp.bound
    if not np.isfinite(bound):  # no LP duals at all: the cheaper Lagrangian bound
        value = evaluate(inst, problem.weights, best, problem.penalty).objective
        bound = max(bound, lower_bound(problem, upper=value))
    return best, bound


def _quick(problem: Problem, config: SolverConfig) -> tuple[dict[str, tuple[str, ...]], float] | None:
    """CP-SAT on the whole small model from the greedy start, on QUICK_SHARE of the time limit: the
    assignment and bound when it proves optimality (tiny instances, such as the operator's online
    batches, take a fraction of the full pipeline's time), else None."""
    inst = problem.instance
    spec = ModelSpec(list(range(len(inst.workloads))), {wi: problem.candidates(wi) for wi in range(len(inst.workloads))})
    share = config.time_limit_s * QUICK_SHARE
    start = _best_start(problem)
    outcome = solve_model(problem, spec, start, config, max(0.05, share), dtime=share * DTIME_PER_SECOND)
    if not (outcome.solved and outcome.status == "OPTIMAL"):
        return None
    # CP-SAT's objective has integer-scaled coefficients: keep the start if the exact objective prefers it
    best = start if _better(problem, start, outcome.assignment) else outcome.assignment
    return best, outcome.bound


def solve_cpsat(inst: Instance, weights: Weights, config: SolverConfig) -> SolveResult:
    """Exact CP-SAT on small models; LP rounding and CP-SAT neighbourhood search on large
    ones; for re-placement, a model over the affected workloads only."""
    start = time.perf_counter()
    deadline = start + config.time_limit_s * (1.0 - RESERVE)  # the rest: bound and result
    problem = Problem(inst, weights)
    incremental = config.incremental and any(w.current for w in inst.workloads)
    pairs = sum(len(problem.candidates(wi)) for wi in range(len(inst.workloads)))
    proven = -float("inf")
    optimal = False
    solved_any = True
    if incremental:
        best, solved_any = _replace(problem, config, deadline)
    elif (quick := _quick(problem, config) if pairs <= SMALL_MODEL else None) is not None:
        best, proven = quick
        optimal = True
    elif pairs <= SMALL_MODEL:
        lp = solve_lp(problem, {}, config.time_limit_s * LP_SHARE)
        best = _best_start(problem)
        if lp.values:
            rounded = improve(problem, round_lp(problem, lp, lp_order(problem, lp)), config,
                              start + config.time_limit_s * LP_SHARE)
            if _better(problem, rounded, best):
                best = rounded
        proven = lp.bound
        spec = ModelSpec(list(range(len(inst.workloads))), {wi: problem.candidates(wi) for wi in range(len(inst.workloads))})
        outcome = solve_model(problem, spec, best, config, max(0.1, deadline - time.perf_counter()),
                              dtime=(1.0 - LP_SHARE) * config.time_limit_s * DTIME_PER_SECOND)
        solved_any = outcome.solved
        if outcome.solved:
            if _better(problem, outcome.assignment, best):
                best = outcome.assignment
            proven = max(proven, outcome.bound)
            optimal = outcome.status == "OPTIMAL"
    else:
        best, proven = _cold_large(problem, config, deadline)
    value = evaluate(inst, weights, best, problem.penalty).objective
    if not optimal and (incremental or pairs <= SMALL_MODEL):
        proven = max(proven, lower_bound(problem, upper=value, iterations=REPLACE_BOUND_STEPS if incremental else 80))
    if not solved_any:
        status = Status.TIMEOUT
    elif optimal:
        status = Status.OPTIMAL
    else:
        status = Status.FEASIBLE
    wall = time.perf_counter() - start
    return build_result(problem, best, status, proven, wall, "cpsat")
