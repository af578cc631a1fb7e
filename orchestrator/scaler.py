"""SLA-driven elasticity, the agreement's side: read the workload's CPU use, decide (orchestrator.
elasticity), record the resize intent in the agreement's own status, ask the controller for it, and
queue each resize it carried out for the ledger, once.

Called by the SLA loop after each evaluation, holding the agreement's lock.  Level-triggered and
restart-safe: the intent (with its sequence number) is in the agreement's status before anyone acts
on it; it is pending until the workload's `status.resize` names it; its ledger record goes into the
outbox in the same status write as `resizesRecorded` (the outbox sends it exactly once).  The
operator knows nothing of the simulator: the CPU use is whatever the policy's PromQL says.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator import elasticity, slas
from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError
from orchestrator.ledger import resize_record
from orchestrator.prometheus import MetricsUnavailable, PrometheusSource, QueryRejected
from orchestrator.resources.elasticity import BreachType, Elasticity, ResizeIntent
from orchestrator.resources.sla import ServiceLevelAgreementSpec
from orchestrator.vocabulary import EDGEWORKLOAD, EventType, Reason

log = logging.getLogger("edgeorch.scaler")
Event = tuple[str, str, str]


@dataclass
class Scaled:
    """What one pass of the scaler did: whether it answers the open breach (so nothing moves for it
    now), and the Events to post on the agreement and on the workload."""

    acting: bool = False
    events: list[Event] | None = None
    workload_events: list[Event] | None = None


class Scaler:
    def __init__(self, kube: AsyncKube, prometheus: PrometheusSource, enqueue: Callable[[str], None]) -> None:
        self.kube = kube
        self.prometheus = prometheus
        self.enqueue = enqueue
        self._asked: dict[str, int] = {}  # sla uid -> the seq this process asked the controller for
        self._held: dict[str, str] = {}  # sla uid -> the ResizeHeld message said last (said once)
        self._frozen: set[str] = set()  # sla uids seen with a `suspend` breach open

    def forget(self, uid: str) -> None:
        self._asked.pop(uid, None)
        self._held.pop(uid, None)
        self._frozen.discard(uid)

    async def drive(self, body: Mapping[str, Any], ew: Mapping[str, Any], status: Mapping[str, Any], now: float,
                    persist: Callable[[dict[str, Any]], Awaitable[None]],
                    commit: Callable[[slas.SlaUpdate], Awaitable[None]]) -> Scaled:
        """One pass after an evaluation (see the module docstring)."""
        uid, key = body["metadata"]["uid"], f"{ew['metadata']['namespace']}/{ew['metadata']['name']}"
        spec = ServiceLevelAgreementSpec.model_validate(body["spec"])
        types = elasticity.breach_types(spec)
        objectives = status.get("objectives") or []
        current = _intent(status)
        done = ((ew.get("status") or {}).get("resize") or {}).get("id")
        out = Scaled(events=[], workload_events=[])
        if current is not None and done == f"{uid}:{current.seq}" and status.get("resizesRecorded") != current.seq:
            await commit(slas.SlaUpdate(status={"resizesRecorded": current.seq},
                                        new_records=[resize_record(uid, current, key, ew)]))
        if elasticity.open_breaches(objectives, types, BreachType.SUSPEND):
            self._frozen.add(uid)
            return Scaled(acting=True, events=[], workload_events=[])
        if uid in self._frozen:  # the freeze ended: what waited for it is carried out now
            self._frozen.discard(uid)
            self.enqueue(key)
        policy = spec.elasticity
        if policy is None:
            return out
        if current is not None and done != f"{uid}:{current.seq}":
            if self._asked.get(uid) != current.seq:  # recorded before this process started
                self._asked[uid] = current.seq
                self.enqueue(key)
            return Scaled(acting=True, events=[], workload_events=[])
        act = elasticity.open_breaches(objectives, types, BreachType.ACT)
        breach = (max(act)[1], max(act)[0]) if act else None
        since = now - current.time.timestamp() if current is not None and current.time else math.inf
        seen = elasticity.Observed(
            breach=breach, quiet_s=elasticity.quiet_seconds(objectives, types, spec.evaluation.interval_seconds),
            use_cores=await self._use(policy, key), now=now, since_last_s=since,
            hpa=await self._hpa(ew) if policy.horizontal is not None else None)
        size = elasticity.current(ew["spec"], current)
        decision = elasticity.decide(policy, ew["spec"], size, seen)
        if decision.size is not None:
            seq = (current.seq if current is not None else 0) + 1
            new = elasticity.intent(decision, ew["spec"], seq, seen)
            await persist({"resizeIntent": new.model_dump(mode="json", by_alias=True, exclude_none=True)})
            self._asked[uid] = seq
            self._held.pop(uid, None)
            self.enqueue(key)
            assert out.events is not None
            out.events.append((EventType.NORMAL, Reason.SCALED_UP if decision.direction == "Up" else Reason.SCALED_DOWN,
                               f"asks {key} for cpu {decision.size.cpu_m}m x {decision.size.replicas}: "
                               f"{decision.reason}"[:1000]))
            return Scaled(acting=True, events=out.events, workload_events=out.workload_events)
        held = decision.held.rpartition(", but ")[2]  # said once per bound reached, whatever the use
        if decision.held and self._held.get(uid) != held:
            self._held[uid] = held
            assert out.workload_events is not None
            out.workload_events.append((EventType.WARNING, Reason.RESIZE_HELD, decision.held[:1000]))
        out.acting = breach is not None and since < policy.step_seconds  # the last step gets time to work
        return out

    async def _use(self, policy: Elasticity, key: str) -> float | None:
        """The CPU one replica uses (cores, the highest sample), or None without data."""
        try:
            samples = await self.prometheus.query(policy.cpu_use.metric.replace("$workload", key))
        except (MetricsUnavailable, QueryRejected) as exc:
            log.info("%s: CPU use unknown: %s", key, exc)
            return None
        values = [v for _, v in samples if v == v]
        return max(values) if values else None

    async def _hpa(self, ew: Mapping[str, Any]) -> str | None:
        """The HorizontalPodAutoscaler scaling the workload (one that cannot be looked up counts as one:
        edgeorch never fights an autoscaler it cannot rule out)."""
        meta = ew["metadata"]
        try:
            return await self.kube.autoscaled(meta["namespace"], EDGEWORKLOAD, meta["name"])
        except KubeError as exc:
            return f"(unknown: {exc})"[:200]


def _intent(status: Mapping[str, Any]) -> ResizeIntent | None:
    value = status.get("resizeIntent")
    if not value:
        return None
    try:
        return ResizeIntent.model_validate(value)
    except ValueError:
        return None
