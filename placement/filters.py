"""Scheduler-framework-style filter plugins: prune impossible workload/node pairs.

Owns: every filter rule, written once. A plugin's `keep` is its rule for a batch of workloads and
a set of candidate sites or nodes (a workloads x candidates mask); `filter` runs it for one workload
and, when it removes the last candidate, explains why in words naming the constraint (a
FilterStatus, never an exception); placement.prefilter runs the same `keep` for all workloads at
once. Site-level plugins run first; node-level plugins only see nodes of surviving sites.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from placement.catalog import BoolArray, Catalog, FloatArray, IntArray
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


@dataclass(frozen=True, slots=True)
class Batch:
    """Workloads filtered together, and what their rules share: the worst-cell latency of every
    workload to every site, where already computed (placement.prefilter.site_latency)."""

    cat: Catalog
    wis: IntArray
    worst: FloatArray | None = None  # (all workloads x sites)

    def workloads(self) -> list[Workload]:
        return [self.cat.instance.workloads[int(wi)] for wi in self.wis]

    def worst_latency(self, candidates: IntArray) -> FloatArray:
        """(batch x candidate sites) worst latency over the cells with traffic, penalties included."""
        if self.worst is not None:
            rows: FloatArray = self.worst[self.wis][:, candidates]
            return rows
        return np.array([self.cat.view(int(wi)).worst_latency[candidates] for wi in self.wis]).reshape(
            len(self.wis), len(candidates))

    def least_bandwidth(self, rows: IntArray, candidates: IntArray) -> FloatArray:
        """(rows x candidate sites) the least bandwidth from any cell of the batch's workloads `rows`
        (positions in the batch) to each site, missing links as 0."""
        cat = self.cat
        ws = [cat.instance.workloads[int(self.wis[i])] for i in rows]
        k = max((len(w.cells) for w in ws), default=1)
        idx = np.array([[cat.cell_index[c] for c in w.cells] + [cat.cell_index[next(iter(w.cells))]] * (k - len(w.cells))
                        for w in ws], dtype=np.int64).reshape(len(ws), k)  # padded with a cell of its own
        bw = np.nan_to_num(cat.bandwidth[:, candidates], nan=0.0)
        least: FloatArray = bw[idx].min(axis=1)
        return least


class FilterPlugin(Protocol):
    name: str
    level: Literal["site", "node"]

    def active(self, w: Workload) -> bool:
        """Whether the plugin constrains this workload at all (its requirement goes into reasons)."""
        ...

    def constrains(self, cat: Catalog, w: Workload) -> bool:
        """Whether the plugin may remove a candidate of this workload (False: it can be skipped)."""
        ...

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        """The requirement as words, e.g. 'within 10 ms of cell c1', 'in zone es-bcn'."""
        ...

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        """The rule: which of `candidates` (site or node indices, per `level`) pass, per workload of
        `batch` (a len(batch.wis) x len(candidates) mask)."""
        ...

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        """Which of `candidates` pass for workload `wi`, and why none does."""
        ...


def _ms(x: float) -> str:
    return f"{x:g} ms"


def _all(batch: Batch, candidates: IntArray) -> BoolArray:
    return np.ones((len(batch.wis), len(candidates)), dtype=np.bool_)


def _by_key(batch: Batch, candidates: IntArray, key: object, row: object) -> BoolArray:
    """Rows of a rule that depends on one requirement of the workload (`key(w)`, None: no constraint),
    each distinct requirement computed once by `row(requirement, candidates)`."""
    out = _all(batch, candidates)
    groups: dict[object, list[int]] = {}
    for i, w in enumerate(batch.workloads()):
        need = key(w)  # type: ignore[operator]
        if need is not None:
            groups.setdefault(need, []).append(i)
    for need, rows in groups.items():
        out[np.array(rows, dtype=np.int64)] &= row(need, candidates)[None, :]  # type: ignore[operator]
    return out


class _Rule:
    """A plugin from its rule: `filter` is `keep` for one workload, with `why` it kept nothing."""

    name: str

    def active(self, w: Workload) -> bool:
        raise NotImplementedError

    def constrains(self, cat: Catalog, w: Workload) -> bool:
        """By default, a plugin constrains exactly the workloads it is active for."""
        return self.active(w)

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        raise NotImplementedError

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        """Why no candidate passes (only asked then)."""
        return ""

    def filter(self, cat: Catalog, wi: int, candidates: IntArray) -> FilterStatus:
        keep = self.keep(Batch(cat, np.array([wi], dtype=np.int64)), candidates)[0]
        return FilterStatus(self.name, keep, "" if keep.any() else self.why(cat, wi, candidates))


class ExcludedSites(_Rule):
    name = "ExcludedSites"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return False

    def constrains(self, cat: Catalog, w: Workload) -> bool:
        return bool(cat.site_excluded.any())

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return "at a non-excluded site"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        return _all(batch, candidates) & ~batch.cat.site_excluded[candidates][None, :]

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        return "every candidate site is excluded (offloaded or cordoned)"


class TierAllowed(_Rule):
    name = "TierAllowed"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.allowed_tiers is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return f"in tier {'/'.join(sorted(w.allowed_tiers or ()))}"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        def row(tiers: frozenset[str], c: IntArray) -> BoolArray:
            return np.isin(batch.cat.site_tier[c], np.array([TIERS.index(t) for t in tiers], dtype=np.int64))
        return _by_key(batch, candidates, lambda w: w.allowed_tiers, row)

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        return "no site of an allowed tier"


class ZoneAllowed(_Rule):
    name = "ZoneAllowed"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.allowed_zones is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        zones = sorted(w.allowed_zones or ())
        return f"in zone {', '.join(zones)}"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        cat = batch.cat

        def row(zones: frozenset[str], c: IntArray) -> BoolArray:
            ids = np.array([cat.zone_ids[z] for z in zones if z in cat.zone_ids], dtype=np.int64)
            return np.isin(cat.site_zone_id[c], ids)
        return _by_key(batch, candidates, lambda w: w.allowed_zones, row)

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        return "no site in an allowed zone (data sovereignty)"


class LatencyBound(_Rule):
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

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        limits = [w.max_latency_ms for w in batch.workloads()]
        bounded = np.array([m is not None for m in limits], dtype=np.bool_)
        if not bounded.any():
            return _all(batch, candidates)
        limit = np.array([m if m is not None else np.inf for m in limits])
        worst = batch.worst_latency(candidates)
        out: BoolArray = np.where(bounded[:, None], worst <= limit[:, None] + 1e-9, True)
        return out

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        if not len(candidates):
            return ""
        view = cat.view(wi)
        worst = view.worst_latency[candidates]
        best = int(np.argmin(worst))
        site = int(candidates[best])
        per_cell = cat.latency[view.cell_index, site] + cat.site_penalty[site]
        cell = cat.cell_names[int(view.cell_index[int(np.argmax(per_cell))])]
        return f"closest: site {cat.site_names[site]} at {_ms(round(float(worst[best]), 3))} from cell {cell}"


class BandwidthBound(_Rule):
    name = "BandwidthBound"
    level: Literal["site", "node"] = "site"

    def active(self, w: Workload) -> bool:
        return w.min_bandwidth_mbps is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return f"with {w.min_bandwidth_mbps:g} Mbps from every user cell"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        out = _all(batch, candidates)
        ws = batch.workloads()
        rows = np.array([i for i, w in enumerate(ws) if w.min_bandwidth_mbps is not None], dtype=np.int64)
        if len(rows):
            need = np.array([ws[i].min_bandwidth_mbps or 0.0 for i in rows])
            out[rows] = batch.least_bandwidth(rows, candidates) >= need[:, None] - 1e-9
        return out

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        if not len(candidates):
            return ""
        least = Batch(cat, np.array([wi], dtype=np.int64)).least_bandwidth(np.zeros(1, dtype=np.int64), candidates)
        return f"best: {float(least.max()):g} Mbps"


class TaintToleration(_Rule):
    name = "TaintToleration"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return False

    def constrains(self, cat: Catalog, w: Workload) -> bool:
        return True

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return "with only tolerated taints"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        cat = batch.cat
        tainted = cat.node_tainted[candidates]
        if not tainted.any():
            return _all(batch, candidates)

        def row(tolerations: frozenset[str], c: IntArray) -> BoolArray:
            ok = ~tainted
            for k in np.flatnonzero(tainted):
                ok[k] = cat.node_taints[int(c[k])] <= tolerations
            return ok
        return _by_key(batch, candidates, lambda w: w.tolerations, row)

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        return "every node has a taint the workload does not tolerate"


class NodeSelector(_Rule):
    """Nodes the workload's Pod template admits (its nodeSelector and required node affinity)."""

    name = "NodeSelector"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return w.allowed_nodes is not None

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return "admitted by its Pod template's nodeSelector and node affinity"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        return _by_key(batch, candidates, lambda w: w.allowed_nodes,
                       lambda names, c: batch.cat.nodes_named(names)[c])

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        return f"it admits {len(cat.instance.workloads[wi].allowed_nodes or ())} node(s) in all"


