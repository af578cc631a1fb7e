"""The QoS the simulated city shows right now: link latency and bandwidth, node usage, app request latency.

Pure computation over a `CityState` (scenario + faults + workload placements) and a seeded random source:

  link latency   scenario latency + latency faults (+ uniform jitter in [0, jitter_ms) when jitter_ms > 0)
  bandwidth      scenario bandwidth (Mbit/s) as bytes per second
  node CPU       baseline_cpu * capacity, or the latest cpu fault on the node
  node memory    baseline_memory * capacity
  app request    link latency from a cell drawn from the workload's cell mix
                 + service_ms * load factor of the site, times a seeded noise in [0.95, 1.05];
                 load factor = 1 / (1 - min(utilisation, 0.95)), utilisation = site CPU used / capacity.
                 A request to an offline site fails: it counts as failed and is observed as timeout_s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sim.faults import CityState, WorkloadPlacement

MIB = 1024 * 1024


@dataclass
class QoSModel:
    """Computes the city's metrics from its state; every random draw comes from `seed`."""

    state: CityState
    baseline_cpu: float = 0.10
    baseline_memory: float = 0.10
    jitter_ms: float = 0.0
    service_ms: float = 1.0
    timeout_s: float = 2.0
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        for name in ("baseline_cpu", "baseline_memory"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name}: must be a fraction in [0, 1], got {value}")
        for name in ("jitter_ms", "service_ms", "timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        city = self.state.city
        self.rng = random.Random(self.seed)
        self._latency_ms = city.latency_ms()
        self._bandwidth_mbps = city.bandwidth_mbps()
        self._node_site = city.node_site()
        self._sites = {s.name: s for s in city.sites}

    @property
    def city_name(self) -> str:
        return self.state.city.name

    def cells(self) -> list[str]:
        return list(self._latency_ms)

    def sites(self) -> list[str]:
        return list(self._sites)

    def nodes(self) -> dict[str, str]:
        """node -> site."""
        return dict(self._node_site)

    # -- links --------------------------------------------------------------------------------------

    def base_latency_ms(self, cell: str, site: str) -> float:
        return self._latency_ms[cell][site]

    def link_latency_ms(self, cell: str, site: str) -> float:
        ms = self._latency_ms[cell][site] + self.state.added_latency_ms(cell, site)
        if self.jitter_ms > 0:
            ms += self.rng.random() * self.jitter_ms
        return ms

    def link_bandwidth_bytes(self, cell: str, site: str) -> float:
        return self._bandwidth_mbps[cell][site] * 1e6 / 8

    # -- nodes and sites ----------------------------------------------------------------------------

    def node_cpu_capacity_cores(self, node: str) -> float:
        return self._sites[self._node_site[node]].node_cpu_m / 1000

    def node_cpu_cores(self, node: str) -> float:
        forced = self.state.cpu_override(node)
        return forced if forced is not None else self.baseline_cpu * self.node_cpu_capacity_cores(node)

    def node_memory_bytes(self, node: str) -> float:
        return self.baseline_memory * self._sites[self._node_site[node]].node_memory_mb * MIB

    def site_up(self, site: str) -> bool:
        return self.state.site_up(site)

    def site_utilisation(self, site: str) -> float:
        """CPU used / capacity over the site's nodes, capped at 1."""
        nodes = self._sites[site].node_names()
        used = sum(min(self.node_cpu_cores(n), self.node_cpu_capacity_cores(n)) for n in nodes)
        return used / sum(self.node_cpu_capacity_cores(n) for n in nodes)

    def load_factor(self, site: str) -> float:
        return 1.0 / (1.0 - min(self.site_utilisation(site), 0.95))

    # -- applications -------------------------------------------------------------------------------

    def request_latency_s(self, placement: WorkloadPlacement) -> float | None:
        """One synthetic request of a workload: its latency in seconds, or None when it failed."""
        one = self.request_latencies_s(placement, 1)
        return None if one is None else one[0]

    def request_latencies_s(self, placement: WorkloadPlacement, n: int) -> list[float] | None:
        """`n` synthetic requests of a workload, latencies in seconds: a cell drawn from its mix, the link
        latency (with jitter), the site's service time, a noise factor; the city's state (mix, faults,
        load) is read once per call, not per request.  None when the site is offline (every request fails)."""
        if not self.site_up(placement.site):
            return None
        site = placement.site
        mix = self.state.cell_mix(placement)
        cells, weights = list(mix), list(mix.values())
        base = {c: self._latency_ms[c][site] + self.state.added_latency_ms(c, site) for c in cells}
        service = self.service_ms * self.load_factor(site)
        rng, jitter = self.rng, self.jitter_ms
        out = []
        for _ in range(n):
            ms = base[rng.choices(cells, weights=weights)[0]]
            if jitter > 0:
                ms += rng.random() * jitter
            out.append((ms + service) * rng.uniform(0.95, 1.05) / 1000)
        return out

    def expected_latency_ms(self, placement: WorkloadPlacement) -> float | None:
        """The noise-free mean latency of a workload's requests in ms (None when its site is offline)."""
        if not self.site_up(placement.site):
            return None
        mix = self.state.cell_mix(placement)
        total = sum(mix.values())
        link = sum(w * (self._latency_ms[c][placement.site] + self.state.added_latency_ms(c, placement.site))
                   for c, w in mix.items()) / total
        return link + self.jitter_ms / 2 + self.service_ms * self.load_factor(placement.site)
