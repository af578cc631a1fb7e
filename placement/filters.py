"""Scheduler-framework-style filter plugins: prune impossible workload/node pairs.

Each plugin answers, for one workload and a set of candidate sites or nodes, which
candidates survive, as a FilterStatus (never an exception). Site-level plugins run
first; node-level plugins only see nodes of surviving sites. When a plugin removes
the last candidate, its status explains why, in words naming the constraint.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from placement.catalog import BoolArray, Catalog, IntArray
from placement.model import TIERS, Workload


class Code(enum.Enum):
    SUCCESS = "success"
    UNSCHEDULABLE = "unschedulable"


@dataclass(frozen=True, slots=True)
class FilterStatus:
    plugin: str
    keep: BoolArray
    detail: str = ""

    @property
    def code(self) -> Code:
        return Code.SUCCESS if bool(self.keep.any()) else Code.UNSCHEDULABLE


class FilterPlugin(Protocol):
    name: str
    level: Literal["site", "node"]

    def active(self, w: Workload) -> bool:
        """Whether the plugin constrains this workload at all."""
        ...

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        """The requirement as words, e.g. 'within 10 ms of cell c1', 'in zone es-bcn'."""
        ...

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        """Which of `candidates` (site or node indices, per `level`) pass."""
        ...


def _ms(x: float) -> str:
    return f"{x:g} ms"


class ExcludedSites:
    name = "ExcludedSites"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return False

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return "at a non-excluded site"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        keep = ~cat.site_excluded[candidates]
        return FilterStatus(self.name, keep, "every candidate site is excluded (offloaded)")


class TierAllowed:
    name = "TierAllowed"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.allowed_tiers is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return f"in tier {'/'.join(sorted(w.allowed_tiers or ()))}"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        w = cat.instance.workloads[wi]
        if w.allowed_tiers is None:
            return FilterStatus(self.name, np.ones(len(candidates), dtype=np.bool_))
        allowed = np.array([TIERS.index(t) for t in w.allowed_tiers], dtype=np.int64)
        keep = np.isin(cat.site_tier[candidates], allowed)
        return FilterStatus(self.name, keep, "no site of an allowed tier")


class ZoneAllowed:
    name = "ZoneAllowed"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.allowed_zones is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        zones = sorted(w.allowed_zones or ())
        return f"in zone {', '.join(zones)}"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        w = cat.instance.workloads[wi]
        if w.allowed_zones is None:
            return FilterStatus(self.name, np.ones(len(candidates), dtype=np.bool_))
        ids = np.array([cat.zone_ids[z] for z in w.allowed_zones if z in cat.zone_ids], dtype=np.int64)
        keep = np.isin(cat.site_zone_id[candidates], ids)
        return FilterStatus(self.name, keep, "no site in an allowed zone (data sovereignty)")


class LatencyBound:
    """Every cell with traffic must reach the site within max_latency_ms (penalty included)."""

    name = "LatencyBound"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.max_latency_ms is not None

    def _cells(self, w: Workload) -> list[str]:
        return sorted(c for c, share in w.cells.items() if share > 0) or sorted(w.cells)

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        cells = self._cells(w)
        noun = "cell" if len(cells) == 1 else "cells"
        return f"within {_ms(w.max_latency_ms or 0.0)} of {noun} {', '.join(cells)}"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        w = cat.instance.workloads[wi]
        if w.max_latency_ms is None:
            return FilterStatus(self.name, np.ones(len(candidates), dtype=np.bool_))
        worst = cat.view(wi).worst_latency[candidates]
        keep = worst <= w.max_latency_ms + 1e-9
        detail = ""
        if len(candidates) and not keep.any():
            best = int(np.argmin(worst))
            site = int(candidates[best])
            view = cat.view(wi)
            per_cell = cat.latency[view.cell_index, site] + cat.site_penalty[site]
            cell = cat.cell_names[int(view.cell_index[int(np.argmax(per_cell))])]
            detail = f"closest: site {cat.site_names[site]} at {_ms(round(float(worst[best]), 3))} from cell {cell}"
        return FilterStatus(self.name, keep, detail)


class BandwidthBound:
    name = "BandwidthBound"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.min_bandwidth_mbps is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return f"with {w.min_bandwidth_mbps:g} Mbps from every user cell"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        w = cat.instance.workloads[wi]
        if w.min_bandwidth_mbps is None:
            return FilterStatus(self.name, np.ones(len(candidates), dtype=np.bool_))
        rows = cat.bandwidth[cat.view(wi).cell_index][:, candidates]
        worst = np.nan_to_num(rows, nan=0.0).min(axis=0)
        keep = worst >= w.min_bandwidth_mbps - 1e-9
        detail = f"best: {float(worst.max()):g} Mbps" if len(candidates) and not keep.any() else ""
        return FilterStatus(self.name, keep, detail)


class TaintToleration:
    name = "TaintToleration"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return False

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return "with only tolerated taints"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        tol = cat.instance.workloads[wi].tolerations
        keep = ~cat.node_tainted[candidates]
        for k in np.flatnonzero(~keep):
            keep[k] = cat.node_taints[int(candidates[k])] <= tol
        return FilterStatus(self.name, keep, "every node has a taint the workload does not tolerate")


class NodeSelector:
    """Nodes the workload's Pod template admits (its nodeSelector and required node affinity)."""

    name = "NodeSelector"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return w.allowed_nodes is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return "admitted by its Pod template's nodeSelector and node affinity"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        allowed = cat.instance.workloads[wi].allowed_nodes
        if allowed is None:
            return FilterStatus(self.name, np.ones(len(candidates), dtype=np.bool_))
        keep = cat.nodes_named(allowed)[candidates]
        return FilterStatus(self.name, keep, f"it admits {len(allowed)} node(s) in all")


