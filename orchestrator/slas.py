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
from orchestrator.prometheus import EXECUTION, MetricsUnavailable, PrometheusSource, QueryRejected, Sample
from orchestrator.resources.common import Condition, ConditionStatus, set_condition, status_patch
from orchestrator.resources.elasticity import BreachType
from orchestrator.resources.sla import ObjectiveStatus, ServiceLevelAgreementSpec, ServiceLevelAgreementStatus
from orchestrator.vocabulary import EventType, ObjectiveState, Reason
from orchestrator.vocabulary import SlaCondition as Cond

Status = ServiceLevelAgreementStatus
MEANING = {BreachType.ACT: "", BreachType.IGNORE: "; breach type ignore: recorded, nothing changes",
           BreachType.SUSPEND: "; breach type suspend: no resize or move until it ends"}


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


@dataclass(frozen=True)
class NotYet:
    """Why an agreement's version is not recorded now: the reason and message of its Recorded
    condition; `retry`: it may change by itself (checked again at every interval), else only a new
    spec can."""

    reason: Reason
    message: str
    retry: bool


async def precheck(body: Mapping[str, Any], prometheus: PrometheusSource, workload_found: bool) -> NotYet | None:
    """What must hold before an agreement goes on chain: Prometheus' own parser accepts every
    objective's PromQL (run once, as the evaluation runs it: a parse error or a result that is no
    instant vector or scalar rejects it), and the workload it governs exists.  None: record it."""
    meta = body["metadata"]
    try:
        spec = ServiceLevelAgreementSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None  # record() says what is wrong with the spec
    workload = f"{meta['namespace']}/{spec.workload_ref}"
    for o in spec.objectives:
        try:
            await prometheus.query(qos.promql(o, workload))
        except QueryRejected as exc:
            if exc.invalid:
                return NotYet(Reason.QUERY_INVALID, f"objective {o.name}: Prometheus rejects its PromQL: "
                              f"{exc.message}"[:1000], retry=False)
            if exc.error_type != EXECUTION:  # an execution error depends on the data: it parsed
                return NotYet(Reason.PROMETHEUS_UNREACHABLE, f"objective {o.name}: PromQL not checked "
                              f"({exc.error_type}: {exc.message}); recorded once Prometheus checks it"[:1000], True)
        except MetricsUnavailable as exc:
            return NotYet(Reason.PROMETHEUS_UNREACHABLE, f"PromQL of the objectives not checked: {exc}; "
                          "recorded once Prometheus checks it"[:1000], retry=True)
    if not workload_found:
        return NotYet(Reason.WORKLOAD_NOT_FOUND, f"EdgeWorkload {workload} does not exist: the agreement is "
                      "recorded on chain once it does", retry=True)
    return None


def record(body: Mapping[str, Any], not_yet: NotYet | None = None) -> SlaUpdate:
    """Queue the agreement's current spec for the ledger when this generation is not recorded yet
    (unless `not_yet` says why it cannot be: the status then says so)."""
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
    if not_yet is not None:
        conds = set_condition(st.conditions, Cond.RECORDED, ConditionStatus.FALSE, not_yet.reason,
                              f"generation {gen} not recorded: {not_yet.message}", gen)
        if not st.agreement_id:  # nothing on chain, nothing evaluated
            conds = set_condition(conds, Cond.COMPLIANT, ConditionStatus.UNKNOWN, not_yet.reason, not_yet.message, gen)
        status = Status(conditions=conds) if not_yet.retry else Status(observed_generation=gen, conditions=conds)
        return SlaUpdate(status_patch(status), [(EventType.WARNING, not_yet.reason, not_yet.message)])
    conds = set_condition(st.conditions, Cond.RECORDED, ConditionStatus.UNKNOWN, Reason.LEDGER_PENDING,
                          f"version for generation {gen} queued for the ledger", gen)
    return SlaUpdate(status_patch(Status(observed_generation=gen, conditions=conds)), new_records=[rec])


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return "spec." + ".".join(str(p) for p in e["loc"]) + ": " + e["msg"]


