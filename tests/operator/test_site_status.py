"""An EdgeSite's status (pure: orchestrator.site_status) and the cordon in every solve
(orchestrator.snapshot.build_instance).  The real path (columns filled, a cordon drained
make-before-break, an uncordon brought back) is test_sites_e2e.py on the local stack."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.health import Replica
from orchestrator.site_status import SiteReport, gains_from, site_status
from orchestrator.snapshot import QosMetrics, Request, Reserved, build_instance
from placement import solve
from tests.operator.test_engine_capacity import spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def node(name: str, *, ready: bool = True, cpu: str = "4", memory: str = "8Gi", gpu: str = "0",
         site: str = "fe-a") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"edgeorch.io/site": site}}, "spec": {},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpu, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def site(cordoned: bool = False, status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    return {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeSite",
            "metadata": {"name": "fe-a", "generation": generation},
            "spec": {"tier": "far-edge", "cordoned": cordoned}, "status": status or {}}


def written(body: dict[str, Any], report: SiteReport) -> dict[str, Any]:
    """The body after the report's status is written (the API server merges the patch)."""
    return {**body, "status": {**body["status"], **report.status}}


def replica(pod: str, node_name: str, cpu_m: int = 500, memory_mb: int = 256, gpu: int = 0) -> Replica:
    return Replica(pod, node_name, running=True, ready=True, requests=Reserved(cpu_m, memory_mb, gpu, 1))


def conditions(report: SiteReport) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in report.status["conditions"]}


def test_a_site_reports_its_nodes_capacity_what_is_free_and_the_replicas_it_hosts() -> None:
    nodes = [node("a1", gpu="1"), node("a2")]
    report = site_status(site(), nodes, {"ns/cam": [replica("cam-1", "a1", gpu=1)], "ns/map": [replica("map-1", "a2")]},
                         {"a2": Reserved(250, 1024, 0, 1), "elsewhere": Reserved(8000, 0, 0, 1)}, True, T0)
    st = report.status
    assert (st["nodes"], st["readyNodes"], st["replicas"], st["workloads"], st["health"]) == (2, 2, 2, 2, "Up")
    assert st["allocatable"] == {"cpu": "8", "memory": "16Gi", "gpu": 1}
    assert st["free"] == {"cpu": "6750m", "memory": f"{16 * 1024 - 256 - 256 - 1024}Mi", "gpu": 0}
    assert st["observedGeneration"] == 1
    assert conditions(report) == {"Ready": ("True", "SiteUp"), "Cordoned": ("False", "NotCordoned")}
    assert report.changed and report.urgent and not report.events and not report.uncordoned


def test_nothing_changed_means_no_write_and_numbers_alone_are_not_urgent() -> None:
    nodes = [node("a1"), node("a2")]
    body = written(site(), site_status(site(), nodes, {}, {}, True, T0))
    again = site_status(body, nodes, {}, {}, True, datetime(2026, 1, 2, tzinfo=UTC))
    assert not again.changed and not again.urgent  # conditions keep their transition time
    busier = site_status(body, nodes, {"ns/cam": [replica("cam-1", "a1")]}, {}, True, T0)
    assert busier.changed and not busier.urgent  # free CPU and replicas moved: written at the next slot
    assert busier.status["free"]["cpu"] == "7500m"


def test_health_from_the_nodes_ready_condition_and_from_edgeorch_site_up() -> None:
    nodes = [node("a1"), node("a2", ready=False)]
    degraded = site_status(site(), nodes, {"ns/cam": [replica("cam-1", "a2")]}, {}, True, T0)
    assert (degraded.status["health"], degraded.status["readyNodes"]) == ("Degraded", 1)
    assert degraded.status["allocatable"]["cpu"] == "4"  # a NotReady node takes no new Pods
    assert degraded.status["free"]["cpu"] == "4" and degraded.status["replicas"] == 1
    assert conditions(degraded)["Ready"] == ("True", "NodesNotReady")

    offline = site_status(written(site(), degraded), nodes, {}, {}, False, T0)
    assert offline.status["health"] == "Down" and conditions(offline)["Ready"] == ("False", "SiteOffline")
    assert offline.urgent
    none_ready = site_status(site(), [node("a1", ready=False)], {}, {}, None, T0)
    assert none_ready.status["health"] == "Down" and conditions(none_ready)["Ready"] == ("False", "NoReadyNodes")
    unknown = site_status(site(), [node("a1")], {}, {}, None, T0)  # no edgeorch_site_up: the Nodes say it
    assert unknown.status["health"] == "Up" and "unknown" in unknown.status["conditions"][0]["message"]


