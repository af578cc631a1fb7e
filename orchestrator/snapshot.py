"""Pure builders: from Kubernetes objects and QoS metrics to the placement core's Instance.

Input is plain data (Node and EdgeSite dicts as the API returns them, EdgeWorkload specs, a
metrics snapshot); nothing here does I/O.  Workloads are keyed "namespace/name".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.resources.common import parse_quantity
from orchestrator.selectors import node_test
from orchestrator.vocabulary import FAR_EDGE_TAINT, SITE_LABEL, TIER_LABEL
from placement import Instance, Node, Site, Workload

ZONE_LABEL = "topology.kubernetes.io/region"


@dataclass(frozen=True)
class QosMetrics:
    """One reading of the QoS metrics: cell -> site latency and bandwidth, per-node usage."""

    latency_ms: Mapping[str, Mapping[str, float]]
    bandwidth_mbps: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    node_cpu_m: Mapping[str, int] = field(default_factory=dict)
    node_memory_mb: Mapping[str, int] = field(default_factory=dict)
    site_up: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One workload to place: its key, validated spec and the nodes its replicas run on now."""

    key: str
    spec: EdgeWorkloadSpec
    current: tuple[str, ...] = ()
    avoid_sites: frozenset[str] = frozenset()  # sites to leave (an SLA breach there)
    avoid_nodes: frozenset[str] = frozenset()  # nodes where its replicas could not run lately
    dry_run: bool = False  # what-if: answer, but hold no capacity
    migration_weight: float | None = None  # override the configured cost of moving a replica
    users: Mapping[str, float] | None = None  # cell -> share measured (spec.users.fromMetric); None: spec.users.cells

    @property
    def cells(self) -> Mapping[str, float]:
        """Where its users are: the measured distribution, else spec.users.cells scaled to sum to 1
        exactly (the API server takes shares within 0.001 of 1; placement wants 1)."""
        if self.users is not None:
            return self.users
        total = sum(c.share for c in self.spec.users.cells)
        return {c.cell: c.share / total for c in self.spec.users.cells} if total > 0 else {}


def cpu_m(value: str | int, field: str = "cpu") -> int:
    """CPU in millicores (rounded up); ValueError naming `field` when not a quantity."""
    try:
        return math.ceil(parse_quantity(value) * 1000)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from exc


def memory_mb(value: str | int, field: str = "memory") -> int:
    """Memory in MiB (rounded up)."""
    try:
        return math.ceil(parse_quantity(value) / 2**20)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from exc


class Reserved(NamedTuple):
    """What workloads outside a batch hold on one node: requests summed over their replicas there,
    and one Pod per replica."""

    cpu_m: int = 0
    memory_mb: int = 0
    gpu: int = 0
    pods: int = 0


NOTHING_RESERVED = Reserved()


def pod_requests(spec: Mapping[str, Any]) -> Reserved:
    """What one Pod holds on its node as the kube-scheduler counts it: its containers' requests
    summed, or its largest init container's when that is more, and one Pod."""
    def requests(containers: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, int]]:
        out = []
        for c in containers:
            req = (c.get("resources") or {}).get("requests") or {}
            try:
                out.append((cpu_m(req.get("cpu", 0)), memory_mb(req.get("memory", 0)),
                            int(parse_quantity(req.get("nvidia.com/gpu", 0)))))
            except (ValueError, TypeError):
                continue  # the API server validated it; a quantity we cannot read counts as nothing
        return out

    run = requests(spec.get("containers") or [])
    init = requests(spec.get("initContainers") or [])
    totals = [sum(r[i] for r in run) for i in range(3)]
    peaks = [max((r[i] for r in init), default=0) for i in range(3)]
    cpu, mem, gpu = (max(t, p) for t, p in zip(totals, peaks, strict=True))
    return Reserved(cpu, mem, gpu, 1)


def add(a: Reserved, b: Reserved) -> Reserved:
    return Reserved(a.cpu_m + b.cpu_m, a.memory_mb + b.memory_mb, a.gpu + b.gpu, a.pods + b.pods)


def node_up(node: Mapping[str, Any]) -> bool:
    """The node runs Pods: its Ready condition is True (cordoned or not)."""
    conds = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []}
    return conds.get("Ready") == "True"


def node_cordoned(node: Mapping[str, Any]) -> bool:
    return bool((node.get("spec") or {}).get("unschedulable"))


def node_ready(node: Mapping[str, Any]) -> bool:
    """The node takes new Pods: up and not cordoned."""
    return node_up(node) and not node_cordoned(node)


SCHEDULING_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule is a preference, not a rule


def taint_id(taint: Mapping[str, Any]) -> str:
    """A taint as placement sees it: `key=value:effect` (Node.taints and Workload.tolerations hold these)."""
    return f"{taint.get('key', '')}={taint.get('value', '')}:{taint.get('effect', '')}"


