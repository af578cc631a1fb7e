"""The city map's state builder (pure, devstack.dashboard.state): JSON from the objects as the API server,
Prometheus, the chain and the simulator give them.  The page in a real browser: test_map_browser.py."""

from __future__ import annotations

import json
from typing import Any

from devstack.dashboard.state import HEIGHT, MARGIN, WIDTH, Inputs, build_state, link_level
from sim.nodes import cell_manifests, site_manifests
from sim.scenario import load_scenario

CITY = load_scenario("barcelona")
SITES = site_manifests(CITY)
CELLS = cell_manifests(CITY)
LATENCY = CITY.latency_ms()


def ew(name: str, cells: dict[str, float], sites: list[str], max_ms: float = 10.0) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "tenant"},
        "spec": {"replicas": len(sites), "users": {"cells": [{"cell": c, "share": s} for c, s in cells.items()]},
                 "qos": {"maxLatencyMs": max_ms}},
        "status": {"phase": "Placed", "placements": [
            {"replica": i, "node": f"{s}-n01", "site": s, "tier": "far-edge"} for i, s in enumerate(sites)]},
    }


def sla(name: str, workload: str, breached: bool) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "tenant", "uid": "u-1"}, "spec": {"workloadRef": workload},
            "status": {"conditions": [{"type": "Breached", "status": "True" if breached else "False",
                                       "reason": "x", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def state(**kw: Any) -> dict[str, Any]:
    out = build_state(Inputs(sites=SITES, cells=CELLS, latency_ms=LATENCY, **kw))
    json.dumps(out)  # all of it is JSON
    return out


def test_every_site_and_cell_is_placed_in_the_frame_and_remote_sites_on_its_border() -> None:
    s = state()
    assert {x["name"] for x in s["sites"]} == {x.name for x in CITY.sites}
    assert {x["name"] for x in s["cells"]} == {x.name for x in CITY.cells}
    by_name = {x["name"]: x for x in s["sites"]}
    for item in [*s["cells"], *s["sites"]]:
        assert MARGIN - 0.1 <= item["x"] <= WIDTH - MARGIN + 0.1 and MARGIN - 0.1 <= item["y"] <= HEIGHT - MARGIN + 0.1
    assert {n for n, x in by_name.items() if x.get("remote")} == {"cloud-madrid", "cloud-frankfurt"}
    assert 450 < by_name["cloud-madrid"]["distanceKm"] < 550
    madrid, frankfurt = by_name["cloud-madrid"], by_name["cloud-frankfurt"]
    assert madrid["x"] < WIDTH / 2 and frankfurt["y"] < HEIGHT / 2  # west, and north, of the city
    # north is up and east is right: Gracia's cabinet is north of Sants', Poblenou's east of Eixample's
    assert by_name["fe-gracia"]["y"] < by_name["fe-sants"]["y"]
    assert by_name["fe-poblenou"]["x"] > by_name["fe-eixample"]["x"]
    assert by_name["fe-eixample"]["level"] == "ok" and by_name["cloud-madrid"]["level"] == "ok"  # 20-40 ms is a cloud's normal
    assert {d["name"] for d in s["districts"]} == {c.district for c in CITY.cells}


def test_each_users_cell_is_served_by_its_nearest_replica_coloured_by_the_bound() -> None:
    w = ew("cam", {"cell-eixample-1": 0.5, "cell-poblenou-1": 0.5}, ["fe-eixample", "fe-poblenou"])
    (out,) = state(workloads=[w])["workloads"]
    assert out["key"] == "tenant/cam" and out["sites"] == ["fe-eixample", "fe-poblenou"]
    links = {x["cell"]: x for x in out["links"]}
    assert links["cell-eixample-1"]["site"] == "fe-eixample" and links["cell-poblenou-1"]["site"] == "fe-poblenou"
    assert all(x["level"] == "ok" for x in links.values())
    assert [r["site"] for r in out["replicas"]] == ["fe-eixample", "fe-poblenou"]


def test_a_latency_fault_turns_the_link_and_the_site_red_and_raises_an_alert() -> None:
    w = ew("cam", {"cell-eixample-1": 1.0}, ["fe-eixample"])
    faulty = {c: {s: ms + (40 if s == "fe-eixample" else 0) for s, ms in row.items()} for c, row in LATENCY.items()}
    s = build_state(Inputs(sites=SITES, cells=CELLS, workloads=[w], latency_ms=faulty,
                           faults=[{"id": "f1", "kind": "latency", "site": "fe-eixample", "add_ms": 40}]))
    (link,) = s["workloads"][0]["links"]
    assert link["level"] == "bad" and link["latencyMs"] > 40
    site = next(x for x in s["sites"] if x["name"] == "fe-eixample")
    assert site["level"] == "bad" and site["fault"] is True
    assert {a["kind"] for a in s["alerts"]} == {"latency", "fault"}


def test_breaches_events_records_and_source_errors_are_shown() -> None:
    w = ew("cam", {"cell-eixample-1": 1.0}, ["fe-eixample"])
    events = [{"type": "Warning", "reason": "SLABreached", "message": "p95 41 ms", "count": 2,
               "lastTimestamp": "2026-01-01T00:00:02Z",
               "involvedObject": {"kind": "ServiceLevelAgreement", "namespace": "tenant", "name": "cam-sla"}},
              {"type": "Normal", "reason": "Placed", "message": "placed", "lastTimestamp": "2026-01-01T00:00:01Z",
               "involvedObject": {"kind": "EdgeWorkload", "namespace": "tenant", "name": "cam"}}]
    records = [{"block": 3, "tx": "0xab", "event": "AgreementCreated", "agreement": "tenant/cam-sla", "text": "created"},
               {"block": 9, "tx": "0xcd", "event": "BreachRecorded", "agreement": "tenant/cam-sla", "text": "breach"}]
    s = state(workloads=[w], slas=[sla("cam-sla", "cam", True), sla("other", "x", False)], events=events,
              records=records, errors={"chain": "unreachable"})
    assert s["workloads"][0]["breachedSlas"] == ["cam-sla"]
    assert any(a["kind"] == "breach" and "cam-sla" in a["text"] for a in s["alerts"])
    assert [e["reason"] for e in s["events"]] == ["SLABreached", "Placed"]  # newest first
    assert s["events"][0]["object"] == "ServiceLevelAgreement tenant/cam-sla" and s["events"][0]["count"] == 2
    assert [r["block"] for r in s["records"]] == [9, 3]  # newest first
    assert s["errors"] == {"chain": "unreachable"}


def test_nothing_measured_and_nothing_placed_still_draws() -> None:
    s = build_state(Inputs(sites=SITES, cells=CELLS, workloads=[ew("idle", {"cell-gracia-1": 1.0}, [])],
                           site_up={"fe-gracia": False}))
    (w,) = s["workloads"]
    assert w["links"][0]["level"] == "unserved" and w["replicas"] == []
    gracia = next(x for x in s["sites"] if x["name"] == "fe-gracia")
    assert gracia["level"] == "bad" and gracia["up"] is False and gracia["bestLatencyMs"] is None
    assert any(a["kind"] == "down" for a in s["alerts"])
    empty = build_state(Inputs())
    assert empty["sites"] == [] and empty["cells"] == [] and empty["workloads"] == []


def test_link_levels() -> None:
    assert [link_level(v, 10.0) for v in (9.9, 10.0, 14.9, 15.1)] == ["ok", "ok", "warn", "bad"]
    assert link_level(None, 10.0) == "unknown"
