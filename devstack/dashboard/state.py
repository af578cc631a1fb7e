"""The city map's state: plain JSON from the objects the cluster, Prometheus, the chain and the simulator
give (pure: no I/O, so a unit test can build it from dicts).

Positions are projected once here (equirectangular around the city's centre, which is exact enough
for a city) into an SVG view box of `WIDTH` x `HEIGHT`.  The frame is the cells' area, with the sites
near it: a site farther than `NEAR_KM` from every cell (a cloud in another region) is drawn at the
frame's border in its direction, marked `remote`, with its distance.  Latency levels: a link between
a workload's cell and the replica that serves it is `ok` within the workload's `qos.maxLatencyMs`, `warn`
within 1.5 times it, `bad` beyond; a site's level is that of its best cell-to-site latency on its tier's
scale in `SITE_LEVELS_MS` (a cloud is not slow at 30 ms, a street cabinet is), `bad` when it is down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.vocabulary import SlaCondition

WIDTH, HEIGHT, MARGIN = 1000.0, 700.0, 40.0
NEAR_KM = 25.0
MIN_SPAN_KM = 2.0
SITE_LEVELS_MS: dict[str, tuple[tuple[float, str], ...]] = {  # tier -> (up to ms, level), else bad
    "far-edge": ((5.0, "ok"), (15.0, "warn")),
    "edge": ((10.0, "ok"), (20.0, "warn")),
    "cloud": ((45.0, "ok"), (60.0, "warn")),
}
KM_PER_DEG_LAT = 111.32
Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Inputs:
    """Everything the map shows, as read (Kubernetes objects as the API server returns them)."""

    sites: Sequence[Obj] = ()
    cells: Sequence[Obj] = ()
    workloads: Sequence[Obj] = ()
    slas: Sequence[Obj] = ()
    events: Sequence[Obj] = ()
    latency_ms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    site_up: Mapping[str, bool] = field(default_factory=dict)
    records: Sequence[Mapping[str, Any]] = ()  # the chain's records, oldest first (collect.record_of)
    faults: Sequence[Mapping[str, Any]] = ()  # the simulator's active faults, when it is reachable
    errors: Mapping[str, str] = field(default_factory=dict)  # source -> why it could not be read
    generated: str = ""


@dataclass(frozen=True)
class Projection:
    """lat/lon -> x/y in the view box; points beyond the frame are clamped to its border."""

    lat0: float
    lon0: float
    scale: float  # px per km
    cx: float = WIDTH / 2
    cy: float = HEIGHT / 2

    def km(self, lat: float, lon: float) -> tuple[float, float]:
        """East and north offsets from the centre, in km."""
        return ((lon - self.lon0) * KM_PER_DEG_LAT * math.cos(math.radians(self.lat0)),
                (lat - self.lat0) * KM_PER_DEG_LAT)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        east, north = self.km(lat, lon)
        return self.cx + east * self.scale, self.cy - north * self.scale

    def inside(self, x: float, y: float) -> bool:
        return MARGIN <= x <= WIDTH - MARGIN and MARGIN <= y <= HEIGHT - MARGIN

    def to_border(self, x: float, y: float) -> tuple[float, float]:
        """The point where the ray from the centre towards (x, y) leaves the frame."""
        dx, dy = x - self.cx, y - self.cy
        t = min((self.cx - MARGIN) / abs(dx) if dx else math.inf, (self.cy - MARGIN) / abs(dy) if dy else math.inf)
        return self.cx + dx * t, self.cy + dy * t


def _loc(obj: Obj) -> tuple[float, float] | None:
    loc = (obj.get("spec") or {}).get("location") or {}
    try:
        return float(loc["lat"]), float(loc["lon"])
    except (KeyError, TypeError, ValueError):
        return None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def projection(cells: Iterable[tuple[float, float]], sites: Iterable[tuple[float, float]]) -> Projection:
    """The frame of the cells and of the sites within NEAR_KM of one of them (all sites without cells)."""
    cell_points = list(cells)
    site_points = list(sites)
    points = cell_points + [s for s in site_points
                            if not cell_points or min(distance_km(s, c) for c in cell_points) <= NEAR_KM]
    if not points:
        return Projection(0.0, 0.0, 1.0)
    lat0 = (min(p[0] for p in points) + max(p[0] for p in points)) / 2
    lon0 = (min(p[1] for p in points) + max(p[1] for p in points)) / 2
    probe = Projection(lat0, lon0, 1.0)
    offsets = [probe.km(*p) for p in points]
    half_w = max(MIN_SPAN_KM / 2, max(abs(e) for e, _ in offsets) * 1.1)
    half_h = max(MIN_SPAN_KM / 2, max(abs(n) for _, n in offsets) * 1.1)
    scale = min((WIDTH / 2 - MARGIN * 2) / half_w, (HEIGHT / 2 - MARGIN * 2) / half_h)
    return Projection(lat0, lon0, scale)


def _level(value: float | None, limits: Sequence[tuple[float, str]]) -> str:
    if value is None:
        return "unknown"
    for limit, name in limits:
        if value <= limit:
            return name
    return "bad"


def link_level(latency: float | None, max_ms: float | None) -> str:
    """ok within the workload's bound, warn within 1.5 times it, bad beyond (unknown without data)."""
    if max_ms is None:
        return _level(latency, SITE_LEVELS_MS["edge"])
    return _level(latency, ((max_ms, "ok"), (1.5 * max_ms, "warn")))


