"""The EdgeSite loop: the one writer of every EdgeSite's status, and the drain of cordoned sites.

The operator's EdgeSite watch hands every event to `SiteLoop.observe`.  Every `TICK_S` the loop
builds each site's status from the watches (orchestrator.site_status: Nodes, replica and other
Pods, `edgeorch_site_up`) and writes it when it changed: at once when a condition, the health or a
node count did, otherwise at most every `MIN_WRITE_S` per site (free capacity moves with every
Pod; that is no reason for a write storm).  The Events a transition calls for (Cordoned, Drained,
Uncordoned) are posted after the write that records it, so each is said once, also across restarts.

It never writes an EdgeWorkload or a Pod.  A cordoned site (`spec.cordoned`) is left out of every
solve by the placement engine itself (orchestrator.snapshot.build_instance); this loop asks the
workload controller to solve again each workload whose decided placement still uses the site
(`resolve(key)`, at most every `RESOLVE_COOLDOWN_S` per workload), and the controller moves its
replicas make-before-break within the workload's rollout strategy.  That is level-triggered: a
restarted operator finds the same workloads on the same cordoned sites.  When a site is uncordoned,
the workloads that could gain from it (orchestrator.site_status.gains_from) are solved again, and
the solver's migration cost decides which return.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from orchestrator.engine import Holding
from orchestrator.health import Replica
from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.loops import Periodic
from orchestrator.prometheus import MetricsUnavailable
from orchestrator.site_status import SiteReport, gains_from, site_status
from orchestrator.snapshot import QosMetrics, Reserved
from orchestrator.vocabulary import EDGESITES, EDGEWORKLOADS, SITE_LABEL

log = logging.getLogger("edgeorch.sites")
TICK_S = 2.0  # how often every site's status is computed (and cordoned sites checked)
MIN_WRITE_S = 5.0  # a status whose numbers alone changed is written at most this often per site
RESOLVE_COOLDOWN_S = 30.0  # a workload still on a cordoned site is asked to move again after this long


class SiteSource(Protocol):
    """What the loop reads of the cluster (the operator's watch indices: orchestrator.service.IndexView)."""

    def nodes(self) -> list[Mapping[str, Any]]: ...

    def placed(self) -> dict[str, Holding]: ...

    def foreign(self) -> dict[str, Reserved]: ...

    def replica_pods(self) -> dict[str, list[Replica]] | None: ...


class SiteLoop(Periodic):
    name = "edgeorch-sites"

    def __init__(self, kube: AsyncKube, view: SiteSource, metrics: Callable[[], Awaitable[QosMetrics]],
                 resolve: Callable[[str], None], *, interval_s: float = TICK_S, min_write_s: float = MIN_WRITE_S,
                 resolve_cooldown_s: float = RESOLVE_COOLDOWN_S) -> None:
        self.kube = kube
        self.view = view
        self.metrics = metrics
        self.resolve = resolve  # workload key -> the controller solves it again (WorkloadController.resolve)
        self.interval_s = interval_s
        self.min_write_s = min_write_s
        self.resolve_cooldown_s = resolve_cooldown_s
        self._sites: dict[str, dict[str, Any]] = {}  # name -> the latest body the watch gave
        self._status: dict[str, dict[str, Any]] = {}  # name -> the status this process last wrote (the one writer's)
        self._written_at: dict[str, float] = {}
        self._asked: dict[str, float] = {}  # workload key -> when it was last asked to leave a cordoned site
        self._site_up: dict[str, bool] = {}  # the last edgeorch_site_up Prometheus gave, per site
        self._latency: Mapping[str, Mapping[str, float]] = {}
        self._side: set[asyncio.Task[None]] = set()

    # -- the watch side ---------------------------------------------------------------------------
    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One watch event of an EdgeSite (`None`: the initial listing)."""
        name = str((body.get("metadata") or {}).get("name", ""))
        if event_type == "DELETED":
            self._sites.pop(name, None)
            self._status.pop(name, None)
            self._written_at.pop(name, None)
            return
        self._sites[name] = dict(body)

    # -- the loop (orchestrator.loops.Periodic: every interval_s, tick) ---------------------------
    async def stop(self) -> None:
        for task in self._side:
            task.cancel()
        await asyncio.gather(*self._side, return_exceptions=True)
        await super().stop()

    async def tick(self, now: float | None = None) -> None:
        """Write every site's status that changed; ask for the moves cordoned sites call for."""
        now = time.monotonic() if now is None else now
        await self._read_metrics()
        nodes = self.view.nodes()
        site_of = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(SITE_LABEL) for n in nodes}
        nodes_of: dict[str, list[Mapping[str, Any]]] = {}
        for n in nodes:
            nodes_of.setdefault(str(site_of[n["metadata"]["name"]]), []).append(n)
        hosted: dict[str, dict[str, list[Replica]]] = {}
        for key, pods in (self.view.replica_pods() or {}).items():
            for r in pods:
                site = site_of.get(r.node)
                if site:
                    hosted.setdefault(site, {}).setdefault(key, []).append(r)
        foreign = self.view.foreign()
        # the status this process wrote is the current one (the watch may deliver an older body after it)
        sites = [(name, {**body, "status": self._status.get(name, body.get("status") or {})})
                 for name, body in self._sites.items()]
        reports = {name: site_status(body, nodes_of.get(name, []), hosted.get(name, {}), foreign,
                                     self._site_up.get(name)) for name, body in sites}
        await asyncio.gather(*(self._write(name, body, reports[name], now) for name, body in sites))
        for name, body in sites:
            if (body.get("spec") or {}).get("cordoned"):
                self._drain(name, site_of, now)
        for key in [k for k, t in self._asked.items() if now - t >= self.resolve_cooldown_s]:
            del self._asked[key]

    async def _read_metrics(self) -> None:
        try:
            metrics = await self.metrics()
        except MetricsUnavailable as exc:  # keep what we knew: an outage of Prometheus is no outage of a site
            log.debug("site health without fresh metrics: %s", exc)
            return
        self._site_up = dict(metrics.site_up)
        self._latency = metrics.latency_ms

    async def _write(self, name: str, body: Mapping[str, Any], report: SiteReport, now: float) -> None:
        if not report.changed or (not report.urgent and now - self._written_at.get(name, -math.inf) < self.min_write_s):
            return
        try:
            written = await self.kube.patch_cluster_custom(EDGESITES, name, {"status": report.status}, status=True)
        except KubeNotFound:
            return  # deleted meanwhile; its DELETED event cleans up
        except KubeError as exc:
            log.warning("EdgeSite %s: could not write its status: %s", name, exc)
            return
        self._written_at[name] = now
        self._status[name] = dict(written.get("status") or {})
        for type_, reason, message in report.events:
            log.info("EdgeSite %s: %s: %s", name, reason, message)
            self._side_task(self.kube.post_event(written, type_, reason, message))
        if report.uncordoned:
            await self._welcome_back(name)

    def _drain(self, site: str, site_of: Mapping[str, str | None], now: float) -> None:
        """Ask for a new solve of every workload whose decided placement still uses `site`."""
        for key, held in sorted(self.view.placed().items()):
            if key in self._asked or not any(site_of.get(n) == site for n in held.nodes):
                continue
            log.info("EdgeSite %s is cordoned: placing %s again", site, key)
            self._asked[key] = now
            self.resolve(key)

    async def _welcome_back(self, site: str) -> None:
        """The site takes replicas again: solve again the workloads that could gain from it."""
        try:
            workloads = await self.kube.list_custom(EDGEWORKLOADS)
        except KubeError as exc:
            log.warning("EdgeSite %s uncordoned, but the EdgeWorkloads could not be listed: %s", site, exc)
            return
        keys = sorted(f"{w['metadata']['namespace']}/{w['metadata']['name']}" for w in workloads
                      if not w["metadata"].get("deletionTimestamp") and gains_from(w, site, self._latency))
        log.info("EdgeSite %s uncordoned: placing %d workload(s) again", site, len(keys))
        for key in keys:
            self._asked.pop(key, None)
            self.resolve(key)

    def _side_task(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception as exc:  # an Event is best effort
                log.warning("could not post an EdgeSite Event: %s", exc)

        task = asyncio.get_running_loop().create_task(run())
        self._side.add(task)
        task.add_done_callback(self._side.discard)