def test_cordon_drain_and_uncordon_are_each_said_once() -> None:
    nodes = [node("a1")]
    hosting = {"ns/cam": [replica("cam-1", "a1"), replica("cam-2", "a1")]}
    body = written(site(), site_status(site(), nodes, hosting, {}, True, T0))

    cordoned = site_status({**site(True, generation=2), "status": body["status"]}, nodes, hosting, {}, True, T0)
    assert [e[1] for e in cordoned.events] == ["Cordoned"] and "2 replica(s) of 1 workload(s)" in cordoned.events[0][2]
    assert conditions(cordoned)["Cordoned"] == ("True", "Draining") and cordoned.urgent
    body = written(site(True, generation=2), cordoned)
    assert not site_status(body, nodes, hosting, {}, True, T0).events  # still draining: nothing new to say

    drained = site_status(body, nodes, {}, {}, True, T0)
    assert [e[1] for e in drained.events] == ["Drained"] and conditions(drained)["Cordoned"] == ("True", "Drained")
    body = written(body, drained)
    assert not site_status(body, nodes, {}, {}, True, T0).changed

    uncordoned = site_status({**body, "spec": {"cordoned": False}}, nodes, {}, {}, True, T0)
    assert [e[1] for e in uncordoned.events] == ["Uncordoned"] and uncordoned.uncordoned
    assert conditions(uncordoned)["Cordoned"] == ("False", "NotCordoned")
    body = written({**body, "spec": {"cordoned": False}}, uncordoned)
    assert not site_status(body, nodes, {}, {}, True, T0).uncordoned


def test_a_site_cordoned_while_empty_is_cordoned_and_drained_at_once() -> None:
    report = site_status(site(True), [node("a1")], {}, {}, True, T0)
    assert [e[1] for e in report.events] == ["Cordoned", "Drained"]


def ew(cells: dict[str, float], sites: list[str], phase: str = "Placed") -> dict[str, Any]:
    return {"spec": {"users": {"cells": [{"cell": c, "share": s} for c, s in cells.items()]}},
            "status": {"phase": phase, "placements": [{"replica": i, "node": f"n{i}", "site": s}
                                                      for i, s in enumerate(sites)]}}


def test_workloads_that_could_gain_from_an_uncordoned_site() -> None:
    latency = {"c-near": {"fe-a": 1.5, "mec": 4.5, "cloud": 20.0}, "c-far": {"fe-a": 9.0, "mec": 4.0}}
    assert gains_from(ew({"c-near": 1.0}, ["mec", "mec"]), "fe-a", latency)
    assert gains_from(ew({"c-far": 0.9, "c-near": 0.1}, ["mec"]), "fe-a", latency)  # some of its users are nearer
    assert not gains_from(ew({"c-far": 1.0}, ["mec"]), "fe-a", latency)
    assert not gains_from(ew({"c-near": 1.0}, ["fe-a"]), "fe-a", latency)  # already there
    assert not gains_from(ew({"c-near": 0.0, "c-far": 1.0}, ["mec"]), "fe-a", latency)  # no traffic there
    assert not gains_from(ew({"c-near": 1.0}, []), "fe-a", latency)  # not placed yet: its own reconcile places it
    assert gains_from(ew({"c-far": 1.0}, ["mec"], phase="Unplaceable"), "fe-a", latency)


def test_a_cordoned_site_takes_no_replica_and_the_replicas_there_move() -> None:
    nodes = [node("a1", site="near"), node("b1", site="far")]
    sites = {"near": {"tier": "edge", "zone": "es-bcn"}, "far": {"tier": "cloud", "zone": "es-bcn"}}
    metrics = QosMetrics(latency_ms={"c1": {"near": 2.0, "far": 30.0}})
    reqs = [Request("ns/new", spec()), Request("ns/old", spec(replicas=2), current=("a1", "a1"))]
    open_ = solve(build_instance(nodes, sites, reqs, metrics, {}))
    assert set(open_.assignment["ns/new"]) == set(open_.assignment["ns/old"]) == {"a1"}
    cordoned = {**sites, "near": {**sites["near"], "cordoned": True}}
    inst = build_instance(nodes, cordoned, reqs, metrics, {})
    assert inst.excluded_sites == frozenset({"near"})
    result = solve(inst)
    assert set(result.assignment["ns/new"]) == set(result.assignment["ns/old"]) == {"b1"}
