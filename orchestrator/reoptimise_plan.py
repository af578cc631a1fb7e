"""The re-optimiser's decisions, pure: what changed that may let workloads gain, which workloads may
move, and which answers of a what-if solve are worth a move.

- `free_room` / `shapes` / `triggers`: from one look at the cluster to the next, the events that can
  open better places: room freed at a site (a workload deleted, a request lowered or scaled down,
  Pods gone), a site usable again or a node added, a request lowered, a priority changed.
- `waiting`: the workloads no placement holds for (Unplaceable, or Degraded on older Pods) for lack
  of room: solved again at once when room they `could_use` frees.
- `why_not`: why a placed workload may not move now (an agreement's or the guard's offload is open,
  its own move is not finished, its QoS is degraded (the guard's), its budget or cool-down);
  `could_gain`: whether some usable site is nearer to its users than every site it runs on.
- `worth`: a what-if's answer gains enough (the same thresholds as the guard's fail-back);
  `confirmed`: and it did a little while ago too (a metrics blip moves nothing).
- `settled` / `in_progress`: moves of the operator's own intents still rolling (the cluster-wide
  limit on concurrent moves counts them).
No I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator import intents, offload, qos_status
from orchestrator.engine import Outcome
from orchestrator.health import Replica
from orchestrator.intents import Intent
from orchestrator.move_intents import Own, open_offload
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.rollout import PodState
from orchestrator.site_status import gains_from
from orchestrator.snapshot import NOTHING_RESERVED, Reserved, add, cpu_m, left, memory_mb, node_ready
from orchestrator.vocabulary import QOS_GUARD_INTENT, SITE_LABEL, Phase, Reason
from orchestrator.vocabulary import WorkloadCondition as Cond

MOVE_TIMEOUT_S = 180.0  # an own move still rolling after this long no longer counts as in progress


@dataclass(frozen=True)
class Room:
    """What a site's Ready, uncordoned nodes have left (as the kube-scheduler counts it) and how many there are."""

    cpu_m: int = 0
    memory_mb: int = 0
    nodes: int = 0


@dataclass(frozen=True)
class Shape:
    """What of a workload takes room or decides who gets it."""

    replicas: int
    cpu_m: int
    memory_mb: int
    gpu: int
    priority: int


@dataclass(frozen=True)
class Look:
    """One look at the cluster: room per usable site, shape per workload."""

    room: Mapping[str, Room]
    shapes: Mapping[str, Shape]


def free_room(nodes: Iterable[Mapping[str, Any]], sites: Mapping[str, Mapping[str, Any]],
              pods: Mapping[str, Sequence[Replica]] | None, foreign: Mapping[str, Reserved],
              site_up: Mapping[str, bool]) -> dict[str, Room]:
    """Per usable site (known, not cordoned, not down), what its Ready uncordoned nodes have left:
    allocatable less the requests of every Pod on them (edgeorch's, terminating ones too, and others)."""
    used: dict[str, Reserved] = {}
    for replicas in (pods or {}).values():
        for r in replicas:
            used[r.node] = add(used.get(r.node, NOTHING_RESERVED), r.requests)
    out: dict[str, list[int]] = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        site = (meta.get("labels") or {}).get(SITE_LABEL)
        if not site or site not in sites or (sites[site] or {}).get("cordoned") or not site_up.get(site, True) \
                or not node_ready(node):
            continue
        name = str(meta.get("name"))
        try:
            rest = left(node, add(used.get(name, NOTHING_RESERVED), foreign.get(name, NOTHING_RESERVED)))
        except ValueError:
            continue
        acc = out.setdefault(site, [0, 0, 0])
        acc[0] += max(0, rest.cpu_m)
        acc[1] += max(0, rest.memory_mb)
        acc[2] += 1
    return {site: Room(*v) for site, v in out.items()}


