"""The mobility loop: workloads whose users move follow them (`spec.users.fromMetric`).

The operator's EdgeWorkload watch hands every event to `MobilityLoop.observe`; the loop keeps the
workloads whose spec measures its users.  Every `TICK_S` it reads each one whose `intervalSeconds`
has passed: its query (`$workload`, `$namespace`, `$name` replaced) through Prometheus, which parses
it (a `bad_data` answer is a query that will never work: `QueryInvalid`); the values per cell
(`cellLabel`) become a distribution, less the cells Prometheus has no latency metrics for, smoothed
exponentially with the time constant `smoothingSeconds` (orchestrator.users).  The loop writes
nothing: what it read is an intent the workload controller reads (`reading(key)`), and

- when the UsersMeasured condition would say something new (a query Prometheus refuses, no data,
  data again), it queues the workload (`enqueue`) so the controller writes the condition and Event;
- when the smoothed distribution (cells under `minShare` left out) is at least `moveThreshold` away
  (total variation distance) from the one the placement was solved for (`status.users`), or at least
  MIN_MOVE away and served worse where the replicas are than at the best site the workload may use by
  more than a move costs the solver (`min_gain_ms`, from the operator's weights), and the workload's
  migration budget and cool-down allow a move (`spec.migration`, as for an offload:
  orchestrator.offload.deferred), it asks the controller to solve again (`resolve`).  The solver's
  migration cost decides whether replicas move; they move make-before-break (orchestrator.rollout).

Restart-safe: a restarted loop starts its smoothing from the distribution in use (`status.users`),
so it neither forgets where the users were nor jumps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from orchestrator import offload, users
from orchestrator.loops import Periodic
from orchestrator.prometheus import EXECUTION, MetricsUnavailable, QueryRejected, Sample
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.resources.common import ConditionStatus
from orchestrator.resources.users import UsersFromMetric
from orchestrator.snapshot import QosMetrics
from orchestrator.users import Reading
from orchestrator.vocabulary import Reason
from orchestrator.workloads import key_of

log = logging.getLogger("edgeorch.mobility")
TICK_S = 1.0  # how often the loop looks for workloads whose interval has passed
ASK_AGAIN_S = 30.0  # a solve asked for and not reported in status.users yet is asked for again after this
CONCURRENT_READS = 16
MIN_MOVE = 0.05  # users that moved less than this (total variation) never call for a solve
MIN_GAIN_MS = 2.0  # the solver's default cost of moving a replica, in ms of user latency (placement.Weights)


def query_of(metric: UsersFromMetric, key: str) -> str:
    """The workload's query with `$workload` (namespace/name), `$namespace` and `$name` replaced."""
    namespace, name = key.split("/", 1)
    return metric.query.replace("$workload", key).replace("$namespace", namespace).replace("$name", name)


@dataclass
class Track:
    """What the loop knows of one workload that measures its users."""

    body: dict[str, Any]
    metric: UsersFromMetric
    query: str
    smoothed: dict[str, float] | None = None
    last_read: float | None = None  # monotonic
    read_at: datetime | None = None
    state: tuple[ConditionStatus, str, str] = (ConditionStatus.UNKNOWN, Reason.NO_DATA, "not read yet")
    asked: tuple[float, Any] | None = None  # (monotonic time, status.users.readTime then) of the last resolve
    deferred: str | None = field(default=None)  # why the last move it wanted waits (said once in the log)

    def reading(self) -> Reading:
        cells = users.published(self.smoothed, self.metric.min_share) if self.smoothed else None
        status, reason, message = self.state
        return Reading(cells or None, self.read_at, status, reason, message, retry_s=float(self.metric.interval_seconds))


