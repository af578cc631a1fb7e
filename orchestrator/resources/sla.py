"""ServiceLevelAgreement (namespaced, short name `sla`): QoS objectives of a workload, recorded on the ledger.

Severity levels follow Pledger: warning < mild < serious < severe < catastrophic.  An objective's comparator
says what a *good* value is (e.g. `lt`: the metric must stay below the warning threshold); each further
level is further away in the bad direction, so thresholds increase for lt/le and decrease for gt/ge.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from itertools import combinations, pairwise
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from orchestrator.resources.common import (
    DNS_LABEL,
    CelRule,
    Conditions,
    K8sModel,
    Name,
    StatusModel,
)
from orchestrator.resources.elasticity import BreachType, Elasticity, ResizeIntent
from orchestrator.resources.workload_status import OffloadAction
from orchestrator.vocabulary import GROUP_VERSION, NAMED_METRIC_MEANING, NamedMetric, ObjectiveState

DURATION = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
"""A Prometheus range duration in whole units, largest first (30s, 5m, 1h30m, 500ms): the window goes
into PromQL as written.  (Decimals such as 1.5m and units out of order such as 30s1m passed the schema
and failed in Prometheus: found by bench.fuzz.)"""
MAX_WINDOW_S = 86400
MAX_THRESHOLD = 1e12
"""Thresholds lie within +-MAX_THRESHOLD: the ledger keeps six decimals in an int64 (+-2.3e12)."""
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_s(text: str) -> float:
    """Seconds of a DURATION ("1h30m" -> 5400.0)."""
    return sum(float(n) * _UNIT_S[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", text))


class Severity(StrEnum):
    """Severity levels of a breach, mildest first (as in Pledger)."""

    WARNING = "warning"
    MILD = "mild"
    SERIOUS = "serious"
    SEVERE = "severe"
    CATASTROPHIC = "catastrophic"


LEVELS: tuple[str, ...] = tuple(s.value for s in Severity)


class Comparator(StrEnum):
    """How a good metric value compares with the thresholds: lt, le (lower is better), gt, ge (higher is better)."""

    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"

    @property
    def lower_is_better(self) -> bool:
        return self in (Comparator.LT, Comparator.LE)


class Thresholds(K8sModel):
    """Threshold of every severity level; at least one level is set."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule=" || ".join(f"has(self.{lvl})" for lvl in LEVELS),
            message="spec.objectives[].thresholds: at least one severity level must be set",
            check=lambda t: any(getattr(t, lvl) is not None for lvl in LEVELS),
        ),
    )

    warning: float | None = Field(default=None, ge=-MAX_THRESHOLD, le=MAX_THRESHOLD,
                                  description="Threshold of the warning level (the mildest).")
    mild: float | None = Field(default=None, ge=-MAX_THRESHOLD, le=MAX_THRESHOLD,
                               description="Threshold of the mild level.")
    serious: float | None = Field(default=None, ge=-MAX_THRESHOLD, le=MAX_THRESHOLD,
                                  description="Threshold of the serious level.")
    severe: float | None = Field(default=None, ge=-MAX_THRESHOLD, le=MAX_THRESHOLD,
                                 description="Threshold of the severe level.")
    catastrophic: float | None = Field(default=None, ge=-MAX_THRESHOLD, le=MAX_THRESHOLD,
                                       description="Threshold of the catastrophic level (the worst).")

    def present(self) -> list[tuple[Severity, float]]:
        """The set levels, mildest first."""
        out: list[tuple[Severity, float]] = []
        for sev in Severity:
            value = getattr(self, sev.value)
            if value is not None:
                out.append((sev, value))
        return out


def _monotonic_rule() -> str:
    def pairs(op: str) -> str:
        return " && ".join(
            f"(!has(self.thresholds.{a}) || !has(self.thresholds.{b}) || self.thresholds.{a} {op} self.thresholds.{b})"
            for a, b in combinations(LEVELS, 2)
        )

    return f"self.comparator in ['lt', 'le'] ? ({pairs('<')}) : ({pairs('>')})"


def _monotonic(o: SlaObjective) -> bool:
    values = [v for _, v in o.thresholds.present()]
    if o.comparator.lower_is_better:
        return all(a < b for a, b in pairwise(values))
    return all(a > b for a, b in pairwise(values))