class AvoidedNodes:
    """Nodes where the workload's replicas could not run lately (kubelet or scheduler refused them)."""

    name = "AvoidedNodes"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return bool(w.avoid_nodes)

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return f"other than {', '.join(sorted(w.avoid_nodes))} (its Pods could not run there)"

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        avoid = cat.instance.workloads[wi].avoid_nodes
        keep = ~cat.nodes_named(avoid)[candidates]
        return FilterStatus(self.name, keep, "its Pods could not run on any of them lately")


def _fmt_cpu(m: int | float) -> str:
    return f"{m / 1000:g} CPU{'s' if m != 1000 else ''}"


class ResourceFit:
    """One replica must fit in the node's free CPU, memory and GPU."""

    name = "ResourceFit"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return True

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        parts = [f"{_fmt_cpu(w.cpu_m)} free", f"{w.memory_mb} MB memory free"]
        if w.gpu:
            parts.append(f"{w.gpu} GPU")
        return "with " + ", ".join(parts)

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        w = cat.instance.workloads[wi]
        ok_cpu = cat.free_cpu[candidates] >= w.cpu_m
        ok_mem = cat.free_mem[candidates] >= w.memory_mb
        ok_gpu = cat.gpu[candidates] >= w.gpu
        ok_pods = cat.free_pods[candidates] >= 1
        keep = ok_cpu & ok_mem & ok_gpu & ok_pods
        detail = ""
        if len(candidates) and not keep.any():
            never = _fits_no_node(cat, w)
            if never:
                detail = never
            elif not ok_pods.any():
                detail = "every such node already runs its most Pods (allocatable pods)"
            elif not ok_gpu.any():
                detail = f"largest GPU count: {int(cat.gpu[candidates].max())}"
            elif not ok_cpu.any():
                best = int(candidates[int(np.argmax(cat.free_cpu[candidates]))])
                detail = f"most free: node {cat.node_names[best]} with {_fmt_cpu(int(cat.free_cpu[best]))}"
            else:
                best = int(candidates[int(np.argmax(cat.free_mem[candidates]))])
                detail = f"most free: node {cat.node_names[best]} with {int(cat.free_mem[best])} MB"
        return FilterStatus(self.name, keep, detail)


