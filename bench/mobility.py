"""Mobility benchmark: a bus route, with edgeorch following its users against the same workload with
static users, and the migrations spent (#20 item 4).

    python -m bench.mobility            # route v15, 2 laps of 6 stops x 60 s (12 min of bus)
    python -m bench.mobility --quick    # 1 lap, 40 s per stop (4 min)

One local stack (the barcelona city; no chain) and the operator as its own process.  Three
EdgeWorkloads, 2 replicas each, far-edge or edge, preferring far-edge, QoS bound 50 ms, the default
rollout strategy (never fewer Ready replicas than spec.replicas while moving: maxUnavailable 0 of 2):

  following      spec.users.fromMetric: `sum by (cell) (edgeorch_sim_cell_users{app="bench-bus"})`,
                 read every 1 s, smoothing 10 s, move threshold 0.3; migration budget 60/h, cool-down 15 s
  static-route   spec.users.cells: the route's cells weighted by their dwell time (what the app's owner
                 declares knowing the whole route; no fromMetric)
  static-start   spec.users.cells: the route's first cell only (where the bus was at deployment)

Once all three are placed and Ready, a bus of 40 users runs the route (sim.mobility through the
exporter's control API, hand-over over the last 10 s of each stop).  Every second the bench reads
where the bus's users are (the control API: cells and users now) and each workload's Ready replica
Pods (the API server: their site label).  A user's latency is the round trip from its cell to the
nearest site with a Ready replica (the scenario's matrix, which is what the exporter publishes);
traffic-weighted over the bus's users, per sample.  Per workload: mean, p50, p95 and max over the
samples, the share of samples within 1 ms of the best site any allowed tier offers for those cells,
samples without a Ready replica, and the replica migrations spent (status.migrations).

Writes bench/results/mobility.json: {"rows": [...], "settings": {...}, "route": [...], "machine": {...}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bench.kubeload import GROUP, VERSION, log, own_stack
from bench.machine import describe, machine
from bench.stats import percentile
from orchestrator.kube.sync import api_client, call
from orchestrator.vocabulary import SITE_LABEL, WORKLOAD_LABEL
from sim.control import ExporterControlSync
from sim.scenario import City, load_scenario

RESULTS = Path(__file__).resolve().parent / "results" / "mobility.json"
SCENARIO, ROUTE, NAMESPACE, APP = "barcelona", "v15", "bench-mobility", "bench-bus"
ROWS = ("following", "static-route", "static-start")
TIERS = ("far-edge", "edge")
NEAR_BEST_MS = 1.0


@dataclass(frozen=True)
class Settings:
    dwell_s: float = 60.0
    laps: int = 2
    users: float = 40.0
    handover_s: float = 10.0
    replicas: int = 2
    interval_s: int = 1
    smoothing_s: int = 10
    move_threshold: float = 0.3
    cooldown_s: int = 15
    budget_per_hour: int = 60
    sample_s: float = 1.0


def manifests(s: Settings, stops: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """The three workloads: the same but for where they say their users are."""
    lap = sum(d for _, d in stops)
    route: dict[str, float] = {}
    for cell, dwell in stops:
        route[cell] = route.get(cell, 0.0) + dwell / lap
    users: dict[str, dict[str, Any]] = {
        "following": {"fromMetric": {"query": f'sum by (cell) (edgeorch_sim_cell_users{{app="{APP}"}})',
                                     "intervalSeconds": s.interval_s, "smoothingSeconds": s.smoothing_s,
                                     "moveThreshold": s.move_threshold}},
        "static-route": {"cells": [{"cell": c, "share": round(w, 6)} for c, w in route.items()]},
        "static-start": {"cells": [{"cell": stops[0][0], "share": 1.0}]},
    }
    return [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "EdgeWorkload", "metadata": {"name": name, "namespace": NAMESPACE},
             "spec": {"replicas": s.replicas,
                      "template": {"metadata": {"labels": {"app": name}},
                                   "spec": {"containers": [{"name": "app", "image": "registry.example/bus-app:1"}]}},
                      "resources": {"cpu": "250m", "memory": "128Mi"}, "users": users[name],
                      "qos": {"maxLatencyMs": 50}, "placement": {"allowedTiers": list(TIERS), "preferTier": "far-edge"},
                      "migration": {"budgetPerHour": s.budget_per_hour, "cooldownSeconds": s.cooldown_s}}}
            for name in ROWS]


def user_latency_ms(cells: Mapping[str, float], sites: Sequence[str],
                    latency: Mapping[str, Mapping[str, float]]) -> float | None:
    """Latency of `cells`' users (cell -> users) to the nearest of `sites`, traffic-weighted; None
    without a site or users."""
    total = sum(cells.values())
    if not sites or total <= 0:
        return None
    return sum(n * min(latency[c][s] for s in sites) for c, n in cells.items()) / total


def best_ms(cells: Mapping[str, float], city: City) -> float | None:
    """The latency of `cells`' users at the best single site of an allowed tier."""
    sites = [s.name for s in city.sites if s.tier in TIERS]
    latency = city.latency_ms()
    return min((v for v in (user_latency_ms(cells, [s], latency) for s in sites) if v is not None), default=None)


