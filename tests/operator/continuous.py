"""Shared pieces of the unit tests of continuous placement (the QoS guard, the re-optimiser): a small
city as the watches and Prometheus would give it, EdgeWorkload bodies, and a recording engine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.decision import decision_id
from orchestrator.engine import Outcome
from orchestrator.snapshot import QosMetrics, Request

SITES: dict[str, dict[str, Any]] = {
    "fe-a": {"tier": "far-edge", "zone": "z"},
    "mec-b": {"tier": "edge", "zone": "z"},
    "cloud-c": {"tier": "cloud", "zone": "z"},
}
LATENCY = {"cell-1": {"fe-a": 1.5, "mec-b": 4.0, "cloud-c": 20.0}, "cell-2": {"fe-a": 6.0, "mec-b": 4.5, "cloud-c": 21.0}}
NODE_SITE = {"fe-a-n1": "fe-a", "fe-a-n2": "fe-a", "mec-b-n1": "mec-b", "cloud-c-n1": "cloud-c"}


def metrics(add: Mapping[str, float] | None = None, **kw: Any) -> QosMetrics:
    """The city's metrics with `add` ms on every link to a site (a latency fault)."""
    add = add or {}
    return QosMetrics({c: {s: ms + add.get(s, 0.0) for s, ms in row.items()} for c, row in LATENCY.items()}, **kw)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def body(name: str = "cam", *, nodes: Iterable[str] = ("fe-a-n1",), cells: Mapping[str, float] | None = None,
         max_ms: float = 8.0, phase: str = "Placed", migration: Mapping[str, Any] | None = None,
         status: Mapping[str, Any] | None = None, generation: int = 1, cpu: str = "250m",
         priority: int = 0) -> dict[str, Any]:
    nodes = list(nodes)
    placements = [{"replica": i, "node": n, "site": NODE_SITE[n], "tier": SITES[NODE_SITE[n]]["tier"]}
                  for i, n in enumerate(nodes)]
    return {
        "apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload",
        "metadata": {"name": name, "namespace": "city", "uid": f"u-{name}", "generation": generation},
        "spec": {
            "replicas": len(nodes) or 1,
            "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "resources": {"cpu": cpu, "memory": "128Mi"},
            "users": {"cells": [{"cell": c, "share": s} for c, s in (cells or {"cell-1": 1.0}).items()]},
            "qos": {"maxLatencyMs": max_ms},
            "priority": priority,
            "migration": dict(migration or {"budgetPerHour": 6, "cooldownSeconds": 60, "failBack": True}),
        },
        "status": {"phase": phase, "observedGeneration": generation, "placements": placements,
                   "predictedLatencyMs": 1.5, "decisionId": decision_id(f"city/{name}", tuple(nodes)),
                   "conditions": [], **(status or {})},
    }


class Engine:
    """A placement engine that answers every request with the placement `answer` gives (key ->
    nodes), and records the requests."""

    def __init__(self, answer: Mapping[str, tuple[str, ...]] | None = None,
                 latency: Mapping[str, float] | None = None) -> None:
        self.answer = dict(answer or {})
        self.latency = dict(latency or {})
        self.requests: list[Request] = []
        self.site_penalty_ms: dict[str, float] = {}

    async def place(self, request: Request) -> Outcome:
        self.requests.append(request)
        nodes = self.answer.get(request.key, ())
        sites = tuple(NODE_SITE[n] for n in nodes)
        return Outcome(request.key, nodes, sites, tuple(SITES[s]["tier"] for s in sites),
                       self.latency.get(request.key) if nodes else None, None if nodes else "no room",
                       {"name": "fake", "status": "OPTIMAL"}, decision_id(request.key, nodes), 1)

    def waiting(self) -> int:
        return 0
