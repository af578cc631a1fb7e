"""EdgeWorkload status: what the operator reports of a workload (placements, the solver's report,
moves, resizes, the cells each replica serves, rollout counts and conditions).  Models only: the
workload controller alone writes them (orchestrator.workloads)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from orchestrator.resources.common import Conditions, K8sModel, StatusModel, Tier
from orchestrator.resources.elasticity import ResizeDirection
from orchestrator.resources.users import UsersInUse
from orchestrator.vocabulary import Phase


class ReplicaPlacement(K8sModel):
    """Where one replica runs."""

    replica: int = Field(ge=0, le=999, description="Index of the replica (0-based).")
    node: str = Field(min_length=1, max_length=253, description="Name of the node hosting the replica.")
    site: str = Field(min_length=1, max_length=253, description="Name of the EdgeSite hosting the replica.")
    tier: Tier = Field(description="Tier of that site.")


class SolverReport(K8sModel):
    """What the placement solver reported for the last decision."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=63, description="Solver that produced the decision (e.g. cp-sat, greedy).")
    status: str = Field(max_length=63, description="Solver status (e.g. OPTIMAL, FEASIBLE, INFEASIBLE).")
    objective: float | None = Field(default=None, description="Objective value of the chosen placement.")
    bound: float | None = Field(default=None, description="Best bound proven by the solver.")
    gap: float | None = Field(default=None, ge=0, description="Relative optimality gap (0 = proven optimal).")
    wall_seconds: float | None = Field(default=None, ge=0, description="Wall-clock time of the solve in seconds.")


class OffloadAction(StrEnum):
    """What an offload intent asks of the controller."""

    OFFLOAD = "Offload"
    FAIL_BACK = "FailBack"


class MoveAction(StrEnum):
    """What an intent the controller carried out asked (an agreement's OffloadAction, or the re-optimiser's)."""

    OFFLOAD = "Offload"
    FAIL_BACK = "FailBack"
    REOPTIMISE = "Reoptimise"  # move to a placement that gains enough (orchestrator.reoptimiser)


class SiteMove(K8sModel):
    """One replica that left a site for another."""

    from_site: str = Field(min_length=1, max_length=253, description="Site the replica left.")
    to_site: str = Field(min_length=1, max_length=253, description="Site the replica went to.")


class OffloadRecord(K8sModel):
    """The last intent the controller carried out: an agreement's status.offloadIntent, or one of the
    operator's own loops (the QoS guard, the re-optimiser: orchestrator.move_intents)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256, description="Id of the intent: the breach it answered "
                    "(agreement uid:objective:window start), or qos-bound:0:<unix time> (the workload's own QoS "
                    "bound) or reoptimiser:0:<unix time>.")
    action: MoveAction = Field(description="Offload, FailBack or Reoptimise.")
    moves: list[SiteMove] = Field(default_factory=list, max_length=1000, description="Replica moves it made.")
    time: datetime | None = Field(default=None, description="When it was carried out.")


class ResizeRecord(K8sModel):
    """The size the controller last carried out for an agreement (its status.resizeIntent)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256, description="Agreement uid:seq of the resize.")
    direction: ResizeDirection = Field(description="Up or Down.")
    cpu: str = Field(max_length=64, description="CPU request of every replica Pod now (e.g. 275m).")
    replicas: int = Field(ge=0, le=1000, description="Replicas now.")
    reason: str = Field(default="", max_length=1000, description="Why.")
    moves: list[SiteMove] = Field(default_factory=list, max_length=1000, description="Replicas moved with it.")
    time: datetime | None = Field(default=None, description="When it was carried out.")


