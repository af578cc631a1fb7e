"""Placement benchmark: every solver on the same seeded edge instances, cold and after churn.

    python -m bench.placement [--quick] [--seed N] [--repeat N]

Sizes (workloads x nodes): 100x20, 1,000x200, 10,000x1,000 (`--quick`: the two smaller),
each solved cold; then a re-placement after 5 % churn (users of 5 % of the workloads move
cells and the busiest MEC site degrades) on the 1,000x200 instance (and 10,000x1,000 unless
--quick), starting from our cold solution. Objectives of all solvers are computed by the
same function (placement.objective), violations by the independent checker. cpsat runs
`--repeat` times per instance: its wall time is the median, and the row says whether every
run gave the same assignment. Every cpsat row has its ratio to the best baseline on the same
instance (< 1: better). Then the robustness families of bench.placement_space (loads 0.8-1.05, a
priority-heavy overload, bin packing in 1-3 resources) at 1 s, 2 s and 10 s (`--quick`: five
families at 2 s). Prints a table and writes bench/results/placement.json ({"machine", "rows",
"targets", "space"}), bench/results/placement_space.json and docs/placement-space.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import placement_space
from bench.machine import describe, machine
from placement import SOLVERS, Instance, Prices, SolverConfig, SolveResult, Weights, check_violations
from placement.generator import churn, generate
from placement.problem import Problem

SIZES = ((100, 20, 2.0), (1_000, 200, 2.0), (10_000, 1_000, 30.0))
RESULTS = Path(__file__).parent / "results" / "placement.json"
ORDER = ("cpsat", "ffd", "kube", "greedy-latency", "ecoda")


def _row(result: SolveResult, inst: Instance, scenario: str, limit: float, extra: dict[str, Any],
         no_node: set[str]) -> dict[str, Any]:
    return {
        "solver": result.solver, "workloads": len(inst.workloads), "nodes": len(inst.nodes),
        "scenario": scenario, "status": result.status.value, "objective": round(result.objective, 3),
        "bound": round(result.bound, 3), "gap": round(result.gap, 5), "wall_s": round(result.wall_s, 3),
        "time_limit_s": limit, "violations": len(check_violations(inst, result)),
        "migrations": result.migrations, "unplaced": len(result.unplaced),
        # left out with no feasible node at all (every bound counts their penalty) / for capacity
        "unplaced_no_node": len(no_node.intersection(result.unplaced)),
        "unplaced_capacity": len(set(result.unplaced) - no_node),
        "breakdown": {k: round(v, 3) for k, v in result.breakdown.items()}, **extra,
    }


def run_instance(inst: Instance, scenario: str, limit: float, seed: int, extra: dict[str, Any],
                 repeat: int = 1, prices: Prices | None = None) -> tuple[list[dict[str, Any]], SolveResult]:
    """Every solver once; cpsat `repeat` times (wall time is noisy on a shared machine): its row
    has the median wall time, every run's, and whether all runs gave the same assignment."""
    rows = []
    ours: SolveResult | None = None
    problem = Problem(inst, Weights())
    no_node = {w.name for wi, w in enumerate(inst.workloads) if len(problem.candidates(wi)) == 0}
    for name in ORDER:
        # (a re-placement starts its bound from the cold solve's LP prices, as a caller keeping its last result can)
        config = SolverConfig(time_limit_s=limit, seed=seed, solver=name, prices=prices)
        result = SOLVERS[name](inst, Weights(), config)
        rows.append(_row(result, inst, scenario, limit, extra, no_node))
        if name == "cpsat":
            ours = result
            runs = [result] + [SOLVERS[name](inst, Weights(), config) for _ in range(repeat - 1)]
            walls = sorted(r.wall_s for r in runs)
            rows[-1]["wall_s"] = round(walls[len(walls) // 2], 3)
            rows[-1]["wall_s_runs"] = [round(r.wall_s, 3) for r in runs]
            rows[-1]["same_result_every_run"] = all(r.assignment == result.assignment for r in runs)
        print(_line(rows[-1]), flush=True)
    assert ours is not None
    best = min(r["objective"] for r in rows if r["solver"] != "cpsat")
    rows[0]["ratio_to_best_baseline"] = round(ours.objective / best, 5) if best > 0 else 1.0
    print(f"{'':<20}cpsat / best baseline: {rows[0]['ratio_to_best_baseline']:.4f}")
    return rows, ours


def _line(r: dict[str, Any]) -> str:
    return (f"{r['workloads']:>6}x{r['nodes']:<5} {r['scenario']:<6} {r['solver']:<15} {r['status']:<10} "
            f"{r['objective']:>12.1f} {r['bound']:>12.1f} {100 * r['gap']:>7.2f}% {r['wall_s']:>7.2f}s "
            f"{r['violations']:>4} {r['migrations']:>6} {r['unplaced']:>5}")


def _targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    by = {(r["workloads"], r["scenario"], r["solver"]): r for r in rows}
    for (w, scenario, solver), r in sorted(by.items()):
        if solver != "cpsat":
            continue
        others = [o["objective"] for (w2, s2, n2), o in by.items() if w2 == w and s2 == scenario and n2 != "cpsat"]
        checks: dict[str, bool] = {
            "zero_violations": r["violations"] == 0,
            "ratio<=1.00": all(r["objective"] <= o + 1e-6 for o in others),
            "wall<=1.1xlimit+50ms": max(r.get("wall_s_runs", [r["wall_s"]])) <= 1.1 * r["time_limit_s"] + 0.05,
        }
        if scenario == "cold" and w == 1_000:  # (the 1 % target is retired: the bound, not the solution, was the limit)
            checks["gap<=6.0%"] = round(100 * r["gap"], 1) <= 6.0
            checks["wall<=2s"] = r["wall_s"] <= 2.0
        if scenario == "cold" and w == 10_000:
            checks["gap<=3%"] = r["gap"] <= 0.03
            checks["wall<=30s"] = r["wall_s"] <= 30.0
        if scenario == "churn":
            cold = by[(w, "cold", "cpsat")]
            checks["wall<=20%cold"] = r["wall_s"] <= 0.2 * cold["wall_s"]
            checks["migrations<=2xchanged"] = r["migrations"] <= 2 * r["changed_workloads"]
        out.append({"workloads": w, "scenario": scenario, **checks})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two smaller sizes and one churn case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="cpsat runs per instance (median wall time)")
    args = parser.parse_args(argv)
    info = machine(packages=("ortools", "numpy"))
    print(f"machine: {describe(info)}; ortools {info['packages']['ortools']}")
    print(f"{'size':<12} {'scen.':<6} {'solver':<15} {'status':<10} {'objective':>12} {'bound':>12} "
          f"{'gap':>8} {'wall':>8} {'viol':>4} {'migr.':>6} {'unpl.':>5}")
    sizes = SIZES[:2] if args.quick else SIZES
    churn_sizes = {1_000} if args.quick else {1_000, 10_000}
    rows: list[dict[str, Any]] = []
    for n_w, n_n, limit in sizes:
        start = time.perf_counter()
        inst = generate(n_w, n_n, seed=args.seed)
        gen_s = round(time.perf_counter() - start, 3)
        cold_rows, ours = run_instance(inst, "cold", limit, args.seed, {"generate_s": gen_s}, args.repeat)
        rows += cold_rows
        if n_w in churn_sizes:
            moved, changed = churn(inst, dict(ours.assignment), fraction=0.05, seed=args.seed + 1)
            churn_rows, _ = run_instance(moved, "churn", limit, args.seed, {"changed_workloads": len(changed)},
                                         args.repeat, ours.prices)
            rows += churn_rows
    space = placement_space.run(placement_space.QUICK if args.quick else tuple(placement_space.FAMILIES),
                                seeds=1 if args.quick else 2, long_seeds=0 if args.quick else 1, quick=args.quick)
    targets = _targets(rows)
    for t in targets:
        flags = ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in t.items() if isinstance(v, bool))
        print(f"targets {t['workloads']} {t['scenario']}: {flags}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    print(space["summary"])
    RESULTS.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows, "targets": targets,
                                   "space": space["summary"]}, indent=1))
    placement_space.write(space)
    print(f"wrote {RESULTS}, {placement_space.RESULTS} and {placement_space.DOCS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
