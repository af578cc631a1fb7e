"""EdgeWorkload (namespaced, short name `ew`): a request to place N replicas of a pod near its users."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from orchestrator.resources.common import (
    DNS_LABEL,
    CelRule,
    IntOrPercent,
    K8sModel,
    Label,
    Quantity,
    Tier,
    parse_quantity,
    scaled,
)
from orchestrator.resources.users import UserDistribution
from orchestrator.resources.workload_status import (
    EdgeWorkloadStatus,
)
from orchestrator.vocabulary import GROUP_VERSION

# -- spec -----------------------------------------------------------------------------------------------


MAX_ANNOTATIONS_SIZE = 262144
"""What a Pod's annotations may hold in all (keys and values, as the Pod API counts them)."""
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def _annotations_size(meta: PodTemplateMetadata) -> int:
    return sum(len(k) + len(v) for k, v in meta.annotations.items())


class PodTemplateMetadata(K8sModel):
    """Metadata given to every replica's pod (labels and annotations; other keys are kept as they are).

    Labels and annotations are bounded as a Pod's: unbounded, a 2 MB annotation reached etcd, whose
    "request is too large" the API server answers with a 500 (found by bench.fuzz)."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule=f"!has(self.annotations) || "
                 f"self.annotations.map(k, size(k) + size(self.annotations[k])).sum() <= {MAX_ANNOTATIONS_SIZE}",
            message=f"spec.template.metadata.annotations: may not hold more than {MAX_ANNOTATIONS_SIZE} "
                    "characters in all (keys and values, as a Pod's)",
            field_path=".annotations",
            check=lambda m: _annotations_size(m) <= MAX_ANNOTATIONS_SIZE,
        ),
    )
    model_config = ConfigDict(extra="allow")

    labels: dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]] = Field(
        default_factory=dict, description="Labels of the replicas' pods (values as a Pod's: at most 63 characters).")
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description=f"Annotations of the replicas' pods (at most {MAX_ANNOTATIONS_SIZE} characters in all).")


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


def _parses_to_at_most(value: str, limit: Decimal) -> bool:
    try:
        return parse_quantity(value) <= limit
    except ValueError:
        return False


def _at_most(field: str, maximum: str, unit: str) -> CelRule:
    """`spec.resources.<field>` is at most `maximum`, compared as a parsed quantity (the CEL quantity
    library, Kubernetes 1.29+; an integer is compared as it is).  Found by bench.fuzz: a string the
    quantity parser does not take passed (the rule read `!isQuantity(x) || ...`) and the operator's
    own model could not read it; and the API server runs this rule even when the pattern refused the
    value, where Kubernetes' quantity parser takes seconds per digit of a decimal exponent (a Pod's
    "1e999999999" stalls its request until it times out), so a long exponent is refused before it is
    parsed."""
    limit = parse_quantity(maximum)
    return CelRule(
        rule=f"type(self.{field}) == int ? self.{field} <= {int(limit)} : "
             f"(!self.{field}.matches('[eE][-+]?[0-9]{{4}}') && isQuantity(self.{field}) "
             f"&& quantity(self.{field}).compareTo(quantity('{maximum}')) <= 0)",
        message=f"spec.resources.{field}: must be a quantity of at most {maximum} ({int(limit)} {unit}) per replica",
        field_path=f".{field}",
        check=lambda r: _parses_to_at_most(getattr(r, field), limit),
    )


class ResourceRequest(K8sModel):
    """Resources requested by one replica."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (_at_most("cpu", MAX_CPU, "cores"), _at_most("memory", MAX_MEMORY, "bytes"))

    cpu: Quantity = Field(description=f'CPU per replica as a Kubernetes quantity (e.g. "500m" or 2), at most {MAX_CPU}.')
    memory: Quantity = Field(
        description=f'Memory per replica as a Kubernetes quantity (e.g. "256Mi"), at most {MAX_MEMORY}.')
    gpu: int = Field(default=0, ge=0, le=16, description="Number of GPUs per replica (0..16).")


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


DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""A Service name: a DNS label that starts with a letter (RFC 1035)."""


class ServicePort(K8sModel):
    """One port of the workload's Service (a core/v1 ServicePort that targets a container port number)."""

    name: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=DNS_LABEL,
        description="Name of the port (DNS label); required when the Service has more than one port.",
    )
    port: int = Field(ge=1, le=65535, description="Port the Service exposes (1..65535).")
    target_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Container port the traffic goes to, and the port of a replica's Pod IP (default: port).",
    )
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(default="TCP", description="TCP, UDP or SCTP (default TCP).")


class AppService(K8sModel):
    """The workload's Service (opt-out): selects its replica Pods, is owned by the EdgeWorkload (it goes
    with it), and is written by the operator's service loop alone (orchestrator.endpoints)."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule="!has(self.ports) || size(self.ports) <= 1 || self.ports.all(p, has(p.name))",
            message="spec.service.ports: every port needs a name when there are several",
            field_path=".ports",
            check=lambda s: len(s.ports) <= 1 or all(p.name for p in s.ports),
        ),
        CelRule(
            rule="!has(self.ports) || self.ports.all(a, self.ports.exists_one(b, (has(a.name) && has(b.name) && a.name == b.name) "
                 "|| (a.port == b.port && a.protocol == b.protocol)))",
            message="spec.service.ports: port names, and port numbers per protocol, must be unique",
            field_path=".ports",
            check=lambda s: _unique_ports(s.ports),
        ),
    )

    enabled: bool = Field(default=True, description="Whether the workload gets a Service (default true).")
    name: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=DNS_1035_LABEL,
        description="Name of the Service (a DNS label starting with a letter); default: the workload's name.",
    )
    ports: list[ServicePort] = Field(
        default_factory=list, max_length=32,
        description="Ports of the Service; empty: one per containerPort of the template's containers, and a "
                    "headless Service (no cluster IP) when they declare none.",
    )
    headless: bool = Field(
        default=False, description="A headless Service (clusterIP None: DNS gives the replicas' Pod IPs).",
    )


def _unique_ports(ports: list[ServicePort]) -> bool:
    names = [p.name for p in ports if p.name]
    numbers = [(p.port, p.protocol) for p in ports]
    return len(set(names)) == len(names) and len(set(numbers)) == len(numbers)


class EdgeWorkloadSpec(K8sModel):
    """Desired state of an EdgeWorkload: what to run, for whom, and with which QoS."""

    replicas: int = Field(
        ge=0, le=1000,
        description="Number of replicas to place (0..1000; 0 keeps the workload and its SLAs with nothing running). "
        "The scale subresource sets it: kubectl scale, or a HorizontalPodAutoscaler.",
    )
    template: PodTemplate = Field(description="Pod template of every replica (metadata and spec; spec.containers required).")
    resources: ResourceRequest = Field(description="Resources requested per replica (cpu, memory, gpu).")
    users: UserDistribution = Field(
        description="Distribution of the workload's users over radio cells: fixed (cells) or measured (fromMetric).")
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
    service: AppService = Field(
        default_factory=AppService,
        description="The workload's Service selecting its replica Pods (enabled unless enabled: false).",
        json_schema_extra={"default": {}},
    )


class EdgeWorkload(K8sModel):
    """A workload to place across far-edge, edge and cloud sites near its users."""

    api_version: Literal["edgeorch.io/v1alpha1"] = Field(default="edgeorch.io/v1alpha1", description=f"API version: {GROUP_VERSION}.")
    kind: Literal["EdgeWorkload"] = Field(default="EdgeWorkload", description="EdgeWorkload")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: EdgeWorkloadSpec = Field(description="Desired state of the workload.")
    status: EdgeWorkloadStatus | None = Field(default=None, description="Observed state of the workload.")
