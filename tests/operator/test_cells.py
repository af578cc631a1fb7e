"""RadioCell status (pure, orchestrator.cells): the serving sites best first, what Prometheus trouble does
to it, and that an unchanged city writes nothing.  The loop on the real stack: test_cells_e2e.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from orchestrator.cells import Measured, cell_status, status_change
from orchestrator.resources import RadioCellStatus, to_k8s
from orchestrator.resources.radiocell import MAX_SERVING_SITES

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 5, 1, 12, 5, tzinfo=UTC)


def cell(name: str = "cell-a", status: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": name, "generation": 1},
                           "spec": {"district": "d", "location": {"lat": 41.4, "lon": 2.17}}}
    if status is not None:
        out["status"] = status
    return out


def stored(status: RadioCellStatus) -> dict[str, Any]:
    """The status as the API server returns it (JSON round trip)."""
    return json.loads(json.dumps(to_k8s(status)))  # type: ignore[no-any-return]


def test_sites_are_ranked_by_measured_latency_and_down_sites_left_out() -> None:
    m = Measured({"cell-a": {"cloud": 25.04, "mec-1": 4.26, "fe-1": 1.94, "fe-2": 1.5}, "cell-b": {"fe-1": 9.0}},
                 site_up={"fe-2": False, "fe-1": True})
    st = cell_status(cell(), m, T0)
    assert [(s.site, s.latency_ms) for s in st.sites] == [("fe-1", 1.9), ("mec-1", 4.3), ("cloud", 25.0)]
    assert (st.best_site, st.best_latency_ms, st.served_by) == ("fe-1", 1.9, "fe-1,mec-1,cloud")
    (cond,) = st.conditions
    assert (cond.type, cond.status, cond.reason) == ("MetricsAvailable", "True", "MetricsAvailable")
    assert st.observed_generation == 1


def test_at_most_the_best_sites_are_listed() -> None:
    row = {f"s-{i:02d}": float(40 - i) for i in range(40)}
    st = cell_status(cell(), Measured({"cell-a": row}), T0)
    assert len(st.sites) == MAX_SERVING_SITES and st.sites[0].site == "s-39" and st.best_latency_ms == 1.0


def test_a_cell_without_series_has_no_sites_and_says_no_data() -> None:
    st = cell_status(cell("cell-z"), Measured({"cell-a": {"fe-1": 2.0}}), T0)
    assert st.sites == [] and st.best_site is None and st.served_by is None
    (cond,) = st.conditions
    assert (cond.status, cond.reason) == ("False", "NoData") and "cell-z" in cond.message


def test_prometheus_down_keeps_the_last_sites_and_turns_the_condition_false() -> None:
    good = cell_status(cell(), Measured({"cell-a": {"fe-1": 2.0, "mec-1": 5.0}}), T0)
    down = cell_status(cell(status=stored(good)), Measured(error="Prometheus at http://x unreachable: refused"), T1)
    assert [s.site for s in down.sites] == ["fe-1", "mec-1"] and down.best_site == "fe-1"
    (cond,) = down.conditions
    assert (cond.status, cond.reason, cond.last_transition_time) == ("False", "PrometheusUnreachable", T1)
    assert "unreachable" in cond.message


def test_an_unchanged_city_writes_nothing_and_a_change_writes_a_full_patch() -> None:
    m = Measured({"cell-a": {"fe-1": 2.0, "mec-1": 5.0}})
    first = cell_status(cell(), m, T0)
    patch = status_change(cell(), first)
    assert patch is not None and patch["bestSite"] == "fe-1" and len(patch["sites"]) == 2
    live = cell(status=stored(first))
    assert status_change(live, cell_status(live, m, T1)) is None  # the same again: no write
    jitter = Measured({"cell-a": {"fe-1": 2.04, "mec-1": 4.96}})  # below the 0.1 ms precision
    assert status_change(live, cell_status(live, jitter, T1)) is None
    fault = Measured({"cell-a": {"fe-1": 42.0, "mec-1": 5.0}})
    moved = status_change(live, cell_status(live, fault, T1))
    assert moved is not None and moved["bestSite"] == "mec-1" and moved["bestLatencyMs"] == 5.0
    assert moved["conditions"][0]["lastTransitionTime"] == "2026-05-01T12:00:00Z"  # still True since T0


def test_a_cleared_best_site_is_patched_away() -> None:
    live = cell(status=stored(cell_status(cell(), Measured({"cell-a": {"fe-1": 2.0}}), T0)))
    patch = status_change(live, cell_status(live, Measured({}), T1))
    assert patch is not None and patch["bestSite"] is None and patch["bestLatencyMs"] is None
    assert patch["sites"] == []
