"""Seeded synthetic instances with a realistic edge structure (for tests and benchmarks).

Per zone: radio cells on a 40 km square, one far-edge cabinet per cell with 1-2 small
nodes, a few MEC (edge) sites with medium nodes, and one cloud region with a few large
nodes 20-35 ms away. Workloads: URLLC (tight latency, far-edge/edge only), interactive
(12-20 ms) and best effort (no bound); some pinned to their home zone, some spread.
Pure and deterministic: the same arguments give the same instance.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from placement.model import Instance, Node, Site, Weights, Workload

ZONES = ("es-bcn", "es-mad", "fr-par")
GPU_TAINT = "nvidia.com/gpu"


def _shares(rng: random.Random, k: int) -> list[float]:
    raw = [rng.randint(1, 9) for _ in range(k)]
    total = sum(raw)
    shares = [r / total for r in raw]
    shares[-1] = 1.0 - sum(shares[:-1])
    return shares


def generate(n_workloads: int, n_nodes: int, seed: int = 0, load: float = 0.55) -> Instance:
    """An instance with about `n_nodes` nodes and exactly `n_workloads` workloads."""
    rng = random.Random(seed)
    zones = ZONES[: max(1, min(len(ZONES), n_nodes // 60 + 1))]
    n_cloud = max(1, round(n_nodes * 0.05))
    n_edge = max(len(zones), round(n_nodes * 0.35))
    n_far = max(len(zones), n_nodes - n_cloud - n_edge)
    sites: list[Site] = []
    nodes: list[Node] = []
    coords: dict[str, tuple[str, float, float]] = {}
    cells: list[tuple[str, str, float, float]] = []
    far_left = n_far
    z = 0
    while far_left > 0:  # far-edge: one cabinet per cell, 1-2 nodes
        zone = zones[z % len(zones)]
        z += 1
        x, y = rng.uniform(0, 40), rng.uniform(0, 40)
        name = f"fe{len(cells)}"
        cell = f"c{len(cells)}"
        cells.append((cell, zone, x, y))
        sites.append(Site(name, "far-edge", zone))
        coords[name] = (zone, x, y)
        for _ in range(min(far_left, rng.choice((1, 1, 2)))):
            nodes.append(Node(f"{name}-n{far_left}", name, "far-edge", zone, 4000, 8192,
                              used_cpu_m=rng.choice((0, 250, 500)), used_memory_mb=512,
                              cost_per_cpu_hour=0.08, idle_power_w=30.0, power_per_cpu_w=8.0))
            far_left -= 1
    n_edge_sites = max(len(zones), n_edge // 6)
    for i in range(n_edge_sites):
        zone = zones[i % len(zones)]
        name = f"mec{i}"
        sites.append(Site(name, "edge", zone))
        coords[name] = (zone, rng.uniform(5, 35), rng.uniform(5, 35))
    for i in range(n_edge):
        site = sites[len(sites) - n_edge_sites + i % n_edge_sites]
        gpu = 4 if i % 10 == 0 else 0
        nodes.append(Node(f"{site.name}-n{i}", site.name, "edge", site.zone, 16000, 65536, gpu=gpu,
                          used_cpu_m=rng.choice((0, 1000, 2000)), used_memory_mb=2048,
                          taints=frozenset({GPU_TAINT}) if gpu else frozenset(),
                          cost_per_cpu_hour=0.05, idle_power_w=120.0, power_per_cpu_w=6.0))
    for zone in zones:
        sites.append(Site(f"cloud-{zone}", "cloud", zone))
    for i in range(n_cloud):
        zone = zones[i % len(zones)]
        nodes.append(Node(f"cloud-{zone}-n{i}", f"cloud-{zone}", "cloud", zone, 64000, 262144,
                          cost_per_cpu_hour=0.03, idle_power_w=300.0, power_per_cpu_w=4.0))
    latency: dict[str, dict[str, float]] = {}
    bandwidth: dict[str, dict[str, float]] = {}
    cloud_delay = {zone: rng.uniform(20, 35) for zone in zones}
    for cell, czone, cx, cy in cells:
        lrow: dict[str, float] = {}
        brow: dict[str, float] = {}
        for site in sites:
            if site.tier == "cloud":
                ms = cloud_delay[site.zone] + (0.0 if site.zone == czone else 15.0)
                mbps = 500.0
            else:
                szone, sx, sy = coords[site.name]
                dist = math.hypot(cx - sx, cy - sy) + (400.0 if szone != czone else 0.0)
                base = 0.5 if site.tier == "far-edge" else 2.0
                ms = base + 0.12 * dist + rng.uniform(0, 0.3)
                mbps = 1000.0 if site.tier == "far-edge" else 4000.0
            lrow[site.name] = round(ms, 3)
            brow[site.name] = mbps
        latency[cell] = lrow
        bandwidth[cell] = brow
    by_zone: dict[str, list[tuple[str, float, float]]] = {}
    for cell, czone, cx, cy in cells:
        by_zone.setdefault(czone, []).append((cell, cx, cy))
    capacity = sum(n.free_cpu_m for n in nodes)
    mean_cpu = 700.0 * 1.8
    target = capacity * load / mean_cpu
    scale = target / max(1, n_workloads)
    workloads: list[Workload] = []
    for i in range(n_workloads):
        home_cell, home_zone, hx, hy = cells[rng.randrange(len(cells))]
        near = sorted(by_zone[home_zone], key=lambda c: math.hypot(c[1] - hx, c[2] - hy))
        k = rng.choice((1, 1, 2, 3))
        chosen = [home_cell] + [c[0] for c in near[1:k]]
        shares = _shares(rng, len(chosen))
        kind = rng.random()
        replicas = rng.choice((1, 1, 2, 2, 3))
        cpu = rng.choice((100, 250, 500, 500, 1000, 1000, 2000))
        cpu = max(100, int(cpu * min(4.0, max(0.25, scale)) // 50 * 50))
        wl = Workload(
            name=f"w{i}", replicas=replicas, cpu_m=cpu, memory_mb=cpu * rng.choice((1, 2, 4)),
            cells=dict(zip(chosen, shares, strict=True)), priority=rng.choice((0, 0, 0, 1, 2)),
        )
        if kind < 0.25:
            wl = replace(wl, max_latency_ms=rng.choice((5.0, 6.0, 8.0)),
                         allowed_tiers=frozenset({"far-edge", "edge"}), min_bandwidth_mbps=500.0)
        elif kind < 0.6:
            wl = replace(wl, max_latency_ms=rng.choice((12.0, 15.0, 20.0)))
        if rng.random() < 0.3:
            wl = replace(wl, allowed_zones=frozenset({home_zone}))
        if replicas > 1 and rng.random() < 0.4:
            wl = replace(wl, max_per_site=1)
        if replicas > 1 and rng.random() < 0.3:
            wl = replace(wl, max_per_node=1)
        if i % 97 == 0:
            wl = replace(wl, replicas=1, gpu=1, tolerations=frozenset({GPU_TAINT}), max_latency_ms=None,
                         max_per_site=None, max_per_node=None, allowed_zones=None)
        workloads.append(wl)
    return Instance(tuple(nodes), tuple(sites), tuple(workloads), latency, bandwidth)


def churn(inst: Instance, assignment: dict[str, tuple[str, ...]], fraction: float = 0.05,
          seed: int = 1) -> tuple[Instance, set[str]]:
    """Re-placement input after `assignment` ran: users of `fraction` of the workloads move
    to other cells and one busy MEC site degrades (+penalty). Returns the instance and the
    names of the workloads whose constraints changed."""
    rng = random.Random(seed)
    cells_by_zone: dict[str, list[str]] = {}
    for cell, row in inst.latency_ms.items():
        best = min(row, key=lambda s: row[s])
        zone = next(s.zone for s in inst.sites if s.name == best)
        cells_by_zone.setdefault(zone, []).append(cell)
    node_site = {n.name: n.site for n in inst.nodes}
    edge_sites = sorted(s.name for s in inst.sites if s.tier == "edge")
    use: dict[str, int] = dict.fromkeys(edge_sites, 0)
    for nodes in assignment.values():
        for n in nodes:
            if node_site[n] in use:
                use[node_site[n]] += 1
    degraded = max(edge_sites, key=lambda s: (use[s], s)) if edge_sites else None
    picked = set(rng.sample(range(len(inst.workloads)), max(1, round(fraction * len(inst.workloads)))))
    changed: set[str] = set()
    workloads = []
    for i, w in enumerate(inst.workloads):
        current = assignment.get(w.name, ())
        if i in picked:
            zone = rng.choice(sorted(cells_by_zone))
            if w.allowed_zones is not None:
                zone = sorted(w.allowed_zones)[0]
            cell = rng.choice(cells_by_zone[zone])
            w = replace(w, cells={cell: 1.0})
            changed.add(w.name)
        if degraded is not None and any(node_site[n] == degraded for n in current):
            changed.add(w.name)
        workloads.append(replace(w, current=current))
    penalty = {degraded: 6.0} if degraded else {}
    out = Instance(inst.nodes, inst.sites, tuple(workloads), inst.latency_ms, inst.bandwidth_mbps,
                   inst.excluded_sites, penalty)
    return out, changed


CONSOLIDATION_CPU = 10_000  # a bin-packing node's capacity in every resource (CPU m, memory MB, GPU x 100)


def bin_packing(n_items: int, resources: int = 1, seed: int = 0, exact: bool = False) -> Instance:
    """Bin packing as a placement instance: one site, one cell, identical nodes (as many as items,
    so every item fits), single-replica workloads sized in `resources` of (CPU, memory, GPU), in
    random order. Score it with `consolidation_weights()`: the objective is the number of nodes.
    `exact`: every item is a third of a bin cut at random (the optimum is exactly n_items / 3 full
    nodes, n_items rounded down to a multiple of 3); otherwise sizes are uniform in 10-50 % of a node."""
    if not 1 <= resources <= 3:
        raise ValueError(f"resources must be 1, 2 or 3, got {resources}")
    rng = random.Random(seed)
    cap = CONSOLIDATION_CPU
    sizes: list[list[int]] = []
    if exact:
        for _ in range(n_items // 3):
            cuts = []
            for _r in range(resources):
                a, b = sorted(rng.sample(range(cap // 10, cap - cap // 10), 2))
                while b - a < cap // 10 or a < cap // 10 or cap - b < cap // 10:
                    a, b = sorted(rng.sample(range(cap // 10, cap - cap // 10), 2))
                cuts.append((a, b - a, cap - b))
            sizes += [[c[k] for c in cuts] for k in range(3)]
    else:
        sizes = [[rng.randint(cap // 10, cap // 2) for _r in range(resources)] for _ in range(n_items)]
    rng.shuffle(sizes)
    gpu_cap = 100 if resources == 3 else 0
    site = Site("dc", "cloud", "z")
    nodes = tuple(Node(f"n{i:04d}", "dc", "cloud", "z", cap, cap, gpu=gpu_cap, pods=None)
                  for i in range(len(sizes)))
    workloads = tuple(
        Workload(f"i{i:04d}", 1, s[0], s[1] if resources >= 2 else 0,
                 gpu=max(1, s[2] * gpu_cap // cap) if resources == 3 else 0, cells={"c": 1.0})
        for i, s in enumerate(sizes))
    return Instance(nodes, (site,), workloads, {"c": {"dc": 1.0}}, {"c": {"dc": 1000.0}})


def consolidation_weights() -> Weights:
    """Only the number of active nodes counts (bin packing)."""
    return Weights(latency=0.0, cost=0.0, migration=0.0, active_nodes=1.0, energy=0.0, balance=0.0)