def _conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in (obj.get("status") or {}).get("conditions") or []}


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _place(proj: Projection, point: tuple[float, float], origin: Sequence[tuple[float, float]]) -> dict[str, Any]:
    x, y = proj.xy(*point)
    out: dict[str, Any] = {"lat": point[0], "lon": point[1]}
    if not proj.inside(x, y):
        x, y = proj.to_border(x, y)
        out["remote"] = True
        out["distanceKm"] = round(min((distance_km(point, o) for o in origin), default=0.0), 1)
    out["x"], out["y"] = round(x, 1), round(y, 1)
    return out


def _sites(inp: Inputs, proj: Projection, cell_points: list[tuple[float, float]]) -> list[dict[str, Any]]:
    faulted = {str(f.get("site")) for f in inp.faults if f.get("site")}
    out = []
    for obj in inp.sites:
        name, point = str(obj["metadata"]["name"]), _loc(obj)
        if point is None:
            continue
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        best = min((row[name] for row in inp.latency_ms.values() if name in row), default=None)
        up = inp.site_up.get(name, True)
        out.append({
            "name": name, "tier": spec.get("tier", "edge"), "district": spec.get("district", ""),
            **_place(proj, point, cell_points),
            "bestLatencyMs": None if best is None else round(best, 1),
            "level": "bad" if not up else _level(best, SITE_LEVELS_MS.get(str(spec.get("tier")), SITE_LEVELS_MS["edge"])),
            "up": up,
            "health": status.get("health"), "cordoned": bool(spec.get("cordoned")), "fault": name in faulted,
        })
    return sorted(out, key=lambda s: s["name"])


def _cells(inp: Inputs, proj: Projection) -> list[dict[str, Any]]:
    out = []
    for obj in inp.cells:
        point = _loc(obj)
        if point is None:
            continue
        status = obj.get("status") or {}
        metrics = _conditions(obj).get("MetricsAvailable", {}).get("status") == "True"
        out.append({"name": obj["metadata"]["name"], "district": (obj.get("spec") or {}).get("district", ""),
                    **_place(proj, point, [point]), "bestSite": status.get("bestSite"),
                    "bestLatencyMs": status.get("bestLatencyMs"), "metrics": metrics})
    return sorted(out, key=lambda c: c["name"])


def _breached(inp: Inputs) -> dict[str, list[str]]:
    """Workload key -> the names of its SLAs that are breached now."""
    out: dict[str, list[str]] = {}
    for sla in inp.slas:
        if _conditions(sla).get(SlaCondition.BREACHED, {}).get("status") == "True":
            ns = sla["metadata"].get("namespace")
            out.setdefault(f"{ns}/{sla['spec'].get('workloadRef')}", []).append(sla["metadata"]["name"])
    return out


