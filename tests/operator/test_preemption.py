"""Preemption in the engine (orchestrator.preemption), with stand-ins for the cluster and metrics: a
request of a higher priority band is solved together with the placed lower-band workloads that hold
room near its users; the one whose room it takes is handed to the controller (who, by whom), the
others are left alone; within a band nobody is displaced; what-ifs preempt nobody."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from orchestrator import preemption
from orchestrator.engine import Holding, Outcome, PlacementEngine
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.snapshot import QosMetrics, Request, Reserved
from tests.operator.test_engine_capacity import k8s_node

SITES: dict[str, Mapping[str, Any]] = {"near": {"tier": "far-edge", "zone": "es-bcn", "costPerCpuHour": 0.05},
                                       "mid": {"tier": "edge", "zone": "es-bcn", "costPerCpuHour": 0.05},
                                       "far": {"tier": "cloud", "zone": "es-bcn", "costPerCpuHour": 0.05}}
METRICS = QosMetrics(latency_ms={"c1": {"near": 1.0, "mid": 4.0, "far": 9.0}, "c2": {"near": 9.0, "mid": 4.0, "far": 9.0}})
NODES = [k8s_node("near-1", "near", pods="110"), k8s_node("mid-1", "mid", pods="110"),
         k8s_node("far-1", "far", pods="110")]


def spec(priority: int, cpu: str = "12", cell: str = "c1", tiers: tuple[str, ...] = ()) -> EdgeWorkloadSpec:
    return EdgeWorkloadSpec.model_validate({
        "replicas": 1, "priority": priority,
        "template": {"spec": {"containers": [{"name": "a", "image": "img:1"}]}},
        "resources": {"cpu": cpu, "memory": "64Mi"},
        "users": {"cells": [{"cell": cell, "share": 1.0}]},
        "qos": {"maxLatencyMs": 50}, "placement": {"allowedTiers": list(tiers)},
    })


class View:
    """Placed workloads as statuses say (no Pod watch): key -> Request with its nodes."""

    def __init__(self, placed: dict[str, Request]) -> None:
        self.requests = placed

    def nodes(self) -> list[Mapping[str, Any]]:
        return list(NODES)

    def sites(self) -> dict[str, Mapping[str, Any]]:
        return SITES

    def placed(self) -> dict[str, Holding]:
        return {k: Holding(r.current, 12_000, 64) for k, r in self.requests.items()}

    def foreign(self) -> dict[str, Reserved]:
        return {}


def run(placed: dict[str, Request], request: Request) -> tuple[Outcome, list[tuple[str, tuple[str, ...]]]]:
    async def metrics() -> QosMetrics:
        return METRICS

    async def go() -> tuple[Outcome, list[tuple[str, tuple[str, ...]]]]:
        view = View(placed)
        engine = PlacementEngine(view, metrics, window_s=0.01)
        heard: list[tuple[str, tuple[str, ...]]] = []
        engine.preemption.placed = lambda: view.requests
        engine.preemption.on_preempt = lambda key, by: heard.append((key, by))
        try:
            return await engine.place(request), heard
        finally:
            await engine.stop()

    return asyncio.run(go())


def test_a_higher_band_takes_the_room_it_needs_and_the_holder_is_told_by_whom() -> None:
    placed = {"ns/low": Request("ns/low", spec(200), ("near-1",)),
              "ns/other": Request("ns/other", spec(100, cell="c2"), ("mid-1",))}  # near its own users
    outcome, heard = run(placed, Request("ns/high", spec(900)))
    assert outcome.nodes == ("near-1",)
    assert heard == [("ns/low", ("ns/high (priority 900)",))]  # ns/other keeps its room
    assert outcome.preempts == ("ns/low (priority 200)",)


def test_a_raised_priority_moves_in_from_where_it_runs() -> None:
    placed = {"ns/low": Request("ns/low", spec(200), ("near-1",))}
    outcome, heard = run(placed, Request("ns/raised", spec(950), ("far-1",)))
    assert outcome.nodes == ("near-1",) and heard == [("ns/low", ("ns/raised (priority 950)",))]


def test_within_a_band_and_for_what_ifs_nobody_is_displaced() -> None:
    placed = {"ns/low": Request("ns/low", spec(900), ("near-1",))}
    outcome, heard = run(placed, Request("ns/high", spec(990)))
    assert outcome.nodes != ("near-1",) and heard == [] and outcome.preempts == ()
    placed = {"ns/low": Request("ns/low", spec(200), ("near-1",))}
    outcome, heard = run(placed, Request("ns/high", spec(900), dry_run=True))
    assert outcome.nodes != ("near-1",) and heard == []


def test_contenders_are_the_lower_bands_on_sites_the_request_could_gain_from() -> None:
    site_of = {"near-1": "near", "mid-1": "mid", "far-1": "far"}
    placed = {"ns/a": Request("ns/a", spec(100), ("near-1",)), "ns/b": Request("ns/b", spec(100), ("far-1",)),
              "ns/c": Request("ns/c", spec(800), ("near-1",)), "ns/d": Request("ns/d", spec(100), ("mid-1",))}
    high = Request("ns/h", spec(800), ("mid-1",))  # runs at 4 ms: only the near site could improve it
    got = preemption.contenders([high], placed, SITES, site_of, METRICS.latency_ms, frozenset(), 100)
    assert [c.key for c in got] == ["ns/a"]
    new = Request("ns/n", spec(800, tiers=("edge", "cloud")))  # not placed yet, far-edge not allowed
    got = preemption.contenders([new], placed, SITES, site_of, METRICS.latency_ms, frozenset(), 100)
    assert [c.key for c in got] == ["ns/d", "ns/b"]  # nearest room first
    assert preemption.contenders([new], placed, SITES, site_of, METRICS.latency_ms, frozenset({"mid"}), 100) \
        == [placed["ns/b"]]


def test_placed_requests_and_gainers_read_the_bodies() -> None:
    def body(name: str, phase: str, gen: int = 1, site: str = "near") -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "ns", "generation": 1},
                "spec": spec(300).model_dump(by_alias=True, exclude_none=True),
                "status": {"phase": phase, "observedGeneration": gen,
                           "placements": [{"replica": 0, "node": f"{site}-1", "site": site}]}}

    bodies = {"ns/p": body("p", "Placed"), "ns/old": body("old", "Placed", gen=0), "ns/u": body("u", "Unplaceable"),
              "ns/far": body("far", "Placed", site="far")}
    reqs = preemption.placed_requests(bodies, preemption.SpecCache())
    assert {k: r.current for k, r in reqs.items()} == {"ns/p": ("near-1",), "ns/far": ("far-1",), "ns/old": (),
                                                       "ns/u": ()}  # undecided: the engine's own decision, if any
    assert preemption.gainers(bodies, {"near"}, METRICS.latency_ms) == ["ns/far", "ns/u"]
    assert preemption.freed_sites(bodies["ns/far"]) == {"far"}
    assert preemption.lowered({"spec": {"priority": 950}}, {"spec": {"priority": 100}}, 100)
    assert not preemption.lowered({"spec": {"priority": 950}}, {"spec": {"priority": 900}}, 100)  # same band
    assert not preemption.lowered({"spec": {}}, {"spec": {"priority": 300}}, 100)


def test_a_decision_not_yet_in_the_status_yields_too() -> None:
    """Created together, two apps may land in two batches: the first batch's decisions are the engine's
    own before any status says them, and a higher band of the next batch still takes their room."""
    async def metrics() -> QosMetrics:
        return METRICS

    async def go() -> tuple[Outcome, Outcome, list[tuple[str, tuple[str, ...]]]]:
        view = View({})
        engine = PlacementEngine(view, metrics, window_s=0.01)
        heard: list[tuple[str, tuple[str, ...]]] = []
        engine.preemption.placed = lambda: {"ns/low": Request("ns/low", spec(200))}  # status: nothing decided yet
        engine.preemption.on_preempt = lambda key, by: heard.append((key, by))
        try:
            low = await engine.place(Request("ns/low", spec(200)))
            high = await engine.place(Request("ns/high", spec(900)))
            return low, high, heard
        finally:
            await engine.stop()

    low, high, heard = asyncio.run(go())
    assert low.nodes == high.nodes == ("near-1",) and heard == [("ns/low", ("ns/high (priority 900)",))]