class SlaObjective(K8sModel):
    """One service-level objective: a metric, what good means, and the severity thresholds of a breach."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule=_monotonic_rule(),
            message="spec.objectives[].thresholds: must strictly increase from warning to catastrophic "
            "for comparator lt/le and strictly decrease for gt/ge",
            field_path=".thresholds",
            check=_monotonic,
        ),
        CelRule(
            rule=f"duration(self.window) > duration('0s') && duration(self.window) <= duration('{MAX_WINDOW_S}s')",
            message=f"spec.objectives[].window: must be longer than 0 and at most {MAX_WINDOW_S // 3600}h",
            field_path=".window",
            check=lambda o: 0 < duration_s(o.window) <= MAX_WINDOW_S,
        ),
    )

    name: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL, description="Name of the objective, unique in the agreement."
    )
    metric: str = Field(
        min_length=1, max_length=2048,
        description="What is measured, per site where the workload runs: a named metric: "
        + "; ".join(f"{m.value} ({NAMED_METRIC_MEANING[m]})" for m in NamedMetric)
        + ", each over the workload's edgeorch_app_request_latency_seconds histogram and "
        "edgeorch_app_requests_failed_total in the window; or a PromQL expression (instant vector or "
        "scalar; $workload is replaced by namespace/name and $window by the window, e.g. "
        "max by (site) (my_latency_ms{workload=\"$workload\"})), checked by Prometheus before the "
        "agreement is recorded.",
    )
    comparator: Comparator = Field(
        description="How a good value compares with the thresholds: lt/le (lower is better) or gt/ge (higher is better)."
    )
    window: str = Field(
        max_length=32, pattern=DURATION,
        description=f"Evaluation window as a Prometheus duration, whole units largest first (e.g. 30s, 5m, 1h30m, "
        f"500ms), longer than 0 and at most {MAX_WINDOW_S // 3600}h."
    )
    thresholds: Thresholds = Field(
        description="Thresholds per severity level; monotonic in the comparator's bad direction."
    )
    breach_type: BreachType | None = Field(
        default=None,
        description="What a breach means: act (the default when unset: resource-related: resize per "
        "spec.elasticity, else move away), "
        "suspend (an outside cause, e.g. a radio failure: no resize or move of the workload until it ends), "
        "ignore (recorded on chain, nothing changes).  Every breach is recorded on chain.  Unset, not defaulted, so "
        "that an agreement's file hashes as written (edgeorch sla verify --spec).",
    )

    @property
    def meaning(self) -> BreachType:
        """What a breach of this objective means (act when unset)."""
        return self.breach_type or BreachType.ACT


class Validity(K8sModel):
    """Period during which the agreement applies."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule="self.end > self.start",
            message="spec.validity.end: must be after spec.validity.start",
            field_path=".end",
            check=lambda v: v.end > v.start,
        ),
        CelRule(
            rule="self.start >= timestamp('1970-01-01T00:00:00Z')",
            message="spec.validity.start: must not be before 1970-01-01T00:00:00Z (the ledger counts unix time)",
            field_path=".start",
            check=lambda v: v.start.timestamp() >= 0,
        ),
    )

    start: AwareDatetime = Field(description="Start of validity (RFC 3339 date-time).")
    end: AwareDatetime = Field(description="End of validity (RFC 3339 date-time); must be after start.")


class EvaluationPolicy(K8sModel):
    """How often objectives are evaluated and how many windows flip their state."""

    interval_seconds: int = Field(default=5, ge=1, le=3600, description="Seconds between two evaluations.")
    breach_after: int = Field(
        default=3, ge=1, le=100, description="Consecutive bad windows before an objective is breached (K)."
    )
    recover_after: int = Field(
        default=3, ge=1, le=100, description="Consecutive good windows before a breached objective recovers (M)."
    )


class Penalties(K8sModel):
    """Penalty per breach at each severity level, in `unit`."""

    unit: str = Field(default="credits", max_length=16, description="Unit of the penalties (e.g. credits, EUR).")
    warning: float | None = Field(default=None, ge=0, description="Penalty of a warning-level breach.")
    mild: float | None = Field(default=None, ge=0, description="Penalty of a mild breach.")
    serious: float | None = Field(default=None, ge=0, description="Penalty of a serious breach.")
    severe: float | None = Field(default=None, ge=0, description="Penalty of a severe breach.")
    catastrophic: float | None = Field(default=None, ge=0, description="Penalty of a catastrophic breach.")


