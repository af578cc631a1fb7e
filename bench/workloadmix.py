"""The operator benchmark's load: the city scaled to N nodes and a seeded mix of EdgeWorkloads
(with the same replicas as plain Pods for the kube-scheduler row).  Pure builders, no I/O."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from bench.kubeload import GROUP, VERSION
from sim.scenario import City

BASELINE_LABEL = "bench.edgeorch.io/workload"  # our plain Pods for the kube-scheduler row
TOLERATED = ("kwok.x-k8s.io/node", "edgeorch.io/far-edge")


# -- the city ------------------------------------------------------------------------------------------
def scaled_city(base: City, total: int) -> dict[str, Any]:
    """`base` with each site's node count scaled so the city has exactly `total` nodes (largest
    remainder, at least one node per site)."""
    if total < len(base.sites):
        raise ValueError(f"{total} nodes cannot cover {len(base.sites)} sites")
    have = sum(s.nodes for s in base.sites)
    raw = [s.nodes * total / have for s in base.sites]
    counts = [max(1, math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    i = 0
    while sum(counts) != total:
        j = order[i % len(order)]
        if sum(counts) < total:
            counts[j] += 1
        elif counts[j] > 1:
            counts[j] -= 1
        i += 1
    data = base.model_dump(mode="json")
    for site, n in zip(data["sites"], counts, strict=True):
        site["nodes"] = n
    data["name"] = f"{base.name.split('-')[0]}-{total}"
    data["description"] = f"{base.name} scaled to {total} nodes (bench.operator)"
    return data


# -- the workloads -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    name: str
    replicas: int
    cells: dict[str, float]
    max_latency_ms: float
    cpu: str
    memory: str
    tiers: list[str] | None = None
    zones: list[str] | None = None

    def edge_workload(self, namespace: str) -> dict[str, Any]:
        placement: dict[str, Any] = {}
        if self.tiers:
            placement["allowedTiers"] = self.tiers
        if self.zones:
            placement["allowedZones"] = self.zones
        return {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "EdgeWorkload",
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": {
                "replicas": self.replicas,
                "template": {"metadata": {"labels": {"app": self.name}},
                             "spec": {"containers": [{"name": "app", "image": f"registry.example/{self.name}:1"}]}},
                "resources": {"cpu": self.cpu, "memory": self.memory},
                "users": {"cells": [{"cell": c, "share": s} for c, s in self.cells.items()]},
                "qos": {"maxLatencyMs": self.max_latency_ms},
                "placement": placement,
            },
        }

    def plain_pods(self, namespace: str) -> list[dict[str, Any]]:
        """The same replicas as plain Pods for the stock scheduler: no latency input at all."""
        return [{
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{self.name}-{i}", "namespace": namespace,
                         "labels": {"app": self.name, BASELINE_LABEL: self.name}},
            "spec": {
                "containers": [{"name": "app", "image": f"registry.example/{self.name}:1",
                                "resources": {"requests": {"cpu": self.cpu, "memory": self.memory}}}],
                "nodeSelector": {"type": "kwok"},
                "tolerations": [{"key": k, "operator": "Exists", "effect": "NoSchedule"} for k in TOLERATED],
            },
        } for i in range(self.replicas)]


def generate(city: City, count: int, seed: int) -> list[Workload]:
    """A seeded mix: mostly 1 replica, some 2; users in 1-3 cells; a feasible latency bound (1.5x the
    best allowed site's worst-cell latency); some with allowed tiers or zones; small requests."""
    rnd = random.Random(seed)
    latency = city.latency_ms()
    cells = sorted(latency)
    sites = city.sites
    zones_all = sorted({s.zone for s in sites})
    out = []
    for i in range(count):
        picked = rnd.sample(cells, rnd.randint(1, 3))
        shares = [round(1 / len(picked), 3) for _ in picked]
        shares[-1] = round(1 - sum(shares[:-1]), 3)
        tiers = rnd.choice([None, None, None, ["edge"], ["far-edge", "edge"], ["edge", "cloud"], ["cloud"]])
        zones = rnd.choice([None, None, None, None, ["es-bcn"], zones_all[:2]])
        allowed = [s for s in sites if (not tiers or s.tier in tiers) and (not zones or s.zone in zones)]
        if not allowed:
            zones = None
            allowed = [s for s in sites if not tiers or s.tier in tiers]
        best = min(max(latency[c][s.name] for c in picked) for s in allowed)
        out.append(Workload(
            name=f"w{i:04d}", replicas=2 if rnd.random() < 0.1 else 1,
            cells=dict(zip(picked, shares, strict=True)), max_latency_ms=round(best * 1.5 + 1, 1),
            cpu=rnd.choice(["50m", "100m", "200m"]), memory=rnd.choice(["64Mi", "128Mi"]),
            tiers=tiers, zones=zones,
        ))
    return out
