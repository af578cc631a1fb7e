"""Baseline heuristics behind the same interface as the CP-SAT solver.

All of them run the same filter plugins, keep running workloads whose placement is
still valid (as Kubernetes would), then place the rest in priority order:
- ffd: first-fit decreasing by total CPU, nodes in input order;
- kube: per replica, kube-scheduler filter + LeastAllocated score (most free share);
- greedy-latency: per replica, the lowest-latency feasible node;
- ecoda: Pledger-ECODA-like tiers: far-edge, then edge, then cloud, best fit inside a tier.
`regret_greedy` is not a baseline: it is the objective-aware start for CP-SAT.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from placement.bounds import lower_bound
from placement.catalog import FloatArray, IntArray
from placement.explain import build_result
from placement.model import TIERS, Instance, SolverConfig, SolveResult, Status, Weights
from placement.problem import Packing, Problem, priority_order

Assigner = Callable[[Problem], dict[str, tuple[str, ...]]]


def _ffd(problem: Problem) -> dict[str, tuple[str, ...]]:
    inst = problem.instance
    pack = Packing(problem)
    order = priority_order(inst, [-float(w.cpu_m * w.replicas) for w in inst.workloads])
    kept = pack.keep_current(order)
    for wi in order:
        if wi not in kept:
            pack.place_in_order(wi, np.sort(problem.candidates(wi)).tolist())
    return pack.assignment


def _least_allocated(pack: Packing, wi: int, nodes: IntArray, idx: IntArray) -> FloatArray:
    cat = pack.problem.cat
    w = pack.problem.instance.workloads[wi]
    cap_cpu = np.maximum(cat.cap_cpu[nodes], 1)
    cap_mem = np.maximum(np.array([pack.problem.instance.nodes[n].memory_mb for n in nodes]), 1)
    free_cpu = (pack.free_cpu[nodes] - w.cpu_m) / cap_cpu
    free_mem = (pack.free_mem[nodes] - w.memory_mb) / cap_mem
    score: FloatArray = -(free_cpu + free_mem) / 2.0
    return score


def _kube(problem: Problem) -> dict[str, tuple[str, ...]]:
    pack = Packing(problem)
    order = priority_order(problem.instance)
    kept = pack.keep_current(order)
    for wi in order:
        if wi not in kept:
            pack.place_one_by_one(wi, _least_allocated)
    return pack.assignment


def _by_latency(pack: Packing, wi: int, nodes: IntArray, idx: IntArray) -> FloatArray:
    cat = pack.problem.cat
    lat: FloatArray = cat.view(wi).mean_latency[cat.node_site[nodes]]
    return lat


def _greedy_latency(problem: Problem) -> dict[str, tuple[str, ...]]:
    inst = problem.instance
    pack = Packing(problem)
    tight = [w.max_latency_ms if w.max_latency_ms is not None else 1e9 for w in inst.workloads]
    order = priority_order(inst, tight)
    kept = pack.keep_current(order)
    for wi in order:
        if wi not in kept:
            pack.place_one_by_one(wi, _by_latency)
    return pack.assignment


def _ecoda(problem: Problem) -> dict[str, tuple[str, ...]]:
    inst = problem.instance
    cat = problem.cat
    pack = Packing(problem)
    order = priority_order(inst)
    kept = pack.keep_current(order)
    for wi in order:
        if wi in kept:
            continue
        cands = problem.candidates(wi)
        tiers = cat.site_tier[cat.node_site[cands]]
        for tier in range(len(TIERS)):
            in_tier = cands[tiers == tier]
            if len(in_tier) == 0:
                continue
            lat = cat.view(wi).mean_latency[cat.node_site[in_tier]]
            free = pack.free_cpu[in_tier]
            ordered = in_tier[np.lexsort((free, lat))]  # nearest site, then best fit
            if pack.place_in_order(wi, ordered.tolist()):
                break
    return pack.assignment


def regret(problem: Problem, wi: int) -> float:
    """How much worse the second-best site is than the best, per replica (inf: one site only)."""
    return float(regrets(problem)[wi])


def regrets(problem: Problem) -> FloatArray:
    """`regret` of every workload at once (0 without any candidate): the per-site cheapest unit cost
    over all pairs, then each workload's two cheapest sites."""
    cat, pr = problem.cat, problem.pairs()
    n_w, n_s = len(problem.instance.workloads), len(cat.site_names)
    best = np.full(n_w * n_s, np.inf)
    np.minimum.at(best, pr.w * n_s + cat.node_site[pr.node], pr.unit)
    per_site = best.reshape(n_w, n_s)
    two = np.sort(per_site, axis=1)[:, :2] if n_s >= 2 else np.concatenate([per_site, np.full((n_w, 1), np.inf)], axis=1)
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], np.inf)
    out[~np.isfinite(two[:, 0])] = 0.0
    return out


def regret_greedy(
    problem: Problem, order_by: str = "candidates", first: list[int] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Objective-aware greedy, each replica on the node with the lowest marginal objective (unit
    cost + opening cost of an idle node); keeps valid current placements. `order_by`:
    'candidates' (priority, then fewest candidate nodes), 'tight' (fewest candidates only) or
    'regret' (priority, then largest regret: loss if the best site were full); `first` go
    before all others."""
    inst = problem.instance
    wt = problem.weights
    cat = problem.cat
    pack = Packing(problem)
    n_cands = [float(len(problem.candidates(wi))) for wi in range(len(inst.workloads))]
    if order_by == "tight":
        order = sorted(range(len(inst.workloads)), key=lambda i: (n_cands[i], -inst.workloads[i].priority, i))
    elif order_by == "regret":
        order = priority_order(inst, (-regrets(problem)).tolist())
    elif order_by == "regret-only":
        by_regret = regrets(problem).tolist()
        order = sorted(range(len(inst.workloads)), key=lambda i: (-by_regret[i], -inst.workloads[i].priority, i))
    else:
        order = priority_order(inst, n_cands)
    if first:
        head = set(first)
        order = list(first) + [wi for wi in order if wi not in head]
    kept = pack.keep_current(order) if wt.migration > 0 else set()
    opening = wt.active_nodes + wt.energy * cat.idle_power

    def score(p: Packing, wi: int, nodes: IntArray, idx: IntArray) -> FloatArray:
        s: FloatArray = problem.unit_cost[wi][idx] + np.where(p.active[nodes], 0.0, opening[nodes])
        return s

    for wi in order:
        if wi not in kept:
            pack.place_one_by_one(wi, score)
    return pack.assignment


def _run(name: str, assign: Assigner) -> Callable[[Instance, Weights, SolverConfig], SolveResult]:
    def solver(inst: Instance, weights: Weights, config: SolverConfig) -> SolveResult:
        start = time.perf_counter()
        problem = Problem(inst, weights)
        assignment = assign(problem)
        wall = time.perf_counter() - start
        bound = lower_bound(problem, upper=None, iterations=1)
        return build_result(problem, assignment, Status.FEASIBLE, bound, wall, name)

    solver.__name__ = f"solve_{name.replace('-', '_')}"
    return solver


ASSIGNERS: dict[str, Assigner] = {
    "ffd": _ffd, "kube": _kube, "greedy-latency": _greedy_latency, "ecoda": _ecoda,
}
BASELINES: dict[str, Callable[[Instance, Weights, SolverConfig], SolveResult]] = {
    name: _run(name, assign) for name, assign in ASSIGNERS.items()
}