def summarise(name: str, samples: Sequence[tuple[float | None, float | None]], migrations: int,
              min_ready: int | None = None) -> dict[str, Any]:
    """One row from (user latency, best latency) per sample."""
    served = [(v, b) for v, b in samples if v is not None]
    values = [v for v, _ in served]
    near = [v <= b + NEAR_BEST_MS for v, b in served if b is not None]
    row: dict[str, Any] = {
        "workload": name, "samples": len(samples), "no_replica_samples": len(samples) - len(served),
        "mean_ms": round(sum(values) / len(values), 3) if values else None,
        "p50_ms": round(percentile(values, 0.5), 3) if values else None,
        "p95_ms": round(percentile(values, 0.95), 3) if values else None,
        "max_ms": round(max(values), 3) if values else None,
        "near_best": round(sum(near) / len(near), 3) if near else None, "migrations": migrations,
    }
    if min_ready is not None:
        row["min_ready"] = min_ready
    return row


class Cluster:
    """The reads the bench needs, on the sync client."""

    def __init__(self, api: Any) -> None:
        self.core = k8s.CoreV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)

    def ready_sites(self) -> dict[str, list[str]]:
        """Workload -> the sites of its Ready (not terminating) replica Pods."""
        out: dict[str, list[str]] = {name: [] for name in ROWS}
        pods: Any = call(self.core.list_namespaced_pod, NAMESPACE)
        for pod in pods.items:
            labels = pod.metadata.labels or {}
            ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
            if ready and not pod.metadata.deletion_timestamp and labels.get(WORKLOAD_LABEL) in out:
                out[labels[WORKLOAD_LABEL]].append(labels.get(SITE_LABEL, ""))
        return out

    def migrations(self) -> dict[str, int]:
        listed: Any = call(self.custom.list_namespaced_custom_object, GROUP, VERSION, NAMESPACE, "edgeworkloads")
        items = listed["items"]
        return {w["metadata"]["name"]: int((w.get("status") or {}).get("migrations") or 0) for w in items}

    def create(self, docs: list[dict[str, Any]]) -> None:
        try:
            call(self.core.create_namespace, {"metadata": {"name": NAMESPACE}})
        except Exception:
            log(f"(namespace {NAMESPACE} exists)")
        for doc in docs:
            call(self.custom.create_namespaced_custom_object, GROUP, VERSION, NAMESPACE, "edgeworkloads", doc)


def bus_cells(control: ExporterControlSync, group: str) -> dict[str, float]:
    for g in control.groups():
        if g["id"] == group:
            return {str(c): float(n) for c, n in g["cells_now"].items()}
    raise RuntimeError(f"the bus {group} is gone")


