"""A proven lower bound on the optimum of the full problem (not of any pruned model).

Lagrangian relaxation at site level: node capacities are summed per site and the site
CPU capacity constraints are priced with multipliers lambda >= 0, spread is dropped.
What remains separates per workload: min(unplaced penalty, forced migrations +
replicas x cheapest site). Active nodes and idle power are charged per replica as the
replica's share of the largest node at the site (the LP bound of bin packing). Balance is
bounded by the highest background utilisation. For ANY lambda >= 0 this is a valid lower
bound; subgradient steps only make it tighter.
"""

from __future__ import annotations

import numpy as np

from placement.catalog import FloatArray
from placement.problem import Problem


def _site_cost_matrix(problem: Problem) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(W x S) cheapest per-replica cost of a workload at a site (inf if infeasible), the
    workloads' CPU, replicas x forced-migration floor, and penalties."""
    cat = problem.cat
    inst = problem.instance
    wt = problem.weights
    n_sites = len(cat.site_names)
    site_max_cpu = np.zeros(n_sites)
    np.maximum.at(site_max_cpu, cat.node_site, cat.free_cpu.astype(np.float64))
    site_min_idle = np.full(n_sites, np.inf)
    np.minimum.at(site_min_idle, cat.node_site, cat.idle_power)
    site_min_idle[~np.isfinite(site_min_idle)] = 0.0
    per_node_fixed = wt.active_nodes + wt.energy * site_min_idle
    n_w = len(inst.workloads)
    cost = np.full((n_w, n_sites), np.inf)
    cpu = np.zeros(n_w)
    fixed = np.zeros(n_w)
    for wi, w in enumerate(inst.workloads):
        nodes = problem.candidates(wi)
        cpu[wi] = w.cpu_m
        if len(nodes):
            share = np.divide(w.cpu_m, site_max_cpu, out=np.zeros(n_sites), where=site_max_cpu > 0)
            unit = problem.unit_cost[wi] + (share * per_node_fixed)[cat.node_site[nodes]]
            np.minimum.at(cost[wi], cat.node_site[nodes], unit)
        if w.current:
            feas = set(nodes.tolist())
            on_feasible = sum(1 for n in w.current if cat.node_index[n] in feas)
            base = min(w.replicas, len(w.current))
            fixed[wi] = wt.migration * (base - min(base, on_feasible))
    pen = np.array([problem.penalty[w.name] for w in inst.workloads])
    return cost, cpu, fixed, pen


def lower_bound(problem: Problem, upper: float | None = None, iterations: int = 60) -> float:
    """A valid lower bound on the objective; `upper` (a known solution value) steers the steps."""
    cat = problem.cat
    inst = problem.instance
    if not inst.workloads:
        return 0.0
    cost, cpu, fixed, pen = _site_cost_matrix(problem)
    reps = np.array([w.replicas for w in inst.workloads], dtype=np.float64)
    n_sites = len(cat.site_names)
    site_cap = np.zeros(n_sites)
    np.add.at(site_cap, cat.node_site, cat.free_cpu.astype(np.float64))
    balance = problem.weights.balance * max(
        (float(u) / float(c) for u, c in zip(cat.used_cpu, cat.cap_cpu, strict=True) if c > 0), default=0.0
    )
    lam = np.zeros(n_sites)
    best = -np.inf
    theta = 1.0
    for _ in range(iterations):
        priced = cost + cpu[:, None] * lam[None, :]
        choice = np.argmin(priced, axis=1)
        best_site = priced[np.arange(len(choice)), choice]
        placed_cost = fixed + reps * best_site
        place = placed_cost < pen
        value = float(np.where(place, placed_cost, pen).sum() - lam @ site_cap) + balance
        if value > best:
            best = value
        else:
            theta *= 0.85
        load = np.zeros(n_sites)
        np.add.at(load, choice[place], (reps * cpu)[place])
        grad = load - site_cap
        grad[(lam <= 0) & (grad < 0)] = 0.0
        norm = float(grad @ grad)
        if norm <= 0 or upper is None or upper <= best:
            break
        lam = np.maximum(0.0, lam + theta * (upper - value) / norm * grad)
    return float(best)