class ServiceLevelAgreementSpec(K8sModel):
    """Desired state of a ServiceLevelAgreement between a provider and a pseudonymous consumer."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule="self.objectives.all(a, self.objectives.exists_one(b, b.name == a.name))",
            message="spec.objectives: objective names must be unique",
            field_path=".objectives",
            check=lambda s: len({o.name for o in s.objectives}) == len(s.objectives),
        ),
    )

    provider: Name = Field(description="Infrastructure provider offering the service level (e.g. bcn-edge-operator).")
    consumer: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$",
        description="Pseudonymous reference of the consumer (e.g. tenant-7f3a); never personal data.",
    )
    workload_ref: Name = Field(description="Name of the EdgeWorkload in the same namespace this agreement governs.")
    objectives: list[SlaObjective] = Field(
        min_length=1, max_length=16, description="Service-level objectives (1..16, unique names)."
    )
    validity: Validity = Field(description="Period during which the agreement applies (end after start).")
    evaluation: EvaluationPolicy = Field(
        default_factory=EvaluationPolicy,
        description="Evaluation interval and the K/M windows that open and close a breach.",
        json_schema_extra={"default": {}},
    )
    penalties: Penalties | None = Field(default=None, description="Penalty per severity level (optional).")
    elasticity: Elasticity | None = Field(
        default=None, description="Resizing of the workload on a breach of an `act` objective while its CPU use is "
        "high (vertical, then horizontal), and back after a quiet period (unset: breaches only move it).",
    )


# -- status ---------------------------------------------------------------------------------------------


class ObjectiveStatus(K8sModel):
    """Evaluation state of one objective."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=63, description="Name of the objective (spec.objectives[].name).")
    state: ObjectiveState = Field(description="Ok, Breached or NoData.")
    bad_windows: int = Field(default=0, ge=0, description="Consecutive bad windows so far.")
    good_windows: int = Field(default=0, ge=0, description="Consecutive good windows so far.")
    last_value: float | None = Field(default=None, description="Metric value of the last evaluated window.")
    severity: Severity | None = Field(default=None, description="Severity of the current breach, if any.")
    breach_window_start: int | None = Field(
        default=None, ge=0, description="Start (unix time) of the window that opened the current breach: its id."
    )
    breach_sites: list[str] = Field(
        default_factory=list, max_length=64, description="Sites where the current breach was seen (to leave).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class LedgerRecord(K8sModel):
    """A ledger record waiting to be written to the chain (the outbox makes ledger writes retryable)."""

    model_config = ConfigDict(extra="ignore")

    kind: str = Field(
        min_length=1, max_length=63, pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="Kind of record in CamelCase: Agreement, Breach, Migration or Resize.",
    )
    key: str = Field(min_length=1, max_length=256, description="Idempotency key of the record.")
    payload: str = Field(max_length=16384, description="Record payload as a JSON string.")
    attempts: int = Field(default=0, ge=0, description="Write attempts so far.")
    last_error: str | None = Field(default=None, max_length=4096, description="Error of the last failed attempt.")

    @field_validator("payload")
    @classmethod
    def _payload_is_json(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError(f"payload must be a JSON string: {exc}") from exc
        return value


class OffloadIntent(K8sModel):
    """What the agreement asks of its workload for a breach: leave sites, or come back (carried out
    by the workload's controller, which names it in the workload's status.offload)."""

    model_config = ConfigDict(extra="ignore")

    objective: int = Field(ge=0, le=15, description="Index of the breached objective (spec.objectives[]).")
    window_start: int = Field(ge=0, description="Start (unix time) of the window that opened the breach.")
    action: OffloadAction = Field(description="Offload (leave the sites in avoid) or FailBack (stop avoiding them).")
    avoid: list[str] = Field(
        default_factory=list, max_length=64, description="Sites the workload leaves for this breach.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    reason: str = Field(default="", max_length=1000, description="Why, in words (said in the workload's Events).")


class ServiceLevelAgreementStatus(StatusModel):
    """Observed state of a ServiceLevelAgreement, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the spec this status was computed from."
    )
    agreement_id: str | None = Field(default=None, max_length=128, description="Id of the agreement on the ledger.")
    contract_address: str | None = Field(
        default=None, pattern=r"^0x[0-9a-fA-F]{40}$", description="Address of the SLA contract on the chain."
    )
    tx_hash: str | None = Field(
        default=None, pattern=r"^0x[0-9a-fA-F]{64}$", description="Hash of the transaction recording this version."
    )
    version: int | None = Field(default=None, ge=0, description="Version of the agreement recorded on the ledger.")
    breaches: int = Field(default=0, ge=0, description="Breaches recorded so far.")
    compliance: float | None = Field(
        default=None, ge=0, le=1,
        description="Moving average (weight 0.05 per window) of the share of objectives met, over the windows "
        "with data only; unset until a window has data (see the Compliant condition).",
    )
    objectives: list[ObjectiveStatus] = Field(
        default_factory=list, max_length=16, description="Evaluation state of every objective (one per name).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    outbox: list[LedgerRecord] = Field(
        default_factory=list, max_length=256,
        description="Ledger records waiting for the chain, oldest first (one per idempotency key).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
    )
    offload_intent: OffloadIntent | None = Field(
        default=None, description="What this agreement asks of its workload for its current breach, if anything.",
    )
    migrations_recorded: str | None = Field(
        default=None, max_length=300,
        description="The workload's last offload or fail-back (id/action) whose moves are queued for the ledger.",
    )
    resize_intent: ResizeIntent | None = Field(
        default=None, description="The size this agreement asks of its workload (spec.elasticity), if any.",
    )
    resizes_recorded: int | None = Field(
        default=None, ge=0, description="The last resize (resizeIntent.seq) the workload carried out whose record "
        "is queued for the ledger.",
    )
    conditions: Conditions


class ServiceLevelAgreement(K8sModel):
    """A service-level agreement on an EdgeWorkload's QoS, recorded with its breaches on the ledger."""

    api_version: Literal["edgeorch.io/v1alpha1"] = Field(default="edgeorch.io/v1alpha1", description=f"API version: {GROUP_VERSION}.")
    kind: Literal["ServiceLevelAgreement"] = Field(default="ServiceLevelAgreement", description="ServiceLevelAgreement")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: ServiceLevelAgreementSpec = Field(description="Desired state of the agreement.")
    status: ServiceLevelAgreementStatus | None = Field(default=None, description="Observed state of the agreement.")

