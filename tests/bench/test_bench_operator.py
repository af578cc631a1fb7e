"""Smoke test of the operator benchmark (bench/operator.py): a tiny run of every row on the real
stack, checking the JSON rows' shape and that every workload got bound.  Not a timed assertion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.operator import SYSTEMS, main
from bench.workloadmix import generate, scaled_city
from sim.scenario import load_scenario, parse_scenario

ROW_KEYS = {"system", "workloads", "pods", "nodes", "throughput_per_s", "p50_s", "p95_s", "p99_s", "max_s",
            "unbound", "failed_creates", "machine"}


def test_the_benchmark_city_has_exactly_200_nodes_and_feasible_workloads() -> None:
    city = parse_scenario(scaled_city(load_scenario("city-500"), 200))
    assert sum(s.nodes for s in city.sites) == 200
    assert all(s.nodes >= 1 for s in city.sites)
    latency = city.latency_ms()
    workloads = generate(city, 300, seed=1)
    assert generate(city, 300, seed=1) == workloads  # seeded
    assert {w.replicas for w in workloads} == {1, 2}
    for w in workloads:
        allowed = [s for s in city.sites if (not w.tiers or s.tier in w.tiers) and (not w.zones or s.zone in w.zones)]
        assert any(all(latency[c][s.name] <= w.max_latency_ms for c in w.cells) for s in allowed), w


@pytest.mark.cluster
@pytest.mark.slow
def test_a_tiny_run_binds_every_workload_in_every_row(tmp_path: Path) -> None:
    out = tmp_path / "operator.json"
    code = main(["--workloads", "30", "--output", str(out), "--state-dir", str(tmp_path / "state")])
    rows = json.loads(out.read_text())
    assert isinstance(rows, list)
    assert [r["system"] for r in rows] == list(SYSTEMS)
    for row in rows:
        assert set(row) >= ROW_KEYS, ROW_KEYS - set(row)
        assert row["workloads"] == 30 and row["nodes"] == 200
        assert row["unbound"] == 0 and row["failed_creates"] == 0, row
        assert row["throughput_per_s"] > 0 and 0 < row["p50_s"] <= row["p95_s"] <= row["max_s"]
        assert {"cpu_model", "cores", "python", "kubernetes"} <= set(row["machine"])
    assert code == 0
