"""Re-placement: some workloads already run somewhere (`Workload.current`).

Workloads whose placement is still feasible and cannot gain more than a migration's cost by
moving to a node with room stay fixed; the affected ones (and a few that could gain) are
freed and re-placed by CP-SAT from a greedy start (in which the improvable ones already move
where that pays: on large models neither CP-SAT nor the swaps run). If a freed workload is then left out, the
fixed workloads in its way are freed too and CP-SAT runs again. If a workload that has
feasible nodes is still left out, fixing the others was too strict: the grouped LP of the
whole problem (current placements priced as kept, placement.lp) is solved and rounded with
current nodes first (its second rounding too, if the first leaves a placeable workload out),
which also gives a proven bound of the whole problem. A large model whose
greedy start already leaves a placeable workload out goes to that LP directly.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from placement.budget import Budget
from placement.catalog import BoolArray, FloatArray, IntArray
from placement.cpsat import ModelSpec, solve_model
from placement.lp import solve_lp
from placement.model import Prices, SolverConfig
from placement.objective import evaluate
from placement.problem import Packing, Problem, left_out, priority_order
from placement.rounding import delta, delta_is_exact, lp_order, repair, round_lp
from placement.tuning import TUNING as T


@dataclass
class Replacement:
    assignment: dict[str, tuple[str, ...]]
    solved: bool  # a solution was found (CP-SAT, or the LP fallback on a large model)
    bound: float  # a proven bound of the whole problem (-inf if the LP fallback did not run)
    prices: Prices | None = None  # the LP fallback's prices


def prune(problem: Problem, free: list[int], hint: dict[str, tuple[str, ...]]) -> tuple[dict[int, IntArray], bool]:
    """Candidate nodes per free workload; False if some feasible node was pruned."""
    cat = problem.cat
    inst = problem.instance
    total = sum(len(problem.candidates(wi)) for wi in free)
    full = {wi: problem.candidates(wi) for wi in free}
    if total <= T.small_model_pairs:
        return full, True
    budget = max(T.replace_min_nodes, min(T.replace_max_nodes, T.replace_max_pairs // max(1, len(free))))
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
            if len(keep_sites) >= T.replace_min_sites and count >= budget:
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


def _pruned_size(problem: Problem, free: list[int]) -> int:
    """A lower bound on the pairs `prune` keeps (it keeps whole sites up to the per-workload
    budget, so at least that many nodes, or all), without pruning; exact when nothing is pruned."""
    sizes = [len(problem.candidates(wi)) for wi in free]
    if sum(sizes) <= T.small_model_pairs:
        return sum(sizes)
    budget = max(T.replace_min_nodes, min(T.replace_max_nodes, T.replace_max_pairs // max(1, len(free))))
    return sum(min(k, budget) for k in sizes)


def _valid(problem: Problem) -> tuple[BoolArray, IntArray, IntArray, IntArray]:
    """Per workload, whether its current placement is complete and still feasible (nodes,
    max_per_node, max_per_site); and the current replicas as flat arrays: workload, node and
    pair position (-1 if the node is no longer a candidate)."""
    inst = problem.instance
    cat = problem.cat
    n_w, n_n = len(inst.workloads), len(cat.node_names)
    cw, cn, pos = problem.current_replicas()
    reps = np.array([w.replicas for w in inst.workloads], dtype=np.int64)
    ok = np.bincount(cw, minlength=n_w) == reps
    ok &= np.bincount(cw, weights=(pos < 0).astype(np.float64), minlength=n_w) == 0
    big = np.iinfo(np.int64).max
    for limit, key in ((np.array([w.max_per_node if w.max_per_node is not None else big for w in inst.workloads]),
                        cw * n_n + cn),
                       (np.array([w.max_per_site if w.max_per_site is not None else big for w in inst.workloads]),
                        cw * len(cat.site_names) + cat.node_site[cn])):
        order = np.argsort(key, kind="stable")
        _, first, counts = np.unique(key[order], return_index=True, return_counts=True)
        wi_of = cw[order][first]
        ok[wi_of[counts > limit[wi_of]]] = False
    return ok, cw, cn, pos


def _split(problem: Problem) -> tuple[list[int], dict[int, tuple[int, ...]], BoolArray, set[int]]:
    """Free (affected or improvable) and fixed workloads for a re-placement, which workloads
    are still valid, and the improvable ones freed. A valid workload is improvable if moving its
    replicas to the cheapest candidate nodes that still have room (after every valid current
    placement) gains more than the migrations cost."""
    inst = problem.instance
    cat = problem.cat
    pr = problem.pairs()
    n_w, n_n = len(inst.workloads), len(cat.node_names)
    valid, cw, cn, pos = _valid(problem)
    cpu = np.array([w.cpu_m for w in inst.workloads], dtype=np.int64)
    mem = np.array([w.memory_mb for w in inst.workloads], dtype=np.int64)
    on = valid[cw]
    load_cpu = np.bincount(cn[on], weights=cpu[cw[on]].astype(np.float64), minlength=n_n)
    load_mem = np.bincount(cn[on], weights=mem[cw[on]].astype(np.float64), minlength=n_n)
    gpu = np.array([w.gpu for w in inst.workloads], dtype=np.float64)
    load_gpu = np.bincount(cn[on], weights=gpu[cw[on]], minlength=n_n)
    load_pods = np.bincount(cn[on], minlength=n_n)
    over = (load_cpu > cat.free_cpu) | (load_mem > cat.free_mem) | (load_gpu > cat.gpu) | (load_pods > cat.free_pods)
    keep = valid & (np.bincount(cw, weights=over[cn].astype(np.float64), minlength=n_w) == 0)
    cpu_left, mem_left = cat.free_cpu - load_cpu, cat.free_mem - load_mem
    is_cur = np.zeros(len(pr.w), dtype=np.bool_)
    is_cur[pos[pos >= 0]] = True
    room = is_cur | ((cpu_left[pr.node] >= cpu[pr.w]) & (mem_left[pr.node] >= mem[pr.w]))
    best = np.full(n_w, np.inf)
    np.minimum.at(best, pr.w[room], pr.unit[room])
    mine = keep[cw]
    gain = np.zeros(n_w)
    np.add.at(gain, cw[mine], pr.unit[pos[mine]] - best[cw[mine]] - problem.weights.migration)
    improvable = np.flatnonzero(keep & (gain > 1e-9))
    ranked = improvable[np.lexsort((improvable, -gain[improvable]))]
    budget = math.ceil(T.improvable_share * n_w)
    keep[ranked[:budget]] = False
    fixed = {int(wi): tuple(cat.node_index[n] for n in inst.workloads[wi].current) for wi in np.flatnonzero(keep)}
    free = [int(wi) for wi in np.flatnonzero(~keep)]
    return free, fixed, valid, {int(wi) for wi in ranked[:budget]}


def _replace_start(problem: Problem, free: list[int], fixed: dict[int, tuple[int, ...]],
                   valid: BoolArray, gainers: set[int]) -> dict[str, tuple[str, ...]]:
    """The hint of a re-placement: fixed workloads where they are, free ones that are still
    valid too if they fit, the others one replica at a time at the lowest marginal cost; then
    the improvable ones leave their nodes and come back one replica at a time the same way (a
    node the workload runs on saves a migration there), so they move where that pays."""
    inst = problem.instance
    cat = problem.cat
    opening = problem.weights.active_nodes + problem.weights.energy * cat.idle_power
    pack = Packing(problem)
    for wi, nodes in fixed.items():
        pack.commit(inst.workloads[wi], list(nodes))

    mig = problem.weights.migration

    def score(p: Packing, wi: int, nodes: IntArray, idx: IntArray) -> FloatArray:
        s: FloatArray = problem.unit_cost[wi][idx] + np.where(p.active[nodes], 0.0, opening[nodes])
        if mig and inst.workloads[wi].current:
            s = s + np.where(np.isin(nodes, list(problem.current_counts(wi))), 0.0, mig)
        return s

    order = priority_order(inst, [float(len(problem.candidates(wi))) for wi in range(len(inst.workloads))])
    free_set = set(free)
    rest = [wi for wi in order if wi in free_set]
    kept = pack.keep_current([wi for wi in rest if valid[wi]])
    for wi in rest:
        if wi not in kept and len(problem.candidates(wi)):
            pack.place_one_by_one(wi, score)
    for wi in rest:  # then the improvable ones move, replica by replica, where that pays
        w = inst.workloads[wi]
        if wi not in gainers or wi not in kept:
            continue
        saved = pack.save()
        for n in pack.assignment.pop(w.name):
            pack.give_back(w, cat.node_index[n])
        pack.active = pack.used()
        if not pack.place_one_by_one(wi, score):
            pack.restore(saved)
    return pack.assignment


def replace_affected(problem: Problem, config: SolverConfig, budget: Budget) -> Replacement:
    """Re-place the affected workloads with CP-SAT, the others fixed (then the LP fallback if a
    placeable workload is left out). CP-SAT stops on a deterministic budget (a share of the time
    limit), the budget's deadline is a safety net."""
    dtime = budget.dtime(budget.share(T.replace_dtime_share))
    free, fixed, valid, gainers = _split(problem)
    best = _replace_start(problem, free, fixed, valid, gainers)
    solved = False
    inst, wt, pen = problem.instance, problem.weights, problem.penalty
    value: float | None = None  # of `best`, once a CP-SAT outcome needs comparing
    if left_out(problem, best) and problem.pairs().start[-1] > T.small_model_pairs:
        # a large model whose fixed start leaves a placeable workload out: the whole problem's LP
        # settles it (1,000 churn: the fixed rounds' CP-SAT and repair cost 0.8 s and the LP's
        # rounding replaced their result anyway)
        return _lp_fallback(problem, best, True, budget, valid, config)
    for _round in range(2):
        large = _pruned_size(problem, free) > T.replace_cpsat_pairs
        candidates, _ = prune(problem, free, best) if not large else ({}, False)
        if (large or sum(len(c) for c in candidates.values()) > T.replace_cpsat_pairs) and not left_out(problem, best):
            solved = True  # the greedy start is complete, and a model this large barely improves on it
            break
        if large:
            candidates, _ = prune(problem, free, best)
        spec = ModelSpec(sorted(free), candidates, fixed, complete=False)
        wall = min(budget.left(), budget.wall_share(T.replace_wall_share))
        outcome = solve_model(problem, spec, best, config, max(0.05, wall), dtime=dtime)
        if outcome.solved:
            solved = True
            new = evaluate(inst, wt, outcome.assignment, pen).objective
            if value is None:
                value = evaluate(inst, wt, best, pen).objective
            if new < value - 1e-9:
                best, value = outcome.assignment, new
        if not _release_for_priority(problem, best, free, fixed):
            break
    best = _restore(problem, repair(problem, best), valid)
    if not left_out(problem, best):
        return Replacement(best, solved, -math.inf)
    return _lp_fallback(problem, best, solved, budget, valid, config)


