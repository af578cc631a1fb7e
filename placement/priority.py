"""Priority bands: a lower-priority workload never holds a place that a higher-priority one needs.

Owns: the band of a priority (`band_of`: priority // SolverConfig.priority_band, 100 by default, so
0-99, 100-199, ..., 900-999, 1000) and the lexicographic solve by band (`solve_by_band`). The
highest band is solved first, as if no lower band existed: its workloads get the placement the
objective (placed at all, then their users' latency, their own moves, cost and the rest) finds
best on the whole capacity. Among placements as good for it, it takes the one that leaves the
most lower bands where they run (the lowest band yields first; on instances of up to
Tuning.band_keep_max_workloads workloads). Each lower band is then solved on the capacity the higher
bands left, its current placement kept where that still fits and pays. So a lower-band workload
holds no room that a higher-band one could use to be placed or to lower its objective, and yields
none that it could not; within a band, priorities only order who is placed (the unplaced penalties
of placement.objective).

The result is scored and explained on the whole instance (placement.objective's sum, as for every
solver), so a workload's unplaced reason names the higher-priority workloads on its nodes. Its
bound is the bands': the objective less what each band's own proven gap says it could still gain
with the higher bands where they are. Time: the limit is shared between the bands (a floor each, the
rest by their workloads), decided on the limit and the bands' sizes, never on the clock.

Must not: do I/O or read a clock other than perf_counter for the reported wall time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace

from placement.explain import build_result
from placement.model import Instance, InvalidInstance, Node, SolverConfig, SolveResult, Status, Weights
from placement.objective import evaluate
from placement.problem import Problem
from placement.tuning import TUNING as T

SolveFn = Callable[[Instance, Weights, SolverConfig], SolveResult]


def band_of(priority: int, width: int) -> int:
    """The band of a priority: bands of `width` priorities (floor division, so negative ones too)."""
    return priority // width


def bands(inst: Instance, width: int) -> list[list[int]]:
    """Workload indices per band, the highest band first (input order within a band)."""
    if width < 1:
        raise InvalidInstance("config.priority_band", f"must be an integer >= 1, got {width}")
    groups: dict[int, list[int]] = {}
    for wi, w in enumerate(inst.workloads):
        groups.setdefault(band_of(w.priority, width), []).append(wi)
    return [groups[b] for b in sorted(groups, reverse=True)]


def band_limits(sizes: list[int], limit: float) -> list[float]:
    """Each band's time limit: the limit, less the result's time and the late allowance of every extra
    solve, shared out as band_floor_share evenly among the bands and the rest by their workloads, and
    at least band_min_s each (a solve of several bands on a short limit may run over it by that much
    per band)."""
    k, n = len(sizes), sum(sizes)
    usable = max(0.5 * limit, limit - (k - 1) * T.late_s - T.result_s_per_workload * n)
    floor = T.band_floor_share / k
    return [max(T.band_min_s, usable * (floor + (1.0 - T.band_floor_share) * size / max(1, n))) for size in sizes]


def fits(nodes: tuple[Node, ...], inst: Instance, assignment: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether `assignment` (workloads of `inst`) fits in what `nodes` have free."""
    after = {n.name: n for n in taken(nodes, inst, assignment)}
    return all(n.used_cpu_m <= max(n.cpu_m, m.used_cpu_m) and n.used_memory_mb <= max(n.memory_mb, m.used_memory_mb)
               and n.used_gpu <= max(n.gpu, m.used_gpu) and (n.pods is None or n.used_pods <= max(n.pods, m.used_pods))
               for m in nodes for n in (after[m.name],) if n is not m)


def taken(nodes: tuple[Node, ...], inst: Instance, assignment: Mapping[str, tuple[str, ...]]) -> tuple[Node, ...]:
    """`nodes` with the replicas of `assignment` (workloads of `inst`) counted as used."""
    by_name = {w.name: w for w in inst.workloads}
    cpu: Counter[str] = Counter()
    mem: Counter[str] = Counter()
    gpu: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    for name, placed in assignment.items():
        w = by_name[name]
        for n in placed:
            cpu[n] += w.cpu_m
            mem[n] += w.memory_mb
            gpu[n] += w.gpu
            pods[n] += 1
    return tuple(replace(n, used_cpu_m=n.used_cpu_m + cpu[n.name], used_memory_mb=n.used_memory_mb + mem[n.name],
                         used_gpu=n.used_gpu + gpu[n.name], used_pods=n.used_pods + pods[n.name])
                 if pods[n.name] else n for n in nodes)


