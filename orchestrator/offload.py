"""The QoS loop's offload and fail-back decisions: which intent to record on a workload, and when.

Offload: after a breach the workload leaves the sites where it was seen (edge to another edge, or
to the cloud when the edge is saturated), within its migration budget and cool-down.  Fail-back:
while the objectives are met, a what-if solve (no sites avoided, no migration cost) says where the
workload would go; when that predicts a user latency better by more than `FAIL_BACK_GAIN` (the
degraded site recovered), a FailBack intent is recorded.  This module decides; it moves nothing and
writes nothing (the SLA loop records the intent, the controller carries it out: orchestrator.intents).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator import intents
from orchestrator.engine import PlacementEngine
from orchestrator.intents import Intent
from orchestrator.reconciled import MIGRATION_LOG_S
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.snapshot import QosMetrics, Request
from orchestrator.users import cells_in_use
from orchestrator.workloads import key_of

FAIL_BACK_GAIN = 0.10


def estimate_latency_ms(spec: EdgeWorkloadSpec, sites: list[str], metrics: QosMetrics,
                        cells: Mapping[str, float] | None = None) -> float | None:
    """Traffic-weighted user latency of replicas on `sites` (mean over replicas), from the metrics;
    its users are `cells` (the measured distribution in use) or else spec.users.cells."""
    shares = cells if cells is not None else {c.cell: c.share for c in spec.users.cells}
    if not sites or not shares:
        return None
    total = 0.0
    for site in sites:
        for cell, share in shares.items():
            lat = metrics.latency_ms.get(cell, {}).get(site)
            if lat is None:
                return None
            total += share * lat
    return total / len(sites)


def sites_of(body: Mapping[str, Any]) -> list[str]:
    return [p["site"] for p in (body.get("status") or {}).get("placements") or []]


def deferred(body: Mapping[str, Any], spec: EdgeWorkloadSpec, now: float) -> str | None:
    """Why the workload may not move now (its migration budget or cool-down), or None."""
    policy = spec.migration
    log = (body.get("status") or {}).get("migrationLog") or []
    recent = [t for t in log if now - float(t) < MIGRATION_LOG_S]
    if len(recent) >= policy.budget_per_hour:
        return f"migration budget used up ({len(recent)}/{policy.budget_per_hour} in the last hour)"
    last = (body.get("status") or {}).get("lastMigrationTime")
    if last:
        since = now - datetime.fromisoformat(str(last).replace("Z", "+00:00")).timestamp()
        if since < policy.cooldown_seconds:
            return f"cool-down: last migration {since:.0f} s ago (< {policy.cooldown_seconds} s)"
    return None


def offload_intent(body: Mapping[str, Any], sla: str, objective: int, window_start: int, sites: list[str],
                   reason: str, still_avoided: tuple[str, ...] = ()) -> Intent | None:
    """The Offload intent for a breach seen at `sites` (all the workload's sites when none is named),
    which keeps avoiding the sites an earlier offload left (`still_avoided`: no fail-back yet); None
    when the workload runs nowhere (nothing to leave)."""
    current = set(sites_of(body))
    leave = (set(sites) & current) or current
    if not leave:
        return None
    return Intent(sla, objective, window_start, intents.OFFLOAD, tuple(sorted(leave | set(still_avoided))), reason)


async def fail_back_intent(engine: PlacementEngine, metrics: QosMetrics, body: Mapping[str, Any],
                           done: Intent) -> Intent | None:
    """A FailBack intent for the carried-out Offload `done` when the what-if says moving back is
    clearly better now; None (keep avoiding, ask again at the next evaluation) otherwise."""
    spec = EdgeWorkloadSpec.model_validate(body["spec"])
    placements = (body.get("status") or {}).get("placements") or []
    cells = cells_in_use(body)
    what_if = await engine.place(Request(key_of(body), spec, tuple(p["node"] for p in placements),
                                         dry_run=True, migration_weight=0.0, users=cells))
    now_ms = estimate_latency_ms(spec, sites_of(body), metrics, cells)
    then_ms = estimate_latency_ms(spec, list(what_if.sites), metrics, cells)
    if not what_if.placed or now_ms is None or then_ms is None or then_ms > now_ms * (1 - FAIL_BACK_GAIN):
        return None
    return Intent(done.sla, done.objective, done.window_start, intents.FAIL_BACK, done.avoid,
                  f"user latency {now_ms:.1f} -> {then_ms:.1f} ms")
