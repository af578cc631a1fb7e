"""Instance validation: every rule raises InvalidInstance naming the offending field."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from placement.model import TIERS, InvalidInstance

if TYPE_CHECKING:
    from placement.model import Instance, Node, Workload

SHARE_TOLERANCE = 1e-6
MAX_INTEGER = 10**15
"""The largest amount (millicores, MiB, Pods, GPUs, replicas) an instance may hold: sums of a few
thousand of them stay inside the 64-bit integers of numpy and CP-SAT (whose bound is 2**62), so an
absurd quantity is rejected here, by name, instead of overflowing deep in the solver."""


def _number(path: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        raise InvalidInstance(path, f"must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidInstance(path, f"must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _integer(path: str, value: object, *, minimum: int, maximum: int = MAX_INTEGER) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInstance(path, f"must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidInstance(path, f"must be >= {minimum}, got {value}")
    if value > maximum:
        raise InvalidInstance(path, f"must be <= {maximum:.0e} (larger amounts overflow the solver's 64-bit "
                                    f"integers), got {value:.3e}")
    return value


def _name(path: str, value: object, seen: set[str]) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInstance(path, f"must be a non-empty string, got {value!r}")
    if value in seen:
        raise InvalidInstance(path, f"duplicate name {value!r}")
    seen.add(value)


def _validate_node(i: int, node: Node, sites: dict[str, tuple[str, str]], seen: set[str]) -> None:
    p = f"nodes[{i}]"
    _name(f"{p}.name", node.name, seen)
    if node.site not in sites:
        raise InvalidInstance(f"{p}.site", f"unknown site {node.site!r}")
    tier, zone = sites[node.site]
    if node.tier != tier:
        raise InvalidInstance(f"{p}.tier", f"{node.tier!r} differs from tier {tier!r} of site {node.site!r}")
    if node.zone != zone:
        raise InvalidInstance(f"{p}.zone", f"{node.zone!r} differs from zone {zone!r} of site {node.site!r}")
    _integer(f"{p}.cpu_m", node.cpu_m, minimum=0)
    _integer(f"{p}.memory_mb", node.memory_mb, minimum=0)
    _integer(f"{p}.gpu", node.gpu, minimum=0)
    _integer(f"{p}.used_cpu_m", node.used_cpu_m, minimum=0)
    _integer(f"{p}.used_memory_mb", node.used_memory_mb, minimum=0)
    _integer(f"{p}.used_gpu", node.used_gpu, minimum=0)
    if node.pods is not None:
        _integer(f"{p}.pods", node.pods, minimum=0)
    _integer(f"{p}.used_pods", node.used_pods, minimum=0)
    for attr in ("cost_per_cpu_hour", "idle_power_w", "power_per_cpu_w"):
        _number(f"{p}.{attr}", getattr(node, attr))


def _validate_workload(i: int, w: Workload, inst: Instance, nodes: set[str], seen: set[str]) -> None:
    p = f"workloads[{i}]"
    _name(f"{p}.name", w.name, seen)
    _integer(f"{p}.replicas", w.replicas, minimum=1)
    _integer(f"{p}.cpu_m", w.cpu_m, minimum=0)
    _integer(f"{p}.memory_mb", w.memory_mb, minimum=0)
    _integer(f"{p}.gpu", w.gpu, minimum=0)
    if not w.cells:
        raise InvalidInstance(f"{p}.cells", "must name at least one cell with a traffic share")
    total = 0.0
    for cell, share in w.cells.items():
        if cell not in inst.latency_ms:
            raise InvalidInstance(f"{p}.cells", f"unknown cell {cell!r} (no latency measurements)")
        total += _number(f"{p}.cells[{cell!r}]", share)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise InvalidInstance(f"{p}.cells", f"traffic shares must sum to 1, got {total:.6g}")
    if w.max_latency_ms is not None:
        _number(f"{p}.max_latency_ms", w.max_latency_ms, positive=True)
    if w.min_bandwidth_mbps is not None:
        _number(f"{p}.min_bandwidth_mbps", w.min_bandwidth_mbps)
        for cell in w.cells:
            row = inst.bandwidth_mbps.get(cell)
            if row is None or any(s.name not in row for s in inst.sites):
                raise InvalidInstance(
                    f"bandwidth_mbps[{cell!r}]", f"missing measurements needed by {p}.min_bandwidth_mbps"
                )
    if w.allowed_zones is not None and not w.allowed_zones:
        raise InvalidInstance(f"{p}.allowed_zones", "must be None (any zone) or non-empty")
    if w.prefer_tier is not None and w.prefer_tier not in TIERS:
        raise InvalidInstance(f"{p}.prefer_tier", f"must be one of {', '.join(TIERS)}, got {w.prefer_tier!r}")
    if w.allowed_tiers is not None:
        if not w.allowed_tiers:
            raise InvalidInstance(f"{p}.allowed_tiers", "must be None (any tier) or non-empty")
        unknown = sorted(set(w.allowed_tiers) - set(TIERS))
        if unknown:
            raise InvalidInstance(f"{p}.allowed_tiers", f"unknown tiers {unknown}, expected a subset of {TIERS}")
    if w.max_per_site is not None:
        _integer(f"{p}.max_per_site", w.max_per_site, minimum=1)
    if w.max_per_node is not None:
        _integer(f"{p}.max_per_node", w.max_per_node, minimum=1)
    _integer(f"{p}.priority", w.priority, minimum=-(2**31))
    for j, node in enumerate(w.current):
        if node not in nodes:
            raise InvalidInstance(f"{p}.current[{j}]", f"unknown node {node!r}")
    for node in sorted(w.allowed_nodes or (), key=repr):
        if not isinstance(node, str) or not node:
            raise InvalidInstance(f"{p}.allowed_nodes", f"must hold node names, got {node!r}")
    for node in sorted(w.avoid_nodes, key=repr):
        if not isinstance(node, str) or not node:
            raise InvalidInstance(f"{p}.avoid_nodes", f"must hold node names, got {node!r}")


def validate_instance(inst: Instance) -> None:
    """Check the whole instance; raise InvalidInstance on the first problem found."""
    site_names: set[str] = set()
    sites: dict[str, tuple[str, str]] = {}
    for i, site in enumerate(inst.sites):
        _name(f"sites[{i}].name", site.name, site_names)
        if site.tier not in TIERS:
            raise InvalidInstance(f"sites[{i}].tier", f"unknown tier {site.tier!r}, expected one of {TIERS}")
        sites[site.name] = (site.tier, site.zone)
    node_names: set[str] = set()
    for i, node in enumerate(inst.nodes):
        _validate_node(i, node, sites, node_names)
    for cell, row in inst.latency_ms.items():
        for site_name in sites:
            if site_name not in row:
                raise InvalidInstance(f"latency_ms[{cell!r}]", f"missing site {site_name!r}")
        for site_name, ms in row.items():
            if site_name not in sites:
                raise InvalidInstance(f"latency_ms[{cell!r}][{site_name!r}]", "unknown site")
            _number(f"latency_ms[{cell!r}][{site_name!r}]", ms)
    for cell, row in inst.bandwidth_mbps.items():
        if cell not in inst.latency_ms:
            raise InvalidInstance(f"bandwidth_mbps[{cell!r}]", "unknown cell (no latency measurements)")
        for site_name, mbps in row.items():
            if site_name not in sites:
                raise InvalidInstance(f"bandwidth_mbps[{cell!r}][{site_name!r}]", "unknown site")
            _number(f"bandwidth_mbps[{cell!r}][{site_name!r}]", mbps)
    for site_name in inst.excluded_sites:
        if site_name not in sites:
            raise InvalidInstance("excluded_sites", f"unknown site {site_name!r}")
    for site_name, ms in inst.site_penalty_ms.items():
        if site_name not in sites:
            raise InvalidInstance(f"site_penalty_ms[{site_name!r}]", "unknown site")
        _number(f"site_penalty_ms[{site_name!r}]", ms)
    workload_names: set[str] = set()
    for i, w in enumerate(inst.workloads):
        _validate_workload(i, w, inst, node_names, workload_names)
