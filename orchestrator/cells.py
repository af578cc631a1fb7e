"""The RadioCells' status: which sites serve each cell, best first, by the latency Prometheus measures.

The operator's only writer of RadioCell status: every `interval_s` it lists the RadioCells, reads the
cell-to-site latency (`edgeorch_link_latency_seconds`) and the sites' liveness (`edgeorch_site_up`)
from Prometheus, and patches the status of each cell whose computed status differs from the one it
carries (so a steady city costs two queries and one LIST per interval, and no write).  Level-triggered
and restart-safe: what it compares against is the live object.  When Prometheus cannot be read, the
cells keep their last sites and their MetricsAvailable condition turns False (PrometheusUnreachable);
a cell Prometheus knows nothing about gets no sites and MetricsAvailable False (NoData).
`cell_status` is the pure part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.loops import Periodic
from orchestrator.prometheus import MetricsUnavailable, PrometheusSource
from orchestrator.resources.common import ConditionStatus, set_condition, status_patch, to_k8s
from orchestrator.resources.radiocell import MAX_SERVING_SITES, RadioCellStatus, ServingSite
from orchestrator.vocabulary import RADIOCELLS, CellCondition, Reason

log = logging.getLogger("edgeorch.cells")

LATENCY_QUERY = "max by (cell, site) (edgeorch_link_latency_seconds)"
SITE_UP_QUERY = "min by (site) (edgeorch_site_up)"
PRECISION_MS = 0.1  # latencies are written rounded to this, so noise below it causes no writes


@dataclass(frozen=True)
class Measured:
    """One reading of Prometheus: latency (ms) per cell and site, and which sites are up; `error` set
    (and the rest empty) when Prometheus could not be read."""

    latency_ms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    site_up: Mapping[str, bool] = field(default_factory=dict)
    error: str | None = None


def _rounded(ms: float) -> float:
    return round(round(ms / PRECISION_MS) * PRECISION_MS, 3)


def cell_status(cell: Mapping[str, Any], measured: Measured, now: datetime | None = None) -> RadioCellStatus:
    """The status `cell` (a RadioCell as the API server returns it) should carry given `measured`."""
    meta = cell.get("metadata") or {}
    name, generation = str(meta.get("name", "")), meta.get("generation")
    try:
        current = RadioCellStatus.model_validate(cell.get("status") or {})
    except ValidationError:
        current = RadioCellStatus(conditions=[])
    cond = CellCondition.METRICS_AVAILABLE
    if measured.error is not None:  # keep what was measured last, and say that it is not current
        conditions = set_condition(current.conditions, cond, ConditionStatus.FALSE, Reason.PROMETHEUS_UNREACHABLE,
                                   measured.error[:1000], generation, now)
        return RadioCellStatus(observed_generation=generation, sites=current.sites, served_by=current.served_by,
                               best_site=current.best_site, best_latency_ms=current.best_latency_ms,
                               conditions=conditions)
    row = measured.latency_ms.get(name) or {}
    ranked = sorted(((site, _rounded(ms)) for site, ms in row.items()
                     if ms == ms and ms >= 0 and measured.site_up.get(site, True)), key=lambda p: (p[1], p[0]))
    sites = [ServingSite(site=s, latency_ms=ms) for s, ms in ranked[:MAX_SERVING_SITES]]
    if sites:
        conditions = set_condition(current.conditions, cond, ConditionStatus.TRUE, Reason.METRICS_AVAILABLE,
                                   f"latency to {len(sites)} site(s) measured", generation, now)
    else:
        why = (f"no site that is up has latency from cell {name} in Prometheus" if row
               else f"Prometheus has no edgeorch_link_latency_seconds series with cell={name!r}")
        conditions = set_condition(current.conditions, cond, ConditionStatus.FALSE, Reason.NO_DATA, why,
                                   generation, now)
    return RadioCellStatus(
        observed_generation=generation, sites=sites, served_by=",".join(s.site for s in sites) or None,
        best_site=sites[0].site if sites else None, best_latency_ms=sites[0].latency_ms if sites else None,
        conditions=conditions,
    )


def status_change(cell: Mapping[str, Any], status: RadioCellStatus) -> dict[str, Any] | None:
    """The status patch that gives `cell` `status`, or None when it already has it."""
    have = {k: v for k, v in (cell.get("status") or {}).items() if k in _ALIASES}
    want = to_k8s(status)
    want.setdefault("sites", [])
    have.setdefault("sites", [])
    if have == want:
        return None
    return status_patch(status)


_ALIASES = frozenset(f.alias or n for n, f in RadioCellStatus.model_fields.items())


async def measure(prometheus: PrometheusSource) -> Measured:
    """Latency per (cell, site) in ms and site liveness, from Prometheus (an unreadable one: `error`)."""
    try:
        latency, up = await asyncio.gather(prometheus.query(LATENCY_QUERY), prometheus.query(SITE_UP_QUERY))
    except MetricsUnavailable as exc:
        return Measured(error=str(exc))
    matrix: dict[str, dict[str, float]] = {}
    for labels, value in latency:
        if "cell" in labels and "site" in labels:
            matrix.setdefault(labels["cell"], {})[labels["site"]] = value * 1000.0
    return Measured(matrix, {m["site"]: v >= 1 for m, v in up if "site" in m})


class CellLoop(Periodic):
    """Keeps every RadioCell's status current (see the module docstring)."""

    name = "edgeorch-cells"
    tick_at_start = True

    def __init__(self, kube: AsyncKube, prometheus: PrometheusSource, interval_s: float = 5.0) -> None:
        self.kube, self.prometheus, self.interval_s = kube, prometheus, interval_s
        self.writes = 0  # status patches sent (tests and logs)
        self._missing_crd_logged = False

    async def tick(self) -> int:
        """One pass: the number of cells whose status was written."""
        try:
            cells = await self.kube.list_custom(RADIOCELLS)
        except KubeNotFound:
            if not self._missing_crd_logged:
                log.warning("no RadioCell CRD (deploy/crds/radiocells.edgeorch.io.yaml): cells get no status")
                self._missing_crd_logged = True
            return 0
        if not cells:
            return 0
        measured = await measure(self.prometheus)
        written = 0
        for cell in cells:
            patch = status_change(cell, cell_status(cell, measured))
            if patch is None:
                continue
            name = cell["metadata"]["name"]
            try:
                await self.kube.patch_cluster_custom(RADIOCELLS, name, {"status": patch}, status=True)
                written += 1
            except KubeNotFound:
                continue  # deleted since the LIST
            except KubeError as exc:
                log.warning("radio cell %s: status not written: %s", name, exc)
        self.writes += written
        return written
