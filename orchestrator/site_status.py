"""An EdgeSite's status, and what a change of it means: pure, from what the watches hold.

`site_status` turns one EdgeSite and what the operator sees of it (its Nodes, the replica Pods and
other Pods on them, the `edgeorch_site_up` metric) into the status to write: nodes and Ready nodes,
allocatable and free CPU, memory and GPUs (free: allocatable less what the Pods there request now,
as the kube-scheduler counts it), the replicas hosted, the health and the `Ready` and `Cordoned`
conditions; and, by comparing with the status already written, whether anything changed, whether
it is worth writing at once (a condition, the health or a node count; numbers alone may wait), and
the Events a transition calls for (Cordoned, Drained, Uncordoned).  `gains_from` says whether a
workload could gain from a site that takes replicas again.  No I/O.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orchestrator.health import Replica
from orchestrator.resources import EdgeSiteStatus
from orchestrator.resources.common import ConditionStatus, parse_quantity, set_condition, status_patch, to_k8s
from orchestrator.snapshot import Reserved, cpu_m, memory_mb, node_cordoned, node_up
from orchestrator.vocabulary import EventType, Health, Phase, Reason, SiteCondition

URGENT = ("observedGeneration", "nodes", "readyNodes", "health", "conditions")  # written without waiting


@dataclass(frozen=True)
class SiteReport:
    """What to write about one site, and what it means."""

    status: dict[str, Any]  # the status patch (every field of EdgeSiteStatus)
    changed: bool  # differs from the status written
    urgent: bool  # a condition, the health or a node count changed: write now, not at the next slot
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    uncordoned: bool = False  # the site was cordoned and is no more: workloads may return


def cpu_quantity(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib and mib % 1024 == 0 else f"{mib}Mi"


@functools.lru_cache(maxsize=4096)
def _quantities(cpu: str, memory: str, gpu: str) -> tuple[int, int, int]:
    try:
        return cpu_m(cpu), memory_mb(memory), int(parse_quantity(gpu))
    except (ValueError, TypeError):
        return 0, 0, 0  # the kubelet wrote it; a quantity we cannot read counts as nothing


def _allocatable(node: Mapping[str, Any]) -> tuple[int, int, int]:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    return _quantities(str(alloc.get("cpu", 0)), str(alloc.get("memory", 0)), str(alloc.get("nvidia.com/gpu", 0)))


def _resources(r: Sequence[int]) -> dict[str, Any]:
    """(millicores, MiB, GPUs) as the status says them (never below 0: overcommitted is nothing free)."""
    return {"cpu": cpu_quantity(max(0, r[0])), "memory": memory_quantity(max(0, r[1])), "gpu": max(0, r[2])}


def _previous(body: Mapping[str, Any]) -> EdgeSiteStatus:
    try:
        return EdgeSiteStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return EdgeSiteStatus.model_validate({})


def _health(nodes: int, ready: int, up: bool | None) -> tuple[Health, str, str]:
    """(health, reason, message) of a site with `ready` of `nodes` Ready and edgeorch_site_up `up`."""
    if up is False:
        return Health.DOWN, Reason.SITE_OFFLINE, "edgeorch_site_up is 0: the site is unreachable"
    if ready == 0:
        return Health.DOWN, Reason.NO_READY_NODES, "no node of the site is Ready" if nodes else "the site has no nodes"
    if ready < nodes:
        return Health.DEGRADED, Reason.NODES_NOT_READY, f"{ready}/{nodes} nodes Ready"
    unknown = "" if up is not None else " (edgeorch_site_up unknown)"
    return Health.UP, Reason.SITE_UP, f"{ready}/{nodes} nodes Ready{unknown}"


def site_status(body: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]],
                replicas: Mapping[str, Sequence[Replica]], foreign: Mapping[str, Reserved], up: bool | None,
                now: datetime | None = None) -> SiteReport:
    """The status of the EdgeSite `body` whose Nodes are `nodes`: `replicas` are the replica Pods on
    them (workload key -> Pods), `foreign` what other Pods request per node, `up` its
    edgeorch_site_up (None: unknown).  Cheap when nothing changed (the loop asks every few seconds
    for every site): the status model is built only for a status to write."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    name = str(meta.get("name", ""))
    alloc, used = [0, 0, 0], [0, 0, 0]
    taking: set[str] = set()  # the nodes that take new Pods
    ready = 0
    for node in nodes:
        if not node_up(node):
            continue
        ready += 1
        if node_cordoned(node):
            continue
        node_name = node["metadata"]["name"]
        taking.add(node_name)
        for i, v in enumerate(_allocatable(node)):
            alloc[i] += v
        other = foreign.get(node_name)
        if other is not None:
            used[0], used[1], used[2] = used[0] + other.cpu_m, used[1] + other.memory_mb, used[2] + other.gpu
    hosted = workloads = 0
    for pods in replicas.values():
        live = sum(1 for r in pods if not r.terminating)  # (a terminating Pod still holds its room)
        hosted += live
        workloads += 1 if live else 0
        for r in pods:
            if r.node in taking:
                q = r.requests
                used[0], used[1], used[2] = used[0] + q.cpu_m, used[1] + q.memory_mb, used[2] + q.gpu
    health, why, message = _health(len(nodes), ready, up)
    gen = meta.get("generation")
    cordoned = bool(spec.get("cordoned"))
    wanted = {SiteCondition.READY.value: (ConditionStatus.FALSE if health == Health.DOWN else ConditionStatus.TRUE,
                                          why, message)}
    if cordoned:
        wanted[SiteCondition.CORDONED.value] = (
            ConditionStatus.TRUE, Reason.DRAINED if hosted == 0 else Reason.DRAINING,
            "no new replicas are placed here; " + ("no replica is left" if hosted == 0 else
                                                   "the replicas here move to other sites, make-before-break"))
    else:
        wanted[SiteCondition.CORDONED.value] = (ConditionStatus.FALSE, Reason.NOT_CORDONED,
                                                "new replicas may be placed here")
    fields: dict[str, Any] = {
        "observedGeneration": gen, "nodes": len(nodes), "readyNodes": ready,
        "allocatable": _resources(alloc), "free": _resources([a - u for a, u in zip(alloc, used, strict=True)]),
        "replicas": hosted, "workloads": workloads, "health": health.value,
    }
    old = body.get("status") or {}
    old_conds = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, Mapping)}
    changed = [k for k, v in fields.items() if old.get(k) != v]
    if any((old_conds.get(t) or {}).get("status") != st or old_conds[t].get("reason") != reason
           or old_conds[t].get("message") != msg or old_conds[t].get("observedGeneration") != gen
           for t, (st, reason, msg) in wanted.items()):
        changed.append("conditions")
    if not changed:
        return SiteReport({}, False, False)
    conds = _previous(body).conditions
    for t, (st, reason, msg) in wanted.items():
        conds = set_condition(conds, t, st, reason, msg, gen, now)
    patch = status_patch(EdgeSiteStatus.model_validate({**fields, "conditions": [to_k8s(c) for c in conds]}))
    before = old_conds.get(SiteCondition.CORDONED.value) or {}
    was_cordoned = before.get("status") == ConditionStatus.TRUE
    events: list[tuple[str, str, str]] = []
    if cordoned and not was_cordoned:
        events.append((EventType.NORMAL, Reason.CORDONED,
                       f"no new replicas are placed on {name}; its {hosted} replica(s) of "
                       f"{workloads} workload(s) move to other sites, make-before-break"))
    if cordoned and hosted == 0 and not (was_cordoned and before.get("reason") == Reason.DRAINED):
        events.append((EventType.NORMAL, Reason.DRAINED, f"no replica is left on {name}"))
    uncordoned = was_cordoned and not cordoned
    if uncordoned:
        events.append((EventType.NORMAL, Reason.UNCORDONED,
                       f"{name} takes new replicas again; workloads that gain from it are placed again"))
    return SiteReport(patch, True, any(k in URGENT for k in changed), events, uncordoned)


def gains_from(workload: Mapping[str, Any], site: str, latency_ms: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether an EdgeWorkload could gain from `site` taking replicas again, so is worth solving
    again: one without a placement that holds (Unplaceable, Degraded), or one some of whose users
    (cells with traffic) are nearer to `site` than to every site its replicas are on now.  The
    solve, with its migration cost, decides whether it moves."""
    status = workload.get("status") or {}
    if status.get("phase") in (Phase.UNPLACEABLE, Phase.DEGRADED):
        return True
    here = {str(p["site"]) for p in status.get("placements") or [] if isinstance(p, Mapping) and p.get("site")}
    if not here:
        return False  # not placed yet: its own reconciliation places it
    from orchestrator.users import cells_in_use  # (not at the top: users -> workloads -> engine -> here)

    for cell, share in cells_in_use(workload).items():
        row = latency_ms.get(cell, {})
        if share > 0 and site in row and \
                row[site] < min((row[s] for s in here if s in row), default=math.inf):
            return True
    return False


__all__ = ["SiteReport", "cpu_quantity", "gains_from", "memory_quantity", "site_status"]
