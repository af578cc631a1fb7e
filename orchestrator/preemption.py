"""Preemption: a higher-priority workload takes the room of lower-priority ones it needs.

The placement core is lexicographic by priority band (placement.priority: a band is a 100 of
spec.priority; a lower band never holds room a higher band could use).  A batch is solved with the
room of the workloads outside it taken, so for that rule to reach workloads placed earlier, the
engine adds to a batch the placed workloads of lower bands that hold room its higher-band requests
could use (`contenders`): they are in the solve with their current nodes, so they stay where they
are unless a higher band needs their room.  The engine applies nothing to them: a contender whose
room went to a workload of the batch (`displaced`) is handed to the workload controller, which
solves it again (its next best place, or Unplaceable) and says who displaced it.

Also here: which workloads may gain from room freed at some sites (`gainers`), so a deleted
workload's room is used at once, and the contenders' Requests built from the controller's bodies.

No I/O of its own: plain data in, plain data out (the engine's `Preemption` and `resolve_gainers` call
back the controller and read the metrics through the callables they are given).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.site_status import gains_from
from orchestrator.snapshot import QosMetrics, Request
from orchestrator.vocabulary import SITE_LABEL, Phase
from placement.priority import band_of

MAX_CONTENDERS = 64  # lower-band workloads added to one solve, at most (those holding the nearest room first)
log = logging.getLogger("edgeorch.engine")


@dataclass
class Preemption:
    """The engine's side: where the placed workloads come from (`placed`: the controller's
    `placed_requests`), who hears of those that must yield (`on_preempt`: the controller's
    `preempted`), and the workloads whose decision took room a lower band still holds (`taking`: their
    new Pods wait for the room, orchestrator.workloads)."""

    band_width: int = 100
    placed: Callable[[], Mapping[str, Request]] | None = None
    on_preempt: Callable[[str, tuple[str, ...]], None] | None = None
    taking: set[str] = field(default_factory=set)

    def contenders(self, group: Sequence[Request], nodes: Iterable[Mapping[str, Any]],
                   sites: Mapping[str, Mapping[str, Any]], latency_ms: Mapping[str, Mapping[str, float]],
                   excluded: frozenset[str], decided: Mapping[str, tuple[str, ...]]) -> list[Request]:
        """`contenders` of the placed workloads, their nodes those of the engine's own decisions where it
        has one (`decided`); none for what-ifs."""
        if self.placed is None or any(r.dry_run for r in group):
            return []
        site_of = {n["metadata"]["name"]: str((n["metadata"].get("labels") or {}).get(SITE_LABEL, "")) for n in nodes}
        return contenders(group, with_decisions(self.placed(), decided), sites, site_of, latency_ms, excluded,
                          self.band_width)

    def apply(self, group: Sequence[Request], extra: Sequence[Request],
              assignment: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
        """Tell `on_preempt` of every contender whose room went to the batch; per workload of the batch
        that took such room, whose ("ns/name (priority P)")."""
        preempts: dict[str, list[str]] = {}
        by_key = {c.key: c for c in extra}
        for key, takers in displaced(group, extra, assignment, self.band_width).items():
            log.info("%s yields room to %s", key, ", ".join(t.key for t in takers))
            for t in takers:
                preempts.setdefault(t.key, []).append(describe(by_key[key]))
                self.taking.add(t.key)
            if self.on_preempt:
                self.on_preempt(key, tuple(describe(t) for t in takers))
        return {k: tuple(v) for k, v in preempts.items()}


def _site_latency(spec: EdgeWorkloadSpec, site: str, latency_ms: Mapping[str, Mapping[str, float]]
                  ) -> tuple[float, float]:
    """(traffic-weighted mean, worst cell) latency from the workload's users to `site` (inf: unknown)."""
    mean, worst = 0.0, -math.inf
    for c in spec.users.cells:
        ms = latency_ms.get(c.cell, {}).get(site)
        if ms is None:
            return math.inf, math.inf
        mean += c.share * ms
        worst = max(worst, ms)
    return mean, worst


def wanted_sites(req: Request, sites: Mapping[str, Mapping[str, Any]], site_of: Mapping[str, str],
                 latency_ms: Mapping[str, Mapping[str, float]], excluded: frozenset[str]) -> dict[str, float]:
    """The sites where `req` could run (tier, zone, latency bound; not excluded) and that are nearer
    its users than where it runs now, with their mean latency: the room it could need."""
    spec = req.spec
    tiers = {str(t) for t in spec.placement.allowed_tiers}
    zones = set(spec.placement.allowed_zones)
    bound = spec.qos.max_latency_ms
    now = [_site_latency(spec, site_of[n], latency_ms)[0] for n in req.current if n in site_of]
    better_than = max(now) if now else math.inf
    out: dict[str, float] = {}
    for name, site in sites.items():
        if name in excluded or site.get("cordoned") or (tiers and str(site.get("tier")) not in tiers) \
                or (zones and str(site.get("zone")) not in zones):
            continue
        mean, worst = _site_latency(spec, name, latency_ms)
        if math.isfinite(mean) and (bound is None or worst <= bound) and mean < better_than:
            out[name] = mean
    return out


