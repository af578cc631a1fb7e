"""The service loop: the one writer of the EdgeWorkloads' Services (orchestrator.endpoints.services).

Why a loop of its own and not the workload controller: a Service depends on the spec alone (name,
template ports, `spec.service`), not on the placement, and changes rarely; the controller's hot path
(solve, roll, status) stays as it is, and a Service that is deleted or edited by hand is put back
without waking a placement.  Level-triggered: every EdgeWorkload event (a new generation, the
initial listing after a start) and every event of a Service it labels queues the workload; the
loop compares the desired manifest with the Service the watch shows and writes only the difference.
Restart-safe: everything is read from the cluster; a Service made by an earlier run is found by the
409 of a create and adopted when it is the workload's (its ownerReference), left alone otherwise
(a Warning Event says so, once).  Events are best effort; nothing here writes an EdgeWorkload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from orchestrator.endpoints.services import build_service, drift, headless, owned_by, service_name
from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeConflict, KubeError
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.vocabulary import WORKLOAD_LABEL, EventType, Reason

log = logging.getLogger("edgeorch.services")
RETRY_S = 2.0
MAX_RETRY_S = 60.0
CONFLICT_RETRY_S = 60.0  # a Service of that name that is not the workload's: look again now and then
WORKERS = 4


class ServiceLoop:
    def __init__(self, kube: AsyncKube, *, workers: int = WORKERS) -> None:
        self.kube = kube
        self.workers = workers
        self._workloads: dict[str, dict[str, Any]] = {}  # "ns/name" -> latest EdgeWorkload body
        self._services: dict[tuple[str, str], dict[str, Any]] = {}  # (ns, name) -> a Service we label
        self._labelled: dict[str, set[str]] = {}  # workload "ns/name" -> names of the Services labelled with it
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._said: dict[str, str] = {}  # key -> the last Warning said (said once)
        self._tasks: list[asyncio.Task[None]] = []
        self._side: set[asyncio.Task[None]] = set()  # Events being posted
        self._running: set[str] = set()  # keys a worker is on
        self._dirty: set[str] = set()  # keys queued again while a worker was on them

    # -- the watch side ---------------------------------------------------------------------------
    def observe_workload(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if event_type == "DELETED":  # its Service goes with it (ownerReference)
            self._workloads.pop(key, None)
            self._said.pop(key, None)
            self._failures.pop(key, None)
            return
        seen = self._workloads.get(key)
        self._workloads[key] = dict(body)
        if seen is None or event_type is None or (seen["metadata"].get("generation"), seen["metadata"].get("uid")) \
                != (meta.get("generation"), meta.get("uid")) or bool(meta.get("deletionTimestamp")):
            self.enqueue(key)

    def observe_service(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        ref = (meta["namespace"], meta["name"])
        owner = (meta.get("labels") or {}).get(WORKLOAD_LABEL)
        key = f"{meta['namespace']}/{owner}"
        if event_type == "DELETED":
            self._services.pop(ref, None)
            self._labelled.get(key, set()).discard(ref[1])
        else:
            self._services[ref] = dict(body)
            self._labelled.setdefault(key, set()).add(ref[1])
        if owner:
            self.enqueue(key)

    def enqueue(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    # -- the workers ------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._work(), name=f"edgeorch-services-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in (*self._tasks, *self._side):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._side, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        running, dirty = self._running, self._dirty
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            if key in running:  # another worker is on it: once more after it
                dirty.add(key)
                continue
            running.add(key)
            try:
                delay = await self.reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an API error or a bug: back off, never stop the loop
                n = self._failures.get(key, 0)
                self._failures[key] = n + 1
                delay = min(MAX_RETRY_S, RETRY_S * 2**n)
                if isinstance(exc, KubeError):
                    log.warning("%s: Service: Kubernetes API: %s", key, exc)
                else:
                    log.exception("%s: Service reconciliation failed", key)
            finally:
                running.discard(key)
            if key in dirty:
                dirty.discard(key)
                self.enqueue(key)
            elif delay is not None and key in self._workloads:
                self._timers[key] = asyncio.get_running_loop().call_later(delay, self.enqueue, key)

    async def reconcile(self, key: str) -> float | None:
        """Bring the workload's Service to what its spec says; the delay after which to look again."""
        body = self._workloads.get(key)
        if body is None:
            return None
        meta = body["metadata"]
        ns, uid = meta["namespace"], meta.get("uid") or ""
        try:
            spec = EdgeWorkloadSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return None  # the controller says what is wrong with the spec (status, Event)
        desired = build_service(body, spec)
        want = desired["metadata"]["name"] if desired else None
        for name in sorted(self._labelled.get(key, ())):  # ours under another name: renamed or disabled
            svc = self._services.get((ns, name))
            if svc is not None and name != want and owned_by(svc, uid):
                await self.kube.delete_service(ns, name, svc["metadata"].get("uid"))
        if desired is None:
            if spec.service.enabled and not meta.get("deletionTimestamp") and service_name(meta["name"], spec) is None:
                self._warn(body, f"metadata.name: {meta['name']!r} cannot name a Service (a DNS label starting with "
                                 "a letter, at most 63 characters): set spec.service.name")
            return None
        name_ = desired["metadata"]["name"]
        actual = self._services.get((ns, name_))
        if actual is None:
            try:
                self._services[(ns, name_)] = await self.kube.create_service(desired)
                return None
            except KubeConflict:  # made by an earlier run (the watch has not shown it yet), or not ours
                actual = await self.kube.read_service(ns, name_)
        if not owned_by(actual, uid):
            self._warn(body, f"spec.service: a Service named {name_} exists in {ns} and is not this workload's: "
                             "left alone (set spec.service.name, or delete that Service)")
            return CONFLICT_RETRY_S
        if headless(actual) != headless(desired):  # the cluster IP cannot change: make it again
            await self.kube.delete_service(ns, name_, actual["metadata"].get("uid"))
            self._services.pop((ns, name_), None)
            return RETRY_S  # created by the next pass, once the old one is gone
        patch = drift(desired, actual)
        if patch is not None:
            self._services[(ns, name_)] = await self.kube.patch_service(ns, name_, patch)
        self._said.pop(key, None)
        return None

    def _warn(self, body: Mapping[str, Any], message: str) -> None:
        key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        if self._said.get(key) == message:
            return
        self._said[key] = message
        log.warning("%s: %s", key, message)
        task = asyncio.get_running_loop().create_task(self._post(body, message))
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _post(self, body: Mapping[str, Any], message: str) -> None:
        try:
            await self.kube.post_event(body, EventType.WARNING, Reason.SERVICE_NOT_CREATED, message)
        except Exception as exc:  # an Event is best effort
            log.warning("could not post an Event: %s", exc)
