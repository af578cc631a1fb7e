"""An independent checker of any result against the instance's hard constraints.

Deliberately written without the filter plugins or the catalog, so that tests and the
benchmark do not trust the code they are checking.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from placement.model import Instance, SolveResult

EPS = 1e-9


def check_violations(inst: Instance, result: SolveResult) -> list[str]:
    """Every broken hard constraint, as a sentence; empty when the result is valid."""
    out: list[str] = []
    nodes = {n.name: n for n in inst.nodes}
    sites = {s.name: s for s in inst.sites}
    workloads = {w.name: w for w in inst.workloads}
    cpu: Counter[str] = Counter()
    mem: Counter[str] = Counter()
    gpu: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    for name, placed in result.assignment.items():
        w = workloads.get(name)
        if w is None:
            out.append(f"{name}: not a workload of the instance")
            continue
        if name in result.unplaced:
            out.append(f"{name}: both placed and reported unplaced")
        if len(placed) != w.replicas:
            out.append(f"{name}: {len(placed)} replicas placed, {w.replicas} wanted")
        per_site: Counter[str] = Counter()
        for node_name, count in Counter(placed).items():
            node = nodes.get(node_name)
            if node is None:
                out.append(f"{name}: unknown node {node_name}")
                continue
            site = sites[node.site]
            per_site[site.name] += count
            cpu[node_name] += w.cpu_m * count
            mem[node_name] += w.memory_mb * count
            gpu[node_name] += w.gpu * count
            pods[node_name] += count
            if w.max_per_node is not None and count > w.max_per_node:
                out.append(f"{name}: {count} replicas on node {node_name} > max_per_node {w.max_per_node}")
            if site.name in inst.excluded_sites:
                out.append(f"{name}: on node {node_name} at excluded site {site.name}")
            if w.allowed_zones is not None and node.zone not in w.allowed_zones:
                out.append(f"{name}: node {node_name} in zone {node.zone} not allowed")
            if w.allowed_tiers is not None and site.tier not in w.allowed_tiers:
                out.append(f"{name}: node {node_name} in tier {site.tier} not allowed")
            if w.allowed_nodes is not None and node_name not in w.allowed_nodes:
                out.append(f"{name}: on node {node_name}, which its Pod template does not admit")
            if node_name in w.avoid_nodes:
                out.append(f"{name}: on node {node_name}, which it must avoid")
            if not node.taints <= w.tolerations:
                out.append(f"{name}: node {node_name} has untolerated taints {sorted(node.taints - w.tolerations)}")
            penalty = inst.site_penalty_ms.get(site.name, 0.0)
            for cell, share in w.cells.items():
                if share <= 0:
                    continue
                if w.max_latency_ms is not None:
                    ms = inst.latency_ms[cell][site.name] + penalty
                    if ms > w.max_latency_ms + EPS:
                        out.append(f"{name}: cell {cell} -> site {site.name} is {ms} ms > {w.max_latency_ms} ms")
                if w.min_bandwidth_mbps is not None:
                    mbps = inst.bandwidth_mbps.get(cell, {}).get(site.name, 0.0)
                    if mbps < w.min_bandwidth_mbps - EPS:
                        out.append(f"{name}: cell {cell} -> site {site.name} has {mbps} Mbps < {w.min_bandwidth_mbps}")
        if w.max_per_site is not None:
            for site_name, count in per_site.items():
                if count > w.max_per_site:
                    out.append(f"{name}: {count} replicas at site {site_name} > max_per_site {w.max_per_site}")
    for node_name in cpu:
        node = nodes[node_name]
        if node.used_cpu_m + cpu[node_name] > node.cpu_m:
            out.append(f"node {node_name}: CPU {node.used_cpu_m}+{cpu[node_name]} > {node.cpu_m} m")
        if node.used_memory_mb + mem[node_name] > node.memory_mb:
            out.append(f"node {node_name}: memory {node.used_memory_mb}+{mem[node_name]} > {node.memory_mb} MB")
        if node.used_gpu + gpu[node_name] > node.gpu:
            out.append(f"node {node_name}: GPU {node.used_gpu}+{gpu[node_name]} > {node.gpu}")
        if node.pods is not None and node.used_pods + pods[node_name] > node.pods:
            out.append(f"node {node_name}: Pods {node.used_pods}+{pods[node_name]} > {node.pods}")
    missing = defaultdict(list)
    for w in inst.workloads:
        if w.name not in result.assignment and w.name not in result.unplaced:
            missing["missing"].append(w.name)
    for name in missing["missing"]:
        out.append(f"{name}: neither placed nor explained as unplaced")
    return out
