"""A proven lower bound on the optimum of the full problem (not of any pruned model).

Lagrangian relaxation at site level: node capacities are summed per site and the site
CPU capacity constraints are priced with multipliers lambda >= 0. What remains separates
per workload: min(unplaced penalty, forced migrations + the cheapest sites filled up to
what each site can take of it alone, spread limits included). Active nodes and idle power are charged per replica as the
replica's share of the largest node at the site (the LP bound of bin packing). Balance is
bounded by the highest background utilisation. For ANY lambda >= 0 this is a valid lower
bound; subgradient steps only make it tighter.

`volume_bound` is the plain volume bound per resource (CPU, memory, GPU, Pods): every replica pays
its cheapest unit cost plus its share of its node's opening cost (its demand over the node's free
capacity in that resource), or its workload pays its penalty. `honest` is what every reported bound
goes through: a safety margin for floating-point error (as placement.lp), and rounded up when every
objective term is a whole number (the number of nodes of a consolidation objective: 1,000 x 1
bin packing reported a 3.37 % gap where the true one was 2.19 %, and 2.0000000000000004 for a
2-node optimum).
"""

from __future__ import annotations

import math
import time

import numpy as np
from numpy.typing import NDArray

from placement.catalog import FloatArray, IntArray
from placement.problem import Problem
from placement.tuning import TUNING as T


def _site_cost_matrix(problem: Problem) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """(W x S) cheapest per-replica cost of a workload at a site (inf if infeasible), (W x S)
    most replicas the site can take (spread and single-workload fit), the workloads' CPU,
    the forced-migration floor, and penalties."""
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
    pr = problem.pairs()
    cpu = np.array([w.cpu_m for w in inst.workloads], dtype=np.float64)
    share = np.divide(cpu[:, None], site_max_cpu[None, :], out=np.zeros((n_w, n_sites)),
                      where=site_max_cpu[None, :] > 0)
    site = cat.node_site[pr.node]
    flat = pr.w * n_sites + site
    cost_flat = np.full(n_w * n_sites, np.inf)
    np.minimum.at(cost_flat, flat, pr.unit + (share * per_node_fixed[None, :])[pr.w, site])
    caps_flat = np.zeros(n_w * n_sites)
    np.add.at(caps_flat, flat, pr.slots.astype(np.float64))
    cost, caps = cost_flat.reshape(n_w, n_sites), caps_flat.reshape(n_w, n_sites)
    spread = np.array([w.max_per_site if w.max_per_site is not None else np.inf for w in inst.workloads])
    np.minimum(caps, spread[:, None], out=caps)
    cw, _, pos = problem.current_replicas()
    on_feasible = np.bincount(cw, weights=(pos >= 0).astype(np.float64), minlength=n_w)
    base = np.array([min(w.replicas, len(w.current)) for w in inst.workloads], dtype=np.float64)
    fixed = wt.migration * (base - np.minimum(base, on_feasible))
    pen = np.array([problem.penalty[w.name] for w in inst.workloads])
    return cost, caps, cpu, fixed, pen


def _compress(cost: FloatArray, caps: FloatArray, reps: FloatArray, keep: int) -> tuple[
        FloatArray, FloatArray, NDArray[np.int64]]:
    """Keep each workload's `keep` cheapest sites as columns plus one 'rest' column whose cost
    is the cheapest of the dropped sites, unpriced and uncapacitated (still a valid bound)."""
    n_w, n_s = cost.shape
    if n_s <= keep:
        idx = np.broadcast_to(np.arange(n_s, dtype=np.int64), (n_w, n_s)).copy()
        return cost, caps, idx
    part = np.argpartition(cost, keep, axis=1)
    idx = part[:, :keep].astype(np.int64)
    rest = np.take_along_axis(cost, part[:, keep:], axis=1).min(axis=1)
    out_cost = np.concatenate([np.take_along_axis(cost, idx, axis=1), rest[:, None]], axis=1)
    out_caps = np.concatenate([np.take_along_axis(caps, idx, axis=1), reps[:, None]], axis=1)
    out_idx = np.concatenate([idx, np.full((n_w, 1), n_s, dtype=np.int64)], axis=1)
    return out_cost, out_caps, out_idx