def _node_taints(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in (node.get("spec") or {}).get("taints") or []
            if isinstance(t, Mapping) and t.get("effect") in SCHEDULING_EFFECTS]


def _taints(node: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(taint_id(t) for t in _node_taints(node))


def operator_tolerations(spec: EdgeWorkloadSpec) -> list[dict[str, str]]:
    """What edgeorch adds to every replica Pod: far-edge's taint when that tier is allowed."""
    if spec.placement.allowed_tiers and "far-edge" not in spec.placement.allowed_tiers:
        return []
    return [{"key": FAR_EDGE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """The kube-scheduler's rule: key (or an empty key with Exists: every key), effect (empty: every
    effect) and, for Equal (the default operator), the value."""
    op = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if (key and key != taint.get("key")) or (not key and op != "Exists"):
        return False
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    return op == "Exists" or (toleration.get("value") or "") == (taint.get("value") or "")


def tolerations(spec: EdgeWorkloadSpec, taints: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The taints (of `taints`: taint_id -> taint) a workload's Pods tolerate: by its template's
    tolerations and those edgeorch adds (operator_tolerations)."""
    own = [t for t in (spec.template.spec.model_extra or {}).get("tolerations") or [] if isinstance(t, Mapping)]
    tols = [*own, *operator_tolerations(spec)]
    return frozenset(tid for tid, taint in taints.items() if any(tolerates(t, taint) for t in tols))


def left(node: Mapping[str, Any], used: Reserved) -> Reserved:
    """A node's allocatable CPU, memory, GPUs and Pods less `used` (may be negative: overcommitted)."""
    alloc = (node.get("status") or {}).get("allocatable") or {}
    name = (node.get("metadata") or {}).get("name", "?")
    pods = alloc.get("pods")
    return Reserved(cpu_m(alloc.get("cpu", "0"), f"node {name} allocatable.cpu") - used.cpu_m,
                    memory_mb(alloc.get("memory", "0"), f"node {name} allocatable.memory") - used.memory_mb,
                    int(parse_quantity(alloc.get("nvidia.com/gpu", "0"))) - used.gpu,
                    (int(parse_quantity(pods)) if pods is not None else 10**6) - used.pods)


def fits(need: Reserved, room: Reserved) -> bool:
    return need.cpu_m <= room.cpu_m and need.memory_mb <= room.memory_mb and need.gpu <= room.gpu and need.pods <= room.pods


def build_nodes(
    nodes: Iterable[Mapping[str, Any]],
    sites: Mapping[str, Mapping[str, Any]],
    metrics: QosMetrics,
    reserved: Mapping[str, Reserved],
    foreign: Mapping[str, Reserved] | None = None,
) -> tuple[list[Node], list[Site]]:
    """Placement nodes (Ready ones of known sites) and the sites they belong to.  What a node has
    left: its allocatable CPU, memory, GPUs and `pods`, less what edgeorch's replicas outside the
    batch hold there (`reserved`) and less what other Pods take (`foreign`: their requests, as the
    kube-scheduler counts them).  For CPU and memory the metrics' load not managed by edgeorch is
    the other measure of those Pods: the larger of the two counts, never both."""
    foreign = foreign or {}
    out: list[Node] = []
    used_sites: dict[str, Site] = {}
    for node in nodes:
        meta = node.get("metadata", {})
        labels = meta.get("labels") or {}
        site_name = labels.get(SITE_LABEL)
        if not site_name or site_name not in sites or not node_ready(node):
            continue
        if metrics.site_up and not metrics.site_up.get(site_name, True):
            continue
        site_spec = sites[site_name]
        tier = site_spec.get("tier") or labels.get(TIER_LABEL, "")
        zone = site_spec.get("zone") or labels.get(ZONE_LABEL, "")
        alloc = (node.get("status") or {}).get("allocatable") or {}
        name = meta["name"]
        held = reserved.get(name, NOTHING_RESERVED)
        other = foreign.get(name, NOTHING_RESERVED)
        pods = alloc.get("pods")
        power = site_spec.get("power") or {}
        out.append(Node(
            name=name, site=site_name, tier=tier, zone=zone,
            cpu_m=cpu_m(alloc.get("cpu", "0"), f"node {name} allocatable.cpu"),
            memory_mb=memory_mb(alloc.get("memory", "0"), f"node {name} allocatable.memory"),
            gpu=int(parse_quantity(alloc.get("nvidia.com/gpu", "0"))),
            used_cpu_m=held.cpu_m + max(other.cpu_m, metrics.node_cpu_m.get(name, 0)),
            used_memory_mb=held.memory_mb + max(other.memory_mb, metrics.node_memory_mb.get(name, 0)),
            used_gpu=held.gpu + other.gpu,
            pods=int(parse_quantity(pods)) if pods is not None else None,
            used_pods=held.pods + other.pods,
            taints=_taints(node),
            cost_per_cpu_hour=float(site_spec.get("costPerCpuHour", 0.0)),
            idle_power_w=float(power.get("idleWatts", 0.0)),
            power_per_cpu_w=float(power.get("wattsPerCpu", 0.0)),
        ))
        used_sites.setdefault(site_name, Site(site_name, tier, zone))
    return out, sorted(used_sites.values(), key=lambda s: s.name)


def build_workload(req: Request, known_nodes: frozenset[str] | set[str] | None = None,
                   allowed_nodes: frozenset[str] | None = None,
                   taints: Mapping[str, Mapping[str, Any]] | None = None) -> Workload:
    """The placement workload; replicas now on nodes placement cannot use (gone, NotReady, avoided)
    are no current placement: they must move anyway."""
    spec = req.spec
    current = tuple(n for n in req.current
                    if n not in req.avoid_nodes and (known_nodes is None or n in known_nodes))
    return Workload(
        name=req.key,
        replicas=spec.replicas,
        cpu_m=cpu_m(spec.resources.cpu, "spec.resources.cpu"),
        memory_mb=memory_mb(spec.resources.memory, "spec.resources.memory"),
        gpu=spec.resources.gpu,
        cells=req.cells,
        max_latency_ms=spec.qos.max_latency_ms,
        min_bandwidth_mbps=spec.qos.min_bandwidth_mbps,
        allowed_zones=frozenset(spec.placement.allowed_zones) or None,
        allowed_tiers=frozenset(str(t) for t in spec.placement.allowed_tiers) or None,
        prefer_tier=str(spec.placement.prefer_tier) if spec.placement.prefer_tier else None,
        max_per_site=spec.placement.max_per_site,
        max_per_node=spec.placement.max_per_node,
        priority=spec.priority,
        tolerations=tolerations(spec, taints or {}),
        current=current,
        avoid_nodes=req.avoid_nodes,
        allowed_nodes=allowed_nodes,
    )


def cordoned_sites(sites: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The sites (name -> EdgeSite spec) that take no replicas: `spec.cordoned`."""
    return frozenset(name for name, spec in sites.items() if spec.get("cordoned"))


def build_instance(
    nodes: Iterable[Mapping[str, Any]],
    sites: Mapping[str, Mapping[str, Any]],
    requests: Iterable[Request],
    metrics: QosMetrics,
    reserved: Mapping[str, Reserved],
    *,
    foreign: Mapping[str, Reserved] | None = None,
    excluded_sites: frozenset[str] = frozenset(),
    site_penalty_ms: Mapping[str, float] | None = None,
) -> Instance:
    """The placement instance for `requests`, with capacity reduced by `reserved` (node -> what the
    workloads not in this batch hold there).  Latency rows only for known sites; cells the metrics do not
    know make the workload invalid (InvalidInstance names it).  Cordoned sites (EdgeSite
    `spec.cordoned`) are excluded like `excluded_sites`: no replica goes there, those there move.  A
    site the latency measurements do not cover for every cell (a new site before its probes report)
    takes no replicas: without it the instance would be invalid for every workload of the batch."""
    nodes = list(nodes)
    pnodes, psites = build_nodes(nodes, sites, metrics, reserved, foreign)
    unmeasured = {s.name for s in psites if any(s.name not in row for row in metrics.latency_ms.values())}
    if unmeasured:
        pnodes = [n for n in pnodes if n.site not in unmeasured]
        psites = [s for s in psites if s.name not in unmeasured]
    known = {s.name for s in psites}
    node_names = {n.name for n in pnodes}
    usable = [n for n in nodes if n.get("metadata", {}).get("name") in node_names]
    taints = {taint_id(t): t for n in usable for t in _node_taints(n)}
    seen: dict[str, frozenset[str] | None] = {}

    def admitted(req: Request) -> frozenset[str] | None:
        """The usable nodes its Pod template admits (None: no nodeSelector or node affinity)."""
        extra = req.spec.template.spec.model_extra or {}
        rules: dict[str, Any] = {k: extra[k] for k in ("nodeSelector", "affinity") if k in extra}
        if not rules:
            return None
        key = json.dumps(rules, sort_keys=True, default=str)
        if key not in seen:
            test = node_test(rules)
            seen[key] = None if test is None else frozenset(n["metadata"]["name"] for n in usable if test(n))
        return seen[key]
    latency = {cell: {s: v for s, v in row.items() if s in known} for cell, row in metrics.latency_ms.items()}
    bandwidth = {cell: {s: v for s, v in row.items() if s in known} for cell, row in metrics.bandwidth_mbps.items()}
    return Instance(
        nodes=tuple(pnodes),
        sites=tuple(psites),
        workloads=tuple(build_workload(r, node_names, admitted(r), taints) for r in requests),
        latency_ms=latency,
        bandwidth_mbps=bandwidth,
        excluded_sites=(excluded_sites | cordoned_sites(sites)) & known,
        site_penalty_ms={k: v for k, v in (site_penalty_ms or {}).items() if k in known},
    )