def shapes(bodies: Mapping[str, Mapping[str, Any]],
           cache: dict[str, tuple[tuple[str, int], Shape]] | None = None) -> dict[str, Shape]:
    """Each workload's Shape; `cache` (key -> ((uid, generation), shape)) saves parsing a spec again."""
    out: dict[str, Shape] = {}
    for key, body in bodies.items():
        meta = body.get("metadata") or {}
        version = (str(meta.get("uid", "")), int(meta.get("generation") or 0))
        known = cache.get(key) if cache is not None else None
        if known is not None and known[0] == version:
            out[key] = known[1]
            continue
        spec = body.get("spec") or {}
        res = spec.get("resources") or {}
        try:
            out[key] = Shape(int(spec.get("replicas") or 0), cpu_m(res.get("cpu", 0)), memory_mb(res.get("memory", 0)),
                             int(res.get("gpu") or 0), int(spec.get("priority") or 0))
        except (ValueError, TypeError):
            continue
        if cache is not None:
            cache[key] = (version, out[key])
    if cache is not None:
        for key in [k for k in cache if k not in bodies]:
            del cache[key]
    return out


def triggers(before: Look, after: Look) -> list[str]:
    """What changed from `before` to `after` that may open better places, in words (empty: nothing)."""
    out: list[str] = []
    back = sorted(set(after.room) - set(before.room))
    if back:
        out.append(f"site(s) usable again: {', '.join(back)}")
    added = sorted(s for s in set(after.room) & set(before.room) if after.room[s].nodes > before.room[s].nodes)
    if added:
        out.append(f"node(s) added at {', '.join(added)}")
    freed = sorted(s for s in set(after.room) & set(before.room)
                   if after.room[s].cpu_m > before.room[s].cpu_m or after.room[s].memory_mb > before.room[s].memory_mb)
    if freed:
        out.append(f"room freed at {', '.join(freed)}")
    gone = sorted(set(before.shapes) - set(after.shapes))
    if gone:
        out.append(f"deleted: {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}")
    lowered, ranked = [], []
    for key in sorted(set(before.shapes) & set(after.shapes)):
        a, b = before.shapes[key], after.shapes[key]
        if (b.replicas, b.cpu_m, b.memory_mb, b.gpu) != (a.replicas, a.cpu_m, a.memory_mb, a.gpu) and \
                b.replicas <= a.replicas and b.cpu_m <= a.cpu_m and b.memory_mb <= a.memory_mb and b.gpu <= a.gpu:
            lowered.append(key)
        if b.priority != a.priority:
            ranked.append(key)
    if lowered:
        out.append(f"request lowered: {', '.join(lowered[:5])}{' ...' if len(lowered) > 5 else ''}")
    if ranked:
        out.append(f"priority changed: {', '.join(ranked[:5])}{' ...' if len(ranked) > 5 else ''}")
    return out


def _condition(body: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in (body.get("status") or {}).get("conditions") or []
                 if isinstance(c, Mapping) and c.get("type") == type_), None)


def waiting(body: Mapping[str, Any]) -> bool:
    """Whether no placement holds the workload for lack of room (Unplaceable, or Degraded: older Pods
    kept), so freed room may place it (not a spec or template the solver refuses: that fails again)."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if meta.get("deletionTimestamp") or not (body.get("spec") or {}).get("replicas"):
        return False
    cond = _condition(body, Cond.UNPLACEABLE)
    return status.get("phase") in (Phase.UNPLACEABLE, Phase.DEGRADED) and cond is not None \
        and cond.get("status") == "True" and cond.get("reason") == Reason.NO_FEASIBLE_PLACEMENT


def could_use(body: Mapping[str, Any], shape: Shape, site: str, site_spec: Mapping[str, Any], room: Room,
              latency_ms: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether a waiting workload might be placed in `room` at `site`: one replica's request fits in
    what the site has left, its tier is allowed and every cell with traffic is within the latency
    bound (a cheap first look: the solve decides)."""
    spec = body.get("spec") or {}
    tiers = (spec.get("placement") or {}).get("allowedTiers") or []
    bound = float((spec.get("qos") or {}).get("maxLatencyMs") or 0)
    cells = [str(c.get("cell")) for c in (spec.get("users") or {}).get("cells") or [] if float(c.get("share") or 0) > 0]
    return room.cpu_m >= shape.cpu_m and room.memory_mb >= shape.memory_mb \
        and (not tiers or site_spec.get("tier") in tiers) \
        and all(latency_ms.get(c, {}).get(site, float("inf")) <= bound for c in cells)