async def evaluate(body: Mapping[str, Any], prometheus: PrometheusSource, placed_sites: tuple[str, ...],
                   now: float | None = None, *, workload_found: bool = True) -> SlaUpdate:
    """One evaluation of every objective (see the module docstring).  An objective without data in
    this window (no samples, or a query Prometheus rejects) changes no state and counts for no
    compliance: the Compliant condition is then Unknown, with the reason."""
    now = time.time() if now is None else now
    meta = body["metadata"]
    spec = ServiceLevelAgreementSpec.model_validate(body.get("spec") or {})
    st = current_status(body)
    gen = meta.get("generation")
    workload = f"{meta['namespace']}/{spec.workload_ref}"
    out = SlaUpdate()
    unknown = _unknown_because(spec, now, workload, workload_found)
    if unknown is not None:
        out.status = status_patch(Status(conditions=set_condition(
            st.conditions, Cond.COMPLIANT, ConditionStatus.UNKNOWN, unknown[0], unknown[1], gen)))
        if unknown[0] == Reason.WORKLOAD_NOT_FOUND:
            out.events.append((EventType.WARNING, unknown[0], unknown[1]))
        return out
    prev = {o.name: o for o in st.objectives}
    states: list[ObjectiveStatus] = []
    policy = spec.evaluation
    results: list[list[Sample] | None] = []
    rejected: list[tuple[str, QueryRejected]] = []
    try:
        for o in spec.objectives:
            try:
                results.append(await prometheus.query(qos.promql(o, workload)))
            except QueryRejected as exc:
                results.append(None)
                rejected.append((o.name, exc))
    except MetricsUnavailable as exc:
        message = f"{exc}; nothing is changed until metrics return"
        conds = set_condition(st.conditions, Cond.METRICS_UNAVAILABLE, ConditionStatus.TRUE,
                              Reason.PROMETHEUS_UNREACHABLE, message, gen)
        conds = set_condition(conds, Cond.COMPLIANT, ConditionStatus.UNKNOWN, Reason.PROMETHEUS_UNREACHABLE, message, gen)
        out.status = status_patch(Status(conditions=conds))
        out.events.append((EventType.WARNING, Reason.METRICS_UNAVAILABLE, str(exc)[:500]))
        return out
    with_data: list[ObjectiveStatus] = []
    for i, (o, samples) in enumerate(zip(spec.objectives, results, strict=True)):
        per_site = {labels.get("site", ""): v for labels, v in samples or [] if v == v}  # drop NaN
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
            _, digest = qos.evidence(query, samples or [], window)
            out.new_records.append(breach_record(meta["uid"], i, sev.value, value, window, digest))
            bad = tuple(sorted(s for s, v in per_site.items() if s and qos.severity(o, v) is not None))
            where = f" at {', '.join(bad)}" if bad else ""
            msg = (f"objective {o.name}: {value:.3g} breaks the {sev.value} threshold{where} "
                   f"({policy.breach_after} bad windows of {o.window}){MEANING[o.meaning]}")
            out.events.append((EventType.WARNING, Reason.SLA_BREACHED, msg))
            out.breaches.append(sev.value)
            # the offload follows from the state (orchestrator.sla_loop), so a crash cannot lose it
            state = state.model_copy(update={"breach_window_start": window[0], "breach_sites": list(bad)})
        elif step.transition == "recover":
            out.events.append((EventType.NORMAL, Reason.SLA_RECOVERED, f"objective {o.name} met again for "
                               f"{policy.recover_after} windows ({value:.3g})"))
        states.append(state)
        if value is not None:
            with_data.append(state)
    conds = _metrics_condition(st.conditions, rejected, gen, out)
    breached = [s.name for s in states if s.state == ObjectiveState.BREACHED]
    why = Reason.OBJECTIVE_BREACHED if breached else Reason.ALL_OBJECTIVES_MET
    conds = set_condition(conds, Cond.BREACHED, ConditionStatus.TRUE if breached else ConditionStatus.FALSE, why,
                          ", ".join(breached), gen)
    conds = _compliant(conds, spec, states, with_data, rejected, workload, gen)
    frozen = [s.name for o, s in zip(spec.objectives, states, strict=True)
              if o.meaning == BreachType.SUSPEND and s.state == ObjectiveState.BREACHED]
    conds = set_condition(conds, Cond.SUSPENDED, ConditionStatus.TRUE if frozen else ConditionStatus.FALSE,
                          Reason.SUSPENDED if frozen else Reason.NOT_SUSPENDED,
                          f"objective(s) {', '.join(frozen)} of breach type suspend breached: no resize or move of "
                          f"{workload} until they are met again" if frozen else "", gen)
    out.status = status_patch(Status(objectives=states, conditions=conds,
                                     compliance=_compliance(st.compliance, with_data),
                                     breaches=st.breaches + len(out.breaches)))
    return out


