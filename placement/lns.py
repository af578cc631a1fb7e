"""Large-neighbourhood search driven by CP-SAT: re-optimise one region at a time.

A neighbourhood is the few sites nearest to a radio cell (first the cells of unplaced
workloads, then cells drawn at random): the workloads that have a
replica there (and unplaced ones that could go there) are freed, everything else stays
fixed, and CP-SAT solves the small model exactly or nearly so, starting from the current
solution (so a step never makes things worse). When opening a node costs something and a region
spans every site (Tuning.lns_sites_per_region sites or fewer), every other neighbourhood is a few nodes instead
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
from placement.cpsat import ModelSpec, build_model, solve_built
from placement.model import SolverConfig
from placement.objective import evaluate
from placement.problem import Problem
from placement.tuning import TUNING as T


def _region(problem: Problem, best: dict[str, tuple[str, ...]], pool: list[int], region: set[int],
            rng: random.Random) -> dict[int, IntArray]:
    """The workloads of `pool` with a replica on the `region` nodes (or unplaced, and could go there),
    at most lns_max_free drawn at random, each free on its region nodes, its own and its cheapest nodes."""
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
    if len(on_region) > T.lns_max_free:
        on_region = sorted(rng.sample(on_region, T.lns_max_free))
    candidates = {}
    for wi in on_region:
        mine = {cat.node_index[n] for n in best.get(inst.workloads[wi].name, ())}
        cands = problem.candidates(wi)
        near = cands[np.argsort(problem.unit_cost[wi], kind="stable")[:T.lns_own_candidates]]
        candidates[wi] = cands[np.isin(cands, np.fromiter(region | mine | set(near.tolist()), dtype=np.int64))]
    pairs = sum(len(c) for c in candidates.values())
    if pairs > T.lns_max_pairs:  # one big site (bin packing): fewer workloads, drawn at random
        keep = sorted(rng.sample(sorted(candidates), max(1, len(candidates) * T.lns_max_pairs // pairs)))
        candidates = {wi: candidates[wi] for wi in keep}
    return candidates


def _node_group(problem: Problem, best: dict[str, tuple[str, ...]], pool_set: set[int],
                rng: random.Random) -> dict[int, IntArray]:
    """One of the lns_emptiest nodes in use (by its fullest resource) and up to lns_nodes_per_group - 1 other
    nodes in use that its workloads could use, drawn at random among the 4 x lns_nodes_per_group emptiest; the workloads of `pool_set` on them
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
    first = used[rng.randrange(min(T.lns_emptiest, len(used)))]
    # the others among the emptiest too (room to take what `first` holds), where its workloads may go
    slack = set(used[: 4 * T.lns_nodes_per_group])
    near = sorted((set(np.concatenate([problem.candidates(wi) for wi in members[first]]).tolist()) & slack)
                  - {first})
    group = {first, *rng.sample(near, min(T.lns_nodes_per_group - 1, len(near)))}
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
    budget = T.dtime_per_s * (T.lns_share * min(limit, T.lns_first_s) + T.lns_later_share * max(0.0, limit - T.lns_first_s))
    used = 0.0
    pool = sorted(free_pool) if free_pool is not None else list(range(len(inst.workloads)))
    pool_set = set(pool)
    # node neighbourhoods where opening a node costs and a region cannot localise (it spans every site)
    opening = (bool(np.any(problem.weights.active_nodes + problem.weights.energy * cat.idle_power > 0))
               and len(cat.site_names) <= T.lns_sites_per_region)
    # unplaced workloads first: a neighbourhood around the main cell of each (at most 20)
    first = [max(w.cells, key=lambda c: (w.cells[c], c)) for wi, w in enumerate(inst.workloads)
             if w.name not in best and problem.feasibility[wi].nodes.size][:20]
    step = 0
    last_build = 0.0  # wall seconds the last neighbourhood's model took to build
    while time.perf_counter() < deadline - 0.05 and used < budget:
        step += 1
        used += T.lns_sub_overhead
        if opening and not first and step % 2 == 0:
            candidates = _node_group(problem, best, pool_set, rng)
        else:
            cell = cat.cell_index[first.pop(0)] if first else rng.randrange(len(cat.cell_names))
            sites = near_sites[cell, :T.lns_sites_per_region]
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
        # its model must be built in time too: as estimated, or as long as the last build took
        started = time.perf_counter()
        left = deadline - started - max(pairs * T.build_s_per_pair, last_build)
        if left <= 0.05:
            break
        built = build_model(problem, spec)
        last_build = time.perf_counter() - started
        outcome = solve_built(problem, built, best, sub, left, presolve=True, dtime=T.lns_sub_dtime)
        used += outcome.dtime + T.lns_pair_dtime * pairs
        if not outcome.solved:
            continue
        value = evaluate(inst, problem.weights, outcome.assignment, problem.penalty).objective
        if value < best_value - 1e-9:
            best, best_value = outcome.assignment, value
    return best
