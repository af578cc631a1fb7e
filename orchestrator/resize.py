"""Resizes, the controller's side: the size a workload runs at, and what carrying a resize out writes.

An agreement's elasticity records a resize intent in its own status (orchestrator.scaler); the
controller, the workload's one writer, solves the workload at the size it asks (the new size must fit
somewhere: a replica too big for its node moves in the same decision, to the next tier when no node of
its tier has room) and rolls its Pods to it (a new CPU request is a new template hash: make before
break).  It then names the intent in the workload's `status.resize` (id, CPU per replica, replicas,
moves), with the Resized condition and an Event.  Until then the intent is pending, so an operator
killed in between carries it out after its restart.  With no intent the spec's size holds; a workload
whose agreement is gone (or whose spec changed since the intent was decided) returns to it.  While a
`suspend` breach of one of its agreements is open (`frozen`), no resize is carried out: it runs at
the size last carried out.  Pure apart from reading the engine's room; no writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.elasticity import millicores
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.resources.common import Condition, ConditionStatus, set_condition
from orchestrator.resources.elasticity import ResizeDirection, ResizeIntent
from orchestrator.snapshot import Reserved
from orchestrator.vocabulary import EventType, Reason
from orchestrator.vocabulary import WorkloadCondition as Cond

Wanted = tuple[str, ResizeIntent]
"""An agreement's resize intent: (the agreement's uid, the intent)."""


def intent_id(uid: str, intent: ResizeIntent) -> str:
    return f"{uid}:{intent.seq}"


@dataclass(frozen=True)
class Sized:
    """The size to run the workload at now."""

    spec: EdgeWorkloadSpec  # the spec with that size
    pending: bool = False  # a resize (or the return to the spec's size) to carry out with a new solve
    wanted: Wanted | None = None  # the intent carried out (None with pending: back to the spec's size)
    cpu_changed: bool = False  # the per-replica request changes: every Pod is replaced anyway


def _sized(spec: EdgeWorkloadSpec, cpu_m: int | None, replicas: int | None) -> EdgeWorkloadSpec:
    update: dict[str, Any] = {}
    if cpu_m is not None and cpu_m != millicores(spec.resources.cpu):
        update["resources"] = spec.resources.model_copy(update={"cpu": f"{cpu_m}m"})
    if replicas is not None and replicas != spec.replicas:
        update["replicas"] = replicas
    return spec.model_copy(update=update) if update else spec


def _applies(spec: EdgeWorkloadSpec, intent: ResizeIntent) -> tuple[int | None, int | None]:
    """(cpu, replicas) the intent sets on this spec, each None where the spec's holds (the intent
    does not set it, or was decided on another spec)."""
    cpu = intent.cpu_millis if intent.cpu_millis is not None \
        and intent.spec_cpu_millis == millicores(spec.resources.cpu) else None
    replicas = intent.replicas if intent.replicas is not None and intent.spec_replicas == spec.replicas else None
    return cpu, replicas


def size_of(body: Mapping[str, Any], spec: EdgeWorkloadSpec, wanted: Wanted | None, frozen: bool) -> Sized:
    """The size to run at (see the module docstring)."""
    done = (body.get("status") or {}).get("resize") or {}
    if frozen:  # the size last carried out, nothing new
        if not done:
            return Sized(spec)
        return Sized(_sized(spec, millicores(done["cpu"]) if done.get("cpu") else None, done.get("replicas")))
    if wanted is None:
        if not done:
            return Sized(spec)
        return Sized(spec, pending=True, cpu_changed=bool(done.get("cpu")) and millicores(done["cpu"])
                     != millicores(spec.resources.cpu))
    cpu, replicas = _applies(spec, wanted[1])
    sized = _sized(spec, cpu, replicas)
    if done.get("id") == intent_id(*wanted):
        return Sized(sized, wanted=wanted)
    before = millicores(done["cpu"]) if done.get("cpu") else millicores(spec.resources.cpu)
    return Sized(sized, pending=True, wanted=wanted, cpu_changed=before != millicores(sized.resources.cpu))


def running_cpu(body: Mapping[str, Any], spec: EdgeWorkloadSpec) -> int:
    """The CPU request (millicores) of the replica Pods of the size last carried out."""
    done = (body.get("status") or {}).get("resize") or {}
    return millicores(done["cpu"]) if done.get("cpu") else millicores(spec.resources.cpu)


def crowded(room: Callable[[str], Reserved | None], nodes: list[str], cpu_m: int, old_cpu_m: int,
            unavailable: int) -> frozenset[str]:
    """Nodes where a replica of the new size cannot be made beside the one it replaces (make before
    break, `unavailable` 0: the old one goes only once the new one is Ready), so the solve must put
    it elsewhere.  With a disruption budget the old one may go first: its room counts."""
    out = set()
    for node in set(nodes):
        left = room(node)
        if left is None:
            continue
        free = left.cpu_m + (old_cpu_m if unavailable > 0 else 0)
        if free < cpu_m:
            out.add(node)
    return frozenset(out)


def record(sized: Sized, moves: list[tuple[str, str]], when: datetime) -> dict[str, Any] | None:
    """`status.resize` once `sized` is carried out (None: the spec's size again)."""
    if sized.wanted is None:
        return None
    uid, intent = sized.wanted
    return {"id": intent_id(uid, intent), "direction": intent.direction.value, "cpu": str(sized.spec.resources.cpu),
            "replicas": sized.spec.replicas, "reason": intent.reason, "time": when,
            "moves": [{"fromSite": a, "toSite": b} for a, b in moves]}


def report(sized: Sized, spec: EdgeWorkloadSpec, conditions: list[Condition], gen: int | None,
           moves: list[tuple[str, str]]) -> tuple[list[Condition], tuple[str, str, str]]:
    """The Resized condition and the Event of a resize carried out."""
    if sized.wanted is None:
        message = f"cpu {spec.resources.cpu} per replica, {spec.replicas} replicas: as the spec says"
        return (set_condition(conditions, Cond.RESIZED, ConditionStatus.FALSE, Reason.AS_SPECIFIED, message, gen),
                (EventType.NORMAL, Reason.RESIZED, f"back to the spec's size: {message}"))
    intent = sized.wanted[1]
    why = Reason.SCALED_UP if intent.direction == ResizeDirection.UP else Reason.SCALED_DOWN
    message = (f"cpu {sized.spec.resources.cpu} per replica (spec {spec.resources.cpu}), {sized.spec.replicas} "
               f"replicas (spec {spec.replicas}): {intent.reason}")
    if moves:
        message += "; moved " + "; ".join(f"{a} -> {b}" for a, b in moves)
    return (set_condition(conditions, Cond.RESIZED, ConditionStatus.TRUE, why, message[:1000], gen),
            (EventType.NORMAL, why, message[:1000]))
