"""Smoke test of the takeover benchmark (bench/takeover.py): two trials on its own real stack (so each
operator process is killed once), checking the JSON row's shape.  Not a timed
assertion beyond the floor the election sets: no standby may lead before the lease could have expired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.takeover import main

ROW_KEYS = {"trials", "lease_p50_s", "lease_p95_s", "ready_p95_s", "decision_p50_s", "decision_p95_s",
            "decision_min_s", "decision_max_s", "settings", "targets", "runs", "machine"}


@pytest.mark.cluster
@pytest.mark.slow
def test_two_trials_kill_each_process_once_and_measure_the_takeover(tmp_path: Path) -> None:
    out = tmp_path / "takeover.json"
    code = main(["--trials", "2", "--output", str(out), "--state-dir", str(tmp_path / "state")])
    (row,) = json.loads(out.read_text())
    assert code == 0 and set(row) >= ROW_KEYS, ROW_KEYS - set(row)
    assert [r["killed"] for r in row["runs"]] == ["operator", "operator-2"]
    floor = row["settings"]["lease_duration_s"] - 1.2 * row["settings"]["retry_period_s"]
    for r in row["runs"]:
        assert min(r["lease_s"], r["ready_s"], r["decision_s"]) >= floor, r  # (polled in turn: no order among them)
