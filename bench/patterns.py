"""The pattern bound of a placement instance: Dantzig-Wolfe column generation, offline.

    python -m bench.patterns [--size 100x20] [--seed 0] [--limit 300]

A pattern is what one node holds: replicas per workload within the node's free CPU, memory,
GPU and Pods and each workload's max_per_node. The master LP takes at most one pattern per
node, covers every workload's replicas or pays its unplaced penalty, and keeps max_per_site;
a node's next pattern is the exact knapsack at the master's prices (CP-SAT, objective
coefficients rounded down, so its proven bound is a lower bound of the true knapsack).
At every iteration the Lagrangian value at the master's prices is a valid lower bound on the
optimum (for ANY prices); at convergence it is the pattern bound, which is at least the LP
relaxation (`placement.lp`), since that LP is a relaxation of every node's pattern polytope.

The same run scores `cpsat` on the instance with the benchmark's time limit, so the table says
how far our 2 s solution is from a strong bound and how much weaker our own bound is. Cold
instances only (no current placement), balance off. Writes bench/results/patterns.json.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from bench.machine import describe, machine
from bench.reference import instance_args
from placement import SolverConfig, Weights, solve
from placement.generator import generate
from placement.model import Instance
from placement.problem import Problem

RESULTS = Path(__file__).resolve().parent / "results" / "patterns.json"
SCALE = 10_000  # knapsack objective: coefficients x SCALE, rounded down
TOL = 1e-7
KNAPSACK_S = 5.0  # per node and iteration


@dataclass
class PatternBound:
    bound: float  # best Lagrangian value: a proven lower bound
    master: float  # the last master LP's value (equals the bound at convergence)
    iterations: int
    columns: int
    converged: bool
    wall_s: float


class Columns:
    """The master LP, built once and grown column by column (GLOP re-solves from its last basis)."""

    def __init__(self, problem: Problem, weights: Weights) -> None:
        inst, cat = problem.instance, problem.cat
        self.problem, self.pairs = problem, problem.pairs()
        self.pen = np.array([problem.penalty[w.name] for w in inst.workloads])
        self.reps = np.array([w.replicas for w in inst.workloads], dtype=np.float64)
        self.opening = weights.active_nodes + weights.energy * cat.idle_power
        pr = self.pairs
        self.by_node = [np.flatnonzero(pr.node == n) for n in range(len(cat.node_names))]
        site_slots: Counter[tuple[int, int]] = Counter()
        for wi, n, s in zip(pr.w.tolist(), pr.node.tolist(), pr.slots.tolist(), strict=True):
            site_slots[(wi, int(cat.node_site[n]))] += s
        caps = {wi: w.max_per_site for wi, w in enumerate(inst.workloads) if w.max_per_site is not None}
        self.spread = sorted(k for k, v in site_slots.items() if k[0] in caps and v > caps[k[0]])
        self.spread_cap = np.array([float(caps[wi]) for wi, _ in self.spread])
        self.spread_of = {k: i for i, k in enumerate(self.spread)}
        lp = pywraplp.Solver.CreateSolver("GLOP")
        if lp is None:
            raise RuntimeError("OR-Tools was built without GLOP")
        self.lp = lp
        inf = lp.infinity()
        self.placed = [lp.NumVar(0.0, 1.0, f"q{wi}") for wi in range(len(inst.workloads))]
        self.demand = [lp.Constraint(0.0, 0.0) for _ in inst.workloads]
        self.convex = [lp.Constraint(-inf, 1.0) for _ in cat.node_names]
        self.spread_rows = [lp.Constraint(-inf, float(c)) for c in self.spread_cap]
        self.objective = lp.Objective()
        for wi, q in enumerate(self.placed):
            self.objective.SetCoefficient(q, -float(self.pen[wi]))
            self.demand[wi].SetCoefficient(q, -float(self.reps[wi]))
        self.objective.SetMinimization()
        self.count = 0
        self._unit: dict[int, dict[int, float]] = {}

    def add(self, node: int, pattern: dict[int, int]) -> None:
        site = int(self.problem.cat.node_site[node])
        unit = self._units(node)
        v = self.lp.NumVar(0.0, self.lp.infinity(), f"p{self.count}")
        self.count += 1
        self.objective.SetCoefficient(v, float(self.opening[node]) + sum(unit[wi] * k for wi, k in pattern.items()))
        self.convex[node].SetCoefficient(v, 1.0)
        for wi, k in pattern.items():
            self.demand[wi].SetCoefficient(v, float(k))
            row = self.spread_of.get((wi, site))
            if row is not None:
                self.spread_rows[row].SetCoefficient(v, float(k))

    def _units(self, node: int) -> dict[int, float]:
        """Per-replica cost of each workload on `node` (built once per node)."""
        unit = self._unit.get(node)
        if unit is None:
            idx = self.by_node[node]
            unit = self._unit[node] = dict(zip(self.pairs.w[idx].tolist(), self.pairs.unit[idx].tolist(), strict=True))
        return unit

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(master value, demand prices, node prices, spread prices <= 0)."""
        code = self.lp.Solve()
        if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            raise RuntimeError(f"the master LP failed (GLOP status {code})")
        mu = np.array([c.dual_value() for c in self.demand])
        rho = np.array([c.dual_value() for c in self.convex])
        sigma = np.minimum(0.0, np.array([c.dual_value() for c in self.spread_rows]))
        return self.objective.Value() + float(self.pen.sum()), mu, rho, sigma

    def price(self, node: int, mu: np.ndarray, sigma: np.ndarray) -> tuple[float, float, dict[int, int]]:
        """The node's knapsack at these prices: (proven lower bound, value found, its pattern)."""
        problem, pr = self.problem, self.pairs
        cat, ws = problem.cat, problem.instance.workloads
        site = int(cat.node_site[node])
        items = []
        for k in self.by_node[node].tolist():
            wi = int(pr.w[k])
            row = self.spread_of.get((wi, site))
            cost = float(pr.unit[k]) - float(mu[wi]) - (float(sigma[row]) if row is not None else 0.0)
            if cost < -TOL:
                items.append((wi, int(pr.slots[k]), cost))
        if not items:
            return 0.0, 0.0, {}
        m = cp_model.CpModel()
        xs = [m.new_int_var(0, slots, f"x{wi}") for wi, slots, _ in items]
        for field, free in (("cpu_m", cat.free_cpu), ("memory_mb", cat.free_mem), ("gpu", cat.gpu)):
            terms = [(x, int(getattr(ws[wi], field))) for x, (wi, _, _) in zip(xs, items, strict=True)]
            if any(c for _, c in terms):
                m.add(sum(c * x for x, c in terms) <= int(free[node]))
        m.add(sum(xs) <= int(min(cat.free_pods[node], sum(s for _, s, _ in items))))
        m.minimize(sum(math.floor(c * SCALE) * x for x, (_, _, c) in zip(xs, items, strict=True)))
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = KNAPSACK_S  # stopped early, its proven bound still holds
        code = solver.solve(m)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return solver.best_objective_bound / SCALE, 0.0, {}
        pattern = {wi: int(solver.value(x)) for x, (wi, _, _) in zip(xs, items, strict=True) if solver.value(x)}
        value = sum(c * pattern.get(wi, 0) for wi, _, c in items)
        return solver.best_objective_bound / SCALE, value, pattern