def ride(cluster: Cluster, control: ExporterControlSync, city: City, s: Settings,
         stops: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """Place the three workloads, then run the bus and sample; the rows."""
    bus = control.start_bus(APP, stops=list(stops), users=s.users, handover_s=s.handover_s)
    cluster.create(manifests(s, stops))
    deadline = time.monotonic() + 180
    while not all(len(v) == s.replicas for v in cluster.ready_sites().values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all placed and Ready within 180 s: {cluster.ready_sites()}")
        time.sleep(1)
    before = cluster.migrations()
    control.move_bus(bus["id"], 0)  # the route starts now
    log(f"placed: {cluster.ready_sites()}; the bus leaves {stops[0][0]}")
    latency = city.latency_ms()
    samples: dict[str, list[tuple[float | None, float | None]]] = {name: [] for name in ROWS}
    min_ready = s.replicas
    end = time.monotonic() + s.laps * sum(d for _, d in stops)
    next_at, last_log = time.monotonic(), ""
    while (now := time.monotonic()) < end:
        cells = bus_cells(control, bus["id"])
        sites = cluster.ready_sites()
        best = best_ms(cells, city)
        for name in ROWS:
            samples[name].append((user_latency_ms(cells, sites[name], latency), best))
        min_ready = min(min_ready, len(sites["following"]))
        where = f"{max(cells, key=cells.__getitem__)}: following on {','.join(sorted(set(sites['following'])))}"
        if where != last_log:
            log(where)
            last_log = where
        next_at += s.sample_s
        time.sleep(max(0.0, next_at - now))
    after = cluster.migrations()
    control.remove_groups(bus["id"])
    return [summarise(name, samples[name], after.get(name, 0) - before.get(name, 0),
                      min_ready if name == "following" else None) for name in ROWS]


def report(result: dict[str, Any]) -> str:
    head = f"{'workload':<14} {'mean ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'near best':>9} " \
           f"{'no replica':>10} {'migrations':>10}"
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        lines.append(f"{r['workload']:<14} {r['mean_ms']:>8} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['max_ms']:>7} "
                     f"{r['near_best']:>9} {r['no_replica_samples']:>10} {r['migrations']:>10}")
    lines.append(f"route {ROUTE}: {' -> '.join(c for c, _ in result['route'])}; {result['settings']['laps']} lap(s), "
                 f"{result['settings']['dwell_s']:g} s per stop; fewest Ready replicas of the following workload "
                 f"{result['rows'][0].get('min_ready')} of {result['settings']['replicas']}")
    lines.append(f"machine: {describe(result['machine'])}")
    return "\n".join(lines)


def run(s: Settings, state_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    city = load_scenario(SCENARIO)
    stops = [(stop.cell, s.dwell_s) for stop in city.route(ROUTE).stops]
    with own_stack("edgeorch-bench-mobility-", SCENARIO, state_dir, chain=False, keep=keep) as (_, st):
        api = api_client(Path(st.kubeconfig))
        try:
            info = machine(api, packages=("kopf", "ortools", "kubernetes"))
            log(describe(info))
            rows = ride(Cluster(api), ExporterControlSync(st.exporter_url), city, s, stops)
        finally:
            api.close()
    return {"rows": rows, "settings": asdict(s), "route": stops, "machine": info}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.mobility", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 lap, 40 s per stop")
    ap.add_argument("--dwell", type=float, help="seconds per stop (overrides --quick)")
    ap.add_argument("--laps", type=int, help="laps of the route (overrides --quick)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--state-dir", type=Path, help="keep the stack's state here (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    s = Settings(dwell_s=40.0, laps=1) if args.quick else Settings()
    s = Settings(**{**asdict(s), **({"dwell_s": args.dwell} if args.dwell else {}),
                    **({"laps": args.laps} if args.laps else {})})
    result = run(s, args.state_dir)
    print(report(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
