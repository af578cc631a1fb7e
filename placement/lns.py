"""Large-neighbourhood search driven by CP-SAT: re-optimise one region at a time.

A neighbourhood is the few sites nearest to a radio cell (first the cells of unplaced
workloads, then cells drawn at random): the workloads that have a
replica there (and unplaced ones that could go there) are freed, everything else stays
fixed, and CP-SAT solves the small model exactly or nearly so, starting from the current
solution (so a step never makes things worse). Neighbourhoods come from a seeded RNG
and every sub-solve stops on deterministic time, so the sequence is reproducible.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import numpy as np

from placement.cpsat import DTIME_PER_SECOND, ModelSpec, solve_model
from placement.model import SolverConfig
from placement.objective import evaluate
from placement.problem import Problem

MAX_FREE = 160
SUB_DTIME = 0.05  # deterministic seconds per neighbourhood
SUB_OVERHEAD = 0.005  # and what building its model counts for (deterministic, not measured): small
# neighbourhoods solve in almost no deterministic time, so without it only the wall clock stopped the
# search, and the same input and seed could give different results (online batches: 15-25 sub-solves
# in 0.1-0.3 s of a 0.26 s limit, gaining under 0.1 %)
LNS_SHARE = 0.4  # share of the deterministic budget of the time limit the search may use
SITES_PER_REGION = 6
OWN_CANDIDATES = 8  # each freed workload may also use its 8 cheapest nodes anywhere


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
    budget = config.time_limit_s * DTIME_PER_SECOND * LNS_SHARE
    used = 0.0
    pool = sorted(free_pool) if free_pool is not None else list(range(len(inst.workloads)))
    pool_set = set(pool)
    stale = 0
    # unplaced workloads first: a neighbourhood around the main cell of each (at most 20)
    first = [max(w.cells, key=lambda c: (w.cells[c], c)) for w in inst.workloads
             if w.name not in best and problem.feasibility[inst.workloads.index(w)].nodes.size][:20]
    while time.perf_counter() < deadline - 0.05 and used < budget and stale < 3 * len(cat.cell_names):
        cell = cat.cell_index[first.pop(0)] if first else rng.randrange(len(cat.cell_names))
        sites = near_sites[cell, :SITES_PER_REGION]
        region = set(np.concatenate([cat.site_nodes[s] for s in sites]).tolist())
        on_region: list[int] = []
        for wi in pool:
            w = inst.workloads[wi]
            nodes = best.get(w.name)
            if nodes:
                if any(cat.node_index[n] in region for n in nodes):
                    on_region.append(wi)
            elif problem.feasibility[wi].nodes.size and region.intersection(problem.candidates(wi).tolist()):
                on_region.append(wi)
        if not on_region:
            stale += 1
            continue
        if len(on_region) > MAX_FREE:
            on_region = sorted(rng.sample(on_region, MAX_FREE))
        free = set(on_region)
        candidates = {}
        for wi in free:
            mine = {cat.node_index[n] for n in best.get(inst.workloads[wi].name, ())}
            cands = problem.candidates(wi)
            near = cands[np.argsort(problem.unit_cost[wi], kind="stable")[:OWN_CANDIDATES]]
            mask = np.isin(cands, np.fromiter(region | mine | set(near.tolist()), dtype=np.int64))
            candidates[wi] = cands[mask]
        fixed = {
            cat.workload_index[name]: tuple(cat.node_index[n] for n in nodes)
            for name, nodes in best.items() if cat.workload_index[name] not in free
        }
        spec = ModelSpec(sorted(free), candidates, fixed, complete=False)
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        outcome = solve_model(problem, spec, best, sub, left, presolve=True, dtime=SUB_DTIME)
        used += outcome.dtime + SUB_OVERHEAD
        if not outcome.solved:
            stale += 1
            continue
        value = evaluate(inst, problem.weights, outcome.assignment, problem.penalty).objective
        if value < best_value - 1e-9:
            best, best_value = outcome.assignment, value
            stale = 0
        else:
            stale += 1
    del pool_set
    return best
