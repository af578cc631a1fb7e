"""Array view of an instance: indices, per-workload latency per site, per-replica unit costs.

Sites come before nodes: latency depends only on the site, so it is computed once per
(workload, site) and broadcast to the site's nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from placement.model import TIERS, Instance, Weights

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class WorkloadView:
    """Per-workload arrays over all sites: mean (traffic-weighted) and worst-cell latency."""

    cell_index: IntArray
    shares: FloatArray
    mean_latency: FloatArray
    worst_latency: FloatArray


class Catalog:
    """Index maps and numpy arrays of an instance; built once per solve."""

    def __init__(self, inst: Instance, weights: Weights) -> None:
        self.instance = inst
        self.weights = weights
        self.site_names = [s.name for s in inst.sites]
        self.site_index = {n: i for i, n in enumerate(self.site_names)}
        self.node_names = [n.name for n in inst.nodes]
        self.node_index = {n: i for i, n in enumerate(self.node_names)}
        self.workload_index = {w.name: i for i, w in enumerate(inst.workloads)}
        self.cell_names = list(inst.latency_ms)
        self.cell_index = {c: i for i, c in enumerate(self.cell_names)}
        self.site_tier = np.array([TIERS.index(s.tier) for s in inst.sites], dtype=np.int64)
        self.site_zone = [s.zone for s in inst.sites]
        self.zone_ids = {z: i for i, z in enumerate(sorted(set(self.site_zone)))}
        self.site_zone_id = np.array([self.zone_ids[z] for z in self.site_zone], dtype=np.int64)
        self.site_excluded = np.array([s.name in inst.excluded_sites for s in inst.sites], dtype=np.bool_)
        self.site_penalty = np.array([inst.site_penalty_ms.get(s.name, 0.0) for s in inst.sites])
        n_cells, n_sites = len(self.cell_names), len(self.site_names)
        self.latency = np.zeros((n_cells, n_sites))
        for ci, cell in enumerate(self.cell_names):
            row = inst.latency_ms[cell]
            self.latency[ci] = [row[s] for s in self.site_names]
        self.bandwidth = np.full((n_cells, n_sites), np.nan)
        for cell, brow in inst.bandwidth_mbps.items():
            ci = self.cell_index[cell]
            for s, mbps in brow.items():
                self.bandwidth[ci, self.site_index[s]] = mbps
        nodes = inst.nodes
        self.node_site = np.array([self.site_index[n.site] for n in nodes], dtype=np.int64)
        self.free_cpu = np.array([n.free_cpu_m for n in nodes], dtype=np.int64)
        self.free_mem = np.array([n.free_memory_mb for n in nodes], dtype=np.int64)
        self.cap_cpu = np.array([n.cpu_m for n in nodes], dtype=np.int64)
        self.used_cpu = np.array([n.used_cpu_m for n in nodes], dtype=np.int64)
        self.gpu = np.array([n.free_gpu for n in nodes], dtype=np.int64)  # free GPUs
        # free Pod slots (every replica is one Pod); a node without a limit gets more than all
        # replicas of the instance, so the limit never binds there
        self.all_replicas = sum(w.replicas for w in inst.workloads)
        self.free_pods = np.array([n.free_pods(self.all_replicas + 1) for n in nodes], dtype=np.int64)
        self.pod_limited = bool((self.free_pods <= self.all_replicas).any())  # some limit can bind
        self.cost_per_cpu = np.array([n.cost_per_cpu_hour for n in nodes])
        self.power_per_cpu = np.array([n.power_per_cpu_w for n in nodes])
        self.idle_power = np.array([n.idle_power_w for n in nodes])
        self.node_taints = [n.taints for n in nodes]
        self.node_tainted = np.array([bool(n.taints) for n in nodes], dtype=np.bool_)
        self.site_nodes: list[IntArray] = [
            np.flatnonzero(self.node_site == s).astype(np.int64) for s in range(n_sites)
        ]
        self._views: dict[int, WorkloadView] = {}

    def nodes_named(self, names: frozenset[str]) -> BoolArray:
        """A mask over all nodes: True for the nodes in `names` (unknown names are ignored)."""
        mask = np.zeros(len(self.node_names), dtype=np.bool_)
        mask[[self.node_index[n] for n in names if n in self.node_index]] = True
        return mask

    def view(self, wi: int) -> WorkloadView:
        """Latency of workload `wi` to every site (cached)."""
        cached = self._views.get(wi)
        if cached is not None:
            return cached
        w = self.instance.workloads[wi]
        idx = np.array([self.cell_index[c] for c in w.cells], dtype=np.int64)
        shares = np.array([w.cells[c] for c in w.cells])
        rows = self.latency[idx]
        mean = shares @ rows + self.site_penalty
        positive = shares > 0
        worst = (rows[positive] if positive.any() else rows).max(axis=0) + self.site_penalty
        view = WorkloadView(idx, shares, mean, worst)
        self._views[wi] = view
        return view

    def unit_cost(self, wi: int, nodes: IntArray) -> FloatArray:
        """Objective cost of one replica of workload `wi` on each node (latency, $ and dynamic power)."""
        w = self.instance.workloads[wi]
        wt = self.weights
        lat = self.view(wi).mean_latency[self.node_site[nodes]]
        cpu = w.cpu_m / 1000.0
        per_cpu = wt.cost * self.cost_per_cpu[nodes] + wt.energy * self.power_per_cpu[nodes]
        result: FloatArray = wt.latency * lat + cpu * per_cpu
        return result