def _lp_fallback(problem: Problem, best: dict[str, tuple[str, ...]], solved: bool, budget: Budget,
                 valid: BoolArray, config: SolverConfig) -> Replacement:
    """The whole problem's LP, rounded with current nodes first and moved back where that pays
    (small models: then CP-SAT on the whole model); the better of this and `best` by the exact
    objective, and the LP's proven bound."""
    inst, wt, pen = problem.instance, problem.weights, problem.penalty
    # the LP gets its share of the limit even past the deadline: a running workload left out is worse than a late answer
    lp = solve_lp(problem, best, max(budget.left(), budget.wall_share(T.fallback_lp_share)))
    value = evaluate(inst, wt, best, pen).objective
    # (big workloads by their mean candidate first; the other notion of big only if that leaves one out)
    for near_only in (False, True) if lp.values else ():
        rounded = _restore(problem, repair(problem, round_lp(problem, lp, lp_order(problem, lp, near_only),
                                                             near_only)), valid)
        new = evaluate(inst, wt, rounded, pen).objective
        if new < value - 1e-9:
            best, value = rounded, new
        if not left_out(problem, best):
            break
    if sum(len(problem.candidates(wi)) for wi in range(len(inst.workloads))) <= T.small_model_pairs:
        settled = _restore(problem, _settle(problem, best, config, budget), valid)
        if evaluate(inst, wt, settled, pen).objective < value - 1e-9:
            best = settled
    return Replacement(best, solved, lp.bound, lp.prices)


