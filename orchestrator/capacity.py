"""Capacity held by workloads, as the placement engine counts it (orchestrator.engine).

Capacity already promised to workloads outside a batch comes from the cluster (the replica Pods the
Pod watch sees, or the EdgeWorkload statuses via `ClusterView.placed`) merged with the engine's own
recent decisions, which win until the cluster shows them; so a restarted operator rebuilds it from
the cluster alone.  A released workload (deleted) holds nothing, also from a solve of it under way.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator import rollout
from orchestrator.snapshot import NOTHING_RESERVED, Request, Reserved, add, cpu_m, left, memory_mb

RELEASED_KEEP_S = 600.0  # how long a release is remembered (longer than any solve)


class ClusterView(Protocol):
    """What the engine reads of the cluster (kept current by the operator's watches)."""

    def nodes(self) -> list[Mapping[str, Any]]: ...

    def sites(self) -> dict[str, Mapping[str, Any]]: ...

    def placed(self) -> dict[str, Holding]: ...

    def foreign(self) -> dict[str, Reserved]:
        """Per node, what Pods edgeorch does not manage request there."""
        ...


@dataclass(frozen=True)
class Holding:
    """Capacity a placed workload holds: its replicas' nodes (one Pod each) and the requests of one
    replica."""

    nodes: tuple[str, ...]
    cpu_m: int
    memory_mb: int
    gpu: int = 0
    version: str = ""  # the version its new Pods will carry (orchestrator.rollout.version_of)


def holding_of(request: Request, nodes: tuple[str, ...]) -> Holding:
    """What `request` holds once placed on `nodes`."""
    resources = request.spec.resources
    return Holding(nodes, cpu_m(resources.cpu), memory_mb(resources.memory), resources.gpu, _version(request))


class Holdings:
    """The engine's own recent decisions (None: released, or not placed), over what `view` shows."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view
        self._own: dict[str, Holding | None] = {}  # recent decisions (None: released)
        self._released: dict[str, float] = {}  # key -> monotonic time it was released (deleted)

    def decide(self, key: str, holding: Holding | None) -> None:
        """This process decided that `key` holds `holding` (None: nothing)."""
        self._own[key] = holding

    def release(self, key: str) -> None:
        """The workload is gone: its capacity is free again."""
        self._own[key] = None
        now = time.monotonic()
        self._released[key] = now
        for old in [k for k, at in self._released.items() if now - at > RELEASED_KEEP_S]:
            del self._released[old]

    def released_since(self, key: str, since: float) -> bool:
        """Whether `key` was released at monotonic time `since` or later."""
        return self._released.get(key, -1.0) >= since

    def forget(self, key: str) -> None:
        """This process's last decision for `key` was not carried out: what the cluster shows of the
        workload (its status) counts again."""
        self._own.pop(key, None)

    def decided_nodes(self) -> dict[str, tuple[str, ...]]:
        """Per workload this process decided, the nodes it holds (none: released or not placed)."""
        return {k: h.nodes if h else () for k, h in self._own.items()}

    def room(self, node: str) -> Reserved | None:
        """What `node` has left for one more Pod now, as the kube-scheduler counts it: its allocatable
        less the requests of every Pod bound there (edgeorch's, terminating ones too, and others).
        None without a Pod watch or for a node the view does not know."""
        watch = getattr(self.view, "replica_pods", None)
        pods: Mapping[str, Any] | None = watch() if callable(watch) else None
        manifest = next((n for n in self.view.nodes() if n["metadata"]["name"] == node), None)
        if pods is None or manifest is None:
            return None
        used = self.view.foreign().get(node, NOTHING_RESERVED)
        for replicas in pods.values():
            for r in replicas:
                if r.node == node:
                    used = add(used, r.requests)
        return left(manifest, used)

    def reserved(self, exclude: set[str]) -> dict[str, Reserved]:
        """What workloads outside the batch `exclude` hold, per node: the requests of the replica Pods
        that run (the Pod watch), plus those of the Pods a recent decision will still make.  A view
        without a Pod watch counts each workload's placements x its spec's requests instead."""
        watch = getattr(self.view, "replica_pods", None)  # a view with the Pod watch (the operator's)
        pods: Mapping[str, Any] | None = watch() if callable(watch) else None
        if pods is None:
            return self._decided_holdings(exclude)
        reserved: dict[str, Reserved] = {}
        for key, replicas in pods.items():
            if key not in exclude:
                for r in replicas:
                    reserved[r.node] = add(reserved.get(r.node, NOTHING_RESERVED), r.requests)
        for key, own in self._own.items():
            if own is None or key in exclude:
                continue
            made = Counter(r.node for r in pods.get(key, ()) if r.version == own.version and not r.terminating)
            for node, wanted in Counter(own.nodes).items():
                for _ in range(max(0, wanted - made[node])):
                    reserved[node] = add(reserved.get(node, NOTHING_RESERVED), Reserved(own.cpu_m, own.memory_mb,
                                                                                        own.gpu, 1))
        return reserved

    def _decided_holdings(self, exclude: set[str]) -> dict[str, Reserved]:
        held = dict(self.view.placed())
        for key, own in self._own.items():
            if own is None:
                held.pop(key, None)
            else:
                held[key] = own
        reserved: dict[str, Reserved] = {}
        for key, h in held.items():
            if key in exclude:
                continue
            for node in h.nodes:
                reserved[node] = add(reserved.get(node, NOTHING_RESERVED), Reserved(h.cpu_m, h.memory_mb, h.gpu, 1))
        return reserved


def _version(request: Request) -> str:
    """The version the request's new Pods will carry ("" when its template cannot be hashed: then
    no Pod of it is ever made)."""
    try:
        return rollout.version_of(request.spec)
    except (ValueError, TypeError, RecursionError):
        return ""
