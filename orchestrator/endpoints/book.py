"""What the app API serves, kept from the operator's EdgeWorkload watch: each workload's cells,
ports and serving map (status.serving), and the relocation streams of its watchers.

Fed by the same watch events as the workload controller (a restart rebuilds it from the initial
listing); it only reads.  A watcher gets the changes of a workload's serving map as they are
observed: `relocation` when a cell's serving replica (pod, node or site) changes, `endpoint` when
only its IP or readiness does, `deleted` when the workload goes.  A watcher that falls behind is
sent the whole map again (`resync`) rather than blocking anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from orchestrator.endpoints.models import (
    WATCH_EVENTS,
    Endpoint,
    EndpointList,
    Message,
    Port,
    Relocation,
    WorkloadDeleted,
)
from orchestrator.endpoints.services import service_name, service_ports
from orchestrator.resources import CellEndpoint, EdgeWorkloadSpec, EdgeWorkloadStatus

QUEUE_SIZE = 256  # notifications a watcher may lag behind before it is resynced


@dataclass(frozen=True)
class Workload:
    """One EdgeWorkload as the API sees it."""

    namespace: str
    name: str
    generation: int | None
    resource_version: str
    cells: tuple[str, ...]
    serving: dict[str, CellEndpoint]
    ports: tuple[Port, ...] = ()
    service: str | None = None  # DNS name of its Service

    def endpoint(self, cell: str) -> Endpoint | None:
        entry = self.serving.get(cell)
        if entry is None:
            return None
        return Endpoint(namespace=self.namespace, workload=self.name, cell=cell, site=entry.site, node=entry.node,
                        pod=entry.pod, podIP=entry.pod_ip, ready=entry.ready, replica=entry.replica,
                        latency_ms=entry.latency_ms, ports=list(self.ports), service=self.service)

    def endpoints(self) -> list[Endpoint]:
        return [e for e in (self.endpoint(c) for c in self.cells) if e is not None]


@dataclass(frozen=True)
class Notice:
    """One message of a watch stream: `event` (a name of models.WATCH_EVENTS) and its data; made by `notice`."""

    event: str
    data: dict[str, Any]
    id: str = ""


EVENT_OF: dict[type[Message], str] = {model: event for event, model in WATCH_EVENTS.items()}


def notice(message: Message, id: str = "") -> Notice:
    """The watch-stream message that carries `message`: the event its model is sent as, its JSON."""
    return Notice(EVENT_OF[type(message)], message.model_dump(mode="json", by_alias=True), id)


@dataclass(eq=False)
class Watcher:
    key: str
    cell: str | None
    queue: asyncio.Queue[Notice] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def put(self, notice: Notice, resync: Notice) -> None:
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:  # fell behind: drop what waits, send the whole map once
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(resync)


def workload_of(body: Mapping[str, Any]) -> Workload:
    """The API's view of an EdgeWorkload body (a spec or status it cannot read counts as empty)."""
    meta = body["metadata"]
    try:
        spec: EdgeWorkloadSpec | None = EdgeWorkloadSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        spec = None
    try:
        serving = EdgeWorkloadStatus.model_validate(body.get("status") or {}).serving
    except ValidationError:
        serving = []
    cells = tuple(c.cell for c in spec.users.cells) if spec else ()
    ports: tuple[Port, ...] = ()
    service = None
    if spec is not None:
        ports = tuple(Port(name=p.name, port=p.port, target_port=p.target_port or p.port, protocol=p.protocol)
                      for p in service_ports(spec))
        svc = service_name(meta["name"], spec) if spec.service.enabled else None
        service = f"{svc}.{meta['namespace']}.svc" if svc else None
    return Workload(meta["namespace"], meta["name"], meta.get("generation"), str(meta.get("resourceVersion") or ""),
                    cells, {e.cell: e for e in serving if e.cell in cells}, ports, service)


class EndpointBook:
    """Keeps each EdgeWorkload's latest body; its API view is made when asked for (or when someone
    watches it), so a wave of status writes costs the book a dict update each."""

    def __init__(self) -> None:
        self._bodies: dict[str, Mapping[str, Any]] = {}
        self._views: dict[str, Workload] = {}
        self._watchers: dict[str, set[Watcher]] = {}

    def get(self, namespace: str, name: str) -> Workload | None:
        return self._view(f"{namespace}/{name}")

    def _view(self, key: str) -> Workload | None:
        view = self._views.get(key)
        if view is None and key in self._bodies:
            view = self._views[key] = workload_of(self._bodies[key])
        return view

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        watchers = self._watchers.get(key)
        before = self._view(key) if watchers else None
        self._views.pop(key, None)
        if event_type == "DELETED":
            self._bodies.pop(key, None)
            gone = notice(WorkloadDeleted(namespace=meta["namespace"], workload=meta["name"]))
            for w in watchers or ():
                w.put(gone, gone)
            return
        self._bodies[key] = body
        if not watchers:
            return
        now = self._view(key)
        assert now is not None
        resync = notice(endpoint_list(now), now.resource_version)
        for change, cell in changes(before, now):
            for w in watchers:
                if w.cell is None or w.cell == cell:
                    w.put(change, resync)

    def watch(self, namespace: str, name: str, cell: str | None) -> Watcher:
        w = Watcher(f"{namespace}/{name}", cell)
        self._watchers.setdefault(w.key, set()).add(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        group = self._watchers.get(w.key)
        if group is not None:
            group.discard(w)
            if not group:
                del self._watchers[w.key]


def changes(before: Workload | None, now: Workload) -> list[tuple[Notice, str]]:
    """The notices between two views of a workload, with the cell each concerns."""
    out: list[tuple[Notice, str]] = []
    for cell in dict.fromkeys((*(before.cells if before else ()), *now.cells)):
        old = before.endpoint(cell) if before else None
        new = now.endpoint(cell)
        if old == new:
            continue
        if old is not None and new is not None and (old.pod, old.node, old.site) == (new.pod, new.node, new.site):
            out.append((notice(new, now.resource_version), cell))
        else:
            out.append((notice(Relocation(cell=cell, previous=old, current=new), now.resource_version), cell))
    return out


def endpoint_list(w: Workload) -> EndpointList:
    return EndpointList(namespace=w.namespace, workload=w.name, generation=w.generation, endpoints=w.endpoints())


def dump_list(w: Workload) -> dict[str, Any]:
    out: dict[str, Any] = endpoint_list(w).model_dump(mode="json", by_alias=True)
    return out
