"""Replica repairs, as the workload controller (orchestrator.controller) schedules and starts them.

`orchestrator.health` says what is wrong with a workload's replicas; here a problem becomes a
repair: once it has lasted REPAIR_AFTER_S (the watch's lag behind our own writes), not while the
workload is being reconciled, rolled, or was just reconciled by this process (unless the Pods' own
status says so: `Repair.force`), and at most once per cool-down, which doubles while the problem
lasts.  The controller takes a queued repair in the workload's next reconciliation and starts it
here: what the Pods' status says is said at once (a Warning Event), the nodes to avoid are recorded
on the EdgeWorkload before the solve (a restarted operator keeps avoiding them).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from orchestrator import telemetry
from orchestrator.health import Repair, avoid_annotation, avoided_nodes
from orchestrator.kube.aio import AsyncKube
from orchestrator.vocabulary import AVOID_NODES_ANNOTATION, EDGEWORKLOADS, EventType, Reason

log = logging.getLogger("edgeorch.controller")
HEALTH_INTERVAL_S = 2.0  # how often replica health is checked (orchestrator.health)
REPAIR_AFTER_S = 3.0  # a replica problem must outlast the watch's lag behind our own writes
REPAIR_COOLDOWN_S = 10.0  # after a repair, the next one waits this long, doubling while the problem lasts
MAX_REPAIR_COOLDOWN_S = 300.0  # (no room anywhere: try again, but not a Warning every 10 s for hours)
MISSING_GRACE_S = 20.0  # Pods this process made may be missing from a lagging pod watch this long


async def health_loop(check: Callable[[float], object]) -> None:
    """Replica health checked every HEALTH_INTERVAL_S (`check`: the controller's, at monotonic time)."""
    while True:
        await asyncio.sleep(HEALTH_INTERVAL_S)
        try:
            check(time.monotonic())
        except Exception:  # a bug here must not stop the loop
            log.exception("checking replica health failed")


class Repairs:
    """The workload controller's replica repairs: which problems have lasted, the repairs queued for
    the next reconciliation, the cool-downs; and the start of a repair (its Event, its annotation)."""

    def __init__(self, kube: AsyncKube, side_task: Callable[[Awaitable[None]], None],
                 wrote: Callable[[str, Mapping[str, Any], dict[str, Any]], None]) -> None:
        self.kube = kube
        self._side_task = side_task  # the controller's: best effort, off the worker's path
        self._wrote = wrote  # the controller's: the object written is the latest it knows
        self._suspect: dict[str, float] = {}  # key -> monotonic time a replica problem was first seen
        self._repairs: dict[str, Repair] = {}  # queued repairs, taken by the next reconciliation
        self._cooldown: dict[str, float] = {}
        self._repeats: dict[str, int] = {}  # repairs in a row without the workload turning healthy
        self._reconciled_at: dict[str, float] = {}  # key -> monotonic time this process last reconciled it

    def due(self, found: Mapping[str, Repair], now: float, latest: Mapping[str, Mapping[str, Any]],
            running: Collection[str], rolling: Collection[str]) -> list[str]:
        """Queue a repair for every workload of `found` whose replica problem has lasted REPAIR_AFTER_S
        (and that was not repaired in its cool-down); the keys queued, for the controller to reconcile.
        `latest`, `running`, `rolling`: the controller's workloads, those being reconciled, rolled."""
        for key in [k for k in self._suspect if k not in found]:
            del self._suspect[key]
        for key in [k for k in self._repeats if k not in found and k not in self._repairs]:
            del self._repeats[key]  # healthy again: the next problem is repaired without delay
        queued = []
        for key, repair in sorted(found.items()):
            body = latest.get(key)
            if body is None or body["metadata"].get("deletionTimestamp") or key in running \
                    or key in self._repairs:
                continue  # unknown, being deleted (its Pods go first), or already on it
            if not repair.force and (key in rolling
                                     or now - self._reconciled_at.get(key, -math.inf) < MISSING_GRACE_S):
                # a rollout deletes replicas itself and makes the missing ones at its next step (a
                # repair there re-solved mid-rollout and broke its budget under load); and Pods just
                # made here: under load the pod watch lags behind the status
                continue
            first = self._suspect.setdefault(key, now)
            if now - first < REPAIR_AFTER_S or now < self._cooldown.get(key, 0.0):
                continue
            del self._suspect[key]
            self._repairs[key] = repair
            n = self._repeats.get(key, 0)
            self._repeats[key] = n + 1
            self._cooldown[key] = now + min(MAX_REPAIR_COOLDOWN_S, REPAIR_COOLDOWN_S * 2**n)
            queued.append(key)
        return queued

    def take(self, key: str) -> Repair | None:
        """The repair queued for `key` (None: none), for the reconciliation that starts now."""
        return self._repairs.pop(key, None)

    def reconciled(self, key: str, now: float) -> None:
        """This process reconciles `key` at monotonic time `now` (its Pods may be newer than the watch)."""
        self._reconciled_at[key] = now

    def forget(self, key: str) -> None:
        self._suspect.pop(key, None)
        self._repairs.pop(key, None)
        self._cooldown.pop(key, None)
        self._repeats.pop(key, None)
        self._reconciled_at.pop(key, None)

    def lost(self, key: str, body: Mapping[str, Any], repair: Repair) -> None:
        telemetry.REPAIRS.inc()
        log.warning("%s: re-placing replicas: %s", key, "; ".join(repair.reasons))
        self._side_task(self.kube.post_event(body, EventType.WARNING, Reason.REPLICA_LOST, "; ".join(repair.reasons)))

    async def start(self, key: str, body: dict[str, Any], repair: Repair) -> dict[str, Any]:
        """What the Pods' own status says (Failed, Unschedulable, a Node gone) is said at once (a
        Warning Event), and nodes to avoid are recorded on the EdgeWorkload before the solve (a
        restarted operator keeps avoiding them); missing Pods are said only once the listing confirms
        them.  The body to reconcile (the object written, when the nodes to avoid were)."""
        if repair.force:
            self.lost(key, body, repair)
        if not repair.avoid_nodes:
            return body
        meta = body["metadata"]
        now = time.time()
        value = avoid_annotation(avoided_nodes(meta.get("annotations"), now), repair.avoid_nodes, now)
        written = await self.kube.patch_custom(EDGEWORKLOADS, meta["namespace"], meta["name"],
                                               {"metadata": {"annotations": {AVOID_NODES_ANNOTATION: value}}})
        self._wrote(key, body, written)
        return written