def _settle(problem: Problem, assignment: dict[str, tuple[str, ...]], config: SolverConfig,
            budget: Budget) -> dict[str, tuple[str, ...]]:
    """CP-SAT on the whole (small) model from `assignment`."""
    inst = problem.instance
    free = list(range(len(inst.workloads)))
    spec = ModelSpec(free, {wi: problem.candidates(wi) for wi in free}, complete=False)
    wall = max(0.05, min(budget.left(), budget.wall_share(T.small_settle_share + T.replace_wall_share)))
    outcome = solve_model(problem, spec, assignment, config, wall, dtime=budget.dtime(budget.share(T.small_settle_share)))
    return outcome.assignment if outcome.solved else assignment


def _release_for_priority(
    problem: Problem, assignment: dict[str, tuple[str, ...]], free: list[int], fixed: dict[int, tuple[int, ...]],
) -> bool:
    """Free lower-priority fixed workloads sitting on nodes a left-out free workload could use."""
    inst = problem.instance
    released = False
    for wi in list(free):
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


def _restore(problem: Problem, assignment: dict[str, tuple[str, ...]], valid: BoolArray) -> dict[str, tuple[str, ...]]:
    """Move each workload whose current placement is still valid back there when it has room
    and the objective improves (the rounding knows the LP, not which moves were needed)."""
    inst = problem.instance
    cat = problem.cat
    pack = Packing(problem)
    for name, nodes in assignment.items():
        pack.commit(inst.workloads[cat.workload_index[name]], [cat.node_index[n] for n in nodes])
    exact = delta_is_exact(problem)
    value = 0.0 if exact else evaluate(inst, problem.weights, pack.assignment, problem.penalty).objective
    for _ in range(T.restore_passes):  # a move back can make room for another
        restored = False
        for wi in np.flatnonzero(valid).tolist():
            w = inst.workloads[wi]
            now = pack.assignment.get(w.name)
            if now is None or Counter(now) == Counter(w.current):
                continue
            saved = pack.save()
            for n in now:
                pack.give_back(w, cat.node_index[n])
            if all(pack.fits_many(w, n, c) for n, c in problem.current_counts(wi).items()):
                pack.commit(w, [cat.node_index[n] for n in w.current])
                pack.active = pack.used()
                if exact:
                    gain = delta(problem, saved, pack, [wi])
                else:
                    gain = evaluate(inst, problem.weights, pack.assignment, problem.penalty).objective - value
                if gain < -1e-9:
                    value += gain
                    restored = True
                    continue
            pack.restore(saved)
        if not restored:
            break
    return pack.assignment
