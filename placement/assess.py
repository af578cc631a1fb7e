"""How a given placement serves its workload's users, by the solver's own model.

`assess(instance, workload, sites)` says, for replicas on `sites` (one entry per replica): the
predicted user latency the solver reports for such a placement (the objective's traffic-weighted
latency, `objective.mean_latency`, averaged over the replicas: `SolveResult.predicted_latency_ms`),
the worst latency from a cell with traffic to a replica's site and the least bandwidth (what the
LatencyBound and BandwidthBound filters bound), and the sites that break the workload's bounds.
The operator's QoS guard asks it about placements already made, with fresh metrics.  No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from placement.model import Instance, Workload
from placement.objective import mean_latency

EPS = 1e-9  # as the filters compare


@dataclass(frozen=True, slots=True)
class Assessment:
    """A placement against its workload's QoS bounds (latency in ms, bandwidth in Mbit/s)."""

    predicted_latency_ms: float
    worst_latency_ms: float
    worst_cell: str
    worst_site: str
    least_bandwidth_mbps: float | None  # None: the workload sets no bandwidth bound
    breaking: tuple[str, ...]  # sites of the placement that break a bound (sorted)
    problems: tuple[str, ...]  # one sentence per broken bound, e.g. "cell c -> site s 41.6 ms > 8 ms"

    @property
    def holds(self) -> bool:
        return not self.breaking


def _cells(w: Workload) -> list[str]:
    """The cells whose users count for a bound: those with traffic (all of them when none has)."""
    return sorted(c for c, share in w.cells.items() if share > 0) or sorted(w.cells)


def site_latency(inst: Instance, w: Workload, site: str) -> tuple[float, str]:
    """The worst latency from a cell of `w` with traffic to `site` (its penalty included), and that cell."""
    penalty = inst.site_penalty_ms.get(site, 0.0)
    return max((inst.latency_ms[c][site] + penalty, c) for c in _cells(w))


def site_bandwidth(inst: Instance, w: Workload, site: str) -> float:
    """The least bandwidth from a cell of `w` with traffic to `site` (a missing link counts as 0)."""
    return min(inst.bandwidth_mbps.get(c, {}).get(site, 0.0) for c in _cells(w))


def assess(inst: Instance, w: Workload, sites: Sequence[str]) -> Assessment:
    """`w`'s replicas on `sites` (site names of `inst`, one per replica; at least one)."""
    if not sites:
        raise ValueError("assess: a placement of at least one replica is needed")
    predicted = sum(mean_latency(inst, w, s) for s in sites) / len(sites)
    worst, worst_cell, worst_site = -math.inf, "", ""
    least: float | None = None
    breaking: set[str] = set()
    problems: list[str] = []
    for site in sorted(set(sites)):
        ms, cell = site_latency(inst, w, site)
        if ms > worst:
            worst, worst_cell, worst_site = ms, cell, site
        if w.max_latency_ms is not None and ms > w.max_latency_ms + EPS:
            breaking.add(site)
            problems.append(f"cell {cell} -> site {site} {ms:.1f} ms > {w.max_latency_ms:g} ms")
        if w.min_bandwidth_mbps is not None:
            mbps = site_bandwidth(inst, w, site)
            least = mbps if least is None else min(least, mbps)
            if mbps < w.min_bandwidth_mbps - EPS:
                breaking.add(site)
                problems.append(f"site {site} {mbps:g} Mbps < {w.min_bandwidth_mbps:g} Mbps")
    return Assessment(predicted, worst, worst_cell, worst_site, least, tuple(sorted(breaking)), tuple(problems))


__all__ = ["Assessment", "assess", "site_bandwidth", "site_latency"]
