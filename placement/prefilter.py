"""Running the filter plugins: one workload with the reason it fits nowhere, or all at once.

Owns: `feasible_nodes` (site plugins, then node plugins on the surviving sites' nodes, one workload;
when a plugin removes the last candidate, the reason names it and every requirement that passed),
`feasible_all` (each plugin's rule for all workloads at once, as (workload x site) and (workload x
node) masks; workloads left without any node go through `feasible_nodes` again, only for the
reason), and the worst-cell latency matrix the latency rule shares. The rules themselves are the
plugins' (placement.filters), written once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.catalog import BoolArray, Catalog, FloatArray, IntArray
from placement.filters import DEFAULT_PLUGINS, Batch, Code, FilterPlugin
from placement.model import Workload


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
        if len(candidates) and not plugin.constrains(cat, w):
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


def _slots(cat: Catalog) -> tuple[IntArray, FloatArray]:
    """Cells of every workload padded to the same count: (W x K) cell indices, shares (0 = pad)."""
    inst = cat.instance
    k = max((len(w.cells) for w in inst.workloads), default=1)
    idx = np.zeros((len(inst.workloads), k), dtype=np.int64)
    share = np.zeros((len(inst.workloads), k))
    for wi, w in enumerate(inst.workloads):
        for j, (cell, s) in enumerate(w.cells.items()):
            idx[wi, j] = cat.cell_index[cell]
            share[wi, j] = s
    return idx, share


def site_latency(cat: Catalog) -> tuple[FloatArray, FloatArray]:
    """(W x S) traffic-weighted mean latency and worst latency over the cells with traffic
    (all cells if none has any), site penalties included."""
    idx, share = _slots(cat)
    n_w, k = idx.shape
    lengths = np.array([len(w.cells) for w in cat.instance.workloads], dtype=np.int64)
    real: BoolArray = np.asarray(np.arange(k)[None, :] < lengths[:, None], dtype=np.bool_)
    positive: BoolArray = real & (share > 0)
    counted: BoolArray = np.where(np.any(positive, axis=1, keepdims=True), positive, real)
    mean = np.zeros((n_w, len(cat.site_names)))
    worst = np.full((n_w, len(cat.site_names)), -np.inf)
    for j in range(k):
        rows = cat.latency[idx[:, j]]
        mean += share[:, j, None] * rows
        worst = np.where(counted[:, j, None], np.maximum(worst, rows), worst)
    return mean + cat.site_penalty[None, :], worst + cat.site_penalty[None, :]


def feasible_all(cat: Catalog, worst: FloatArray | None = None,
                 plugins: tuple[FilterPlugin, ...] = DEFAULT_PLUGINS) -> list[Feasibility]:
    """`feasible_nodes` for every workload, each plugin's rule run on all of them at once (`worst`:
    the worst-cell latency from `site_latency`, if already computed)."""
    inst = cat.instance
    if not inst.workloads:
        return []
    if worst is None:
        _mean, worst = site_latency(cat)
    batch = Batch(cat, np.arange(len(inst.workloads), dtype=np.int64), worst)
    sites = np.arange(len(cat.site_names), dtype=np.int64)
    site_ok: BoolArray = np.ones((len(inst.workloads), len(sites)), dtype=np.bool_)
    for plugin in plugins:
        if plugin.level == "site":
            site_ok &= plugin.keep(batch, sites)
    order = (np.concatenate(cat.site_nodes) if cat.site_nodes else np.zeros(0, dtype=np.int64)).astype(np.int64)
    node_ok = site_ok[:, cat.node_site[order]]
    for plugin in plugins:
        if plugin.level == "node":
            node_ok &= plugin.keep(batch, order)
    out: list[Feasibility] = []
    for wi in range(len(inst.workloads)):
        nodes = order[node_ok[wi]]
        out.append(Feasibility(nodes, "") if len(nodes) else feasible_nodes(cat, wi, plugins))
    return out