def settled(body: Mapping[str, Any], pods: Mapping[str, PodState] | None) -> bool:
    """Whether the workload's replica Pods are the ones its status places, all Ready (no rollout or
    move under way); False when they are unknown."""
    if pods is None:
        return False
    nodes = [str(p.get("node")) for p in (body.get("status") or {}).get("placements") or [] if isinstance(p, Mapping)]
    return len(pods) == len(nodes) and all(p.ready for p in pods.values()) \
        and Counter(p.node for p in pods.values()) == Counter(nodes)


def in_progress(own: Own | None, body: Mapping[str, Any], pods: Mapping[str, PodState] | None, now: float) -> bool:
    """Whether an intent of ours on this workload is still being carried out (not yet, or its Pods
    still rolling), for at most MOVE_TIMEOUT_S."""
    if own is None or now - own.intent.window_start > MOVE_TIMEOUT_S:
        return False
    return not own.done or not settled(body, pods)


def why_not(key: str, body: Mapping[str, Any], spec: EdgeWorkloadSpec, sla: Sequence[Intent], own: Own | None,
            degraded: bool, pods: Mapping[str, PodState] | None, now: float) -> str | None:
    """Why the placed workload `key` may not be moved by the re-optimiser now (None: it may)."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if meta.get("deletionTimestamp") or spec.replicas == 0 or status.get("phase") != Phase.PLACED \
            or status.get("observedGeneration") != meta.get("generation") or not status.get("placements"):
        return "not placed for its current spec"
    if open_offload(sla) is not None:
        return "an agreement's offload is open"
    if own is not None and (not own.done or (own.intent.sla == QOS_GUARD_INTENT and own.intent.action == intents.OFFLOAD)):
        return "the QoS guard's move is open" if own.intent.sla == QOS_GUARD_INTENT else "its last move is open"
    if degraded:
        return "its QoS bound is broken (the QoS guard moves it)"
    if not settled(body, pods):
        return "its replicas are rolling"
    return offload.deferred(body, spec, now)


def could_gain(body: Mapping[str, Any], usable: Iterable[str], latency_ms: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether some usable site is nearer to users of the workload (cells with traffic) than every
    site it runs on (orchestrator.site_status.gains_from): only then can a move gain latency."""
    here = {str(p.get("site")) for p in (body.get("status") or {}).get("placements") or [] if isinstance(p, Mapping)}
    return any(gains_from(body, site, latency_ms) for site in usable if site not in here)


def confirmed(first_seen: Mapping[str, float], gaining: Sequence[str], now: float, after_s: float
              ) -> tuple[list[str], dict[str, float]]:
    """Of the workloads `gaining` now (best first), those whose gain was first seen at least `after_s`
    ago (a gain seen in one look only, a metrics blip, moves nothing), and when each of the gaining
    ones was first seen (those that stopped gaining are forgotten)."""
    seen = {key: first_seen.get(key, now) for key in gaining}
    return [key for key in gaining if now - seen[key] >= after_s], seen


def worth(now_ms: float, current: Sequence[str], what_if: Outcome, min_ms: float, min_share: float) -> bool:
    """Whether the what-if's answer moves the workload and gains enough predicted latency."""
    then_ms = what_if.predicted_latency_ms
    return what_if.placed and then_ms is not None and Counter(what_if.nodes) != Counter(current) \
        and qos_status.enough(now_ms, then_ms, min_ms, min_share)


__all__ = ["MOVE_TIMEOUT_S", "Look", "Room", "Shape", "confirmed", "could_gain", "could_use", "free_room", "in_progress", "settled",
           "shapes", "triggers", "waiting", "why_not", "worth"]