def _workloads(inp: Inputs, cells: Mapping[str, tuple[float, float]],
               sites: Mapping[str, tuple[float, float]]) -> list[dict[str, Any]]:
    breached = _breached(inp)
    out = []
    for obj in inp.workloads:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        key = _key(obj)
        max_ms = (spec.get("qos") or {}).get("maxLatencyMs")
        replicas = [{"replica": p.get("replica"), "node": p.get("node"), "site": p.get("site"), "tier": p.get("tier")}
                    for p in status.get("placements") or []]
        hosts = sorted({str(r["site"]) for r in replicas if r["site"]})
        links = []
        for share in (spec.get("users") or {}).get("cells") or []:
            cell = str(share.get("cell"))
            measured = inp.latency_ms.get(cell, {})

            def nearness(site: str, cell: str = cell, measured: Mapping[str, float] = measured) -> tuple[int, float]:
                if site in measured:  # measured latency first; the map's distance when nothing is measured
                    return 0, measured[site]
                if cell in cells and site in sites:
                    return 1, distance_km(cells[cell], sites[site])
                return 2, 0.0

            site = min(hosts, key=nearness) if hosts else None
            latency = measured.get(site) if site else None
            links.append({"cell": cell, "share": share.get("share"), "site": site,
                          "latencyMs": None if latency is None else round(latency, 1),
                          "level": link_level(latency, max_ms) if site else "unserved"})
        out.append({"key": key, "namespace": obj["metadata"].get("namespace"), "name": obj["metadata"]["name"],
                    "phase": status.get("phase"), "maxLatencyMs": max_ms, "replicas": replicas, "sites": hosts,
                    "links": links, "breachedSlas": breached.get(key, [])})
    return sorted(out, key=lambda w: w["key"])


def _alerts(inp: Inputs, workloads: Sequence[Mapping[str, Any]], sites: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What is wrong now: breached SLAs, links over their bound, sites down or slow, injected faults."""
    out: list[dict[str, Any]] = []
    for w in workloads:
        for sla in w["breachedSlas"]:
            out.append({"kind": "breach", "subject": f"{w['namespace']}/{sla}",
                        "text": f"SLA {sla} of {w['name']} is breached (sites {', '.join(w['sites']) or '-'})"})
        for link in w["links"]:
            if link["level"] in ("warn", "bad"):
                out.append({"kind": "latency", "subject": f"{w['key']}:{link['cell']}",
                            "text": f"{w['name']}: {link['cell']} -> {link['site']} {link['latencyMs']} ms "
                            f"(bound {w['maxLatencyMs']} ms)"})
    for s in sites:
        if not s["up"]:
            out.append({"kind": "down", "subject": s["name"], "text": f"site {s['name']} is down"})
    for f in inp.faults:
        what = ", ".join(f"{k} {v}" for k, v in f.items() if k not in ("id", "kind"))
        out.append({"kind": "fault", "subject": str(f.get("site") or f.get("node") or ""),
                    "text": f"injected {f.get('kind')} fault {f.get('id')}: {what}"})
    return out


def _events(inp: Inputs, limit: int = 40) -> list[dict[str, Any]]:
    def when(e: Obj) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or "")

    out = []
    for e in sorted(inp.events, key=when, reverse=True)[:limit]:
        inv = e.get("involvedObject") or {}
        out.append({"time": when(e), "type": e.get("type"), "reason": e.get("reason"),
                    "object": f"{inv.get('kind')} {inv.get('namespace') or ''}/{inv.get('name')}".replace(" /", " "),
                    "message": str(e.get("message") or "")[:300], "count": e.get("count") or 1})
    return out


def build_state(inp: Inputs) -> dict[str, Any]:
    """The JSON the page draws (see the module docstring)."""
    cell_points = {str(c["metadata"]["name"]): p for c in inp.cells if (p := _loc(c)) is not None}
    site_points = {str(s["metadata"]["name"]): p for s in inp.sites if (p := _loc(s)) is not None}
    proj = projection(cell_points.values(), site_points.values())
    sites = _sites(inp, proj, list(cell_points.values()))
    workloads = _workloads(inp, cell_points, site_points)
    cells = _cells(inp, proj)
    districts: dict[str, list[tuple[float, float]]] = {}
    for c in cells:
        districts.setdefault(c["district"], []).append((c["x"], c["y"]))
    return {
        "generated": inp.generated,
        "frame": {"width": WIDTH, "height": HEIGHT, "kmPx": round(proj.scale, 3)},
        "sites": sites,
        "cells": cells,
        "districts": [{"name": d, "x": round(sum(x for x, _ in ps) / len(ps), 1),
                       "y": round(sum(y for _, y in ps) / len(ps), 1)} for d, ps in sorted(districts.items())],
        "workloads": workloads,
        "alerts": _alerts(inp, workloads, sites),
        "events": _events(inp),
        "records": list(inp.records)[-100:][::-1],
        "errors": dict(inp.errors),
    }
