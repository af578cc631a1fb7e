"""Large-neighbourhood search driven by CP-SAT: re-optimise one region at a time.

A neighbourhood is the few sites nearest to a radio cell (first the cells of unplaced
workloads, then cells drawn at random): the workloads that have a
replica there (and unplaced ones that could go there) are freed, everything else stays
fixed, and CP-SAT solves the small model exactly or nearly so, starting from the current
solution (so a step never makes things worse). When opening a node costs something and a region
spans every site (SITES_PER_REGION sites or fewer), every other neighbourhood is a few nodes instead
(on the multi-site edge instances they took half the budget from the regions: 100 x 20, seeds 0-7,
objectives summed 4,688.9 instead of 4,655.1): one of the emptiest in use and others its
workloads could use, their workloads free on those nodes only (a region frees whole sites,
which on a single-site bin packing is every node: 160 random items over all nodes, a model
that took 0.4 s to build and rarely emptied a node). Neighbourhoods come from a seeded RNG,
every sub-solve stops on deterministic time and building its model counts for deterministic
time by its size, so the sequence is reproducible. The search runs until its budget is spent
(it used to stop after 3 x the number of cells non-improving neighbourhoods: on one cell,
after 3, and a 10 s limit returned the 2 s result).
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import numpy as np

from placement.catalog import IntArray
from placement.cpsat import BUILD_S_PER_PAIR, DTIME_PER_SECOND, ModelSpec, solve_model
from placement.model import SolverConfig
from placement.objective import evaluate
from placement.problem import Problem

MAX_FREE = 160
MAX_PAIRS = 8_000  # (workload, node) pairs of a region's model, at most (a bin packing's one site: 160 x 154
# pairs, 0.5 s to build, and CP-SAT found nothing in 0.1 deterministic s)
SUB_DTIME = 0.05  # deterministic seconds per neighbourhood
SUB_OVERHEAD = 0.005  # and what building its model counts for (deterministic, not measured): small
# neighbourhoods solve in almost no deterministic time, so without it only the wall clock stopped the
# search, and the same input and seed could give different results (online batches: 15-25 sub-solves
# in 0.1-0.3 s of a 0.26 s limit, gaining under 0.1 %)
PAIR_DTIME = 3e-6  # and per (workload, node) pair of its model (about 2e-5 wall s per pair to build, at the
# 0.15 deterministic s per wall s of DTIME_PER_SECOND)
NODES_PER_GROUP = 8  # nodes of a node neighbourhood
EMPTIEST = 6  # its first node: one of the this many emptiest nodes in use
LNS_SHARE = 0.4  # share of the deterministic budget of the time limit's first LNS_FIRST_S seconds the search may use
LNS_FIRST_S = 2.0  # (the LP, the roundings, the baselines and the swaps take most of a short limit)
LNS_LATER = 0.8  # and of the rest of the limit (with 0.4 throughout, 10 s returned after 2-4 s)
SITES_PER_REGION = 6
OWN_CANDIDATES = 8  # each freed workload may also use its 8 cheapest nodes anywhere


def _region(problem: Problem, best: dict[str, tuple[str, ...]], pool: list[int], region: set[int],
            rng: random.Random) -> dict[int, IntArray]:
    """The workloads of `pool` with a replica on the `region` nodes (or unplaced, and could go there),
    at most MAX_FREE drawn at random, each free on its region nodes, its own and its cheapest nodes."""
    inst = problem.instance
    cat = problem.cat
    on_region: list[int] = []
    for wi in pool:
        nodes = best.get(inst.workloads[wi].name)
        if nodes:
            if any(cat.node_index[n] in region for n in nodes):
                on_region.append(wi)
        elif problem.feasibility[wi].nodes.size and region.intersection(problem.candidates(wi).tolist()):
            on_region.append(wi)
    if len(on_region) > MAX_FREE:
        on_region = sorted(rng.sample(on_region, MAX_FREE))
    candidates = {}
    for wi in on_region:
        mine = {cat.node_index[n] for n in best.get(inst.workloads[wi].name, ())}
        cands = problem.candidates(wi)
        near = cands[np.argsort(problem.unit_cost[wi], kind="stable")[:OWN_CANDIDATES]]
        candidates[wi] = cands[np.isin(cands, np.fromiter(region | mine | set(near.tolist()), dtype=np.int64))]
    pairs = sum(len(c) for c in candidates.values())
    if pairs > MAX_PAIRS:  # one big site (bin packing): fewer workloads, drawn at random
        keep = sorted(rng.sample(sorted(candidates), max(1, len(candidates) * MAX_PAIRS // pairs)))
        candidates = {wi: candidates[wi] for wi in keep}
    return candidates


def _node_group(problem: Problem, best: dict[str, tuple[str, ...]], pool_set: set[int],
                rng: random.Random) -> dict[int, IntArray]:
    """One of the EMPTIEST nodes in use (by its fullest resource) and up to NODES_PER_GROUP - 1 other
    nodes in use that its workloads could use, drawn at random among the 4 x NODES_PER_GROUP emptiest; the workloads of `pool_set` on them
    are free on those nodes (and their own)."""
    cat = problem.cat
    inst = problem.instance
    members: dict[int, list[int]] = {}
    fill = np.zeros(len(cat.node_names))
    for name, nodes in best.items():
        wi = cat.workload_index[name]
        w = inst.workloads[wi]
        for n in nodes:
            ni = cat.node_index[n]
            members.setdefault(ni, []).append(wi)
            fill[ni] += max(w.cpu_m / max(1, int(cat.free_cpu[ni])), w.memory_mb / max(1, int(cat.free_mem[ni])))
    used = sorted(members, key=lambda n: (fill[n], n))
    if not used:
        return {}
    first = used[rng.randrange(min(EMPTIEST, len(used)))]
    # the others among the emptiest too (room to take what `first` holds), where its workloads may go
    slack = set(used[: 4 * NODES_PER_GROUP])
    near = sorted((set(np.concatenate([problem.candidates(wi) for wi in members[first]]).tolist()) & slack)
                  - {first})
    group = {first, *rng.sample(near, min(NODES_PER_GROUP - 1, len(near)))}
    free = sorted({wi for n in group for wi in members[n] if wi in pool_set})
    out = {}
    for wi in free:
        mine = {cat.node_index[n] for n in best[inst.workloads[wi].name]}
        cands = problem.candidates(wi)
        out[wi] = cands[np.isin(cands, np.fromiter(group | mine, dtype=np.int64))]
    return out


def improve(
    problem: Problem, assignment: dict[str, tuple[str, ...]], config: SolverConfig, deadline: float,
    free_pool: set[int] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Improve `assignment` until the wall-clock `deadline` (perf_counter) or the deterministic
    budget (config.time_limit_s x DTIME) runs out. Only workloads in `free_pool` (all if None) move."""
    inst = problem.instance
    cat = problem.cat
    if not inst.workloads or not cat.cell_names:
        return assignment
    rng = random.Random(config.seed)
    sub = replace(config, workers=1, deterministic=True)
    near_sites = np.argsort(cat.latency + cat.site_penalty[None, :], axis=1, kind="stable")
    best = dict(assignment)
    best_value = evaluate(inst, problem.weights, best, problem.penalty).objective
    limit = config.time_limit_s
    budget = DTIME_PER_SECOND * (LNS_SHARE * min(limit, LNS_FIRST_S) + LNS_LATER * max(0.0, limit - LNS_FIRST_S))
    used = 0.0
    pool = sorted(free_pool) if free_pool is not None else list(range(len(inst.workloads)))
    pool_set = set(pool)
    # node neighbourhoods where opening a node costs and a region cannot localise (it spans every site)
    opening = (bool(np.any(problem.weights.active_nodes + problem.weights.energy * cat.idle_power > 0))
               and len(cat.site_names) <= SITES_PER_REGION)
    # unplaced workloads first: a neighbourhood around the main cell of each (at most 20)
    first = [max(w.cells, key=lambda c: (w.cells[c], c)) for w in inst.workloads
             if w.name not in best and problem.feasibility[inst.workloads.index(w)].nodes.size][:20]
    step = 0
    while time.perf_counter() < deadline - 0.05 and used < budget:
        step += 1
        used += SUB_OVERHEAD
        if opening and not first and step % 2 == 0:
            candidates = _node_group(problem, best, pool_set, rng)
        else:
            cell = cat.cell_index[first.pop(0)] if first else rng.randrange(len(cat.cell_names))
            sites = near_sites[cell, :SITES_PER_REGION]
            region = set(np.concatenate([cat.site_nodes[s] for s in sites]).tolist())
            candidates = _region(problem, best, pool, region, rng)
        if not candidates:
            continue
        fixed = {
            cat.workload_index[name]: tuple(cat.node_index[n] for n in nodes)
            for name, nodes in best.items() if cat.workload_index[name] not in candidates
        }
        spec = ModelSpec(sorted(candidates), candidates, fixed, complete=False)
        pairs = sum(len(c) for c in candidates.values())
        left = deadline - time.perf_counter() - pairs * BUILD_S_PER_PAIR  # its model must be built in time too
        if left <= 0.05:
            break
        outcome = solve_model(problem, spec, best, sub, left, presolve=True, dtime=SUB_DTIME)
        used += outcome.dtime + PAIR_DTIME * pairs
        if not outcome.solved:
            continue
        value = evaluate(inst, problem.weights, outcome.assignment, problem.penalty).objective
        if value < best_value - 1e-9:
            best, best_value = outcome.assignment, value
    return best
