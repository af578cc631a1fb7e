"""Smoke test of the rollout benchmark (bench/rollout.py): a tiny run of both rows on the real stack,
checking that every workload rolled to the new image within its disruption budget.  Not timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.rollout import REPLICAS, SYSTEMS, main


@pytest.mark.cluster
@pytest.mark.slow
def test_a_tiny_run_rolls_every_workload_in_both_rows_within_the_budget(tmp_path: Path) -> None:
    out = tmp_path / "rollout.json"
    code = main(["--workloads", "3", "--rounds", "1", "--timeout", "180", "--output", str(out)])
    data = json.loads(out.read_text())
    rows = data["rounds"]
    assert sorted(r["system"] for r in rows) == sorted(SYSTEMS)
    for row in rows:
        assert row["workloads"] == 3 and row["replicas"] == REPLICAS and row["unfinished"] == 0, row
        assert REPLICAS - 1 <= row["min_ready"] <= REPLICAS, row  # maxUnavailable 25 % of 4
        assert 0 < row["p50_s"] <= row["p95_s"] <= row["max_s"] <= row["makespan_s"] + 1e-9, row
    assert set(data["summary"]["ratio"]) == {"makespan_s", "p50_s", "p95_s"}
    assert {"cpu_model", "cores"} <= set(data["machine"])
    assert code == 0