class CellEndpoint(K8sModel):
    """The replica that serves the users of one radio cell (orchestrator.endpoints.serving)."""

    cell: str = Field(min_length=1, max_length=63, description="Radio cell (one of spec.users.cells).")
    replica: int | None = Field(
        default=None, ge=0, le=999,
        description="Index of the replica in placements (unset: a Pod of an earlier placement that still serves).",
    )
    site: str = Field(min_length=1, max_length=253, description="EdgeSite of the serving replica.")
    node: str = Field(min_length=1, max_length=253, description="Node of the serving replica.")
    pod: str | None = Field(default=None, max_length=253, description="Name of the serving replica Pod.")
    pod_ip: str | None = Field(default=None, alias="podIP", max_length=64, description="IP of the serving Pod.")
    ready: bool = Field(default=False, description="Whether the serving Pod is Ready.")
    latency_ms: float | None = Field(
        default=None, ge=0, description="Predicted latency from the cell to the replica's site in milliseconds.",
    )


class EdgeWorkloadStatus(StatusModel):
    """Observed state of an EdgeWorkload, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the spec this status was computed from."
    )
    phase: Phase | None = Field(default=None, description="Pending, Placed, Unplaceable or Degraded.")
    replicas: int | None = Field(
        default=None, ge=0, le=1000, description="Replica Pods of the current placement (the scale subresource reads it).",
    )
    updated_replicas: int | None = Field(
        default=None, ge=0, description="Replica Pods of the current version (Pod template and resources).",
    )
    ready_replicas: int | None = Field(default=None, ge=0, description="Replica Pods that are Ready.")
    available_replicas: int | None = Field(
        default=None, ge=0, description="Replica Pods available to users (Ready; as a Deployment's).",
    )
    template_hash: str | None = Field(
        default=None, max_length=63, description="Hash of the current version: the template-hash label of its Pods.",
    )
    last_progress_time: datetime | None = Field(
        default=None, description="When a replica of the current placement last became Ready (rollouts, moves).",
    )
    selector: str | None = Field(
        default=None, max_length=400,
        description="Label selector of the replica Pods (the scale subresource gives it to a HorizontalPodAutoscaler).",
    )
    placements: list[ReplicaPlacement] = Field(
        default_factory=list, max_length=1000, description="Node, site and tier of every placed replica (one per index).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["replica"]},
    )
    sites: str | None = Field(
        default=None, max_length=1024,
        description="Comma-separated distinct sites hosting replicas (for display; see placements).",
    )
    predicted_latency_ms: float | None = Field(
        default=None, ge=0, description="Worst predicted user latency of the current placement in milliseconds."
    )
    serving: list[CellEndpoint] = Field(
        default_factory=list, max_length=64,
        description="Which replica serves each cell of spec.users (site, node, Pod IP): the Ready one with the "
                    "lowest predicted latency from the cell; the operator's app API reads and watches it.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["cell"]},
    )
    solver: SolverReport | None = Field(default=None, description="Report of the solve behind the current placement.")
    decision_id: str | None = Field(
        default=None, max_length=128, description="Stable id of the placement decision currently applied."
    )
    migrations: int = Field(default=0, ge=0, description="Replica migrations performed so far.")
    last_migration_time: datetime | None = Field(default=None, description="When a replica was last migrated.")
    offload: OffloadRecord | None = Field(
        default=None, description="The last offload, fail-back or re-optimisation carried out (for an SLA breach, the "
        "workload's own QoS bound or the re-optimiser), and its moves."
    )
    resize: ResizeRecord | None = Field(
        default=None, description="The size an agreement's elasticity set, last carried out (absent: the spec's); "
        "the replica Pods request it.")
    migration_log: list[int] = Field(
        default_factory=list, max_length=1000,
        description="Unix times of the moves of the last hour for an offload, a fail-back, the re-optimiser or "
        "users who moved (the migration budget).",
    )
    users: UsersInUse | None = Field(
        default=None, description="The user distribution the placement was solved for (spec.users.fromMetric's).")
    conditions: Conditions

    @staticmethod
    def summarize_sites(placements: list[ReplicaPlacement]) -> str:
        """The value of `sites` for these placements (distinct sites in first-seen order)."""
        return ",".join(dict.fromkeys(p.site for p in placements))
