"""EdgeWorkload (namespaced, short name `ew`): a request to place N replicas of a pod near its users."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from orchestrator.resources.common import (
    DNS_LABEL,
    CelRule,
    Conditions,
    IntOrPercent,
    K8sModel,
    Label,
    Quantity,
    StatusModel,
    Tier,
    parse_quantity,
    scaled,
)
from orchestrator.vocabulary import GROUP_VERSION, Phase

SHARE_TOLERANCE = 0.001
"""How far the sum of spec.users.cells[*].share may be from 1."""


# -- spec -----------------------------------------------------------------------------------------------


class PodTemplateMetadata(K8sModel):
    """Metadata given to every replica's pod (labels and annotations; other keys are kept as they are)."""

    model_config = ConfigDict(extra="allow")

    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the replicas' pods.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the replicas' pods.")


class Container(K8sModel):
    """A container of the pod (a core/v1 Container; fields other than name and image are passed through)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL, description="Name of the container (DNS label).")
    image: str = Field(min_length=1, max_length=1024, description="Container image reference.")


class PodSpec(K8sModel):
    """A core/v1 PodSpec; containers are checked here, every other field is passed through to the Deployment."""

    model_config = ConfigDict(extra="allow")

    containers: list[Container] = Field(
        min_length=1, max_length=32,
        description="Containers of the pod (at least one, names unique), as in core/v1 PodSpec.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    restart_policy: Literal["Always"] = Field(
        default="Always",
        description="Always, the only value (as in a Deployment): replicas are long-running, so a container "
                    "that exits is restarted where it runs and a replica never ends as Succeeded.",
    )


class PodTemplate(K8sModel):
    """The pod template of every replica (metadata + spec of a core/v1 PodTemplateSpec)."""

    metadata: PodTemplateMetadata = Field(
        default_factory=PodTemplateMetadata, description="Labels and annotations of the replicas' pods."
    )
    spec: PodSpec = Field(description="Pod spec of every replica; spec.containers is required.")


MAX_CPU = "100k"
"""The most CPU one replica may request (cores): no node comes near; beyond it a typo such as "1e18"
reached the solver as an integer overflow (#25)."""
MAX_MEMORY = "1Pi"
"""The most memory one replica may request."""


def _at_most(field: str, maximum: str, unit: str) -> CelRule:
    """`spec.resources.<field>` is at most `maximum`, compared as a parsed quantity (the CEL quantity
    library, Kubernetes 1.29+; an integer is compared as it is)."""
    limit = parse_quantity(maximum)
    return CelRule(
        rule=f"type(self.{field}) == int ? self.{field} <= {int(limit)} : "
             f"(!isQuantity(self.{field}) || quantity(self.{field}).compareTo(quantity('{maximum}')) <= 0)",
        message=f"spec.resources.{field}: must be at most {maximum} ({int(limit)} {unit}) per replica",
        field_path=f".{field}",
        check=lambda r: parse_quantity(getattr(r, field)) <= limit,
    )


class ResourceRequest(K8sModel):
    """Resources requested by one replica."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (_at_most("cpu", MAX_CPU, "cores"), _at_most("memory", MAX_MEMORY, "bytes"))

    cpu: Quantity = Field(description=f'CPU per replica as a Kubernetes quantity (e.g. "500m" or 2), at most {MAX_CPU}.')
    memory: Quantity = Field(
        description=f'Memory per replica as a Kubernetes quantity (e.g. "256Mi"), at most {MAX_MEMORY}.')
    gpu: int = Field(default=0, ge=0, le=16, description="Number of GPUs per replica (0..16).")


class CellShare(K8sModel):
    """The fraction of the workload's users attached to one radio cell."""

    cell: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL,
        description="Name of the radio cell (e.g. cell-eixample-1).",
    )
    share: float = Field(gt=0, le=1, description="Fraction of users in this cell (0 < share <= 1).")


def _shares_sum_to_one(users: UserDistribution) -> bool:
    total = sum(c.share for c in users.cells)
    return 1 - SHARE_TOLERANCE <= total <= 1 + SHARE_TOLERANCE


