"""The re-optimiser: placed workloads move when a clearly better place opens, and only then.

Every `tick_s` it looks at the cluster (room left per usable site, from the Node and Pod watches;
each workload's replicas, requests and priority) and compares with the last look
(orchestrator.reoptimise_plan.triggers): room freed (a workload deleted, a request lowered, Pods
gone), a site usable again, a node added, a priority changed.  Shortly after such an event
(`DEBOUNCE_S`, at most every `MIN_GAP_S`), and every `period_s` in any case, it runs:

1. workloads that wait for room (Unplaceable, or Degraded on older Pods, for lack of a feasible
   placement) that could use the room just freed (their request fits, the site's tier is allowed and
   within their latency bound) are queued at once: the controller solves them again now, not at
   their next retry;
2. the placed workloads that may move (no open offload, no move of theirs under way, their QoS bound
   holding on the links now (a broken one is the QoS guard's), within their migration budget and cool-down) and could gain latency (a usable site nearer to
   their users than every site they run on) are solved together in one dry run, with migration
   costs, the other workloads held where they are (they could gain nothing: they are never moved);
3. those whose answer gains at least `min_gain_ms` and `min_gain` of their predicted latency, and
   gained already in a run `CONFIRM_S` earlier (a gain seen once, a metrics blip, moves nothing: the
   run is repeated), best gain first, are confirmed by a dry run of their own (the others as they are now) and, up to
   `max_moves` own moves under way cluster-wide, get a Reoptimise intent (orchestrator.move_intents)
   that the controller carries out make-before-break; its moves count in the workload's
   `status.migrationLog`, so budgets and cool-downs bound how often anything moves (no oscillation).

It writes nothing itself.  Level-triggered: a restarted operator finds the same gains.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from orchestrator import move_intents, qos_status
from orchestrator import reoptimise_plan as plan
from orchestrator.engine import Outcome
from orchestrator.health import Replica, avoided_nodes
from orchestrator.intents import IntentBook
from orchestrator.loops import Periodic
from orchestrator.move_intents import MoveBook
from orchestrator.prometheus import MetricsUnavailable
from orchestrator.qos_guard import MIN_GAIN, MIN_GAIN_MS, Placer
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.rollout import PodState
from orchestrator.snapshot import QosMetrics, Request, Reserved

log = logging.getLogger("edgeorch.reoptimiser")
TICK_S = 1.0  # how often the cluster is looked at for events
DEBOUNCE_S = 0.5  # events that come together make one run
MIN_GAP_S = 2.0  # event-driven runs at most this often
CONFIRM_S = 2.0  # a gain must be seen again this much later before anything moves for it
SETTLE_S = 3.0  # after queueing waiting workloads, the dry run waits (this long at most) for their solves
PERIOD_S = 30.0
MAX_MOVES = 5


class Cluster(Protocol):
    """What the re-optimiser reads of the cluster (orchestrator.service.IndexView)."""

    def nodes(self) -> list[Mapping[str, Any]]: ...

    def sites(self) -> dict[str, Mapping[str, Any]]: ...

    def foreign(self) -> dict[str, Reserved]: ...

    def replica_pods(self) -> dict[str, list[Replica]] | None: ...

    def replicas(self, key: str) -> dict[str, PodState] | None: ...


class Engine(Placer, Protocol):
    def waiting(self) -> int: ...


class Reoptimiser(Periodic):
    name = "edgeorch-reoptimiser"

    def __init__(self, engine: Engine, view: Cluster, bodies: Callable[[], Mapping[str, Mapping[str, Any]]],
                 metrics: Callable[[], Awaitable[QosMetrics]], book: IntentBook, moves: MoveBook,
                 degraded: Callable[[str], bool], request: Callable[[str], None], enqueue: Callable[[str], None], *,
                 period_s: float = PERIOD_S, max_moves: int = MAX_MOVES, min_gain_ms: float = MIN_GAIN_MS,
                 min_gain: float = MIN_GAIN, tick_s: float = TICK_S) -> None:
        self.engine = engine
        self.view = view
        self.bodies = bodies  # workload key -> the EdgeWorkload as the controller last saw it
        self.metrics = metrics
        self.book = book
        self.moves = moves
        self.degraded = degraded  # the QoS guard's verdict: its bound is broken (the guard moves it)
        self.request = request
        self.enqueue = enqueue
        self.period_s = period_s  # 0: no periodic run (events only)
        self.max_moves = max_moves
        self.min_gain_ms, self.min_gain = min_gain_ms, min_gain
        self.interval_s = tick_s
        self.runs = 0
        self._last: plan.Look | None = None
        self._shapes: dict[str, tuple[tuple[str, int], plan.Shape]] = {}  # parsed once per generation
        self._pending: list[str] = []  # the events not run for yet
        self._freed: set[str] = set()  # sites whose room grew since the last run
        self._due = 0.0
        self._gains: dict[str, float] = {}  # workload -> when a run first saw it gain enough (monotonic)
        self._last_run = time.monotonic()

    async def tick(self, mono: float | None = None) -> bool:
        """Look at the cluster; run when an event (debounced) or the period calls for it.  Whether it ran."""
        mono = time.monotonic() if mono is None else mono
        try:
            metrics = await self.metrics()
        except MetricsUnavailable:
            return False
        bodies = dict(self.bodies())
        look = plan.Look(plan.free_room(self.view.nodes(), self.view.sites(), self.view.replica_pods(),
                                        self.view.foreign(), metrics.site_up), plan.shapes(bodies, self._shapes))
        if self._last is not None:
            reasons = plan.triggers(self._last, look)
            if reasons:
                if not self._pending:
                    self._due = mono + DEBOUNCE_S
                self._pending.extend(r for r in reasons if r not in self._pending)
                self._freed |= {s for s in look.room if s not in self._last.room
                                or look.room[s].cpu_m > self._last.room[s].cpu_m
                                or look.room[s].memory_mb > self._last.room[s].memory_mb}
        self._last = look
        event = bool(self._pending) and mono >= self._due and mono - self._last_run >= MIN_GAP_S
        periodic = self.period_s > 0 and mono - self._last_run >= self.period_s
        if not (event or periodic):
            return False
        reasons, freed = self._pending or ["periodic"], self._freed
        self._pending, self._freed = [], set()
        self._last_run = mono
        await self.run("; ".join(reasons), bodies, metrics, look, freed, mono=mono)
        return True

    async def run(self, why: str, bodies: Mapping[str, Mapping[str, Any]], metrics: QosMetrics, look: plan.Look,
                  freed: set[str], now: float | None = None, mono: float | None = None) -> list[str]:
        """One re-optimisation (see the module docstring); the workloads asked to move."""
        now = time.time() if now is None else now
        mono = time.monotonic() if mono is None else mono
        self.runs += 1
        sites = self.view.sites()
        freed_rooms = [(s, look.room[s]) for s in sorted(freed) if s in look.room and s in sites]
        waiting = [k for k, b in bodies.items() if plan.waiting(b) and k in look.shapes and any(
            plan.could_use(b, look.shapes[k], s, sites[s], room, metrics.latency_ms) for s, room in freed_rooms)]
        for key in waiting:
            self.enqueue(key)
        if waiting:
            log.info("re-optimiser (%s): solving %d waiting workload(s) again: %s", why, len(waiting),
                     ", ".join(waiting[:10]))
            await self._settle()
        candidates = self._candidates(bodies, metrics, look, now)
        if not candidates:
            self._gains = {}
            return []
        answers = await asyncio.gather(*(self._what_if(key, body, spec) for key, (body, spec, _) in candidates.items()))
        joint = dict(zip(candidates, answers, strict=True))
        gains = sorted(((now_ms - (o.predicted_latency_ms or 0.0), key) for key, (body, _, now_ms) in candidates.items()
                        if (o := joint[key]) is not None
                        and plan.worth(now_ms, _nodes(body), o, self.min_gain_ms, self.min_gain)), reverse=True)
        ready, self._gains = plan.confirmed(self._gains, [key for _, key in gains], mono, CONFIRM_S)
        if len(ready) < len(gains):  # look again shortly: a gain seen twice is no blip
            if why not in self._pending:
                self._pending.append(why)
            self._due = mono + CONFIRM_S
        busy = sum(1 for key, body in bodies.items()
                   if plan.in_progress(self.moves.sync(key, body, self.book.of(key)), body, self.view.replicas(key), now))
        asked: list[str] = []
        for key in ready:
            if busy + len(asked) >= self.max_moves:
                log.info("re-optimiser: %d move(s) under way (limit %d): the other gains wait", busy + len(asked),
                         self.max_moves)
                break
            body, spec, now_ms = candidates[key]
            mine = await self._what_if(key, body, spec) if len(candidates) > 1 else joint[key]
            if mine is None or not plan.worth(now_ms, _nodes(body), mine, self.min_gain_ms, self.min_gain):
                continue  # the gain needed others to move too: nobody is moved for it
            reason = (f"re-optimiser ({why[:200]}): predicted latency {now_ms:.1f} -> "
                      f"{mine.predicted_latency_ms or 0.0:.1f} ms")
            log.info("%s: %s", key, reason)
            self.moves.put(key, move_intents.reoptimise(reason, now))
            self.request(key)
            asked.append(key)
        return asked

    def _candidates(self, bodies: Mapping[str, Mapping[str, Any]], metrics: QosMetrics, look: plan.Look,
                    now: float) -> dict[str, tuple[Mapping[str, Any], EdgeWorkloadSpec, float]]:
        """The placed workloads that may move and could gain: key -> (body, spec, predicted latency now)."""
        sites = self.view.sites()
        out: dict[str, tuple[Mapping[str, Any], EdgeWorkloadSpec, float]] = {}
        for key, body in bodies.items():
            if not plan.could_gain(body, look.room, metrics.latency_ms):
                continue
            try:
                spec = EdgeWorkloadSpec.model_validate(body.get("spec") or {})
            except ValidationError:
                continue
            sla = self.book.of(key)
            own = self.moves.sync(key, body, sla)
            if plan.why_not(key, body, spec, sla, own, self.degraded(key), self.view.replicas(key), now) is not None:
                continue
            placements = (body.get("status") or {}).get("placements") or []
            a = qos_status.reading(key, spec, [str(p.get("site")) for p in placements], sites, metrics,
                                   self.engine.site_penalty_ms)
            if a is not None and a.holds:  # one that breaks its bound is the QoS guard's (its readings, its hysteresis)
                out[key] = (body, spec, a.predicted_latency_ms)
        return out

    async def _what_if(self, key: str, body: Mapping[str, Any], spec: EdgeWorkloadSpec) -> Outcome | None:
        avoid = frozenset(avoided_nodes((body.get("metadata") or {}).get("annotations"), time.time()))
        try:
            return await self.engine.place(Request(key, spec, tuple(sorted(_nodes(body))), avoid_nodes=avoid,
                                                   dry_run=True))
        except MetricsUnavailable:
            return None

    async def _settle(self) -> None:
        """Wait (SETTLE_S at most) until the engine has answered the solves just queued."""
        deadline = time.monotonic() + SETTLE_S
        await asyncio.sleep(0.2)  # the controller's workers take them from its queue first
        while self.engine.waiting() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


def _nodes(body: Mapping[str, Any]) -> Sequence[str]:
    return [str(p.get("node")) for p in (body.get("status") or {}).get("placements") or [] if isinstance(p, Mapping)]


__all__ = ["DEBOUNCE_S", "MAX_MOVES", "MIN_GAP_S", "PERIOD_S", "TICK_S", "Reoptimiser"]
