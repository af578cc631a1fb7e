"""What an agreement's breaches mean (`breachType` per objective) and how the workload may be resized
for them (`spec.elasticity` of a ServiceLevelAgreement), and the records of a resize in both statuses.

The elasticity policy sits on the agreement, not on the workload: it is the agreement's answer to its
own breaches (no breach, no resize), its bounds are part of what provider and consumer agreed (the
terms hash on chain covers them), and a workload without an agreement keeps exactly what its spec
asks, as a Deployment does.  A platform engineer reads both in one object: `kubectl explain
sla.spec.elasticity`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from orchestrator.resources.common import CelRule, K8sModel, Quantity, parse_quantity

DEFAULT_CPU_USE_METRIC = 'max(edgeorch_app_cpu_usage_cores{workload="$workload"})'
"""The CPU one replica of the workload uses now, in cores ($workload: namespace/name)."""


class BreachType(StrEnum):
    """What a breach of an objective means: act (resource-related: resize, else move), suspend (an
    outside cause: freeze every resize and move of the workload until it ends), ignore (record it
    on chain, change nothing)."""

    ACT = "act"
    SUSPEND = "suspend"
    IGNORE = "ignore"


class ResizeDirection(StrEnum):
    UP = "Up"
    DOWN = "Down"


def _cpu(value: str) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError:
        return Decimal(-1)


class CpuUse(K8sModel):
    """Where the workload's CPU use is read, and what counts as high and low use."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(rule="!has(self.low) || !has(self.high) || self.low < self.high", message="spec.elasticity.cpuUse.low: must be below high",
                field_path=".low", check=lambda u: u.low < u.high),
    )

    metric: str = Field(
        default=DEFAULT_CPU_USE_METRIC, min_length=1, max_length=2048,
        description="PromQL giving the CPU one replica uses now, in cores ($workload is replaced by "
        "namespace/name); the highest sample counts.  Use is this over the replica's CPU request.",
    )
    high: float = Field(default=0.8, gt=0, le=10, description="Use at or above this share of the request is high: "
                        "a breach of an `act` objective then scales up.")
    low: float = Field(default=0.5, ge=0, le=10, description="Use at or below this share of the request is low: "
                       "after the quiet period the workload steps down.")


def _q(field: str) -> str:
    """CEL: the int-or-string quantity `field` as a quantity (a string whose exponent has 4+ digits is
    refused first: Kubernetes' parser takes seconds per digit of one)."""
    return (f"(type(self.{field}) == int ? quantity(string(self.{field})) : "
            f"(!self.{field}.matches('[eE][-+]?[0-9]{{4}}') && isQuantity(self.{field}) ? quantity(self.{field}) "
            f": quantity('0')))")


class VerticalScaling(K8sModel):
    """Per-replica CPU requests raised or lowered by a step, within bounds."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(rule=f"{_q('minCpu')}.compareTo({_q('maxCpu')}) <= 0",
                message="spec.elasticity.vertical.minCpu: must not exceed maxCpu", field_path=".minCpu",
                check=lambda v: _cpu(v.min_cpu) <= _cpu(v.max_cpu)),
    )

    step_percent: int = Field(default=10, ge=1, le=100, description="Step of a resize, in percent of the request.")
    min_cpu: Quantity = Field(description="Smallest CPU request per replica a step down may reach.")
    max_cpu: Quantity = Field(description="Largest CPU request per replica a step up may reach.")


class HorizontalScaling(K8sModel):
    """Replicas added or removed one at a time, within bounds (never while a HorizontalPodAutoscaler
    owns the workload's replica count)."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas", message="spec.elasticity.horizontal.minReplicas: "
                "must not exceed maxReplicas", field_path=".minReplicas", check=lambda h: h.min_replicas <= h.max_replicas),
    )

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Fewest replicas a step in may leave.")
    max_replicas: int = Field(ge=1, le=1000, description="Most replicas a step out may reach.")


class Elasticity(K8sModel):
    """How the agreement resizes its workload on a breach of an `act` objective while CPU use is high
    (vertical first, then horizontal), and back after a quiet period of low use."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(rule="has(self.vertical) || has(self.horizontal)",
                message="spec.elasticity: set vertical, horizontal or both",
                check=lambda e: e.vertical is not None or e.horizontal is not None),
    )

    cpu_use: CpuUse = Field(default_factory=CpuUse, description="The workload's CPU use: where it is read, "
                            "what is high and low.", json_schema_extra={"default": {}})
    vertical: VerticalScaling | None = Field(default=None, description="Per-replica CPU steps (tried first).")
    horizontal: HorizontalScaling | None = Field(default=None, description="Replica steps (when vertical cannot).")
    quiet_seconds: int = Field(default=60, ge=1, le=86400, description="Seconds without an open `act` breach and "
                               "with low use before a step down (and between two steps down).")
    step_seconds: int = Field(default=10, ge=0, le=86400, description="Seconds at least between two steps up.")


class ResizeIntent(K8sModel):
    """What the agreement asks of its workload's size (carried out by the workload's controller,
    which names it in the workload's status.resize).  Absent values: the workload spec's."""

    model_config = ConfigDict(extra="ignore")

    seq: int = Field(ge=1, description="Number of this resize in the agreement (its id on chain).")
    direction: ResizeDirection = Field(description="Up (for a breach) or Down (after a quiet period).")
    cpu_millis: int | None = Field(default=None, ge=1, description="CPU request per replica, in millicores.")
    replicas: int | None = Field(default=None, ge=0, le=1000, description="Replicas.")
    spec_cpu_millis: int = Field(ge=0, description="The workload's spec.resources.cpu this was decided on (mCPU).")
    spec_replicas: int = Field(ge=0, le=1000, description="The workload's spec.replicas this was decided on.")
    objective: int | None = Field(default=None, ge=0, le=15, description="The breached objective answered (Up).")
    window_start: int | None = Field(default=None, ge=0, description="First bad window of that breach.")
    reason: str = Field(default="", max_length=1000, description="Why, in words (said in the workload's Events).")
    time: datetime | None = Field(default=None, description="When it was decided.")
