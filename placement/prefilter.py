"""The default filter plugins evaluated for all workloads at once (numpy matrices).

Same rules as the plugins in placement.filters (sites before nodes, the same node order),
computed as (workload x site) and (workload x node) masks instead of one workload at a
time. Workloads left without any node are run through `feasible_nodes` again, one by
one, only to get the plugins' explanation of why.
"""

from __future__ import annotations

import numpy as np

from placement.catalog import BoolArray, Catalog, FloatArray, IntArray
from placement.filters import DEFAULT_PLUGINS, Feasibility, FilterPlugin, feasible_nodes
from placement.model import TIERS


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


def _site_mask(cat: Catalog, worst: FloatArray) -> BoolArray:
    inst = cat.instance
    ok: BoolArray = np.broadcast_to(~cat.site_excluded[None, :], worst.shape).copy()
    idx, _share = _slots(cat)
    lengths = np.array([len(w.cells) for w in inst.workloads], dtype=np.int64)
    bw = np.nan_to_num(cat.bandwidth, nan=0.0)
    min_bw = np.full(worst.shape, np.inf)
    for j in range(idx.shape[1]):
        min_bw = np.where((j < lengths)[:, None], np.minimum(min_bw, bw[idx[:, j]]), min_bw)
    zones: dict[frozenset[str], BoolArray] = {}
    tiers: dict[frozenset[str], BoolArray] = {}
    for wi, w in enumerate(inst.workloads):
        row = ok[wi]
        if w.allowed_zones is not None:
            if w.allowed_zones not in zones:
                ids = [cat.zone_ids[z] for z in w.allowed_zones if z in cat.zone_ids]
                zones[w.allowed_zones] = np.isin(cat.site_zone_id, np.array(ids, dtype=np.int64))
            row &= zones[w.allowed_zones]
        if w.allowed_tiers is not None:
            if w.allowed_tiers not in tiers:
                allowed = np.array([TIERS.index(t) for t in w.allowed_tiers], dtype=np.int64)
                tiers[w.allowed_tiers] = np.isin(cat.site_tier, allowed)
            row &= tiers[w.allowed_tiers]
        if w.max_latency_ms is not None:
            row &= worst[wi] <= w.max_latency_ms + 1e-9
        if w.min_bandwidth_mbps is not None:
            row &= min_bw[wi] >= w.min_bandwidth_mbps - 1e-9
    return ok


def feasible_all(cat: Catalog, worst: FloatArray | None = None,
                 plugins: tuple[FilterPlugin, ...] = DEFAULT_PLUGINS) -> list[Feasibility]:
    """`feasible_nodes` for every workload; vectorised for the default plugins (`worst`: the
    worst-cell latency from `site_latency`, if already computed)."""
    inst = cat.instance
    if plugins is not DEFAULT_PLUGINS or not inst.workloads:
        return [feasible_nodes(cat, wi, plugins) for wi in range(len(inst.workloads))]
    if worst is None:
        _mean, worst = site_latency(cat)
    site_ok = _site_mask(cat, worst)
    order = (np.concatenate(cat.site_nodes) if cat.site_nodes else np.zeros(0, dtype=np.int64)).astype(np.int64)
    cpu = np.array([w.cpu_m for w in inst.workloads], dtype=np.int64)
    mem = np.array([w.memory_mb for w in inst.workloads], dtype=np.int64)
    gpu = np.array([w.gpu for w in inst.workloads], dtype=np.int64)
    node_ok = site_ok[:, cat.node_site[order]]
    node_ok &= cat.free_cpu[order][None, :] >= cpu[:, None]
    node_ok &= cat.free_mem[order][None, :] >= mem[:, None]
    node_ok &= cat.gpu[order][None, :] >= gpu[:, None]
    node_ok &= cat.free_pods[order][None, :] >= 1
    tainted = cat.node_tainted[order]
    if tainted.any():
        by_tolerations: dict[frozenset[str], BoolArray] = {}
        for wi, w in enumerate(inst.workloads):
            allowed = by_tolerations.get(w.tolerations)
            if allowed is None:
                allowed = np.array([not t or cat.node_taints[int(n)] <= w.tolerations
                                    for n, t in zip(order.tolist(), tainted.tolist(), strict=True)], dtype=np.bool_)
                by_tolerations[w.tolerations] = allowed
            node_ok[wi] &= allowed
    for wi, w in enumerate(inst.workloads):
        if w.allowed_nodes is not None:
            node_ok[wi] &= cat.nodes_named(w.allowed_nodes)[order]
        if w.avoid_nodes:
            node_ok[wi] &= ~cat.nodes_named(w.avoid_nodes)[order]
    out: list[Feasibility] = []
    for wi in range(len(inst.workloads)):
        nodes = order[node_ok[wi]]
        out.append(Feasibility(nodes, "") if len(nodes) else feasible_nodes(cat, wi, plugins))
    return out
