"""The QoS guard: every placed workload's own QoS bound (`spec.qos`) holds all the time, SLA or not.

Every `interval_s` it reads the QoS metrics (the engine's snapshot) and each placed workload's
placement as the controller last saw it, and asks orchestrator.qos_status for the verdict with the
solver's own latency model.  It writes nothing: the verdict is what the controller folds into the
status it writes (`verdict(key)`: condition `QoSDegraded` with the measured value, and
`predictedLatencyMs`), and the guard queues the workload when that would say something new.

When the bound breaks in `BREACH_AFTER` readings in a row, the guard records an Offload intent
(orchestrator.move_intents: leave the sites that break it) and asks the controller to carry it out,
make-before-break, within the workload's migration budget and cool-down (orchestrator.offload
`deferred`, on the same `status.migrationLog` as the SLA path); when they forbid a move, the
condition says so.  With `spec.migration.failBack`, the workload goes back once the sites it left
are good again: a what-if solve (no sites avoided, no migration cost) must predict a latency better
by `min_gain_ms` and by `min_gain` of the current one, for `fail_back_hold_s` in a row (hysteresis:
no flapping); then a FailBack intent.  Without failBack the sites are only no longer avoided.

Workloads under an agreement keep their SLA-driven path: while an agreement's Offload is open the
guard only reports (its own intent is dropped, orchestrator.move_intents), and the guard moves a
workload an agreement names only when the bound has stayed broken for `sla_grace_s` (objectives
that do not see the links).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from orchestrator import intents, move_intents, offload, qos_status
from orchestrator.engine import Outcome
from orchestrator.health import avoided_nodes
from orchestrator.intents import Intent, IntentBook
from orchestrator.loops import Periodic
from orchestrator.move_intents import MoveBook, Own
from orchestrator.prometheus import MetricsUnavailable
from orchestrator.qos_status import Verdict
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.snapshot import QosMetrics, Request
from orchestrator.vocabulary import QOS_GUARD_INTENT, EventType, Phase, Reason
from placement.assess import Assessment

log = logging.getLogger("edgeorch.qos")
CHECK_S = 2.0  # how often every placed workload's bound is checked
BREACH_AFTER = 2  # readings in a row that break the bound before anything is said or moved (a blip moves nothing)
SLA_GRACE_S = 30.0  # under an agreement, the SLA loop moves the workload; the guard only after this long
FAIL_BACK_HOLD_S = 10.0  # a better placement must have held this long before the workload fails back
MIN_GAIN_MS = 2.0  # a fail-back (and a re-optimiser move) must gain this much predicted latency,
MIN_GAIN = 0.2  # and this share of the current one
Event = tuple[str, str, str]


class Placer(Protocol):
    """What the guard asks of the placement engine (orchestrator.engine.PlacementEngine)."""

    site_penalty_ms: dict[str, float]

    async def place(self, request: Request) -> Outcome: ...


@dataclass
class _Track:
    bad: int = 0  # readings in a row that broke the bound
    broken_since: float | None = None  # monotonic time the bound broke
    better_since: float | None = None  # monotonic time a fail-back began to gain enough
    said: str = ""  # the intent whose deferred fail-back was said (an Event, once)


class QosGuard(Periodic):
    name = "edgeorch-qos-guard"

    def __init__(self, engine: Placer, sites: Callable[[], Mapping[str, Mapping[str, Any]]],
                 bodies: Callable[[], Mapping[str, Mapping[str, Any]]], metrics: Callable[[], Awaitable[QosMetrics]],
                 book: IntentBook, moves: MoveBook, request: Callable[[str], None], enqueue: Callable[[str], None],
                 post: Callable[[Mapping[str, Any], Iterable[Event]], None], *, interval_s: float = CHECK_S,
                 min_gain_ms: float = MIN_GAIN_MS, min_gain: float = MIN_GAIN,
                 fail_back_hold_s: float = FAIL_BACK_HOLD_S, sla_grace_s: float = SLA_GRACE_S) -> None:
        self.engine = engine
        self.sites = sites  # EdgeSite name -> spec
        self.bodies = bodies  # workload key -> the EdgeWorkload as the controller last saw it
        self.metrics = metrics
        self.book = book  # the agreements' intents (orchestrator.intents)
        self.moves = moves  # the operator's own intents (orchestrator.move_intents)
        self.request = request  # the controller reconciles the workload from a fresh read (an intent changed)
        self.enqueue = enqueue  # the controller reconciles the workload (its status has something new to say)
        self.post = post  # Events about a workload, posted in the background
        self.interval_s = interval_s
        self.min_gain_ms, self.min_gain = min_gain_ms, min_gain
        self.fail_back_hold_s = fail_back_hold_s
        self.sla_grace_s = sla_grace_s
        self._verdicts: dict[str, Verdict] = {}
        self._tracks: dict[str, _Track] = {}
        self._specs: dict[str, tuple[tuple[str, int], EdgeWorkloadSpec]] = {}  # key -> ((uid, generation), spec)
        self._readings: dict[str, tuple[tuple[Any, ...], Assessment | None]] = {}  # key -> (what it read, reading)
        self._now = (0.0, 0.0)  # the tick's (wall, monotonic) clocks

    # -- what the controller reads ----------------------------------------------------------------
    def verdict(self, key: str) -> Verdict | None:
        return self._verdicts.get(key)

    def degraded(self, key: str) -> bool:
        v = self._verdicts.get(key)
        return v is not None and not v.holds

    # -- the loop ---------------------------------------------------------------------------------
    async def tick(self, now: float | None = None, mono: float | None = None) -> None:
        """Check every placed workload once (`now`: wall clock, `mono`: monotonic)."""
        now = time.time() if now is None else now
        mono = time.monotonic() if mono is None else mono
        self._now = (now, mono)
        try:
            metrics = await self.metrics()
        except MetricsUnavailable as exc:  # no verdict without metrics: the last ones stand
            log.debug("QoS guard without metrics: %s", exc)
            return
        bodies = dict(self.bodies())
        sites = self.sites()
        for key in [k for k in self._tracks if k not in bodies]:
            self._forget(key)
        self.moves.forget(set(bodies))
        checks = [c for key, body in bodies.items() if (c := self._check(key, body, metrics, sites, now, mono))]
        await asyncio.gather(*checks)  # the fail-back what-ifs, solved together

    def _forget(self, key: str) -> None:
        self._verdicts.pop(key, None)
        self._tracks.pop(key, None)
        self._specs.pop(key, None)
        self._readings.pop(key, None)

    def _spec(self, key: str, body: Mapping[str, Any]) -> EdgeWorkloadSpec | None:
        meta = body.get("metadata") or {}
        version = (str(meta.get("uid", "")), int(meta.get("generation") or 0))
        known = self._specs.get(key)
        if known is not None and known[0] == version:
            return known[1]
        try:
            spec = EdgeWorkloadSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return None
        self._specs[key] = (version, spec)
        return spec

    def _check(self, key: str, body: Mapping[str, Any], metrics: QosMetrics,
               sites: Mapping[str, Mapping[str, Any]], now: float, mono: float) -> Awaitable[None] | None:
        """The verdict on one workload (and what is done about it); a fail-back check still to run, if any."""
        status = body.get("status") or {}
        placements = [p for p in status.get("placements") or [] if isinstance(p, Mapping)]
        spec = self._spec(key, body)
        if spec is None or not placements or spec.replicas == 0 or (body.get("metadata") or {}).get("deletionTimestamp"):
            self._verdicts.pop(key, None)
            self._tracks.pop(key, None)
            return None
        sla = self.book.of(key)
        own = self.moves.sync(key, body, sla)
        a = self._reading(key, spec, [str(p.get("site")) for p in placements], metrics, sites)
        if a is None:
            return None  # not measurable now: the last verdict stands
        nodes = tuple(str(p.get("node")) for p in placements)
        t = self._tracks.setdefault(key, _Track())
        follow: Awaitable[None] | None = None
        if a.holds:
            t.bad, t.broken_since = 0, None
            v = qos_status.verdict(nodes, spec, a)
            follow = self._holding(key, body, spec, a, own, t, metrics, sites)
        else:
            t.bad += 1
            t.better_since = None
            if t.broken_since is None:
                t.broken_since = mono
            if t.bad < BREACH_AFTER:
                return None
            v = qos_status.verdict(nodes, spec, a, self._act(key, body, spec, a, sla, own, t, now, mono))
        self._verdicts[key] = v
        extra, events = qos_status.status_change(body, v)
        if extra or events:
            self.enqueue(key)
        return follow

    # -- the bound is broken ----------------------------------------------------------------------
    def _act(self, key: str, body: Mapping[str, Any], spec: EdgeWorkloadSpec, a: Assessment,
             sla: Sequence[Intent], own: Own | None, t: _Track, now: float, mono: float) -> str:
        """Move the workload if it may (an Offload intent, carried out by the controller); what is done, in words."""
        theirs = move_intents.open_offload(sla)
        if theirs is not None:
            return f"an SLA's offload is under way ({theirs.reason})"[:300]
        if own is not None and not own.done:
            status = body.get("status") or {}
            if status.get("phase") in (Phase.DEGRADED, Phase.UNPLACEABLE):
                why = next((c.get("message") for c in status.get("conditions") or []
                            if c.get("type") == "Unplaceable" and c.get("status") == "True"), "")
                return f"no other placement meets it: {why}"[:500] if why else "no other placement meets it"
            return "re-placing"
        if self.book.covered(key) and t.broken_since is not None and mono - t.broken_since < self.sla_grace_s:
            return f"under an SLA, whose loop moves it (the guard after {self.sla_grace_s:g} s)"
        why = offload.deferred(body, spec, now)
        if why:
            if why.startswith("cool-down"):
                why = f"cool-down of {spec.migration.cooldown_seconds} s after the last migration"
            return f"not moving: {why}"
        avoid = set(a.breaking)
        if own is not None and own.intent.action == intents.OFFLOAD and own.intent.sla == QOS_GUARD_INTENT:
            avoid |= set(own.intent.avoid)  # still avoiding what the last offload left
        intent = move_intents.offload(sorted(avoid), f"QoS bound: {'; '.join(a.problems)}"[:500], now)
        log.info("%s: %s; leaving %s", key, "; ".join(a.problems), ", ".join(intent.avoid))
        self.moves.put(key, intent)
        self.request(key)
        return "re-placing"

    # -- the bound holds --------------------------------------------------------------------------
    def _holding(self, key: str, body: Mapping[str, Any], spec: EdgeWorkloadSpec, a: Assessment, own: Own | None,
                 t: _Track, metrics: QosMetrics, sites: Mapping[str, Mapping[str, Any]]) -> Awaitable[None] | None:
        """Stop avoiding what the guard's Offload left once it is good again; with failBack, the check
        whether to go back (to run: it asks the engine)."""
        if own is None or own.intent.sla != QOS_GUARD_INTENT:
            t.better_since = None
            return None
        intent = own.intent
        if not own.done:
            if intent.action == intents.OFFLOAD:  # never carried out (nothing else met the bound): withdrawn
                log.info("%s: the QoS bound holds again; no longer leaving %s", key, ", ".join(intent.avoid))
                self.moves.drop(key)
                self.enqueue(key)
            return None
        if intent.action != intents.OFFLOAD:
            return None
        if not spec.migration.fail_back:
            good = [s for s in intent.avoid if self._site_ok(key, spec, s, metrics, sites)]
            if len(good) == len(intent.avoid):
                self.moves.drop(key)  # no fail-back wanted: only no longer avoided
            return None
        return self._fail_back(key, body, spec, a, intent, t, metrics, sites)

    async def _fail_back(self, key: str, body: Mapping[str, Any], spec: EdgeWorkloadSpec, a: Assessment, intent: Intent,
                         t: _Track, metrics: QosMetrics, sites: Mapping[str, Mapping[str, Any]]) -> None:
        """A FailBack intent once going back gains enough and has for `fail_back_hold_s`, within the budget."""
        now, mono = self._now
        then_ms = await self._better(key, body, spec, a, intent, metrics, sites)
        if then_ms is None:
            t.better_since = None
            return
        if t.better_since is None:
            t.better_since = mono
        if mono - t.better_since < self.fail_back_hold_s:
            return
        why = offload.deferred(body, spec, now)
        if why:
            if t.said != intent.id:
                t.said = intent.id
                self.post(body, [(EventType.WARNING, Reason.FAIL_BACK_DEFERRED, f"not failing back: {why}")])
            return
        back = move_intents.fail_back(intent, f"QoS bound: {', '.join(intent.avoid)} good again; predicted latency "
                                              f"{a.predicted_latency_ms:.1f} -> {then_ms:.1f} ms")
        log.info("%s: failing back (%s)", key, back.reason)
        self.moves.put(key, back)
        t.better_since = None
        self.request(key)

    def _reading(self, key: str, spec: EdgeWorkloadSpec, placed: list[str], metrics: QosMetrics,
                 sites: Mapping[str, Mapping[str, Any]]) -> Assessment | None:
        """qos_status.reading of the placement, again only when what it reads changed (every workload,
        every tick: most of them see the same numbers as 2 s ago)."""
        distinct = sorted(set(placed))
        cells = [c.cell for c in spec.users.cells]
        seen = (self._specs[key][0], tuple(placed), tuple(metrics.latency_ms.get(c, {}).get(s) for c in cells for s in distinct),
                tuple(metrics.bandwidth_mbps.get(c, {}).get(s) for c in cells for s in distinct)
                if spec.qos.min_bandwidth_mbps is not None else (),
                tuple(metrics.site_up.get(s) for s in distinct), tuple(sites.get(s) is not None for s in distinct),
                tuple(self.engine.site_penalty_ms.get(s) for s in distinct))
        known = self._readings.get(key)
        if known is not None and known[0] == seen:
            return known[1]
        a = qos_status.reading(key, spec, placed, sites, metrics, self.engine.site_penalty_ms)
        self._readings[key] = (seen, a)
        return a

    def _site_ok(self, key: str, spec: EdgeWorkloadSpec, site: str, metrics: QosMetrics,
                 sites: Mapping[str, Mapping[str, Any]]) -> Assessment | None:
        one = qos_status.reading(key, spec, [site], sites, metrics, self.engine.site_penalty_ms)
        return one if one is not None and one.holds else None

    async def _better(self, key: str, body: Mapping[str, Any], spec: EdgeWorkloadSpec, a: Assessment, left: Intent,
                      metrics: QosMetrics, sites: Mapping[str, Mapping[str, Any]]) -> float | None:
        """The predicted latency of going back, when a site `left` avoided is good again and the
        what-if solve (nothing avoided, no migration cost) goes there gaining enough; else None."""
        now_ms = a.predicted_latency_ms
        near = [one for s in left.avoid if (one := self._site_ok(key, spec, s, metrics, sites)) is not None
                and qos_status.enough(now_ms, one.predicted_latency_ms, self.min_gain_ms, self.min_gain)]
        if not near:
            return None  # cheap: no what-if while the sites it left are no better
        placements = (body.get("status") or {}).get("placements") or []
        avoid = frozenset(avoided_nodes((body.get("metadata") or {}).get("annotations"), time.time()))
        try:
            what_if = await self.engine.place(Request(key, spec, tuple(sorted(str(p["node"]) for p in placements)),
                                                      avoid_nodes=avoid, dry_run=True, migration_weight=0.0))
        except MetricsUnavailable:
            return None
        then_ms = what_if.predicted_latency_ms
        if not what_if.placed or then_ms is None or not set(what_if.sites) & set(left.avoid) \
                or not qos_status.enough(now_ms, then_ms, self.min_gain_ms, self.min_gain):
            return None
        return then_ms


__all__ = ["BREACH_AFTER", "CHECK_S", "FAIL_BACK_HOLD_S", "MIN_GAIN", "MIN_GAIN_MS", "SLA_GRACE_S", "QosGuard"]