def _unknown_because(spec: ServiceLevelAgreementSpec, now: float, workload: str,
                     workload_found: bool) -> tuple[Reason, str] | None:
    """Why nothing is evaluated now (None: evaluate)."""
    if not (spec.validity.start.timestamp() <= now < spec.validity.end.timestamp()):
        return Reason.OUTSIDE_VALIDITY, "the agreement is not in force now"
    if not workload_found:
        return Reason.WORKLOAD_NOT_FOUND, f"EdgeWorkload {workload} does not exist: nothing to evaluate"
    return None


def _metrics_condition(conditions: list[Condition], rejected: list[tuple[str, QueryRejected]], gen: int | None,
                       out: SlaUpdate) -> list[Condition]:
    """MetricsUnavailable: False, or True with Prometheus' own message for the queries it rejected
    (QueryInvalid when its parser refuses one, QueryFailed when one fails on the data), and a Warning."""
    if not rejected:
        return set_condition(conditions, Cond.METRICS_UNAVAILABLE, ConditionStatus.FALSE, Reason.METRICS_AVAILABLE,
                             "", gen)
    why = Reason.QUERY_INVALID if any(exc.invalid for _, exc in rejected) else Reason.QUERY_FAILED
    message = "; ".join(f"objective {name}: Prometheus: {exc.error_type}: {exc.message}" for name, exc in rejected)
    out.events.append((EventType.WARNING, why, message[:1000]))
    return set_condition(conditions, Cond.METRICS_UNAVAILABLE, ConditionStatus.TRUE, why, message[:4000], gen)


def _compliant(conditions: list[Condition], spec: ServiceLevelAgreementSpec, states: list[ObjectiveStatus],
               with_data: list[ObjectiveStatus], rejected: list[tuple[str, QueryRejected]], workload: str,
               gen: int | None) -> list[Condition]:
    """Compliant: False while an objective is breached; Unknown while one has no data (no data is no
    compliance); True when every objective has data and is met."""
    breached = [s.name for s in states if s.state == ObjectiveState.BREACHED]
    if breached:
        return set_condition(conditions, Cond.COMPLIANT, ConditionStatus.FALSE, Reason.OBJECTIVE_BREACHED,
                             ", ".join(breached), gen)
    have = {s.name for s in with_data}
    missing = [o for o in spec.objectives if o.name not in have]
    if not missing:
        return set_condition(conditions, Cond.COMPLIANT, ConditionStatus.TRUE, Reason.ALL_OBJECTIVES_MET, "", gen)
    failed = {name: exc for name, exc in rejected}
    why = Reason.QUERY_INVALID if any(e.invalid for e in failed.values()) else \
        Reason.QUERY_FAILED if failed else Reason.NO_DATA
    message = "; ".join(f"objective {o.name}: Prometheus rejected its query ({failed[o.name].error_type})"
                        if o.name in failed else
                        f"objective {o.name}: no samples of {qos.promql(o, workload)} for the sites of {workload}"
                        for o in missing)
    return set_condition(conditions, Cond.COMPLIANT, ConditionStatus.UNKNOWN, why, message[:4000], gen)


def _compliance(previous: float | None, with_data: list[ObjectiveStatus]) -> float | None:
    """The moving average of the share of objectives met, over the windows with data only (None until
    one has data; a window without any leaves it as it was)."""
    if not with_data:
        return previous
    share = sum(1 for s in with_data if s.bad_windows == 0) / len(with_data)
    return round(share if previous is None else 0.95 * previous + 0.05 * share, 4)
