"""What the priority rule costs and buys: the same instances solved by band (placement.priority) and flat.

    python -m bench.priority_bands

The 1,000 x 200 edge instance at loads 0.9 and 1.05 (placement.generator, seed 0), its workloads spread
over four priority bands (900, 600, 300 and 0 added to their priorities, drawn evenly), solved by CP-SAT
at 2 s as the operator solves (bands of 100) and as one band (`priority_band` larger than every
priority). Per band: workloads, how many are left unplaced, and the placed ones' mean predicted user
latency. Prints a table and writes bench/results/priority_bands.json (rows, each with the machine).
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.machine import machine
from placement import Instance, SolverConfig, Weights, solve
from placement.generator import generate

RESULTS = Path(__file__).resolve().parent / "results" / "priority_bands.json"
BANDS = (900, 600, 300, 0)
LIMIT_S = 2.0


def banded(load: float, seed: int = 0) -> Instance:
    """The edge instance with every workload moved into one of four bands (its own priority kept inside it)."""
    inst = generate(1_000, 200, seed=seed, load=load)
    rng = random.Random(seed)
    return inst.replace_workloads([replace(w, priority=rng.choice(BANDS) + w.priority) for w in inst.workloads])


def row(inst: Instance, load: float, mode: str, width: int, info: dict[str, Any]) -> dict[str, Any]:
    result = solve(inst, Weights(), SolverConfig(time_limit_s=LIMIT_S, seed=0, priority_band=width))
    per: dict[str, Any] = {}
    for band in BANDS:
        ws = [w for w in inst.workloads if w.priority // 100 * 100 == band]
        lat = [result.predicted_latency_ms[w.name] for w in ws if w.name in result.predicted_latency_ms]
        per[str(band)] = {"workloads": len(ws), "unplaced": len(ws) - len(lat),
                          "mean_latency_ms": round(statistics.mean(lat), 2) if lat else None}
    return {"load": load, "mode": mode, "status": result.status.value, "objective": round(result.objective, 1),
            "wall_s": round(result.wall_s, 3), "time_limit_s": LIMIT_S, "bands": per, "machine": info}


def main() -> int:
    info = machine()
    rows = []
    for load in (0.9, 1.05):
        inst = banded(load)
        for mode, width in (("bands of 100", 100), ("one band", 10**6)):
            rows.append(row(inst, load, mode, width, info))
            r = rows[-1]
            print(f"load {load:<5} {mode:<13} {r['wall_s']:5.2f} s  " + "  ".join(
                f"{b}: {v['unplaced']}/{v['workloads']} unplaced, {v['mean_latency_ms']} ms"
                for b, v in r["bands"].items()), flush=True)
    RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
