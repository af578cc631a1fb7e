"""The mobility benchmark (bench/mobility.py): its arithmetic, and a short ride on its own real stack
checking the JSON's shape and that the following workload moved make-before-break.  Not a timed
assertion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.mobility import ROWS, Settings, best_ms, main, manifests, summarise, user_latency_ms
from orchestrator.resources import EdgeWorkload
from sim.scenario import load_scenario

LATENCY = {"cell-a": {"s1": 1.0, "s2": 5.0}, "cell-b": {"s1": 9.0, "s2": 2.0}}


def test_users_are_served_by_the_nearest_replica_traffic_weighted() -> None:
    assert user_latency_ms({"cell-a": 30, "cell-b": 10}, ["s1"], LATENCY) == pytest.approx((30 + 90) / 40)
    assert user_latency_ms({"cell-a": 30, "cell-b": 10}, ["s1", "s2"], LATENCY) == pytest.approx((30 + 20) / 40)
    assert user_latency_ms({"cell-a": 30}, [], LATENCY) is None and user_latency_ms({}, ["s1"], LATENCY) is None
    city = load_scenario("barcelona")
    assert best_ms({"cell-poblenou-1": 1}, city) == city.latency_ms()["cell-poblenou-1"]["fe-poblenou"]


def test_a_row_summarises_the_samples() -> None:
    row = summarise("following", [(2.0, 1.5), (6.0, 1.5), (None, 1.5), (1.0, 1.0)], migrations=4, min_ready=2)
    assert row == {"workload": "following", "samples": 4, "no_replica_samples": 1, "mean_ms": 3.0, "p50_ms": 2.0,
                   "p95_ms": 6.0, "max_ms": 6.0, "near_best": 0.667, "migrations": 4, "min_ready": 2}


def test_the_three_workloads_differ_only_in_their_users_and_are_valid() -> None:
    stops = [("cell-sants-1", 60.0), ("cell-eixample-1", 30.0), ("cell-sants-1", 30.0)]
    docs = manifests(Settings(), stops)
    assert [d["metadata"]["name"] for d in docs] == list(ROWS)
    for d in docs:
        EdgeWorkload.model_validate(d)
    assert len({json.dumps({k: v for k, v in d["spec"].items() if k not in ("users", "template")}, sort_keys=True)
                for d in docs}) == 1
    assert docs[1]["spec"]["users"]["cells"] == [{"cell": "cell-sants-1", "share": 0.75},
                                                 {"cell": "cell-eixample-1", "share": 0.25}]
    assert docs[2]["spec"]["users"]["cells"] == [{"cell": "cell-sants-1", "share": 1.0}]
    assert "edgeorch_sim_cell_users" in docs[0]["spec"]["users"]["fromMetric"]["query"]


@pytest.mark.cluster
@pytest.mark.slow
def test_a_short_ride_follows_the_bus(tmp_path: Path) -> None:
    out = tmp_path / "mobility.json"
    assert main(["--dwell", "25", "--laps", "1", "--output", str(out), "--state-dir", str(tmp_path / "state")]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"rows", "settings", "route", "machine"} and result["settings"]["dwell_s"] == 25
    rows = {r["workload"]: r for r in result["rows"]}
    assert set(rows) == set(ROWS) and all(r["samples"] >= 100 and r["mean_ms"] > 0 for r in rows.values())
    assert rows["following"]["migrations"] >= 2 and rows["following"]["min_ready"] == 2, rows["following"]
    assert rows["static-route"]["migrations"] == 0 and rows["static-start"]["migrations"] == 0