def lower_bound(problem: Problem, upper: float | None = None, iterations: int = 80, columns: int = 24,
                deadline: float | None = None) -> float:
    """A valid lower bound on the objective; `upper` (a known solution value) steers the steps. No step
    starts after `deadline` (perf_counter; a safety net: every step's value is a valid bound)."""
    cat = problem.cat
    inst = problem.instance
    if not inst.workloads:
        return 0.0
    full_cost, full_caps, cpu, fixed, pen = _site_cost_matrix(problem)
    reps = np.array([w.replicas for w in inst.workloads], dtype=np.float64)
    cost, caps, site_idx = _compress(full_cost, full_caps, reps, columns)
    n_sites = len(cat.site_names)
    site_cap = np.zeros(n_sites + 1)  # last: the 'rest' column, never priced
    np.add.at(site_cap, cat.node_site, cat.free_cpu.astype(np.float64))
    balance = problem.weights.balance * max(
        (float(u) / float(c) for u, c in zip(cat.used_cpu, cat.cap_cpu, strict=True) if c > 0), default=0.0
    )
    lam = np.zeros(n_sites + 1)
    best = -np.inf
    theta = 1.0
    for step in range(iterations):
        if step and deadline is not None and time.perf_counter() >= deadline:
            break
        priced = cost + cpu[:, None] * lam[site_idx]
        order = np.argsort(priced, axis=1, kind="stable")
        sorted_cost = np.take_along_axis(priced, order, axis=1)
        sorted_cap = np.take_along_axis(caps, order, axis=1)
        before = np.cumsum(sorted_cap, axis=1) - sorted_cap
        units = np.clip(reps[:, None] - before, 0.0, sorted_cap)
        enough = units.sum(axis=1) >= reps - 1e-9
        with np.errstate(invalid="ignore"):
            placed_cost = fixed + np.where(units > 0, units * sorted_cost, 0.0).sum(axis=1)
        place = enough & (placed_cost < pen)
        value = float(np.where(place, placed_cost, pen).sum() - lam @ site_cap) + balance
        if value > best:
            best = value
        else:
            theta *= 0.9
        load = np.zeros(n_sites + 1)
        rows = np.flatnonzero(place)
        sites_sorted = np.take_along_axis(site_idx, order, axis=1)
        np.add.at(load, sites_sorted[rows], units[rows] * cpu[rows, None])
        grad = load - site_cap
        grad[-1] = 0.0
        grad[(lam <= 0) & (grad < 0)] = 0.0
        norm = float(grad @ grad)
        if norm <= 0 or upper is None or upper <= best:
            break
        target = min(upper, best + 0.1 * abs(best) + 1.0)
        lam = np.maximum(0.0, lam + theta * (target - value) / norm * grad)
    return float(best)


def volume_bound(problem: Problem) -> float:
    """The volume bound: per resource, every replica's cheapest cost plus its share of its node's
    opening cost, or its workload's penalty (the cheaper); the best over the resources."""
    cat = problem.cat
    inst = problem.instance
    wt = problem.weights
    if not inst.workloads:
        return 0.0
    pr = problem.pairs()
    n_w = len(inst.workloads)
    reps = np.array([w.replicas for w in inst.workloads], dtype=np.float64)
    pen = np.array([problem.penalty[w.name] for w in inst.workloads])
    runs = problem.alone_replicas() >= reps
    cw, _, pos = problem.current_replicas()
    on_feasible = np.bincount(cw, weights=(pos >= 0).astype(np.float64), minlength=n_w)
    base = np.array([min(w.replicas, len(w.current)) for w in inst.workloads], dtype=np.float64)
    fixed = wt.migration * (base - np.minimum(base, on_feasible))
    opening = (wt.active_nodes + wt.energy * cat.idle_power)[pr.node]
    pods = np.ones(n_w, dtype=np.int64)
    resources: list[tuple[IntArray, IntArray]] = [
        (np.array([w.cpu_m for w in inst.workloads], dtype=np.int64), cat.free_cpu),
        (np.array([w.memory_mb for w in inst.workloads], dtype=np.int64), cat.free_mem),
        (np.array([w.gpu for w in inst.workloads], dtype=np.int64), cat.gpu), (pods, cat.free_pods)]
    balance = wt.balance * max(
        (float(u) / float(c) for u, c in zip(cat.used_cpu, cat.cap_cpu, strict=True) if c > 0), default=0.0)
    best = -np.inf
    for need, free in resources:
        cap = free[pr.node].astype(np.float64)
        share = np.divide(need[pr.w].astype(np.float64), cap, out=np.zeros(len(pr.w)), where=cap > 0)
        per_replica = np.full(n_w, np.inf)
        np.minimum.at(per_replica, pr.w, pr.unit + share * opening)
        with np.errstate(invalid="ignore"):
            placed = np.where(runs & (reps > 0), reps * per_replica + fixed, np.where(reps > 0, np.inf, fixed))
        best = max(best, float(np.minimum(placed, pen).sum()) + balance)
    return best


def integral(problem: Problem) -> bool:
    """Whether every objective value is a whole number: no latency, cost, energy or balance term
    (zero weight, or zero in every pair), whole opening costs, migrations and penalties."""
    cat = problem.cat
    wt = problem.weights
    opening = wt.active_nodes + wt.energy * cat.idle_power
    pen = np.array(list(problem.penalty.values()), dtype=np.float64)
    whole = (bool(np.all(problem.pairs().unit == 0.0)) and wt.balance == 0.0 and float(wt.migration).is_integer()
             and bool(np.all(opening == np.round(opening))) and bool(np.all(pen == np.round(pen))))
    return whole


def honest(problem: Problem, bound: float) -> float:
    """`bound` with the safety margin taken off, at least the volume bound, and rounded up when the
    objective is integral (a bound below a whole-number objective rounds up to the next whole number)."""
    value = max(bound, volume_bound(problem))
    if not math.isfinite(value):
        return value
    value -= T.bound_safety * (abs(value) + 1.0)
    return float(math.ceil(value)) if integral(problem) else value
