"""RadioCells on the real stack: the simulator publishes the city's cells, the operator's cell loop
writes which sites serve each one (best first, from Prometheus), `kubectl get cells` shows them, a
latency fault moves a cell's best site and healing it moves it back, and a steady city writes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sim.control import ExporterControlSync
from sim.scenario import load_scenario
from tests.conftest import DEFAULT_SCENARIO, StackHandle
from tests.operator.conftest import get_json, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
CITY = load_scenario(DEFAULT_SCENARIO)
LATENCY = CITY.latency_ms()


def _cells(stack: StackHandle) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in get_json(stack, "radiocells")["items"]}


def _best(cell: str, add: dict[str, float] | None = None) -> str:
    row = {s: ms + (add or {}).get(s, 0.0) for s, ms in LATENCY[cell].items()}
    return min(row, key=lambda s: (round(row[s], 1), s))


def test_cells_show_their_serving_sites_and_follow_a_fault(operator: StackHandle) -> None:
    cells = _cells(operator)
    assert set(cells) == {c.name for c in CITY.cells}

    def all_current() -> bool:
        live = _cells(operator)
        return all((c.get("status") or {}).get("bestSite") == _best(n) for n, c in live.items())

    wait_for(all_current, 90, "every RadioCell's bestSite, from Prometheus")
    cell = "cell-gracia-1"
    status = _cells(operator)[cell]["status"]
    ranked = [s["site"] for s in status["sites"]]
    assert ranked[0] == status["bestSite"] and status["servedBy"].split(",") == ranked
    latencies = [s["latencyMs"] for s in status["sites"]]
    assert latencies == sorted(latencies) and abs(latencies[0] - LATENCY[cell][ranked[0]]) <= 0.1
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds["MetricsAvailable"] == ("True", "MetricsAvailable")

    header, *rows = operator.kubectl("get", "cell").stdout.splitlines()
    assert header.split() == ["NAME", "DISTRICT", "BEST-SITE", "LATENCY", "AGE"]
    row = next(r.split() for r in rows if r.startswith(f"{cell} "))
    assert row[1:3] == ["gracia", ranked[0]]
    wide = operator.kubectl("get", "cell", cell, "-o", "wide").stdout
    assert "SERVED-BY" in wide and status["servedBy"] in wide

    # Nothing changes, nothing is written: the resourceVersion stays put over two intervals and more.
    version = _cells(operator)[cell]["metadata"]["resourceVersion"]
    time.sleep(12)
    assert _cells(operator)[cell]["metadata"]["resourceVersion"] == version

    home = ranked[0]
    control = ExporterControlSync(operator.exporter_url)
    fault = control.inject_latency(home, 40.0)
    try:
        expected = _best(cell, {home: 40.0})
        assert expected != home
        moved = wait_for(lambda: (lambda s: s if s.get("bestSite") == expected else None)(
            _cells(operator)[cell].get("status") or {}), 60, f"{cell}'s best site to become {expected}")
        faulty = next(s for s in moved["sites"] if s["site"] == home)
        assert faulty["latencyMs"] >= 40
    finally:
        control.heal(fault)
    wait_for(lambda: (_cells(operator)[cell].get("status") or {}).get("bestSite") == home, 60,
             f"{cell}'s best site back at {home} after the heal")
