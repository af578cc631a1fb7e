"""Replica health: which placed workloads lost replicas, and where they must not go back.

Pure: from what the watches hold (each workload's decided nodes, its replica Pods with their
trouble, the Nodes' state) to repairs.  A replica needs a new home when its Node is gone or
NotReady (or cordoned while the replica still waits to start), when its Pod Failed (the kubelet
refused it, say OutOfcpu), when the scheduler has called it Unschedulable for a while, or when its
Pod is missing (deleted by hand, evicted).  Nodes where a Pod could not run are avoided for a while
(`AVOID_NODES_ANNOTATION` on the EdgeWorkload, so a restarted operator keeps avoiding them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.rollout import pod_ready
from orchestrator.snapshot import NOTHING_RESERVED, Reserved, node_cordoned, node_up
from orchestrator.vocabulary import AVOID_NODES_ANNOTATION

AVOID_NODE_S = 600.0  # how long a node where a replica could not run is avoided
UNSCHEDULABLE_GRACE_S = 15.0  # the scheduler may still bind a Pod it called Unschedulable this recently
READY, CORDONED, DOWN = "Ready", "cordoned", "NotReady"


@dataclass(frozen=True)
class Replica:
    """One replica Pod as the watch sees it: its node and, when it cannot run, why and since when."""

    pod: str
    node: str
    trouble: str = ""
    since: float | None = None  # epoch seconds the trouble started (Unschedulable), None if unknown
    running: bool = False  # bound and started (a cordon does not move it)
    version: str = ""  # its template-hash label (orchestrator.rollout)
    ready: bool = False  # its Ready condition is True
    requests: Reserved = NOTHING_RESERVED  # what it holds on its node (snapshot.pod_requests)
    terminating: bool = False  # being deleted: no replica any more, but it holds its room until it is gone
    ip: str = ""  # its Pod IP (the serving map: orchestrator.endpoints.serving)
    uid: str = ""  # metadata.uid: a delete names it, so it never hits a newer Pod of the same name


@dataclass(frozen=True)
class Repair:
    """What is wrong with a workload's replicas: words for the Event, nodes to avoid, and whether the
    Pods themselves say so (a placement must be re-solved even though the Pods match the status)."""

    reasons: tuple[str, ...]
    avoid_nodes: frozenset[str] = frozenset()
    force: bool = True


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def replica_of(name: str, node: str, status: Mapping[str, Any], version: str = "",
               requests: Reserved = NOTHING_RESERVED, terminating: bool = False, uid: str = "") -> Replica:
    """A replica Pod's health from its status: Failed, or Unschedulable (with since when), or fine.
    A terminating one is no replica any more; it only holds its room until it is gone."""
    if terminating:
        return Replica(name, node, version=version, requests=requests, terminating=True, uid=uid)
    phase = status.get("phase") or "Pending"
    ready = pod_ready(status)
    if phase == "Failed":
        why = status.get("reason") or "Failed"
        message = status.get("message") or "the Pod failed"
        return Replica(name, node, f"Pod {name} failed on node {node} ({why}: {message})"[:300], version=version,
                       uid=uid)
        # (a Failed Pod holds nothing on its node)
    for cond in status.get("conditions") or []:
        if (cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"):
            message = cond.get("message") or "no reason given"
            return Replica(name, node, f"Pod {name} is Unschedulable on node {node} ({message})"[:300],
                           _epoch(cond.get("lastTransitionTime")), version=version, requests=requests, uid=uid)
    return Replica(name, node, running=phase == "Running", version=version, ready=ready, requests=requests,
                   ip=status.get("podIP") or "", uid=uid)


def node_state(node: Mapping[str, Any]) -> str:
    """READY, CORDONED (Ready but spec.unschedulable) or DOWN (NotReady, offline)."""
    if not node_up(node):
        return DOWN
    return CORDONED if node_cordoned(node) else READY


def diagnose(placed: Sequence[str], replicas: Sequence[Replica], nodes: Mapping[str, str], now: float,
             grace_s: float = UNSCHEDULABLE_GRACE_S) -> Repair | None:
    """What needs repair for a workload decided onto `placed` nodes whose Pods are `replicas`;
    `nodes` maps node name -> node_state (a node not in it is gone).  None: nothing to repair."""
    reasons: list[str] = []
    avoid: set[str] = set()
    for r in sorted(replicas, key=lambda r: r.pod):
        state = nodes.get(r.node)
        if state is None or state == DOWN:
            reasons.append(f"replica {r.pod}: node {r.node} is {'gone' if state is None else 'NotReady'}")
        elif state == CORDONED and not r.running:
            reasons.append(f"replica {r.pod}: node {r.node} is cordoned and the Pod has not started")
        elif r.trouble and (r.since is None or now - r.since >= grace_s):
            reasons.append(r.trouble)
            avoid.add(r.node)
    if reasons:
        return Repair(tuple(reasons), frozenset(avoid))
    missing = Counter(placed) - Counter(r.node for r in replicas)
    if missing:
        where = ", ".join(f"{n} ({k})" if k > 1 else n for n, k in sorted(missing.items()))
        return Repair((f"replica Pods missing on node(s) {where} (deleted or evicted)",), force=False)
    return None


def avoided_nodes(annotations: Mapping[str, str] | None, now: float) -> dict[str, float]:
    """The nodes a workload still avoids (node -> epoch second the avoidance ends)."""
    text = (annotations or {}).get(AVOID_NODES_ANNOTATION)
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, float] = {}
    for node, until in raw.items():
        end = _epoch(until) if isinstance(until, str) else None
        if isinstance(node, str) and end is not None and end > now:
            out[node] = end
    return out


def avoid_annotation(current: Mapping[str, float], add: frozenset[str], now: float,
                     hold_s: float = AVOID_NODE_S) -> str:
    """The annotation value after avoiding `add` from `now` on (expired entries dropped)."""
    merged = {n: t for n, t in current.items() if t > now}
    for n in add:
        merged[n] = max(merged.get(n, 0.0), now + hold_s)
    return json.dumps({n: datetime.fromtimestamp(t, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
                       for n, t in sorted(merged.items())}, separators=(",", ":"))


__all__ = [
    "CORDONED", "DOWN", "READY", "Repair", "Replica", "avoid_annotation",
    "avoided_nodes", "diagnose", "node_state", "replica_of",
]
