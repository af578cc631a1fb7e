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
from placement.catalog import FloatArray, IntArray
from placement.cpsat import ModelSpec, solve_model
from placement.explain import build_result
from placement.lns import improve
from placement.lp import LpResult, solve_lp
from placement.model import Instance, SolverConfig, SolveResult, Status, Weights
from placement.objective import evaluate
from placement.problem import Packing, Problem, priority_order
from placement.rounding import lp_order, round_lp

SMALL_MODEL = 4_000  # pairs: below this, never prune
MAX_PAIRS = 60_000
MIN_NODES, MAX_NODES = 6, 12
MIN_SITES = 2
REPAIR_ROUNDS = 4
FIX_SHARE = 0.7  # share of the time left after rounding for the CP-SAT fix-and-solve
FIX_CHEAPEST = 6  # cheapest nodes a freed workload may also use
LP_SHARE = 0.5  # share of the time limit the LP (and its rounding) may take on small models
IMPROVABLE_SHARE = 0.05  # re-placement also frees up to 5 % of workloads that could gain by moving
REPLACE_SHARE = 0.05  # share of the time limit the re-placement's CP-SAT model may use


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


def _replace(problem: Problem, config: SolverConfig) -> tuple[dict[str, tuple[str, ...]], bool]:
    """Re-place the affected workloads with CP-SAT, the others fixed: (assignment, solved)."""
    end = time.perf_counter() + REPLACE_SHARE * config.time_limit_s
    free, fixed = _split(problem)
    best = _replace_start(problem, free, fixed)
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


def _lp_settled(problem: Problem, lp: LpResult, start: dict[str, tuple[str, ...]]) -> set[int]:
    """Workloads the LP placed integrally and the rounding placed exactly as the LP did."""
    cat = problem.cat
    by_w: dict[int, Counter[int]] = {}
    fractional: set[int] = set()
    for (wi, g), v in lp.values.items():
        if abs(v - round(v)) > 1e-6:
            fractional.add(wi)
        elif round(v):
            by_w.setdefault(wi, Counter())[g] = round(v)
    out: set[int] = set()
    for wi, w in enumerate(problem.instance.workloads):
        nodes = start.get(w.name)
        if wi in fractional or not nodes:
            continue
        if Counter(int(lp.groups.node_group[cat.node_index[n]]) for n in nodes) == by_w.get(wi):
            out.add(wi)
    return out


def _fix_and_solve(problem: Problem, lp: LpResult, start: dict[str, tuple[str, ...]], config: SolverConfig,
                   time_limit_s: float) -> dict[str, tuple[str, ...]]:
    """CP-SAT over the workloads the rounding did not settle, the others fixed; each free one
    may use the nodes of its LP groups, its start nodes and its cheapest nodes."""
    inst = problem.instance
    cat = problem.cat
    settled = _lp_settled(problem, lp, start)
    free = [wi for wi in range(len(inst.workloads)) if wi not in settled and len(problem.candidates(wi))]
    if not free:
        return start
    lp_groups: dict[int, set[int]] = {}
    for (wi, g), v in lp.values.items():
        if v > 1e-6:
            lp_groups.setdefault(wi, set()).add(g)
    candidates: dict[int, IntArray] = {}
    for wi in free:
        cands = problem.candidates(wi)
        keep = np.isin(lp.groups.node_group[cands], np.array(sorted(lp_groups.get(wi, set())), dtype=np.int64))
        keep[np.argsort(problem.unit_cost[wi], kind="stable")[:FIX_CHEAPEST]] = True
        keep |= np.isin(cands, np.array([cat.node_index[n] for n in start.get(inst.workloads[wi].name, ())],
                                        dtype=np.int64))
        candidates[wi] = cands[keep]
    fixed = {wi: tuple(cat.node_index[n] for n in start[inst.workloads[wi].name]) for wi in settled}
    outcome = solve_model(problem, ModelSpec(free, candidates, fixed, complete=False), start, config,
                          time_limit_s, presolve=True)
    if outcome.solved and _better(problem, outcome.assignment, start):
        return outcome.assignment
    return start


def _cold_large(problem: Problem, config: SolverConfig, deadline: float) -> tuple[dict[str, tuple[str, ...]], float]:
    """LP bound, LP rounding, CP-SAT on what the rounding did not settle, then neighbourhood
    search: (assignment, proven bound)."""
    inst = problem.instance
    lp = solve_lp(problem, {}, max(0.05, deadline - time.perf_counter()))  # CLP: deterministic
    best: dict[str, tuple[str, ...]] = {}
    if lp.values:
        best = round_lp(problem, lp, lp_order(problem, lp))
    if len(best) < len(inst.workloads):  # something left out: compare with the greedy start
        greedy = regret_greedy(problem, "regret")
        if not best or _better(problem, greedy, best):
            best = greedy
    if lp.values:
        left = deadline - time.perf_counter()
        best = _fix_and_solve(problem, lp, best, config, max(0.05, left * FIX_SHARE))
    best = improve(problem, best, config, deadline)
    bound = lp.bound
    if not lp.optimal:  # the LP was cut short: its bound is valid but may be weak
        value = evaluate(inst, problem.weights, best, problem.penalty).objective
        bound = max(bound, lower_bound(problem, upper=value))
    return best, bound


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
