"""What the trial benchmarks share (bench.qos, bench.qos_guard, bench.elasticity, bench.takeover): their
command line (how many trials, where the JSON goes, the stack's state directory), the rows of their
percentile table, and writing the result.  No stack, no timing of its own."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TARGET_P95_S = 10.0


def parser(prog: str, doc: str | None, results: Path) -> argparse.ArgumentParser:
    """The shared options; a benchmark adds its own before parsing."""
    ap = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 trials instead of 10")
    ap.add_argument("--trials", type=int, help="how many trials (overrides --quick; for smoke tests)")
    ap.add_argument("--output", type=Path, default=results)
    ap.add_argument("--state-dir", type=Path, help="stack state directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the state directory (logs) afterwards")
    return ap


def count(args: argparse.Namespace) -> int:
    return int(args.trials or (5 if args.quick else 10))


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def step_rows(row: Mapping[str, Any], steps: Mapping[str, str], width: int,
              ratio: Callable[[str, float | None], str]) -> list[str]:
    """One line per step: trials, completed, p50, p95, max, the p95 target met or not, and `ratio`'s
    column (the comparison with the reference system)."""
    lines = []
    for key, label in steps.items():
        p95 = row[f"{key}_p95_s"]
        met = row["targets"].get(f"{key}_p95<={TARGET_P95_S:g}s")
        target = "-" if met is None else ("met" if met else "MISSED")
        lines.append(f"{label:<{width}} {row['trials']:>6} {row[f'{key}_completed']:>5} {_fmt(row[f'{key}_p50_s']):>7} "
                     f"{_fmt(p95):>7} {_fmt(row[f'{key}_max_s']):>7}  {target:<17} {ratio(key, p95)}")
    return lines


def write(row: Mapping[str, Any], output: Path, log: Callable[[str], None], *done: str) -> int:
    """The row as the benchmark's JSON; exit status 0 when every trial reached every step of `done`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps([row], indent=1) + "\n")
    log(f"wrote {output}")
    return 0 if all(row[f"{key}_completed"] == row["trials"] for key in done) else 1