class UserDistribution(K8sModel):
    """Where the workload's users are: a distribution over radio cells."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule=f"self.cells.map(c, c.share).sum() >= {1 - SHARE_TOLERANCE} && "
            f"self.cells.map(c, c.share).sum() <= {1 + SHARE_TOLERANCE}",
            message=f"spec.users.cells: the shares must sum to 1 (tolerance {SHARE_TOLERANCE})",
            field_path=".cells",
            check=_shares_sum_to_one,
        ),
        CelRule(
            rule="self.cells.all(a, self.cells.exists_one(b, b.cell == a.cell))",
            message="spec.users.cells: each cell may appear only once",
            field_path=".cells",
            check=lambda u: len({c.cell for c in u.cells}) == len(u.cells),
        ),
    )

    cells: list[CellShare] = Field(
        min_length=1, max_length=64,
        description="Cells with their share of users; the shares must sum to 1 and each cell appears once.",
    )


class QosTarget(K8sModel):
    """Quality of service every user must get."""

    max_latency_ms: float = Field(gt=0, le=10000, description="Maximum cell-to-site latency in milliseconds.")
    min_bandwidth_mbps: float | None = Field(
        default=None, ge=0, description="Minimum bandwidth towards the hosting site in Mbit/s (unset: no bound)."
    )


class PlacementConstraints(K8sModel):
    """Hard and soft constraints on where replicas may run."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule="!has(self.preferTier) || !has(self.allowedTiers) || size(self.allowedTiers) == 0 "
            "|| self.preferTier in self.allowedTiers",
            message="spec.placement.preferTier: must be one of spec.placement.allowedTiers",
            field_path=".preferTier",
            check=lambda p: p.prefer_tier is None or not p.allowed_tiers or p.prefer_tier in p.allowed_tiers,
        ),
        CelRule(
            rule="!has(self.maxPerNode) || !has(self.maxPerSite) || self.maxPerNode <= self.maxPerSite",
            message="spec.placement.maxPerNode: must not exceed spec.placement.maxPerSite",
            field_path=".maxPerNode",
            check=lambda p: p.max_per_node is None or p.max_per_site is None or p.max_per_node <= p.max_per_site,
        ),
    )

    allowed_zones: list[Label] = Field(
        default_factory=list, max_length=32,
        description="Data-sovereignty zones replicas may run in (EdgeSite spec.zone); empty: any zone.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    allowed_tiers: list[Tier] = Field(
        default_factory=list, max_length=3,
        description="Tiers replicas may run on (far-edge, edge, cloud); empty: any tier.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    max_per_site: int | None = Field(
        default=None, ge=1, le=1000, description="At most this many replicas on one site (unset: no limit)."
    )
    max_per_node: int | None = Field(
        default=None, ge=1, le=1000, description="At most this many replicas on one node (unset: no limit)."
    )
    prefer_tier: Tier | None = Field(
        default=None, description="Tier to prefer when several satisfy the QoS; must be an allowed tier."
    )


class MigrationPolicy(K8sModel):
    """How eagerly the operator may move replicas when QoS degrades."""

    budget_per_hour: int = Field(
        default=6, ge=0, le=3600, description="Maximum replica migrations per hour (0 disables offloading)."
    )
    cooldown_seconds: int = Field(
        default=60, ge=0, le=86400, description="Minimum seconds between two migrations of this workload."
    )
    fail_back: bool = Field(
        default=True, description="Move replicas back to the preferred placement once QoS there recovers."
    )


