"""The `cpsat` solver: filters, LP bound and rounding, CP-SAT, re-placement.

Small models (few feasible pairs): exact CP-SAT from the best of a portfolio of greedy
starts. Larger ones: the grouped LP relaxation (placement.lp) gives the proven bound of
the full problem and, rounded, the start; CP-SAT neighbourhood search improves it until
the (deterministic) budget is spent. Re-placement (some workloads have a current
placement): workloads whose placement is still feasible and cannot gain more than a
migration's cost by moving to a node with room stay fixed; the affected ones (and a few
that could gain) are freed; if a freed workload of higher priority is then left out,
the lower-priority workloads on its candidate nodes are freed too.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np

from placement.baselines import ASSIGNERS, regret_greedy
from placement.bounds import lower_bound
from placement.catalog import IntArray
from placement.cpsat import ModelSpec, solve_model
from placement.explain import build_result
from placement.lns import improve
from placement.lp import solve_lp
from placement.model import Instance, SolverConfig, SolveResult, Status, Weights
from placement.objective import evaluate
from placement.problem import Problem
from placement.rounding import lp_order, round_lp

SMALL_MODEL = 4_000  # pairs: below this, never prune
MAX_PAIRS = 60_000
MIN_NODES, MAX_NODES = 6, 12
MIN_SITES = 2
REPAIR_ROUNDS = 4
LP_SHARE = 0.5  # share of the remaining time the LP relaxation may take
IMPROVABLE_SHARE = 0.05  # re-placement also frees up to 5 % of workloads that could gain by moving
REPLACE_SHARE = 0.15  # share of the time limit a re-placement may use


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
        own = np.isin(cands, np.array(sorted(counts), dtype=np.int64))
        room = own | ((cpu_left[cands] >= w.cpu_m) & (mem_left[cands] >= w.memory_mb))
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


def _replace(problem: Problem, config: SolverConfig) -> tuple[dict[str, tuple[str, ...]], bool]:
    """Re-place the affected workloads with CP-SAT, the others fixed: (assignment, solved)."""
    end = time.perf_counter() + REPLACE_SHARE * config.time_limit_s
    free, fixed = _split(problem)
    best = regret_greedy(problem, "regret")  # keeps every valid current placement
    solved = False
    for _round in range(2):
        candidates, _ = _prune(problem, free, best)
        spec = ModelSpec(sorted(free), candidates, fixed, complete=False)
        outcome = solve_model(problem, spec, best, config, max(0.05, end - time.perf_counter()))
        if outcome.solved:
            solved = True
            if _better(problem, outcome.assignment, best):
                best = outcome.assignment
        if not _release_for_priority(problem, best, free, fixed):
            break
    return best, solved


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
    """LP bound, LP rounding, then neighbourhood search: (assignment, proven bound)."""
    inst = problem.instance
    left = deadline - time.perf_counter()
    lp = solve_lp(problem, {}, max(0.05, left * LP_SHARE))
    best: dict[str, tuple[str, ...]] = {}
    if lp.values:
        best = round_lp(problem, lp, lp_order(problem, lp))
    if len(best) < len(inst.workloads):  # something left out: compare with the greedy start
        greedy = regret_greedy(problem, "regret")
        if not best or _better(problem, greedy, best):
            best = greedy
    best = improve(problem, best, config, deadline)
    return best, lp.bound


def solve_cpsat(inst: Instance, weights: Weights, config: SolverConfig) -> SolveResult:
    """Exact CP-SAT on small models; LP rounding and CP-SAT neighbourhood search on large
    ones; for re-placement, a model over the affected workloads only."""
    start = time.perf_counter()
    deadline = start + config.time_limit_s
    problem = Problem(inst, weights)
    incremental = config.incremental and any(w.current for w in inst.workloads)
    pairs = sum(len(problem.candidates(wi)) for wi in range(len(inst.workloads)))
    proven = -float("inf")
    optimal = False
    solved_any = True
    if incremental:
        best, solved_any = _replace(problem, config)
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
        outcome = solve_model(problem, spec, best, config, max(0.1, deadline - time.perf_counter()))
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
        proven = max(proven, lower_bound(problem, upper=value))
    if not solved_any:
        status = Status.TIMEOUT
    elif optimal:
        status = Status.OPTIMAL
    else:
        status = Status.FEASIBLE
    wall = time.perf_counter() - start
    return build_result(problem, best, status, proven, wall, "cpsat")