def pattern_bound(inst: Instance, weights: Weights, start: dict[str, tuple[str, ...]],
                  limit_s: float, progress: Callable[[str], None] | None = None) -> PatternBound:
    """Column generation from the patterns of `start` and one single-replica pattern per feasible
    pair (which keep the first prices sane), until no pattern prices out or `limit_s` is spent."""
    if weights.balance or any(w.current for w in inst.workloads):
        raise ValueError("instance: the pattern bound needs a cold instance with weights.balance = 0")
    t0 = time.perf_counter()
    problem = Problem(inst, weights)
    cat, pr = problem.cat, problem.pairs()
    cols = Columns(problem, weights)
    held: dict[int, Counter[int]] = {}
    for name, node_names in start.items():
        for node_name in node_names:
            held.setdefault(cat.node_index[node_name], Counter())[cat.workload_index[name]] += 1
    for n, kept in held.items():
        cols.add(n, dict(kept))
    for wi, n in zip(pr.w.tolist(), pr.node.tolist(), strict=True):
        cols.add(n, {wi: 1})
    best, master, it, converged = -math.inf, math.inf, 0, False
    while time.perf_counter() - t0 < limit_s:
        it += 1
        master, mu, rho, sigma = cols.solve()
        value = float(cols.pen.sum() + np.minimum(0.0, -cols.pen + mu * cols.reps).sum() + sigma @ cols.spread_cap)
        added = 0
        for node in range(len(cat.node_names)):
            lower, found, pattern = cols.price(node, mu, sigma)
            value += min(0.0, float(cols.opening[node]) + lower)
            if pattern and float(cols.opening[node]) + found - rho[node] < -1e-6:
                cols.add(node, pattern)
                added += 1
        best = max(best, value)
        if progress is not None:
            progress(f"iteration {it}: bound {best:.2f}, master {master:.2f}, {cols.count} columns, "
                     f"{added} added, {time.perf_counter() - t0:.1f} s")
        if not added:
            converged = True
            break
    return PatternBound(best, master, it, cols.count, converged, time.perf_counter() - t0)