class MobilityLoop(Periodic):
    name = "edgeorch-mobility"

    def __init__(self, query: Callable[[str], Awaitable[list[Sample]]], metrics: Callable[[], Awaitable[QosMetrics]],
                 resolve: Callable[[str], None], enqueue: Callable[[str], None], *, interval_s: float = TICK_S,
                 sites: Callable[[], Mapping[str, Mapping[str, Any]]] = dict, min_gain_ms: float = MIN_GAIN_MS,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.query = query  # PromQL -> samples (orchestrator.prometheus.PrometheusSource.query)
        self.metrics = metrics  # the QoS snapshot: which cells have latency metrics, and the latency
        self.sites = sites  # EdgeSite name -> spec (tier, zone, cordoned): where a workload could go
        self.min_gain_ms = min_gain_ms  # what a moved replica costs the solver, in ms of user latency
        self.resolve = resolve  # the controller solves the workload again (WorkloadController.resolve)
        self.enqueue = enqueue  # the controller reconciles it (writes the condition) (WorkloadController.enqueue)
        self.interval_s = interval_s
        self.clock = clock
        self.wall = wall
        self._tracks: dict[str, Track] = {}

    # -- the watch side ---------------------------------------------------------------------------
    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One watch event of an EdgeWorkload (`None`: the initial listing)."""
        key = key_of(body)
        if event_type == "DELETED" or (body.get("metadata") or {}).get("deletionTimestamp"):
            self._tracks.pop(key, None)
            return
        metric = None
        if ((body.get("spec") or {}).get("users") or {}).get("fromMetric"):  # (most workloads: no parse)
            with contextlib.suppress(ValidationError):  # the controller says what is wrong with the spec
                metric = EdgeWorkloadSpec.model_validate(body.get("spec") or {}).users.from_metric
        if metric is None:
            self._tracks.pop(key, None)
            return
        query = query_of(metric, key)
        track = self._tracks.get(key)
        if track is None or track.query != query:
            # a new workload, a restart or a new query: start from the distribution in use
            self._tracks[key] = Track(dict(body), metric, query, smoothed=users.in_use(body.get("status")))
        else:
            track.body, track.metric = dict(body), metric

    def reading(self, key: str) -> Reading:
        """What the controller solves with and reports for workload `key` (users.STATIC: it measures none)."""
        track = self._tracks.get(key)
        return track.reading() if track is not None else users.STATIC

    # -- the loop ---------------------------------------------------------------------------------
    async def tick(self, now: float | None = None) -> list[str]:
        """Read every workload whose interval has passed; the keys asked to be solved again."""
        now = self.clock() if now is None else now
        due = [(k, t) for k, t in self._tracks.items()
               if t.last_read is None or now - t.last_read >= t.metric.interval_seconds - 0.05]
        if not due:
            return []
        try:
            metrics: QosMetrics | None = await self.metrics()
        except MetricsUnavailable:
            metrics = None  # no filter by the latency metrics now (the engine says which cells it lacks)
        gate = asyncio.Semaphore(CONCURRENT_READS)

        async def one(key: str, track: Track) -> str | None:
            async with gate:
                return await self._read(key, track, now, metrics)

        asked = await asyncio.gather(*(one(k, t) for k, t in due))
        return [k for k in asked if k is not None]

    async def _read(self, key: str, track: Track, now: float, metrics: QosMetrics | None) -> str | None:
        before = track.state
        try:
            samples = await self.query(track.query)
        except QueryRejected as exc:
            track.state = _rejected(exc)
        except MetricsUnavailable as exc:
            track.state = (ConditionStatus.UNKNOWN, Reason.PROMETHEUS_UNREACHABLE,
                           f"spec.users.fromMetric: Prometheus not reachable ({exc}); the distribution in use stays")
        else:
            raw = users.weights(samples, track.metric.cell_label)
            measured = users.normalised({c: v for c, v in raw.items() if metrics is None or c in metrics.latency_ms})
            if not measured:
                track.state = (ConditionStatus.FALSE, Reason.NO_DATA, _no_data(track, raw))
            else:
                dt = now - track.last_read if track.last_read is not None else 0.0
                track.smoothed = users.smooth(track.smoothed, measured, dt, track.metric.smoothing_seconds)
                track.read_at = datetime.fromtimestamp(self.wall(), UTC).replace(microsecond=0)
                track.state = (ConditionStatus.TRUE, Reason.METRICS_AVAILABLE,
                               "spec.users.fromMetric measures the users; status.users shows the distribution in use")
        track.last_read = now
        if track.state[:2] != before[:2] or (track.state[1] in users.PROBLEMS and track.state != before):
            self.enqueue(key)  # the controller writes the condition (and a Warning for a bad query)
        return self._maybe_resolve(key, track, now, metrics)

    def _maybe_resolve(self, key: str, track: Track, now: float, metrics: QosMetrics | None) -> str | None:
        """Ask for a new solve when the users moved far enough (moveThreshold; or less, but enough for
        the placement in use to serve them worse than the best allowed site by more than a move costs)
        and the budget allows; the key if asked."""
        if not track.smoothed:
            return None
        status = track.body.get("status") or {}
        target = users.published(track.smoothed, track.metric.min_share)
        moved = users.distance(users.in_use(status), target)
        if moved < track.metric.move_threshold and (moved < MIN_MOVE or not self._gains(track, target, metrics)):
            track.deferred = None
            return None
        read_then = (status.get("users") or {}).get("readTime")
        if track.asked is not None and track.asked[1] == read_then and now - track.asked[0] < ASK_AGAIN_S:
            return None  # asked already; the controller's answer (status.users) is not back yet
        if status.get("placements"):  # something runs: moving it must fit the migration budget
            spec = EdgeWorkloadSpec.model_validate(track.body["spec"])
            why = offload.deferred(track.body, spec, self.wall())
            if why:
                if why.split(":")[0] != (track.deferred or "").split(":")[0]:
                    log.info("%s: users moved %.2f away, not solving again yet: %s", key, moved, why)
                track.deferred = why
                return None
        track.deferred = None
        track.asked = (now, read_then)
        log.info("%s: users moved %.2f away from the distribution in use: solving again", key, moved)
        self.resolve(key)
        return key


    def _gains(self, track: Track, cells: Mapping[str, float], metrics: QosMetrics | None) -> bool:
        """Whether a replica would serve `cells` better by more than `min_gain_ms` at the best site the
        workload may use (its tiers and zones, not cordoned) than where its replicas are."""
        here = offload.sites_of(track.body)
        if metrics is None or not here:
            return False
        spec = EdgeWorkloadSpec.model_validate(track.body["spec"])
        tiers, zones = set(spec.placement.allowed_tiers), set(spec.placement.allowed_zones)
        allowed = [name for name, site in self.sites().items() if not site.get("cordoned")
                   and (not tiers or site.get("tier") in tiers) and (not zones or site.get("zone") in zones)]
        now_ms = offload.estimate_latency_ms(spec, here, metrics, cells)
        best = [v for v in (offload.estimate_latency_ms(spec, [s], metrics, cells) for s in allowed) if v is not None]
        return now_ms is not None and bool(best) and now_ms - min(best) >= self.min_gain_ms


def _rejected(exc: QueryRejected) -> tuple[ConditionStatus, str, str]:
    if exc.invalid:
        return (ConditionStatus.FALSE, Reason.QUERY_INVALID,
                f"spec.users.fromMetric.query: Prometheus rejects it: {exc.message}")
    if exc.error_type == EXECUTION:
        return (ConditionStatus.FALSE, Reason.QUERY_FAILED,
                f"spec.users.fromMetric.query: Prometheus could not run it: {exc.message}")
    return (ConditionStatus.UNKNOWN, Reason.PROMETHEUS_UNREACHABLE,
            f"spec.users.fromMetric.query: not checked ({exc.error_type}: {exc.message})")


def _no_data(track: Track, raw: Mapping[str, float]) -> str:
    if raw:
        cells = sorted(raw)
        return (f"spec.users.fromMetric: none of the cells its query gives ({', '.join(cells[:3])}"
                f"{' ...' if len(cells) > 3 else ''}) has latency metrics; the distribution in use stays")
    return (f"spec.users.fromMetric: its query gives no series with a {track.metric.cell_label!r} label and a "
            "value > 0; the distribution in use stays")
