"""The EdgeWorkload controller: watch events in, level-triggered reconciliation out.

The operator's watch hands every EdgeWorkload event to `WorkloadController.observe` (cheap, never
blocks).  A de-duplicating FIFO work queue, drained by many concurrent workers, reconciles each
workload that needs it (`watch_events.needs_work`) through the batching placement engine: workers that
arrive together end up in one solve.  One key is never reconciled twice at the same time; a key
that changes while it is being worked on is queued again afterwards.  Retries (unplaceable,
metrics missing, API errors) are timers on the queue, not blocked workers.  A health loop queues
repairs for workloads that lost replicas (`orchestrator.health`: Node gone or NotReady, Pod failed,
Unschedulable or missing); a repair records the nodes to avoid on the EdgeWorkload, then re-places
(`orchestrator.repairs`).
A workload whose replicas are being rolled (orchestrator.rollout) is woken by the Pod watch when one
of its Pods turns Ready or goes (`pod_changed`), with a slow timer behind it.  A status write that
only reports Ready counts waits (briefly, bounded) while other workloads wait to be placed
(`orchestrator.deferral`).

Everything the controller needs after a restart is in the cluster: the watch's initial listing
queues every workload, and one whose status already records the decision its Pods match is left
alone.  The controller writes the status itself (one PATCH of /status per decision) and posts
Events through `orchestrator.kube`; it imports no Kopf.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from orchestrator import preemption, telemetry, watch_events, workloads
from orchestrator.deferral import STATUS_DEFER_S, Deferred
from orchestrator.engine import PlacementEngine
from orchestrator.health import Repair
from orchestrator.intents import Intent
from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.prometheus import MetricsUnavailable
from orchestrator.repairs import MISSING_GRACE_S as MISSING_GRACE_S
from orchestrator.repairs import REPAIR_AFTER_S as REPAIR_AFTER_S
from orchestrator.repairs import REPAIR_COOLDOWN_S as REPAIR_COOLDOWN_S
from orchestrator.repairs import Repairs, health_loop
from orchestrator.resize import Wanted
from orchestrator.rollout import PodState
from orchestrator.snapshot import Request
from orchestrator.users import Reading
from orchestrator.vocabulary import EDGEWORKLOADS

log = logging.getLogger("edgeorch.controller")
METRICS_RETRY_S = 5.0
API_RETRY_S = 2.0
MAX_RETRY_S = 60.0


class WorkloadController:
    def __init__(self, engine: PlacementEngine, kube: AsyncKube, *, workers: int = 256,
                 replicas: Callable[[str], dict[str, PodState] | None] | None = None, binding: str = "scheduler",
                 health: Callable[[], Mapping[str, Repair]] | None = None,
                 intents: Callable[[str], Sequence[Intent]] | None = None,
                 users: Callable[[str], Reading] | None = None,
                 annotate: Callable[[str, Mapping[str, Any], workloads.Reconciled], workloads.Reconciled] | None = None,
                 band_width: int = 100, resizes: Callable[[str], Wanted | None] | None = None,
                 frozen: Callable[[str], bool] | None = None) -> None:
        self.engine = engine
        self.resizes = resizes  # workload key -> the resize intent of its agreement (orchestrator.resize)
        self.frozen = frozen  # workload key -> a `suspend` breach of an agreement is open: nothing moves
        self.users = users  # workload key -> where its users are, measured (orchestrator.mobility)
        self.annotate = annotate  # adds what other loops observed to the status written (orchestrator.qos_status)
        self.band_width = band_width  # priorities per band (placement.priority; the engine's SolverConfig)
        self.intents = intents  # workload key -> the offload intents its agreements hold (orchestrator.intents)
        self.health = health  # workload key -> what is wrong with its replicas (orchestrator.health)
        self.binding = binding  # how replica Pods reach their node (decision.BINDINGS)
        self.replicas = replicas
        self.kube = kube
        self.workers = workers
        self._latest: dict[str, dict[str, Any]] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._touched: set[str] = set()  # reconciled by this process (its Pods may be newer than the watch)
        self._tasks: list[asyncio.Task[None]] = []
        self._side: set[asyncio.Task[None]] = set()
        self._repairs = Repairs(kube, self._side_task, self._wrote)  # replica repairs queued, cool-downs
        self._refresh: set[str] = set()  # keys to read from the API server before reconciling (request())
        self._rolling: set[str] = set()  # keys whose Pods are being replaced or moved (woken by pod_changed)
        self._deferred = Deferred()  # status writes put off while placements wait (orchestrator.deferral)
        self._pod_ready: dict[str, bool] = {}  # replica Pod "ns/name" -> Ready, as the Pod watch last said
        self._resolve: set[str] = set()  # keys to solve again though their status holds a decision (resolve())
        self._preempted: dict[str, tuple[str, ...]] = {}  # key -> who took its room (preempted())
        self._freed: dict[str, set[str]] = {}  # deleted workload -> its sites, until its Pods are gone
        self._specs = preemption.SpecCache()

    # -- the watch side ---------------------------------------------------------------------------
    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One watch event (`None`: the initial listing after a (re)start or a re-list)."""
        key = workloads.key_of(body)
        if event_type == "DELETED":
            self._forget(key)
            self.engine.release(key)
            if sites := preemption.freed_sites(body):
                self._freed[key] = sites
                self._room_freed(key)
            return
        seen = self._latest.get(key)
        if watch_events.is_stale(body, seen):
            return  # we already hold a newer body (a fresh read or our own write's response)
        self._latest[key] = dict(body)
        if watch_events.needs_work(event_type, body, seen):
            self.enqueue(key)
        if seen is not None and preemption.lowered(seen, body, self.band_width):
            self._resolve_gainers(preemption.freed_sites(seen))  # its room may now be a higher band's

    def request(self, key: str) -> None:
        """Another loop changed what the workload must do (its offload intent): reconcile it from a
        fresh read, since the watch may not have delivered that change yet."""
        if key in self._latest:
            self._refresh.add(key)
            self.enqueue(key)

    def pod_changed(self, key: str, pod: str, *, ready: bool, gone: bool) -> None:
        """A Pod watch event of workload `key`'s replica `pod`.  A rollout step waits for Pods to turn
        Ready or to go, so a workload that is rolling (or being reconciled right now) is queued when
        one of its Pods does; other Pod changes (created, bound) wake nobody."""
        before = self._pod_ready.pop(pod, None) if gone else self._pod_ready.get(pod)
        if not gone:
            self._pod_ready[pod] = ready
        if (gone or ready != bool(before)) and (key in self._rolling or key in self._running):
            self.enqueue(key)
        if gone and key in self._freed:
            self._room_freed(key)

    def resolve(self, key: str) -> None:
        """Another loop asks for a new solve of the workload although its status holds a decision (a
        site it uses was cordoned, or one it could gain from was uncordoned: orchestrator.sites; its
        users moved: orchestrator.mobility)."""
        if key in self._latest:
            self._resolve.add(key)
            self.enqueue(key)

    def latest(self) -> Mapping[str, Mapping[str, Any]]:
        """Every EdgeWorkload as last seen (its watch event, or the object our own write returned), by
        key; read only (other loops decide from it, the controller alone writes)."""
        return MappingProxyType(self._latest)

    def preempted(self, key: str, by: tuple[str, ...]) -> None:
        """The engine gave room this workload holds to workloads of a higher priority band (`by`, named
        in its Event): solve it again, to its next best place or Unplaceable (orchestrator.preemption)."""
        if key in self._latest:
            self._preempted[key] = by
            self.resolve(key)

    def placed_requests(self) -> dict[str, Request]:
        """The workloads whose status holds a decided placement, as the engine's preemption looks at them."""
        return preemption.placed_requests(self._latest, self._specs)

    def _room_freed(self, key: str) -> None:
        """Once a deleted workload's Pods are gone (terminating ones hold their room), the workloads
        that could gain from its sites are solved again, together, so the priority bands decide who
        gets the room (and when a workload's priority drops to a lower band: `observe`).  The
        re-optimiser sees the same room later, but moves only on a confirmed gain and outside
        cool-downs: a workload just preempted out would lose the room to a lower band there."""
        watch = getattr(self.engine.view, "replica_pods", None)
        pods = watch() if callable(watch) else None
        if pods and pods.get(key):
            return
        self._resolve_gainers(self._freed.pop(key))

    def _resolve_gainers(self, sites: set[str]) -> None:
        """Solve again the workloads that could gain from room at `sites` (orchestrator.preemption.gainers)."""
        if sites:
            self._side_task(preemption.resolve_gainers(self._latest, sites, self.engine.metrics, self.resolve))

    def enqueue(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)


    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _forget(self, key: str) -> None:
        self._latest.pop(key, None)
        self._repairs.forget(key)
        self._failures.pop(key, None)
        self._touched.discard(key)
        self._dirty.discard(key)
        self._refresh.discard(key)
        self._rolling.discard(key)
        self._deferred.drop(key)
        self._resolve.discard(key)
        self._preempted.pop(key, None)
        self._specs.forget(key)
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()

    def _retry(self, key: str, delay: float) -> None:
        if key not in self._latest:
            return
        old = self._timers.pop(key, None)
        if old:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        if key in self._latest:
            self.enqueue(key)

    # -- the workers ------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._work(), name=f"edgeorch-workload-{i}") for i in range(self.workers)]
            if self.health is not None:
                self._tasks.append(loop.create_task(health_loop(self.check_health), name="edgeorch-replica-health"))
            self._tasks.append(loop.create_task(self._flush_loop(), name="edgeorch-status-flush"))

    # -- replica health ---------------------------------------------------------------------------
    def check_health(self, now: float) -> list[str]:
        """Queue a repair for every workload whose replica problem has lasted REPAIR_AFTER_S (and that
        was not repaired in the last REPAIR_COOLDOWN_S); the keys queued."""
        assert self.health is not None
        queued = self._repairs.due(self.health(), now, self._latest, self._running, self._rolling)
        for key in queued:
            self.enqueue(key)
        return queued

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in (*self._tasks, *self._side):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._side, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            body = self._latest.get(key)
            if body is None:
                continue
            self._running.add(key)
            try:
                delay = await self._reconcile(key, self._latest.get(key, body))
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the controller: count, log, back off
                telemetry.RECONCILE_ERRORS.labels("internal").inc()
                log.exception("reconciling %s failed", key)
                delay = self._backoff(key, API_RETRY_S)
            finally:
                self._running.discard(key)
            if key not in self._latest:  # deleted while it was reconciled: a solve of it may have
                self.engine.release(key)  # come back after the release (it would hold room for good)
                continue
            if key in self._dirty:
                self._dirty.discard(key)
                self.enqueue(key)
            elif delay is not None:
                self._retry(key, delay)

    def _backoff(self, key: str, base: float) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(MAX_RETRY_S, base * 2**n))

    async def _reconcile(self, key: str, body: dict[str, Any]) -> float | None:
        """One reconciliation; the delay after which to try again (None: done)."""
        meta = body["metadata"]
        ns, name = meta["namespace"], meta["name"]
        repair = self._repairs.take(key)
        resolve = key in self._resolve
        self._resolve.discard(key)
        preempted_by = self._preempted.pop(key, ())
        try:
            if key in self._refresh:
                self._refresh.discard(key)
                body = await self.kube.get_custom(EDGEWORKLOADS, ns, name)
                self._latest[key] = body
            if repair is not None and await self.kube.namespace_terminating(ns):
                return None  # its Pods went with the namespace, and so will the workload
            try:
                pods = self._watched_pods(key, body) if repair is None else None
                self._touched.add(key)
                self._repairs.reconciled(key, time.monotonic())
                if repair is not None:
                    body = await self._repairs.start(key, body, repair)
                watched = self.replicas(key) if self.replicas is not None and repair is None else None
                reading = self.users(key) if self.users is not None else None
                frozen = self.frozen(key) if self.frozen is not None else False
                result = await workloads.reconcile(body, self.engine, self.kube, pods=pods, binding=self.binding,
                                                   watched=watched,
                                                   force=(repair is not None and repair.force) or (resolve and not frozen),
                                                   wanted_size=self.resizes(key) if self.resizes is not None else None,
                                                   frozen=frozen,
                                                   avoid_nodes=repair.avoid_nodes if repair else frozenset(),
                                                   wanted=self.intents(key) if self.intents else (),
                                                   users=reading.cells if reading is not None else None,
                                                   preempted_by=preempted_by)
                if reading is not None:  # status.users, the UsersMeasured condition, their Events
                    result = reading.report(body, result, time.time())
                if self.annotate is not None:
                    result = self.annotate(key, body, result)
            except MetricsUnavailable as exc:
                telemetry.RECONCILE_ERRORS.labels("metrics").inc()
                log.warning("%s: QoS metrics unavailable, nothing changed: %s", key, exc)
                self._solve_again(key, resolve, preempted_by)
                await self._write_status(key, body, workloads.metrics_unavailable(body, str(exc)))
                return self._backoff(key, METRICS_RETRY_S)
            if result.status is not None and result.refresh and self._deferred.defer(key, self._busy()):
                return None  # parked: _flush_loop queues it again once no placement waits
            self._deferred.drop(key)
            if result.status is not None:
                await self._write_status(key, body, result.status)
        except KubeNotFound:
            return None  # deleted meanwhile; its DELETED event cleans up
        except KubeError as exc:
            telemetry.RECONCILE_ERRORS.labels("kubernetes").inc()
            log.warning("%s: Kubernetes API: %s", key, exc)
            self._solve_again(key, resolve, preempted_by)
            return self._backoff(key, API_RETRY_S)
        if repair is not None and not repair.force and result.outcome is not None:
            self._repairs.lost(key, body, repair)  # the listed Pods confirmed it: replicas were re-created
        for type_, reason, message in result.events:
            self._side_task(self.kube.post_event(body, type_, reason, message))
        if result.outcome is not None:
            telemetry.PLACEMENTS.labels("placed" if result.outcome.placed else "unplaceable").inc()
        self._failures.pop(key, None)
        if result.rolling:
            self._rolling.add(key)
        else:
            self._rolling.discard(key)
        return result.retry_after

    def _solve_again(self, key: str, resolve: bool, preempted_by: tuple[str, ...]) -> None:
        """A reconciliation asked to solve again failed: the retry must solve again too."""
        if resolve:
            self._resolve.add(key)
        if preempted_by:
            self._preempted[key] = preempted_by

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(STATUS_DEFER_S)
            self.flush_deferred(time.monotonic())

    def flush_deferred(self, now: float) -> list[str]:
        """Queue the put-off status writes that are due (orchestrator.deferral).  The keys queued."""
        due = [k for k in self._deferred.due(self._busy(), now) if k not in self._running and k not in self._queued]
        for key in due:
            self.enqueue(key)
        return due

    def _busy(self) -> bool:
        return bool(self._queue.qsize() or self.engine.waiting())

    def _watched_pods(self, key: str, body: Mapping[str, Any]) -> dict[str, PodState] | None:
        """The replica Pods from the pod watch when it cannot miss any: a workload this operator has
        not reconciled before and whose status records no decision (Pods an earlier operator made
        were listed before any handler ran; this one has made none for it yet).  Otherwise None:
        reconcile lists them from the API server."""
        if self.replicas is None or key in self._touched or (body.get("status") or {}).get("decisionId"):
            return None
        return self.replicas(key)

    async def _write_status(self, key: str, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = body["metadata"]
        written = await self.kube.patch_custom(EDGEWORKLOADS, meta["namespace"], meta["name"], {"status": status},
                                               status=True)
        self._wrote(key, body, written)

    def _wrote(self, key: str, body: Mapping[str, Any], written: dict[str, Any]) -> None:
        """Until the watch delivers it, the written object is the latest one we know (unless a newer
        event came in meanwhile)."""
        if self._latest.get(key) is body:
            self._latest[key] = written

    def _side_task(self, coro: Awaitable[None]) -> None:
        """Events and simulator notices: best effort, off the worker's path."""
        async def run() -> None:
            try:
                await coro
            except Exception as exc:
                log.warning("side task failed: %s", exc)

        task = asyncio.get_running_loop().create_task(run())
        self._side.add(task)
        task.add_done_callback(self._side.discard)
