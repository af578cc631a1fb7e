"""ServiceLevelAgreements: recording them on the ledger and evaluating their objectives.

`record()` queues the agreement (or its new version) in the outbox; `evaluate()` runs every
objective's PromQL over its window, applies the hysteresis, and on a breach queues the breach with an
evidence hash and asks for an offload; on recovery it asks for a fail-back.  Both return plain data
(a status patch, Events, actions); the handlers write it.  No placement logic here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from orchestrator import qos
from orchestrator.ledger import agreement_record, breach_record
from orchestrator.prometheus import MetricsUnavailable, PrometheusSource
from orchestrator.resources.common import ConditionStatus, set_condition, status_patch
from orchestrator.resources.sla import ObjectiveStatus, ServiceLevelAgreementSpec, ServiceLevelAgreementStatus
from orchestrator.vocabulary import EventType, ObjectiveState, Reason
from orchestrator.vocabulary import SlaCondition as Cond

Status = ServiceLevelAgreementStatus


@dataclass
class SlaUpdate:
    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    new_records: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)  # severities


def current_status(body: Mapping[str, Any]) -> ServiceLevelAgreementStatus:
    try:
        return ServiceLevelAgreementStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return ServiceLevelAgreementStatus.model_validate({})


def merge_outbox(outbox: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`outbox` plus `records`, one entry per key: an existing entry is kept as it is, and of records with
    the same key (two replicas moving between the same two sites) only the first is added, since the
    status' outbox is a list-map keyed by `key` and the chain keeps one record per key anyway."""
    out = list(outbox)
    keys = {r["key"] for r in outbox}
    for r in records:
        if r["key"] not in keys:
            keys.add(r["key"])
            out.append(r)
    return out


def outbox_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in ((body.get("status") or {}).get("outbox") or [])]


def record(body: Mapping[str, Any]) -> SlaUpdate:
    """Queue the agreement's current spec for the ledger when this generation is not recorded yet."""
    meta = body["metadata"]
    gen = int(meta.get("generation") or 1)
    st = current_status(body)
    if st.observed_generation == gen:
        return SlaUpdate()
    try:
        ServiceLevelAgreementSpec.model_validate(body.get("spec") or {})
        rec = agreement_record(meta["uid"], dict(body["spec"]), gen)
    except (ValidationError, ValueError) as exc:
        message = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _first_error(exc)
        conds = set_condition(st.conditions, Cond.RECORDED, ConditionStatus.FALSE, Reason.INVALID_SPEC, message, gen)
        return SlaUpdate(status_patch(Status(observed_generation=gen, conditions=conds)),
                         [(EventType.WARNING, Reason.INVALID_SPEC, message)])
    conds = set_condition(st.conditions, Cond.RECORDED, ConditionStatus.UNKNOWN, Reason.LEDGER_PENDING,
                          f"version for generation {gen} queued for the ledger", gen)
    return SlaUpdate(status_patch(Status(observed_generation=gen, conditions=conds)), new_records=[rec])


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return "spec." + ".".join(str(p) for p in e["loc"]) + ": " + e["msg"]