def run(n_w: int, n_n: int, seed: int, limit_s: float,
        progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    inst = generate(n_w, n_n, seed=seed)
    weights = Weights()
    ours = solve(inst, weights, SolverConfig(time_limit_s=2.0, seed=0))
    pb = pattern_bound(inst, weights, dict(ours.assignment), limit_s, progress)
    common = {"workloads": n_w, "nodes": n_n, "seed": seed}
    return [
        {**common, "solver": "cpsat", "objective": round(ours.objective, 3), "bound": round(ours.bound, 3),
         "wall_s": round(ours.wall_s, 2), "gap": round(ours.gap, 5),
         "gap_to_pattern_bound": round(1.0 - pb.bound / ours.objective, 5)},
        {**common, "solver": "patterns", "objective": None, "bound": round(pb.bound, 3),
         "master": round(pb.master, 3), "converged": pb.converged, "iterations": pb.iterations,
         "columns": pb.columns, "wall_s": round(pb.wall_s, 2),
         "above_our_bound": round(pb.bound / ours.bound - 1.0, 5)},
    ]


def main(argv: list[str] | None = None) -> int:
    n_w, n_n, seed, limit = instance_args(argv, __doc__ or "", 300.0, "column generation's time limit, s")
    info = machine(packages=("ortools",))
    print(describe(info))
    ours, pb = run(n_w, n_n, seed, limit, lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{'':10} {'objective':>10} {'bound':>10} {'wall':>8}  notes")
    print(f"{'cpsat':10} {ours['objective']:10.1f} {ours['bound']:10.1f} {ours['wall_s']:7.2f}s  "
          f"gap {100 * ours['gap']:.2f}% to our bound, {100 * ours['gap_to_pattern_bound']:.2f}% to the pattern bound")
    print(f"{'patterns':10} {'-':>10} {pb['bound']:10.1f} {pb['wall_s']:7.2f}s  "
          f"{'converged' if pb['converged'] else 'NOT converged (a valid bound, not the pattern bound)'} after "
          f"{pb['iterations']} iterations, {pb['columns']} columns; {100 * pb['above_our_bound']:.2f}% above our bound")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([{**r, "machine": info} for r in (ours, pb)], indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