class AvoidedNodes(_Rule):
    """Nodes where the workload's replicas could not run lately (kubelet or scheduler refused them)."""

    name = "AvoidedNodes"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return bool(w.avoid_nodes)

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        return f"other than {', '.join(sorted(w.avoid_nodes))} (its Pods could not run there)"

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        return _by_key(batch, candidates, lambda w: w.avoid_nodes or None,
                       lambda names, c: ~batch.cat.nodes_named(names)[c])

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        return "its Pods could not run on any of them lately"


def _fmt_cpu(m: int | float) -> str:
    return f"{m / 1000:g} CPU{'s' if m != 1000 else ''}"


class ResourceFit(_Rule):
    """One replica must fit in the node's free CPU, memory and GPU."""

    name = "ResourceFit"
    level: Literal["site", "node"] = "node"

    def active(self, w: Workload) -> bool:
        return True

    def constrains(self, cat: Catalog, w: Workload) -> bool:
        return True

    def qualifier(self, cat: Catalog, w: Workload) -> str:
        parts = [f"{_fmt_cpu(w.cpu_m)} free", f"{w.memory_mb} MB memory free"]
        if w.gpu:
            parts.append(f"{w.gpu} GPU")
        return "with " + ", ".join(parts)

    def keep(self, batch: Batch, candidates: IntArray) -> BoolArray:
        cat, ws = batch.cat, batch.workloads()
        cpu = np.array([w.cpu_m for w in ws], dtype=np.int64)
        mem = np.array([w.memory_mb for w in ws], dtype=np.int64)
        gpu = np.array([w.gpu for w in ws], dtype=np.int64)
        keep: BoolArray = cat.free_cpu[candidates][None, :] >= cpu[:, None]
        keep &= cat.free_mem[candidates][None, :] >= mem[:, None]
        keep &= cat.gpu[candidates][None, :] >= gpu[:, None]
        keep &= cat.free_pods[candidates][None, :] >= 1
        return keep

    def why(self, cat: Catalog, wi: int, candidates: IntArray) -> str:
        w = cat.instance.workloads[wi]
        if not len(candidates):
            return ""
        never = _fits_no_node(cat, w)
        if never:
            return never
        if not (cat.free_pods[candidates] >= 1).any():
            return "every such node already runs its most Pods (allocatable pods)"
        if not (cat.gpu[candidates] >= w.gpu).any():
            return f"largest GPU count: {int(cat.gpu[candidates].max())}"
        if not (cat.free_cpu[candidates] >= w.cpu_m).any():
            best = int(candidates[int(np.argmax(cat.free_cpu[candidates]))])
            return f"most free: node {cat.node_names[best]} with {_fmt_cpu(int(cat.free_cpu[best]))}"
        best = int(candidates[int(np.argmax(cat.free_mem[candidates]))])
        return f"most free: node {cat.node_names[best]} with {int(cat.free_mem[best])} MB"


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
