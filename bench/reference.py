"""An exact reference for the placement benchmark: SCIP (shipped with OR-Tools) on the same model.

    python -m bench.reference [--size 100x20] [--seed 0] [--limit 90]

Solves the instance of `bench.placement` (same generator, size and seed) as a MIP with an
independent formulation: an integer count per feasible (workload, node) pair, an unplaced
flag per workload, an active flag per node, CPU / memory / GPU / Pod capacities, spread per
site and per node, the same objective weights (the balance term must be off). Then `cpsat`
runs with the benchmark's time limit on the same instance, and the table says how far our
solution is from SCIP's proven optimum (or best solution) and how far our bound is below it:
which part of our reported gap is the solution and which the bound. SCIP's solution is
checked by `placement.check_violations` and scored by the shared objective.

Writes bench/results/reference.json (one row per solver, with the machine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ortools.linear_solver import pywraplp

from bench.machine import describe, machine
from placement import SolverConfig, Status, Weights, check_violations, evaluate, solve
from placement.explain import build_result
from placement.generator import generate
from placement.model import Instance
from placement.problem import Problem

RESULTS = Path(__file__).resolve().parent / "results" / "reference.json"
LIMIT_S = {100: 2.0, 1000: 2.0}  # our time limit, as in bench.placement


def scip(inst: Instance, weights: Weights, limit_s: float) -> tuple[dict[str, tuple[str, ...]], float, bool, float]:
    """(assignment, SCIP's proven bound, optimal?, wall s)."""
    if weights.balance:
        raise ValueError("weights.balance: the reference MIP has no balance term, expected 0")
    problem = Problem(inst, weights)
    cat, pr, ws = problem.cat, problem.pairs(), inst.workloads
    s = pywraplp.Solver.CreateSolver("SCIP")
    if s is None:
        raise RuntimeError("OR-Tools was built without SCIP")
    x = [s.IntVar(0, int(pr.slots[k]), "") for k in range(len(pr.w))]
    out = [s.BoolVar("") for _ in ws]
    active = [s.BoolVar("") for _ in inst.nodes]
    by_w: list[list[int]] = [[] for _ in ws]
    by_n: list[list[int]] = [[] for _ in inst.nodes]
    for k, (wi, n) in enumerate(zip(pr.w.tolist(), pr.node.tolist(), strict=True)):
        by_w[wi].append(k)
        by_n[n].append(k)
    for wi, w in enumerate(ws):
        s.Add(sum(x[k] for k in by_w[wi]) + w.replicas * out[wi] == w.replicas)
        if w.max_per_site is not None:
            per_site: dict[int, list[int]] = {}
            for k in by_w[wi]:
                per_site.setdefault(int(cat.node_site[pr.node[k]]), []).append(k)
            for ks in per_site.values():
                s.Add(sum(x[k] for k in ks) <= w.max_per_site)
    for n, ks in enumerate(by_n):
        if not ks:
            continue
        for field, free in (("cpu_m", cat.free_cpu), ("memory_mb", cat.free_mem), ("gpu", cat.gpu)):
            s.Add(sum(int(getattr(ws[pr.w[k]], field)) * x[k] for k in ks) <= int(free[n]) * active[n])
        s.Add(sum(x[k] for k in ks) <= int(cat.free_pods[n]))
        for k in ks:
            s.Add(x[k] <= int(pr.slots[k]) * active[n])
    opening = weights.active_nodes + weights.energy * cat.idle_power
    s.Minimize(sum(float(pr.unit[k]) * x[k] for k in range(len(pr.w)))
               + sum(float(opening[n]) * a for n, a in enumerate(active))
               + sum(problem.penalty[w.name] * out[wi] for wi, w in enumerate(ws)))
    s.SetTimeLimit(int(limit_s * 1000))
    t = time.perf_counter()
    code = s.Solve()
    wall = time.perf_counter() - t
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return {}, s.Objective().BestBound(), False, wall
    placed: dict[str, list[str]] = {}
    for k, v in enumerate(x):
        for _ in range(round(v.solution_value())):
            placed.setdefault(ws[pr.w[k]].name, []).append(cat.node_names[pr.node[k]])
    return ({n: tuple(v) for n, v in placed.items()}, s.Objective().BestBound(), code == pywraplp.Solver.OPTIMAL,
            wall)


def run(n_w: int, n_n: int, seed: int, limit_s: float) -> list[dict[str, Any]]:
    inst = generate(n_w, n_n, seed=seed)
    weights = Weights()
    assignment, bound, optimal, wall = scip(inst, weights, limit_s)
    problem = Problem(inst, weights)
    ref = build_result(problem, assignment, Status.OPTIMAL if optimal else Status.FEASIBLE, bound, wall, "scip")
    ours = solve(inst, weights, SolverConfig(time_limit_s=LIMIT_S.get(n_w, 2.0), seed=0))
    best = evaluate(inst, weights, assignment).objective if assignment else float("inf")
    rows = []
    for r in (ref, ours):
        rows.append({
            "solver": r.solver, "workloads": n_w, "nodes": n_n, "seed": seed, "status": r.status.value,
            "objective": round(r.objective, 3), "bound": round(r.bound, 3), "wall_s": round(r.wall_s, 2),
            "violations": len(check_violations(inst, r)),
            "above_reference_solution": round(r.objective / best - 1.0, 5) if assignment else None,
            "bound_below_reference_solution": round(1.0 - r.bound / best, 5) if assignment else None,
        })
    return rows


def instance_args(argv: list[str] | None, doc: str, limit_s: float, limit_help: str) -> tuple[int, int, int, float]:
    """The command line of an offline reference: (workloads, nodes, seed, time limit s)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", default="100x20", help="workloads x nodes, as in bench.placement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=limit_s, help=limit_help)
    args = parser.parse_args(argv)
    try:
        n_w, n_n = (int(v) for v in args.size.split("x"))
    except ValueError:
        parser.error(f"--size: expected WORKLOADSxNODES such as 100x20, got {args.size!r}")
    return n_w, n_n, args.seed, args.limit


def main(argv: list[str] | None = None) -> int:
    n_w, n_n, seed, limit = instance_args(argv, __doc__ or "", 90.0, "SCIP's time limit, s")
    info = machine(packages=("ortools",))
    print(describe(info))
    rows = run(n_w, n_n, seed, limit)
    print(f"{'solver':8} {'status':10} {'objective':>10} {'bound':>10} {'wall':>8} {'viol':>4} "
          f"{'above ref.':>10} {'bound below ref.':>16}")
    for r in rows:
        above, below = r["above_reference_solution"], r["bound_below_reference_solution"]
        print(f"{r['solver']:8} {r['status']:10} {r['objective']:10.1f} {r['bound']:10.1f} {r['wall_s']:7.2f}s "
              f"{r['violations']:4d} {'-' if above is None else f'{100 * above:.2f}%':>10} "
              f"{'-' if below is None else f'{100 * below:.2f}%':>16}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([{**r, "machine": info} for r in rows], indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