async def evaluate(body: Mapping[str, Any], prometheus: PrometheusSource, placed_sites: tuple[str, ...],
                   now: float | None = None) -> SlaUpdate:
    """One evaluation of every objective (see the module docstring)."""
    now = time.time() if now is None else now
    meta = body["metadata"]
    spec = ServiceLevelAgreementSpec.model_validate(body.get("spec") or {})
    st = current_status(body)
    gen = meta.get("generation")
    workload = f"{meta['namespace']}/{spec.workload_ref}"
    out = SlaUpdate()
    if not (spec.validity.start.timestamp() <= now < spec.validity.end.timestamp()):
        conds = set_condition(st.conditions, Cond.COMPLIANT, ConditionStatus.UNKNOWN, Reason.OUTSIDE_VALIDITY,
                              "the agreement is not in force now", gen)
        out.status = status_patch(Status(conditions=conds))
        return out
    prev = {o.name: o for o in st.objectives}
    states: list[ObjectiveStatus] = []
    policy = spec.evaluation
    try:
        results = [await prometheus.query(qos.promql(o, workload)) for o in spec.objectives]
    except MetricsUnavailable as exc:
        conds = set_condition(st.conditions, Cond.METRICS_UNAVAILABLE, ConditionStatus.TRUE,
                              Reason.PROMETHEUS_UNREACHABLE, f"{exc}; nothing is changed until metrics return", gen)
        out.status = status_patch(Status(conditions=conds))
        out.events.append((EventType.WARNING, Reason.METRICS_UNAVAILABLE, str(exc)[:500]))
        return out
    for i, (o, samples) in enumerate(zip(spec.objectives, results, strict=True)):
        per_site = {labels.get("site", ""): v for labels, v in samples if v == v}  # drop NaN
        if placed_sites:
            per_site = {s: v for s, v in per_site.items() if s in placed_sites or s == ""}
        value = qos.worst_value(o, list(per_site.values())) if per_site else None
        sev = qos.severity(o, value) if value is not None else None
        step = qos.step(prev.get(o.name), o.name, value, sev, policy.breach_after, policy.recover_after)
        state = step.status
        if state.state == ObjectiveState.BREACHED and step.transition != "breach" and o.name in prev:
            # the breach goes on: it keeps its id (first window) and the sites it was seen at
            state = state.model_copy(update={"breach_window_start": prev[o.name].breach_window_start,
                                             "breach_sites": prev[o.name].breach_sites})
        if step.transition == "breach" and value is not None and sev is not None:
            window = qos.aligned_window(now, policy.interval_seconds, qos.window_seconds(o.window))
            query = qos.promql(o, workload)
            _, digest = qos.evidence(query, samples, window)
            out.new_records.append(breach_record(meta["uid"], i, sev.value, value, window, digest))
            bad = tuple(sorted(s for s, v in per_site.items() if s and qos.severity(o, v) is not None))
            where = f" at {', '.join(bad)}" if bad else ""
            msg = (f"objective {o.name}: {value:.3g} breaks the {sev.value} threshold{where} "
                   f"({policy.breach_after} bad windows of {o.window})")
            out.events.append((EventType.WARNING, Reason.SLA_BREACHED, msg))
            out.breaches.append(sev.value)
            # the offload follows from the state (orchestrator.sla_loop), so a crash cannot lose it
            state = state.model_copy(update={"breach_window_start": window[0], "breach_sites": list(bad)})
        elif step.transition == "recover":
            out.events.append((EventType.NORMAL, Reason.SLA_RECOVERED, f"objective {o.name} met again for "
                               f"{policy.recover_after} windows ({value:.3g})"))
        states.append(state)
    breached = [s.name for s in states if s.state == ObjectiveState.BREACHED]
    why = Reason.OBJECTIVE_BREACHED if breached else Reason.ALL_OBJECTIVES_MET
    conds = set_condition(st.conditions, Cond.METRICS_UNAVAILABLE, ConditionStatus.FALSE, Reason.METRICS_AVAILABLE,
                          "", gen)
    conds = set_condition(conds, Cond.BREACHED, ConditionStatus.TRUE if breached else ConditionStatus.FALSE, why,
                          ", ".join(breached), gen)
    conds = set_condition(conds, Cond.COMPLIANT, ConditionStatus.FALSE if breached else ConditionStatus.TRUE, why,
                          ", ".join(breached), gen)
    evaluated = [s for s in states if s.last_value is not None]
    good = sum(1 for s in evaluated if s.bad_windows == 0)
    previous = st.compliance if st.compliance is not None else 1.0
    compliance = previous if not evaluated else round(0.95 * previous + 0.05 * (good / len(evaluated)), 4)
    out.status = status_patch(Status(objectives=states, conditions=conds, compliance=compliance,
                                     breaches=st.breaches + len(out.breaches)))
    return out
