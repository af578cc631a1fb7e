"""Placement quality over many seeds: small and tight instances, where one result says little.

    python -m bench.seeds [--quick]

Families (workloads x nodes, time limit, generator load, seeds): 100 x 20 at 2 s (seeds 0-15);
online-batch sizes at 0.15-0.2 s (30 x 20, 50 x 20, 37 x 60; loads 0.55 and 0.9; seeds 0-11);
250 x 200 at 1 s and load 0.8 (seeds 0-3). Every solver runs on every instance. Per family and
solver: the objective sum (without the penalties of workloads that cannot run even alone, which
every solver pays), how many instances leave a placeable workload out (it fits on its
feasible nodes when nothing else is there, `placement.problem.left_out`), how many are proven
optimal, and the wall time as a share of the limit (mean and worst). `--quick`: the first half
of the seeds. Prints a table and writes bench/results/seeds.json.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import describe, machine
from placement import SOLVERS, SolverConfig, Weights, check_violations
from placement.generator import generate
from placement.problem import Problem, left_out

RESULTS = Path(__file__).parent / "results" / "seeds.json"
ORDER = ("cpsat", "ffd", "kube", "greedy-latency", "ecoda")
# (name, workloads, nodes, time limit s, loads, seeds)
FAMILIES = (
    ("100x20", 100, 20, 2.0, (0.55,), 16),
    ("30x20", 30, 20, 0.15, (0.55, 0.9), 12),
    ("50x20", 50, 20, 0.2, (0.55, 0.9), 12),
    ("37x60", 37, 60, 0.15, (0.55, 0.9), 12),
    ("250x200", 250, 200, 1.0, (0.8,), 4),
)


@dataclass
class Tally:
    objective: float = 0.0
    left_out: int = 0
    optimal: int = 0
    violations: int = 0
    walls: list[float] = field(default_factory=list)  # wall time / time limit, per instance


def run_family(name: str, n_w: int, n_n: int, limit: float, loads: tuple[float, ...], seeds: int) -> list[dict[str, Any]]:
    stats = {s: Tally() for s in ORDER}
    for seed in range(seeds):
        for load in loads:
            inst = generate(n_w, n_n, seed=seed, load=load)
            problem = Problem(inst, Weights())
            hopeless = problem.unavoidable_penalty()  # every solver pays these
            for solver in ORDER:
                result = SOLVERS[solver](inst, Weights(), SolverConfig(time_limit_s=limit, seed=0, solver=solver))
                st = stats[solver]
                st.objective += result.objective - hopeless
                st.left_out += bool(left_out(problem, dict(result.assignment)))
                st.optimal += result.status.value == "optimal"
                st.violations += len(check_violations(inst, result))
                st.walls.append(result.wall_s / limit)
    rows = []
    for solver, st in stats.items():
        walls = st.walls
        rows.append({
            "family": name, "solver": solver, "instances": len(walls), "time_limit_s": limit,
            "objective_sum": round(st.objective, 3), "instances_leaving_placeable_out": st.left_out,
            "optimal": st.optimal, "violations": st.violations,
            "wall_share_mean": round(sum(walls) / len(walls), 3), "wall_share_max": round(max(walls), 3),
        })
    ours = stats["cpsat"].objective
    for r, st in zip(rows, stats.values(), strict=True):
        r["objective_vs_cpsat"] = round(st.objective / ours, 3) if ours else None
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first half of the seeds")
    args = parser.parse_args(argv)
    info = machine(packages=("ortools", "numpy"))
    print(describe(info))
    print(f"{'family':<8} {'solver':<15} {'inst.':>5} {'objective sum':>15} {'x cpsat':>8} {'left out':>8} "
          f"{'optimal':>7} {'viol':>4} {'wall/limit':>10} {'worst':>6}")
    rows: list[dict[str, Any]] = []
    for name, n_w, n_n, limit, loads, seeds in FAMILIES:
        for r in run_family(name, n_w, n_n, limit, loads, max(1, seeds // 2) if args.quick else seeds):
            rows.append(r)
            print(f"{r['family']:<8} {r['solver']:<15} {r['instances']:>5} {r['objective_sum']:>15.1f} "
                  f"{r['objective_vs_cpsat']:>7.2f}x {r['instances_leaving_placeable_out']:>8} {r['optimal']:>7} "
                  f"{r['violations']:>4} {r['wall_share_mean']:>10.2f} {r['wall_share_max']:>6.2f}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows}, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
