"""The one objective function every solver is scored with.

Terms (weighted by `Weights`, each reported in the breakdown as its weighted share):
- latency: sum over placed replicas of the traffic-weighted latency from the workload's
  cells to the replica's site, plus the site's penalty (ms);
- cost: sum over placed replicas of CPU cores x node $/CPU-hour;
- migration: replicas that ran on a node and no longer do (placed workloads only);
- active_nodes: nodes hosting at least one replica;
- energy: idle power of active nodes + CPU cores x W/CPU (watts);
- balance: the highest CPU utilisation of any node, background load included (0..1);
- preference: placed replicas not on their workload's preferred tier (a soft wish, EdgeWorkload
  spec.placement.preferTier);
- unplaced: a penalty per replica of every unplaced workload, larger than anything a
  replica can cost, and for each priority level larger than all lower levels together,
  so that a higher-priority workload displaces lower-priority ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from placement.model import Instance, Weights, Workload

TERMS: tuple[str, ...] = ("latency", "cost", "migration", "active_nodes", "energy", "balance", "preference",
                          "unplaced")
PENALTY_CAP = 1e9


def mean_latency(inst: Instance, w: Workload, site: str) -> float:
    """Traffic-weighted latency from the workload's users to `site`, penalty included."""
    lat = sum(share * inst.latency_ms[cell][site] for cell, share in w.cells.items())
    return lat + inst.site_penalty_ms.get(site, 0.0)


def cell_latency(latency_ms: Mapping[str, Mapping[str, float]], site_penalty_ms: Mapping[str, float], cell: str,
                 site: str) -> float:
    """Predicted latency from the users of one `cell` to `site`: the measured round trip plus the
    site's penalty, as the latency filter bounds it for every cell with traffic (and as
    `mean_latency` weighs it by share); infinite when no latency is known for the pair."""
    row = latency_ms.get(cell)
    if row is None or site not in row:
        return math.inf
    return row[site] + site_penalty_ms.get(site, 0.0)


def migrations_of(w: Workload, nodes: tuple[str, ...]) -> int:
    """Replicas of the current placement that are not kept on their node."""
    if not w.current or nodes == w.current[: w.replicas]:
        return 0
    kept = sum((Counter(w.current) & Counter(nodes)).values())
    return min(w.replicas, len(w.current)) - min(kept, w.replicas, len(w.current))


def replica_cost_ceiling(inst: Instance, weights: Weights) -> float:
    """An upper bound on what one placed replica can add to the objective."""
    worst_lat = max(
        (max(row.values(), default=0.0) for row in inst.latency_ms.values()), default=0.0
    ) + max(inst.site_penalty_ms.values(), default=0.0)
    max_cpu = max((w.cpu_m for w in inst.workloads), default=0) / 1000.0
    max_cost = max((n.cost_per_cpu_hour for n in inst.nodes), default=0.0)
    max_idle = max((n.idle_power_w for n in inst.nodes), default=0.0)
    max_ppc = max((n.power_per_cpu_w for n in inst.nodes), default=0.0)
    return (
        weights.latency * worst_lat + weights.cost * max_cpu * max_cost + weights.migration
        + (weights.preference if any(w.prefer_tier is not None for w in inst.workloads) else 0.0)
        + weights.active_nodes + weights.energy * (max_idle + max_cpu * max_ppc) + weights.balance
    )


def unplaced_penalties(inst: Instance, weights: Weights) -> dict[str, float]:
    """Penalty for leaving each workload unplaced (strictly increasing with priority)."""
    base = float(int(10.0 * replica_cost_ceiling(inst, weights)) + 10)
    per_replica: dict[int, float] = {}
    lower_total = 0.0
    for prio in sorted({w.priority for w in inst.workloads}):
        level = min(PENALTY_CAP, base + lower_total)
        per_replica[prio] = level
        lower_total += sum(level * w.replicas for w in inst.workloads if w.priority == prio)
    return {w.name: per_replica[w.priority] * w.replicas for w in inst.workloads}


@dataclass(frozen=True, slots=True)
class Evaluation:
    objective: float
    breakdown: dict[str, float]
    migrations: int
    predicted_latency_ms: dict[str, float]


def evaluate(
    inst: Instance, weights: Weights, assignment: Mapping[str, tuple[str, ...]],
    penalties: Mapping[str, float] | None = None,
) -> Evaluation:
    """Score an assignment (workload -> node per replica); missing workloads are unplaced."""
    if penalties is None:
        penalties = unplaced_penalties(inst, weights)
    nodes = {n.name: n for n in inst.nodes}
    tier_of = {s.name: s.tier for s in inst.sites}
    raw = dict.fromkeys(TERMS, 0.0)
    load: Counter[str] = Counter()
    predicted: dict[str, float] = {}
    migrations = 0
    for w in inst.workloads:
        placed = assignment.get(w.name)
        if not placed:
            raw["unplaced"] += penalties[w.name]
            continue
        lat_sum = 0.0
        for node_name in placed:
            node = nodes[node_name]
            lat = mean_latency(inst, w, node.site)
            lat_sum += lat
            cores = w.cpu_m / 1000.0
            raw["cost"] += cores * node.cost_per_cpu_hour
            raw["energy"] += cores * node.power_per_cpu_w
            if w.prefer_tier is not None and tier_of[node.site] != w.prefer_tier:
                raw["preference"] += 1.0
            load[node_name] += w.cpu_m
        raw["latency"] += lat_sum
        predicted[w.name] = lat_sum / len(placed)
        m = migrations_of(w, placed)
        migrations += m
    raw["migration"] = float(migrations)
    raw["active_nodes"] = float(len(load))
    raw["energy"] += sum(nodes[n].idle_power_w for n in load)
    raw["balance"] = max(
        ((n.used_cpu_m + load[n.name]) / n.cpu_m for n in inst.nodes if n.cpu_m > 0), default=0.0
    )
    weight_of = {
        "latency": weights.latency, "cost": weights.cost, "migration": weights.migration,
        "active_nodes": weights.active_nodes, "energy": weights.energy, "balance": weights.balance,
        "preference": weights.preference, "unplaced": 1.0,
    }
    breakdown = {t: weight_of[t] * raw[t] for t in TERMS}
    return Evaluation(sum(breakdown.values()), breakdown, migrations, predicted)
