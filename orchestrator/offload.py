"""Offloading after an SLA breach, and failing back after recovery.

Offload: the workload leaves the sites where the breach was seen (edge to another edge, or to the
cloud when the edge is saturated), within its migration budget and cool-down.  The sites to avoid
are kept in an annotation on the EdgeWorkload, so a restarted operator keeps honouring them.
Fail-back: while the objectives are met, each evaluation asks a what-if solve (no sites avoided, no
migration cost) where the workload would go; when that predicts a user latency better by more than
`FAIL_BACK_GAIN` (the degraded site recovered), it moves back and the annotation goes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.engine import PlacementEngine
from orchestrator.kube.aio import AsyncKube
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.snapshot import QosMetrics, Request
from orchestrator.workloads import AVOID_ANNOTATION, Reconciled, key_of, reconcile

MIGRATION_LOG = "edgeorch.io/migration-log"
CAUSE_ANNOTATION = "edgeorch.io/offload-cause"
FAIL_BACK_GAIN = 0.10
PLURAL = "edgeworkloads"


@dataclass
class Moves:
    """What an offload or fail-back did."""

    moves: list[tuple[str, str]] = field(default_factory=list)  # (from site, to site) per moved replica
    events: list[tuple[str, str, str]] = field(default_factory=list)
    body: dict[str, Any] | None = None
    cause: dict[str, Any] = field(default_factory=dict)


def site_moves(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    """Pair replicas that left a site with replicas that arrived at another."""
    gone = Counter(before) - Counter(after)
    came = Counter(after) - Counter(before)
    left = [s for s, n in sorted(gone.items()) for _ in range(n)]
    arrived = [s for s, n in sorted(came.items()) for _ in range(n)]
    return list(zip(left, arrived, strict=False))


def estimate_latency_ms(spec: EdgeWorkloadSpec, sites: list[str], metrics: QosMetrics) -> float | None:
    """Traffic-weighted user latency of replicas on `sites` (mean over replicas), from the metrics."""
    if not sites:
        return None
    total = 0.0
    for site in sites:
        for c in spec.users.cells:
            lat = metrics.latency_ms.get(c.cell, {}).get(site)
            if lat is None:
                return None
            total += c.share * lat
    return total / len(sites)


def _sites(body: Mapping[str, Any]) -> list[str]:
    return [p["site"] for p in (body.get("status") or {}).get("placements") or []]


def _log(body: Mapping[str, Any]) -> list[float]:
    try:
        return [float(t) for t in json.loads((body["metadata"].get("annotations") or {}).get(MIGRATION_LOG, "[]"))]
    except (ValueError, TypeError):
        return []


def _deferred(body: Mapping[str, Any], spec: EdgeWorkloadSpec, now: float) -> str | None:
    policy = spec.migration
    recent = [t for t in _log(body) if now - t < 3600]
    if len(recent) >= policy.budget_per_hour:
        return f"migration budget used up ({len(recent)}/{policy.budget_per_hour} in the last hour)"
    last = (body.get("status") or {}).get("lastMigrationTime")
    if last:
        since = now - datetime.fromisoformat(str(last).replace("Z", "+00:00")).timestamp()
        if since < policy.cooldown_seconds:
            return f"cool-down: last migration {since:.0f} s ago (< {policy.cooldown_seconds} s)"
    return None


async def _apply(kube: AsyncKube, engine: PlacementEngine, body: dict[str, Any], annotations: dict[str, Any],
                 *, migration_weight: float | None, now: float, binding: str,
                 ) -> tuple[Reconciled, list[tuple[str, str]], dict[str, Any]]:
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    body = await kube.patch_custom(PLURAL, ns, name, {"metadata": {"annotations": annotations}})
    before = _sites(body)
    result = await reconcile(body, engine, kube, force=True, migration_weight=migration_weight, binding=binding)
    if result.status is not None:
        body = await kube.patch_custom(PLURAL, ns, name, {"status": result.status}, status=True)
    moves = site_moves(before, _sites(body))
    if moves:
        log = [t for t in _log(body) if now - t < 3600] + [now] * len(moves)
        body = await kube.patch_custom(PLURAL, ns, name, {"metadata": {"annotations": {MIGRATION_LOG: json.dumps(log)}}})
    return result, moves, body


async def offload(kube: AsyncKube, engine: PlacementEngine, workload: str, avoid: tuple[str, ...],
                  cause: dict[str, Any], now: float | None = None, binding: str = "scheduler") -> Moves:
    """Move `workload` ("namespace/name") off the sites in `avoid` (all its sites when empty)."""
    now = time.time() if now is None else now
    ns, name = workload.split("/", 1)
    body = await kube.get_custom(PLURAL, ns, name)
    spec = EdgeWorkloadSpec.model_validate(body["spec"])
    out = Moves(body=body, cause=cause)
    current = set(_sites(body))
    leave = (set(avoid) & current) or current
    if not leave:
        return out
    why = _deferred(body, spec, now)
    if why:
        out.events.append(("Warning", "OffloadDeferred", f"not leaving {', '.join(sorted(leave))}: {why}"))
        return out
    annotations = {AVOID_ANNOTATION: ",".join(sorted(leave)), CAUSE_ANNOTATION: json.dumps(cause, sort_keys=True)}
    result, out.moves, out.body = await _apply(kube, engine, body, annotations, migration_weight=None, now=now,
                                               binding=binding)
    out.events.extend(result.events)
    if out.moves:
        out.events.append(("Warning", "Offloaded", "; ".join(f"{a} -> {b}" for a, b in out.moves)
                           + f" after: {cause.get('reason', 'SLA breach')}"))
    elif result.outcome is not None and not result.outcome.placed:
        out.events.append(("Warning", "OffloadImpossible", result.outcome.reason or "no other site fits"))
    return out


async def fail_back(kube: AsyncKube, engine: PlacementEngine, metrics: QosMetrics, workload: str,
                    now: float | None = None, binding: str = "scheduler") -> Moves:
    """The breach is over: stop avoiding sites, and move back when that is clearly better."""
    now = time.time() if now is None else now
    ns, name = workload.split("/", 1)
    body = await kube.get_custom(PLURAL, ns, name)
    annotations = body["metadata"].get("annotations") or {}
    try:
        cause = json.loads(annotations.get(CAUSE_ANNOTATION, "{}"))
    except ValueError:
        cause = {}
    out = Moves(body=body, cause=cause)
    if AVOID_ANNOTATION not in annotations:
        return out
    spec = EdgeWorkloadSpec.model_validate(body["spec"])
    cleared = {AVOID_ANNOTATION: None, CAUSE_ANNOTATION: None}
    current = _sites(body)
    if not spec.migration.fail_back:
        out.body = await kube.patch_custom(PLURAL, ns, name, {"metadata": {"annotations": cleared}})
        return out
    what_if = await engine.place(Request(key_of(body), spec, tuple(p["node"] for p in body["status"]["placements"]),
                                         dry_run=True, migration_weight=0.0))
    now_ms = estimate_latency_ms(spec, current, metrics)
    then_ms = estimate_latency_ms(spec, list(what_if.sites), metrics)
    if not what_if.placed or now_ms is None or then_ms is None or then_ms > now_ms * (1 - FAIL_BACK_GAIN):
        return out  # not (yet) worth it: keep avoiding, ask again at the next evaluation
    if _deferred(body, spec, now):
        return out  # the annotation stays; the next evaluation tries again
    result, out.moves, out.body = await _apply(kube, engine, body, cleared, migration_weight=0.0, now=now,
                                               binding=binding)
    out.events.extend(result.events)
    if out.moves:
        out.events.append(("Normal", "FailedBack", "; ".join(f"{a} -> {b}" for a, b in out.moves)
                           + f" (user latency {now_ms:.1f} -> {then_ms:.1f} ms)"))
    return out
