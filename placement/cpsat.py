"""The CP-SAT model: one integer count variable per (workload, candidate node).

Identical replicas are aggregated into counts, so symmetric replica orderings do not
exist. Objective coefficients are scaled by Tuning.cpsat_scale and rounded DOWN, so the model's
proven bound divided by cpsat_scale is a valid bound on the true objective (which is then
recomputed exactly by `placement.objective`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from placement.catalog import IntArray
from placement.model import SolverConfig
from placement.problem import Problem
from placement.tuning import TUNING as T


@dataclass
class ModelSpec:
    """What to optimise: `free` workloads over `candidates`; `fixed` ones keep `fixed_nodes`."""

    free: list[int]
    candidates: dict[int, IntArray]
    fixed: dict[int, tuple[int, ...]] = field(default_factory=dict)
    complete: bool = True  # no pruning, nothing fixed: the model bound is a bound of the problem


@dataclass
class ModelOutcome:
    assignment: dict[str, tuple[str, ...]]
    status: str
    bound: float  # valid for the problem only if spec.complete
    solved: bool
    dtime: float = 0.0


def _floor(x: float) -> int:
    return math.floor(x * T.cpsat_scale + 1e-9)


@dataclass
class BuiltModel:
    """A built CP-SAT model and its variables, to solve more than once (with other hints)."""

    spec: ModelSpec
    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]
    placed: dict[int, cp_model.IntVar]
    keep: dict[tuple[int, int], cp_model.IntVar]
    active: dict[int, cp_model.IntVar]
    terms: int  # objective terms (each loses < 1/cpsat_scale to rounding down)
    balance: bool


def solve_model(
    problem: Problem, spec: ModelSpec, hint: dict[str, tuple[str, ...]], config: SolverConfig,
    time_limit_s: float, presolve: bool = T.cpsat_presolve, dtime: float | None = None,
) -> ModelOutcome:
    """Build and solve the model once (see `solve_built`)."""
    return solve_built(problem, build_model(problem, spec), hint, config, time_limit_s, presolve, dtime)


def build_model(problem: Problem, spec: ModelSpec) -> BuiltModel:
    """The CP-SAT model of `spec`: counts per (workload, candidate node), capacities, spread limits,
    node activity, migrations and the objective scaled by Tuning.cpsat_scale (rounded down)."""
    cat = problem.cat
    inst = problem.instance
    wt = problem.weights
    model = cp_model.CpModel()
    free_cpu = cat.free_cpu.astype(np.int64).copy()
    free_mem = cat.free_mem.astype(np.int64).copy()
    free_gpu = cat.gpu.astype(np.int64).copy()
    free_pods = cat.free_pods.astype(np.int64).copy()
    load = np.zeros(len(cat.node_names), dtype=np.int64)
    busy = np.zeros(len(cat.node_names), dtype=np.bool_)
    for wi, nodes in spec.fixed.items():
        w = inst.workloads[wi]
        for n in nodes:
            free_cpu[n] -= w.cpu_m
            free_mem[n] -= w.memory_mb
            free_gpu[n] -= w.gpu
            free_pods[n] -= 1
            load[n] += w.cpu_m
            busy[n] = True

    x: dict[tuple[int, int], cp_model.IntVar] = {}
    placed: dict[int, cp_model.IntVar] = {}
    keep: dict[tuple[int, int], cp_model.IntVar] = {}
    upper: dict[tuple[int, int], int] = {}
    by_node: dict[int, list[tuple[int, cp_model.IntVar]]] = {}
    objective: list[tuple[cp_model.IntVar, int]] = []
    constant = 0
    for wi in spec.free:
        w = inst.workloads[wi]
        cands = spec.candidates[wi]
        p = model.new_bool_var(f"p{wi}")
        placed[wi] = p
        pen = _floor(problem.penalty[w.name])
        constant += pen
        objective.append((p, -pen))
        if len(cands) == 0:
            model.add(p == 0)
            continue
        all_cands = problem.candidates(wi)
        unit = dict(zip(all_cands.tolist(), problem.unit_cost[wi].tolist(), strict=True))
        cur = problem.current_counts(wi)
        site_terms: dict[int, list[cp_model.IntVar]] = {}
        terms = []
        for n in cands.tolist():
            fit = w.replicas
            if w.cpu_m:
                fit = min(fit, int(free_cpu[n]) // w.cpu_m)
            if w.memory_mb:
                fit = min(fit, int(free_mem[n]) // w.memory_mb)
            if w.gpu:
                fit = min(fit, int(free_gpu[n]) // w.gpu)
            fit = min(fit, int(free_pods[n]))
            if w.max_per_node is not None:
                fit = min(fit, w.max_per_node)
            if w.max_per_site is not None:
                fit = min(fit, w.max_per_site)
            if fit <= 0:
                continue
            v = model.new_int_var(0, fit, f"x{wi}_{n}")
            x[(wi, n)] = v
            upper[(wi, n)] = fit
            terms.append(v)
            by_node.setdefault(n, []).append((wi, v))
            site_terms.setdefault(int(cat.node_site[n]), []).append(v)
            objective.append((v, _floor(unit[n])))
            if cur.get(n):
                k = model.new_int_var(0, min(cur[n], fit), f"k{wi}_{n}")
                model.add(k <= v)
                keep[(wi, n)] = k
                objective.append((k, -_floor(wt.migration)))
        model.add(sum(terms) == w.replicas * p)
        if w.current:
            base = min(w.replicas, len(w.current))
            objective.append((p, _floor(wt.migration * base)))
        if w.max_per_site is not None and w.max_per_site < w.replicas:
            for vs in site_terms.values():
                if len(vs) > 1:
                    model.add(sum(vs) <= w.max_per_site)

    opening = wt.active_nodes + wt.energy * cat.idle_power
    pairwise = len(x) <= 20_000
    active: dict[int, cp_model.IntVar] = {}
    for n, items in by_node.items():
        cpu_terms = [(v, inst.workloads[wi].cpu_m) for wi, v in items]
        mem_terms = [(v, inst.workloads[wi].memory_mb) for wi, v in items]
        open_cost = _floor(float(opening[n]))
        if open_cost > 0 and not busy[n]:
            a = model.new_bool_var(f"a{n}")
            active[n] = a
            objective.append((a, open_cost))
            model.add(sum(c * v for v, c in cpu_terms) <= int(max(free_cpu[n], 0)) * a)
            for wi, v in items:
                if pairwise or inst.workloads[wi].cpu_m == 0:
                    model.add(v <= upper[(wi, n)] * a)
        else:
            model.add(sum(c * v for v, c in cpu_terms) <= int(max(free_cpu[n], 0)))
        model.add(sum(c * v for v, c in mem_terms) <= int(max(free_mem[n], 0)))
        gpu_terms = [(v, inst.workloads[wi].gpu) for wi, v in items if inst.workloads[wi].gpu]
        if gpu_terms:
            model.add(sum(c * v for v, c in gpu_terms) <= int(max(free_gpu[n], 0)))
        if free_pods[n] <= cat.all_replicas and sum(upper[(wi, n)] for wi, _ in items) > free_pods[n]:
            model.add(sum(v for _, v in items) <= int(max(free_pods[n], 0)))

    k_bal = math.floor(wt.balance * T.cpsat_scale)
    if k_bal > 0:
        base_util = max(
            (float(cat.used_cpu[n] + load[n]) / float(cat.cap_cpu[n])
             for n in range(len(cat.node_names)) if cat.cap_cpu[n] > 0), default=0.0,
        )
        u = model.new_int_var(math.ceil(k_bal * base_util), k_bal * 1000, "balance")
        objective.append((u, 1))
        for n, items in by_node.items():
            cap = int(cat.cap_cpu[n])
            if cap > 0:
                model.add(
                    sum(k_bal * inst.workloads[wi].cpu_m * v for wi, v in items)
                    + k_bal * int(cat.used_cpu[n] + load[n]) <= cap * u
                )

    model.minimize(sum(c * v for v, c in objective) + constant)
    return BuiltModel(spec, model, x, placed, keep, active, len(objective), k_bal > 0)


def build_placement_model(problem: Problem, spec: ModelSpec) -> BuiltModel:
    """`build_model` with only the unplaced penalties in the objective: as many workloads placed as
    fit (higher priorities first), whatever that costs. Its solution is a start for the search when
    the search left placeable workloads out; its bound is not a bound of the problem."""
    built = build_model(problem, spec)
    inst = problem.instance
    built.model.minimize(sum(-_floor(problem.penalty[inst.workloads[wi].name]) * p for wi, p in built.placed.items()))
    return built


def solve_built(
    problem: Problem, built: BuiltModel, hint: dict[str, tuple[str, ...]], config: SolverConfig,
    time_limit_s: float, presolve: bool = T.cpsat_presolve, dtime: float | None = None,
) -> ModelOutcome:
    """Solve a built model; `hint` (a feasible assignment) seeds the search (it replaces any hint
    of an earlier solve of the same model). With `config.deterministic`, the search stops after
    `dtime` deterministic seconds (default: the wall limit x Tuning.dtime_per_s); pass a budget that
    does not depend on the clock."""
    cat = problem.cat
    inst = problem.instance
    spec, model, x, placed = built.spec, built.model, built.x, built.placed
    model.clear_hints()  # type: ignore[no-untyped-call]  # (untyped in OR-Tools)
    _add_hint(problem, model, hint, x, placed, built.keep, built.active, spec)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.random_seed = config.seed
    params.num_workers = max(1, config.workers)
    params.max_time_in_seconds = max(0.05, time_limit_s)
    if config.deterministic:
        params.max_deterministic_time = max(0.01, time_limit_s * T.dtime_per_s if dtime is None else dtime)
        params.interleave_search = params.num_workers > 1
    params.relative_gap_limit = 1e-6
    params.cp_model_probing_level = 0
    params.cp_model_presolve = presolve
    params.symmetry_level = 1
    code = solver.solve(model)
    name = solver.status_name(code)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ModelOutcome({}, name, -math.inf, False, solver.deterministic_time)
    assignment: dict[str, tuple[str, ...]] = {}
    for wi, nodes in spec.fixed.items():
        assignment[inst.workloads[wi].name] = tuple(cat.node_names[n] for n in nodes)
    chosen: dict[int, list[int]] = {}
    for (wi, n), v in x.items():
        count = solver.value(v)
        if count:
            chosen.setdefault(wi, []).extend([n] * count)
    for wi in spec.free:
        picked = chosen.get(wi)
        if picked and solver.value(placed[wi]):
            assignment[inst.workloads[wi].name] = _order_like_current(problem, wi, picked)
    slack = (1.0 + built.terms) / T.cpsat_scale * 1e-3 + (1.0 / T.cpsat_scale if built.balance else 0.0)
    bound = solver.best_objective_bound / T.cpsat_scale - slack
    return ModelOutcome(assignment, name, bound, True, solver.deterministic_time)


def _order_like_current(problem: Problem, wi: int, nodes: list[int]) -> tuple[str, ...]:
    """Replica order: kept replicas keep their index in `current`, moved ones fill the rest."""
    names = problem.cat.node_names
    w = problem.instance.workloads[wi]
    pool = Counter(names[n] for n in nodes)
    out: list[str | None] = []
    for cur in w.current[: w.replicas]:
        if pool[cur] > 0:
            pool[cur] -= 1
            out.append(cur)
        else:
            out.append(None)
    rest = sorted(pool.elements())
    result = [n if n is not None else rest.pop(0) for n in out]
    result.extend(rest)
    return tuple(result)


def _add_hint(
    problem: Problem, model: cp_model.CpModel, hint: dict[str, tuple[str, ...]],
    x: dict[tuple[int, int], cp_model.IntVar], placed: dict[int, cp_model.IntVar],
    keep: dict[tuple[int, int], cp_model.IntVar], active: dict[int, cp_model.IntVar], spec: ModelSpec,
) -> None:
    cat = problem.cat
    inst = problem.instance
    counts: dict[int, Counter[int]] = {}
    used: set[int] = set()
    for wi in spec.free:
        nodes = hint.get(inst.workloads[wi].name, ())
        counts[wi] = Counter(cat.node_index[n] for n in nodes)
        used.update(counts[wi])
    for (wi, n), v in x.items():
        model.add_hint(v, counts[wi].get(n, 0))
    for wi, p in placed.items():
        model.add_hint(p, 1 if counts[wi] else 0)
    for (wi, n), k in keep.items():
        model.add_hint(k, min(counts[wi].get(n, 0), problem.current_counts(wi)[n]))
    for n, a in active.items():
        model.add_hint(a, 1 if n in used else 0)