def with_limit(config: SolverConfig, limit: float) -> SolverConfig:
    """`config` at time limit `limit`, its wall limit (if it has one) scaled as much."""
    wall = None if config.wall_limit_s is None else config.wall_limit_s * limit / config.time_limit_s
    return replace(config, time_limit_s=limit, wall_limit_s=wall)


def _band(inst: Instance, nodes: tuple[Node, ...], group: list[int], lower: list[list[int]], weights: Weights,
          config: SolverConfig, solve_one: SolveFn) -> tuple[Instance, SolveResult]:
    """Band `group` on `nodes`: the best it can do with every lower band ignored, and among placements
    as good, the one that leaves the most lower bands where they run, the lowest band yielding first
    (a try per band that has running replicas, decided on the limit: small instances only)."""
    def sub(on: tuple[Node, ...]) -> Instance:
        return Instance(on, inst.sites, tuple(inst.workloads[wi] for wi in group), inst.latency_ms,
                        inst.bandwidth_mbps, inst.excluded_sites, inst.site_penalty_ms)

    holders = [g for g in lower if any(inst.workloads[wi].current for wi in g)]  # the highest first
    if not holders or len(inst.workloads) > T.band_keep_max_workloads:
        return sub(nodes), solve_one(sub(nodes), weights, config)
    limit = config.time_limit_s
    free = solve_one(sub(nodes), weights, with_limit(config, max(T.band_min_s, limit / 2)))

    def keeping(k: int) -> tuple[Node, ...]:
        """`nodes` with the running replicas of the k highest lower bands counted as used."""
        kept = [inst.workloads[wi] for g in holders[:k] for wi in g]
        return taken(nodes, inst, {w.name: w.current for w in kept if w.current})

    if fits(keeping(len(holders)), sub(nodes), free.assignment):
        return sub(nodes), free  # it displaces nobody
    each = with_limit(config, max(T.band_min_s / 2, limit / (2 * len(holders))))
    for k in range(len(holders), 0, -1):  # the k highest lower bands stay where they run
        result = solve_one(sub(keeping(k)), weights, each)
        if result.objective <= free.objective + 1e-6 * max(1.0, abs(free.objective)):
            return sub(nodes), result  # (as good with less room: as good with all of it)
    return sub(nodes), free


def _proven(result: SolveResult) -> bool:
    """The band's solve proved its placement optimal (an unplaced workload makes the status
    INFEASIBLE; its gap then says whether the rest was proven)."""
    return result.status is Status.OPTIMAL or (result.status is Status.INFEASIBLE and result.gap <= 1e-6)


def solve_by_band(inst: Instance, weights: Weights, config: SolverConfig, solve_one: SolveFn) -> SolveResult:
    """`solve_one` on each band, the highest first, on the capacity the higher bands left (see the
    module docstring); one band: `solve_one` on the whole instance, unchanged."""
    groups = bands(inst, config.priority_band)
    if len(groups) <= 1:
        return solve_one(inst, weights, config)
    start = time.perf_counter()
    nodes = inst.nodes
    assignment: dict[str, tuple[str, ...]] = {}
    slack = 0.0
    statuses: list[Status] = []
    proven = True
    limits = band_limits([len(g) for g in groups], config.time_limit_s)
    for i, (group, limit) in enumerate(zip(groups, limits, strict=True)):
        sub, result = _band(inst, nodes, group, groups[i + 1:], weights, with_limit(config, limit), solve_one)
        assignment.update(result.assignment)
        slack += max(0.0, result.objective - result.bound)
        statuses.append(result.status)
        proven = proven and _proven(result)
        nodes = taken(nodes, sub, result.assignment)
    problem = Problem(inst, weights)
    status = Status.TIMEOUT if Status.TIMEOUT in statuses else Status.OPTIMAL if proven else Status.FEASIBLE
    value = evaluate(inst, weights, assignment, problem.penalty).objective
    return build_result(problem, assignment, status, value - slack, time.perf_counter() - start, "cpsat")