class RolloutStrategy(K8sModel):
    """How a new version of the replicas (Pod template or resources) replaces the old, as a
    Deployment's RollingUpdate; it also bounds every move (offload, fail-back, re-placement)."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule="!has(self.maxSurge) || !has(self.maxUnavailable) || !(self.maxSurge == 0 || self.maxSurge == '0%') "
            "|| !(self.maxUnavailable == 0 || self.maxUnavailable == '0%')",
            message="spec.strategy.maxUnavailable: may not be 0 when maxSurge is 0 (nothing could progress)",
            field_path=".maxUnavailable",
            check=lambda s: scaled(s.max_surge, 100, round_up=True) > 0 or scaled(s.max_unavailable, 100,
                                                                                  round_up=False) > 0,
        ),
    )

    max_surge: IntOrPercent = Field(
        default="25%", description="Replicas that may run above spec.replicas while replacing (count or %, rounded up).",
        json_schema_extra={"default": "25%"},
    )
    max_unavailable: IntOrPercent = Field(
        default="25%", description="Replicas that may be unavailable while replacing (count or %, rounded down).",
        json_schema_extra={"default": "25%"},
    )
    progress_deadline_seconds: int = Field(
        default=600, ge=1, le=86400,
        description="Seconds a rollout or move may go without a new replica becoming Ready before the "
        "Progressing condition says ProgressDeadlineExceeded (old replicas stay).",
    )


class EdgeWorkloadSpec(K8sModel):
    """Desired state of an EdgeWorkload: what to run, for whom, and with which QoS."""

    replicas: int = Field(
        ge=0, le=1000,
        description="Number of replicas to place (0..1000; 0 keeps the workload and its SLAs with nothing running). "
        "The scale subresource sets it: kubectl scale, or a HorizontalPodAutoscaler.",
    )
    template: PodTemplate = Field(description="Pod template of every replica (metadata and spec; spec.containers required).")
    resources: ResourceRequest = Field(description="Resources requested per replica (cpu, memory, gpu).")
    users: UserDistribution = Field(description="Distribution of the workload's users over radio cells.")
    qos: QosTarget = Field(description="QoS targets: maximum latency and minimum bandwidth per user.")
    placement: PlacementConstraints = Field(
        default_factory=PlacementConstraints,
        description="Constraints on zones, tiers and spreading of replicas.",
        json_schema_extra={"default": {}},
    )
    priority: int = Field(
        default=0, ge=0, le=1000,
        description="Priority when capacity is short (0..1000, higher wins), in bands of 100: a workload of a higher "
        "band takes the room a lower band holds when it needs it to be placed or nearer its users; within a band "
        "nobody is moved out.",
    )
    strategy: RolloutStrategy = Field(
        default_factory=RolloutStrategy,
        description="Rolling replacement of replicas (maxSurge, maxUnavailable: as a Deployment's, default 25 %).",
        json_schema_extra={"default": {}},
    )
    migration: MigrationPolicy = Field(
        default_factory=MigrationPolicy,
        description="Offloading budget and cool-down on QoS degradation.",
        json_schema_extra={"default": {}},
    )


# -- status ---------------------------------------------------------------------------------------------


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


class SiteMove(K8sModel):
    """One replica that left a site for another."""

    from_site: str = Field(min_length=1, max_length=253, description="Site the replica left.")
    to_site: str = Field(min_length=1, max_length=253, description="Site the replica went to.")


class OffloadRecord(K8sModel):
    """The last offload intent the controller carried out (an agreement's status.offloadIntent)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256, description="Id of the breach the intent answered.")
    action: OffloadAction = Field(description="Offload or FailBack.")
    moves: list[SiteMove] = Field(default_factory=list, max_length=1000, description="Replica moves it made.")
    time: datetime | None = Field(default=None, description="When it was carried out.")


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
    solver: SolverReport | None = Field(default=None, description="Report of the solve behind the current placement.")
    decision_id: str | None = Field(
        default=None, max_length=128, description="Stable id of the placement decision currently applied."
    )
    migrations: int = Field(default=0, ge=0, description="Replica migrations performed so far.")
    last_migration_time: datetime | None = Field(default=None, description="When a replica was last migrated.")
    offload: OffloadRecord | None = Field(
        default=None, description="The last offload or fail-back carried out for an SLA breach, and its moves."
    )
    migration_log: list[int] = Field(
        default_factory=list, max_length=1000,
        description="Unix times of the offload and fail-back moves of the last hour (the migration budget).",
    )
    conditions: Conditions

    @staticmethod
    def summarize_sites(placements: list[ReplicaPlacement]) -> str:
        """The value of `sites` for these placements (distinct sites in first-seen order)."""
        return ",".join(dict.fromkeys(p.site for p in placements))


class EdgeWorkload(K8sModel):
    """A workload to place across far-edge, edge and cloud sites near its users."""

    api_version: Literal["edgeorch.io/v1alpha1"] = Field(default="edgeorch.io/v1alpha1", description=f"API version: {GROUP_VERSION}.")
    kind: Literal["EdgeWorkload"] = Field(default="EdgeWorkload", description="EdgeWorkload")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: EdgeWorkloadSpec = Field(description="Desired state of the workload.")
    status: EdgeWorkloadStatus | None = Field(default=None, description="Observed state of the workload.")