def _fits_no_node(cat: Catalog, w: Workload) -> str:
    """Why no node of the instance could hold one replica even if it ran nothing else ('' when some
    node could): waiting for capacity to free up will not place it."""
    nodes = cat.instance.nodes
    for what, need, largest, fmt in (
        ("CPU", w.cpu_m, max((n.cpu_m for n in nodes), default=0), _fmt_cpu),
        ("memory", w.memory_mb, max((n.memory_mb for n in nodes), default=0), lambda mb: f"{mb} MB"),
        ("GPUs", w.gpu, max((n.gpu for n in nodes), default=0), str),
    ):
        if need > largest:
            return f"larger than every node: the most {what} any node has is {fmt(largest)}, so it fits nowhere " \
                   f"until its request shrinks or a bigger node joins"
    return ""


DEFAULT_PLUGINS: tuple[FilterPlugin, ...] = (
    ExcludedSites(), ZoneAllowed(), TierAllowed(), LatencyBound(), BandwidthBound(),
    TaintToleration(), NodeSelector(), AvoidedNodes(), ResourceFit(),
)


@dataclass(frozen=True, slots=True)
class Feasibility:
    """Nodes that may host at least one replica of a workload, or why none can."""

    nodes: IntArray
    reason: str


def _predicate(plugin: FilterPlugin, cat: Catalog, w: Workload) -> str:
    q = plugin.qualifier(cat, w)
    if q.startswith("with "):
        return "has " + q[len("with "):]
    return "is " + q


def _passes_all(plugin: FilterPlugin, cat: Catalog, w: Workload) -> bool:
    """A shortcut: the plugin cannot remove any candidate (its constraint is not set)."""
    if isinstance(plugin, ZoneAllowed | TierAllowed | LatencyBound | BandwidthBound):
        return not plugin.active(w)
    if isinstance(plugin, ExcludedSites):
        return not bool(cat.site_excluded.any())
    if isinstance(plugin, AvoidedNodes):
        return not w.avoid_nodes
    if isinstance(plugin, NodeSelector):
        return w.allowed_nodes is None
    return False


def feasible_nodes(
    cat: Catalog, wi: int, plugins: tuple[FilterPlugin, ...] = DEFAULT_PLUGINS
) -> Feasibility:
    """Run site plugins, then node plugins on the surviving sites' nodes."""
    w = cat.instance.workloads[wi]
    sites: IntArray = np.arange(len(cat.site_names), dtype=np.int64)
    nodes: IntArray | None = None
    passed: list[str] = []
    for plugin in plugins:
        if plugin.level == "node" and nodes is None:
            nodes = (np.concatenate([cat.site_nodes[s] for s in sites]) if len(sites)
                     else np.zeros(0, dtype=np.int64))
            if len(nodes) == 0:
                where = " ".join(passed)
                return Feasibility(nodes, f"no node {where}".strip() + " exists (those sites have no nodes)")
        candidates = sites if plugin.level == "site" else nodes
        assert candidates is not None
        if len(candidates) and _passes_all(plugin, cat, w):
            continue
        status = plugin.filter(cat, wi, candidates)
        if status.code is Code.UNSCHEDULABLE:
            where = " ".join(passed)
            subject = f"no node {where}".rstrip()
            reason = f"{subject} {_predicate(plugin, cat, w)}"
            if status.detail:
                reason += f" ({status.detail})"
            return Feasibility(np.zeros(0, dtype=np.int64), f"{plugin.name}: {reason}")
        if plugin.level == "site":
            sites = sites[status.keep]
        else:
            nodes = candidates[status.keep]
        if plugin.active(w):
            passed.append(plugin.qualifier(cat, w))
    if nodes is None:
        nodes = np.concatenate([cat.site_nodes[s] for s in sites]) if len(sites) else np.zeros(0, np.int64)
    return Feasibility(nodes.astype(np.int64), "")
