"""A workload's own QoS bound on the measured links: the reading, the verdict, and what the status says.

`reading` gives the placement model's view of one workload's placement with fresh metrics: a
placement.Instance holding the sites it runs on and its users' cells' latency and bandwidth to them
(the snapshot's numbers, as every solve sees them), then placement.assess: the predicted user latency
as the solver computes it, the worst cell-to-site latency the LatencyBound filter bounds, the least
bandwidth, and the sites that break `spec.qos`.  `status_change` turns a verdict into the fields of
the status to write, only when they say something new: the `QoSDegraded` condition (with the
measured value; rewritten when its status, reason or words change, or the value by more than 5 %)
and `predictedLatencyMs` (when it moves by more than 5 % or crosses the bound: no write storm), and
the Event of a transition (QoSDegraded, QoSRecovered).  `merge` folds that into what the controller
writes anyway, so the controller stays the one writer.  Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from orchestrator.resources import EdgeWorkloadSpec, EdgeWorkloadStatus
from orchestrator.resources.common import ConditionStatus, set_condition, status_patch
from orchestrator.snapshot import QosMetrics, Request, build_workload
from orchestrator.vocabulary import EventType, Reason
from orchestrator.vocabulary import WorkloadCondition as Cond
from orchestrator.workloads import Reconciled
from placement import TIERS, Instance, InvalidInstance, Site
from placement.assess import Assessment, assess

CHANGE = 0.05  # a measured or predicted value is written again when it moved by more than this share
_MEASURED = re.compile(r"^measured ([0-9.]+) (?:ms|Mbps)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
Event = tuple[str, str, str]


@dataclass(frozen=True)
class Verdict:
    """What the QoS guard found for one placement (`nodes`: the status' placements it is about)."""

    nodes: tuple[str, ...]
    holds: bool
    predicted_ms: float
    bound_ms: float
    reason: str
    message: str


def reading(key: str, spec: EdgeWorkloadSpec, sites: Sequence[str], site_specs: Mapping[str, Mapping[str, Any]],
            metrics: QosMetrics, penalty_ms: Mapping[str, float] | None = None) -> Assessment | None:
    """placement.assess of replicas on `sites` (one per replica) with `metrics`; None when it cannot
    be said: a site unknown, down (`edgeorch_site_up` 0: replica health handles it) or not measured
    from every cell of the workload."""
    if not sites:
        return None
    distinct = sorted(set(sites))
    placement_sites = []
    for name in distinct:
        site = site_specs.get(name)
        tier = str((site or {}).get("tier", ""))
        if site is None or tier not in TIERS or not metrics.site_up.get(name, True):
            return None
        placement_sites.append(Site(name, tier, str(site.get("zone", ""))))
    try:
        w = build_workload(Request(key, spec), frozenset())
    except ValueError:
        return None
    latency: dict[str, dict[str, float]] = {}
    for cell in w.cells:
        row = metrics.latency_ms.get(cell, {})
        if any(s not in row for s in distinct):
            return None
        latency[cell] = {s: row[s] for s in distinct}
    bandwidth = {cell: {s: metrics.bandwidth_mbps.get(cell, {}).get(s, 0.0) for s in distinct} for cell in w.cells} \
        if w.min_bandwidth_mbps is not None else {}
    try:
        inst = Instance(nodes=(), sites=tuple(placement_sites), workloads=(w,), latency_ms=latency,
                        bandwidth_mbps=bandwidth,
                        site_penalty_ms={s: v for s, v in (penalty_ms or {}).items() if s in distinct})
    except InvalidInstance:
        return None
    return assess(inst, w, list(sites))


def enough(now_ms: float, then_ms: float, min_ms: float, min_share: float) -> bool:
    """Whether going from `now_ms` to `then_ms` of predicted latency gains enough to move for."""
    gain = now_ms - then_ms
    return gain >= min_ms and gain >= min_share * now_ms


def verdict(nodes: Sequence[str], spec: EdgeWorkloadSpec, a: Assessment, action: str = "") -> Verdict:
    """The verdict on `a` (the reading of the placement on `nodes`), with what is done about it."""
    bound = spec.qos.max_latency_ms
    where = f"from cell {a.worst_cell} to site {a.worst_site}"
    if a.holds:
        return Verdict(tuple(nodes), True, a.predicted_latency_ms, bound, Reason.WITHIN_QOS_BOUND,
                       f"measured {a.worst_latency_ms:.1f} ms {where}, within the bound of {bound:g} ms")
    if a.worst_latency_ms > bound:
        reason = Reason.LATENCY_BOUND_EXCEEDED
        text = f"measured {a.worst_latency_ms:.1f} ms {where}, over the bound of {bound:g} ms"
    else:
        reason = Reason.BANDWIDTH_BELOW_BOUND
        text = f"measured {a.least_bandwidth_mbps or 0.0:g} Mbps, under the bound of {spec.qos.min_bandwidth_mbps:g} Mbps"
    if len(a.breaking) > 1:
        text += f" (sites breaking it: {', '.join(a.breaking)})"
    message = f"{text}; {action}" if action else text
    return Verdict(tuple(nodes), False, a.predicted_latency_ms, bound, reason, message[:1000])


def _measured(message: str) -> float | None:
    m = _MEASURED.match(message)
    return float(m.group(1)) if m else None


def _says_new(current: Mapping[str, Any] | None, state: ConditionStatus, v: Verdict) -> bool:
    if current is None or current.get("status") != state or current.get("reason") != v.reason:
        return True
    message = str(current.get("message") or "")
    if _NUMBER.sub("#", message) != _NUMBER.sub("#", v.message):
        return True  # other words: another action, another cell or site
    old, new = _measured(message), _measured(v.message)
    return old is None or new is None or abs(new - old) > CHANGE * max(old, 1e-9)


def _moved(old: Any, new: float, bound: float) -> bool:
    if not isinstance(old, int | float):
        return True
    return abs(new - old) > CHANGE * max(float(old), 1e-9) or (old <= bound) != (new <= bound)


def _nodes(status: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(p.get("node")) for p in status.get("placements") or [] if isinstance(p, Mapping))


def status_change(body: Mapping[str, Any], v: Verdict, patch: Mapping[str, Any] | None = None
                  ) -> tuple[dict[str, Any], list[Event]]:
    """The status fields to write for verdict `v` on top of `body`'s status and the patch about to be
    written (`patch`), and the Events to post with them; nothing when they say nothing new.  The
    condition applies while the placement it is about is the workload's (before the patch or
    after it: a move the verdict asked for), predictedLatencyMs only to the placement it was read of."""
    before = body.get("status") or {}
    after = {**before, **(patch or {})}
    if v.nodes not in (_nodes(before), _nodes(after)):
        return {}, []
    current = next((c for c in after.get("conditions") or [] if isinstance(c, Mapping)
                    and c.get("type") == Cond.QOS_DEGRADED), None)  # (read raw: this runs for every workload)
    state = ConditionStatus.FALSE if v.holds else ConditionStatus.TRUE
    out: dict[str, Any] = {}
    events: list[Event] = []
    if not (current is None and v.holds) and _says_new(current, state, v):
        try:
            conds = EdgeWorkloadStatus.model_validate({"conditions": after.get("conditions") or []}).conditions
        except ValidationError:
            conds = []
        gen = (body.get("metadata") or {}).get("generation")
        out.update(status_patch(EdgeWorkloadStatus(conditions=set_condition(conds, Cond.QOS_DEGRADED, state, v.reason,
                                                                             v.message, gen))))
        if current is None or current.get("status") != state:
            events.append((EventType.NORMAL, Reason.QOS_RECOVERED, v.message) if v.holds
                          else (EventType.WARNING, Reason.QOS_DEGRADED, v.message))
    if v.nodes == _nodes(after) and _moved(after.get("predictedLatencyMs"), v.predicted_ms, v.bound_ms):
        out.update(status_patch(EdgeWorkloadStatus.model_validate({"predictedLatencyMs": round(v.predicted_ms, 3)})))
    return out, events


def merge(body: Mapping[str, Any], result: Reconciled, v: Verdict | None) -> Reconciled:
    """`result` (a reconciliation of `body`) with what verdict `v` adds to its status write."""
    if v is None:
        return result
    extra, events = status_change(body, v, result.status)
    if not extra and not events:
        return result
    return dataclasses.replace(result, status={**(result.status or {}), **extra}, events=[*result.events, *events],
                               refresh=False)


__all__ = ["Verdict", "enough", "merge", "reading", "status_change", "verdict"]
