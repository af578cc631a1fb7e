"""Smoke test of the QoS benchmark (bench/qos.py): two trials on its own real stack, checking the JSON
row's shape and that both measured times are positive.  Not a timed assertion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.qos import main, pct

ROW_KEYS = {"trials", "breach_p50_s", "breach_p95_s", "replace_p50_s", "replace_p95_s", "failback_p50_s",
            "settings", "targets", "references", "raw", "machine"}


def test_percentiles_are_nearest_rank_like_every_other_benchmark() -> None:
    assert pct([], 50) is None
    assert pct([3.0], 95) == 3.0
    assert pct([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # a measured value, unsorted input
    assert pct([float(i) for i in range(1, 11)], 95) == 10.0  # 10 trials: p95 is the worst one
    assert pct([float(i) for i in range(1, 21)], 95) == 19.0


@pytest.mark.cluster
@pytest.mark.slow
def test_two_trials_measure_breach_and_replacement(tmp_path: Path) -> None:
    out = tmp_path / "qos.json"
    code = main(["--trials", "2", "--output", str(out), "--state-dir", str(tmp_path / "state")])
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert set(row) >= ROW_KEYS, ROW_KEYS - set(row)
    assert row["trials"] == 2 and len(row["raw"]) == 2
    for trial in row["raw"]:
        assert trial["breach_s"] > 0 and trial["replace_s"] > 0, trial
        assert trial["site"] not in trial["to_sites"] and trial["breaches_on_chain"] == 1, trial
        assert trial["breach_tx"].startswith("0x")
    assert 0 < row["breach_p50_s"] <= row["breach_p95_s"] and 0 < row["replace_p50_s"] <= row["replace_p95_s"]
    assert row["settings"]["sla_interval_s"] == 1 and row["settings"]["breach_after_k"] == 2
    assert {"cpu_model", "cores", "python", "kubernetes"} <= set(row["machine"])
    assert code == 0