def contenders(group: Sequence[Request], placed: Mapping[str, Request], sites: Mapping[str, Mapping[str, Any]],
               site_of: Mapping[str, str], latency_ms: Mapping[str, Mapping[str, float]], excluded: frozenset[str],
               band_width: int, limit: int = MAX_CONTENDERS) -> list[Request]:
    """The placed workloads (`placed`: key -> Request with its current nodes) of a lower band than some
    request of `group` that hold room at a site that request could need (`wanted_sites`), nearest
    room first; none on an `excluded` site (they would have to move for another reason)."""
    keys = {r.key for r in group}
    lowest = min((band_of(c.spec.priority, band_width) for c in placed.values() if c.current), default=None)
    nearest: dict[int, dict[str, float]] = {}  # band -> site -> the nearest its requests could get there
    for r in group:
        band = band_of(r.spec.priority, band_width)
        if lowest is None or band <= lowest:
            continue  # no lower band holds room anywhere (the common case: one band): nothing to look at
        for site, ms in wanted_sites(r, sites, site_of, latency_ms, excluded).items():
            best = nearest.setdefault(band, {})
            best[site] = min(ms, best.get(site, math.inf))
    top = max(nearest, default=None)
    if top is None:
        return []
    ranked: list[tuple[float, int, str]] = []
    for key, c in placed.items():
        band = band_of(c.spec.priority, band_width)
        if band >= top or key in keys or not c.current or any(u.cell not in latency_ms for u in c.spec.users.cells):
            continue
        held = {site_of.get(n, "") for n in c.current}
        if held & excluded:
            continue
        near = min((w[s] for b, w in nearest.items() if b > band for s in held if s in w), default=math.inf)
        if math.isfinite(near):
            ranked.append((near, band, key))
    return [placed[key] for _, _, key in sorted(ranked)[:limit]]


def with_decisions(placed: Mapping[str, Request], decided: Mapping[str, tuple[str, ...]]) -> dict[str, Request]:
    """`placed` with the nodes of the engine's own decisions (`decided`: newer than the statuses; empty:
    released) as their current nodes."""
    return {key: replace(r, current=decided[key]) if key in decided else r for key, r in placed.items()}


def displaced(group: Sequence[Request], extra: Sequence[Request], assignment: Mapping[str, Sequence[str]],
              band_width: int) -> dict[str, list[Request]]:
    """The contenders (`extra`) that leave a node a workload of `group` of a higher band takes in
    `assignment`, with those workloads; contenders that stay, or only moved for their own gain, are
    not in it."""
    out: dict[str, list[Request]] = {}
    for c in extra:
        left = Counter(c.current) - Counter(assignment.get(c.key, ()))
        if not left:
            continue
        band = band_of(c.spec.priority, band_width)
        takers = [r for r in group
                  if band_of(r.spec.priority, band_width) > band and set(assignment.get(r.key, ())) & set(left)]
        if takers:
            out[c.key] = takers
    return out


def describe(req: Request) -> str:
    """A workload as Events name it: "namespace/name (priority P)"."""
    return f"{req.key} (priority {req.spec.priority})"


class SpecCache:
    """Validated specs of the workloads the controller knows, by key, re-validated only when the
    generation changes (contenders are looked at for every batch)."""

    def __init__(self) -> None:
        self._specs: dict[str, tuple[object, EdgeWorkloadSpec | None]] = {}

    def spec(self, key: str, body: Mapping[str, Any]) -> EdgeWorkloadSpec | None:
        gen = (body.get("metadata") or {}).get("generation")
        seen = self._specs.get(key)
        if seen is None or seen[0] != gen:
            try:
                spec: EdgeWorkloadSpec | None = EdgeWorkloadSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                spec = None
            self._specs[key] = seen = (gen, spec)
        return seen[1]

    def forget(self, key: str) -> None:
        self._specs.pop(key, None)


def placed_requests(bodies: Mapping[str, Mapping[str, Any]], cache: SpecCache) -> dict[str, Request]:
    """A Request per workload (not being deleted, its spec valid), its current nodes those of its
    status when that holds a placement decided for its generation, else none: the engine puts its
    own decisions over them (they are newer than the statuses) and leaves out those without any."""
    out: dict[str, Request] = {}
    for key, body in bodies.items():
        meta, st = body.get("metadata") or {}, body.get("status") or {}
        if meta.get("deletionTimestamp"):
            continue
        spec = cache.spec(key, body)
        if spec is None:
            continue
        decided = st.get("phase") == Phase.PLACED and st.get("observedGeneration") == meta.get("generation")
        out[key] = Request(key, spec, tuple(str(p.get("node")) for p in st.get("placements") or []) if decided else ())
    return out


def gainers(bodies: Mapping[str, Mapping[str, Any]], sites: Iterable[str],
            latency_ms: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The workloads that could gain from room freed at `sites` (orchestrator.site_status.gains_from:
    Unplaceable or Degraded ones, and those with users nearer one of those sites), by key."""
    freed = sorted(set(sites))
    return sorted(key for key, body in bodies.items() if not (body.get("metadata") or {}).get("deletionTimestamp")
                  and any(gains_from(body, site, latency_ms) for site in freed))


async def resolve_gainers(bodies: Mapping[str, Mapping[str, Any]], sites: set[str],
                          metrics: Callable[[], Awaitable[QosMetrics]], resolve: Callable[[str], None]) -> None:
    """`resolve` every workload of `bodies` that could gain from room at `sites` (`gainers`)."""
    keys = gainers(bodies, sites, (await metrics()).latency_ms)
    log.info("room at %s: solving %d workload(s) again", ", ".join(sorted(sites)), len(keys))
    for key in keys:
        resolve(key)


def lowered(before: Mapping[str, Any], after: Mapping[str, Any], band_width: int) -> bool:
    """Whether an EdgeWorkload's spec.priority dropped to a lower band between two bodies."""
    def band(body: Mapping[str, Any]) -> int:
        value = (body.get("spec") or {}).get("priority") or 0
        return band_of(value, band_width) if isinstance(value, int) else 0

    return band(after) < band(before)


def freed_sites(body: Mapping[str, Any]) -> set[str]:
    """The sites a (deleted) workload's status placed replicas on."""
    return {str(p["site"]) for p in (body.get("status") or {}).get("placements") or []
            if isinstance(p, Mapping) and p.get("site")}
