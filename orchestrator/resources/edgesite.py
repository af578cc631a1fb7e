"""EdgeSite (cluster-scoped, short name `es`): one compute location at the far edge, the edge or the cloud.

The city simulator produces EdgeSite specs in exactly this shape:
`{tier, zone, district, location: {lat, lon}, costPerCpuHour, power: {idleWatts, wattsPerCpu}, bandwidthMbps}`;
`nodeSelector` and `cordoned` are optional so those specs stay valid.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.resources.common import (
    DNS_LABEL,
    CelRule,
    Conditions,
    K8sModel,
    Quantity,
    StatusModel,
    Tier,
    name_is_a_dns_label,
)
from orchestrator.vocabulary import GROUP_VERSION, SITE_LABEL, Health

MAX_COST_PER_CPU_HOUR = 1e4
"""Bounds of a site's numbers: far above any real site, far below what overflows the solver's
objective (a cost or idle power of 1e308 made every solve raise OverflowError, found by bench.fuzz)."""
MAX_IDLE_WATTS = 1e7
MAX_WATTS_PER_CPU = 1e4
MAX_BANDWIDTH_MBPS = 1e8


class GeoLocation(K8sModel):
    """WGS84 coordinates of the site."""

    lat: float = Field(ge=-90, le=90, description="Latitude in decimal degrees (-90..90).")
    lon: float = Field(ge=-180, le=180, description="Longitude in decimal degrees (-180..180).")


class PowerModel(K8sModel):
    """Linear power model of the site: idle draw plus a cost per busy CPU core."""

    idle_watts: float = Field(ge=0, le=MAX_IDLE_WATTS,
                              description=f"Power drawn by the site with no workload, in watts (0..{MAX_IDLE_WATTS:g}).")
    watts_per_cpu: float = Field(ge=0, le=MAX_WATTS_PER_CPU,
                                 description=f"Additional power per busy CPU core, in watts (0..{MAX_WATTS_PER_CPU:g}).")


class EdgeSiteSpec(K8sModel):
    """Desired state of an EdgeSite: where it is, what it costs and which nodes belong to it."""

    tier: Tier = Field(description="Tier of the site: far-edge (at the cell), edge (MEC) or cloud.")
    zone: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL,
        description="Data-sovereignty zone of the site (e.g. es-bcn); workloads may restrict placement to zones.",
    )
    district: str = Field(
        min_length=1, max_length=63, description="City district the site serves or sits in (e.g. eixample)."
    )
    location: GeoLocation = Field(description="Geographic coordinates of the site.")
    cost_per_cpu_hour: float = Field(
        ge=0, le=MAX_COST_PER_CPU_HOUR,
        description=f"Price of one CPU core for one hour at this site (0..{MAX_COST_PER_CPU_HOUR:g}).")
    power: PowerModel = Field(description="Power model used for energy-aware placement.")
    bandwidth_mbps: float = Field(ge=0, le=MAX_BANDWIDTH_MBPS,
                                  description=f"Backhaul bandwidth of the site, in Mbit/s (0..{MAX_BANDWIDTH_MBPS:g}).")
    node_selector: dict[str, str] | None = Field(
        default=None,
        description=f"Labels selecting the site's nodes; when unset, nodes labelled {SITE_LABEL}=<site name>.",
    )
    cordoned: bool = Field(
        default=False, description="When true no new replicas are placed here, and the replicas here move to other "
        "sites, make-before-break within each workload's rollout strategy (a replica with nowhere else to go stays). "
        "Setting it back to false lets workloads that gain from the site return.",
    )

    def effective_node_selector(self, site_name: str) -> dict[str, str]:
        """The labels selecting this site's nodes (the default is `edgeorch.io/site=<name>`)."""
        return dict(self.node_selector) if self.node_selector else {SITE_LABEL: site_name}


class SiteResources(K8sModel):
    """CPU, memory and GPUs summed over the site's nodes that take new Pods (Ready, not cordoned)."""

    cpu: Quantity = Field(description="CPU (a quantity, e.g. 64 or 63500m).")
    memory: Quantity = Field(description="Memory (a quantity, e.g. 256Gi or 1536Mi).")
    gpu: int = Field(default=0, ge=0, description="GPUs (nvidia.com/gpu).")


class EdgeSiteStatus(StatusModel):
    """Observed state of an EdgeSite, written by the operator (every few seconds at most, when it changes)."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the spec this status was computed from."
    )
    nodes: int | None = Field(default=None, ge=0, description=f"Nodes of the site (labelled {SITE_LABEL}=<site name>).")
    ready_nodes: int | None = Field(default=None, ge=0, description="Nodes of the site whose Ready condition is True.")
    allocatable: SiteResources | None = Field(
        default=None, description="Allocatable CPU, memory and GPUs of the site's nodes that take new Pods."
    )
    free: SiteResources | None = Field(
        default=None, description="What is left of `allocatable` after what the Pods on those nodes request now "
        "(edgeorch's replicas and every other Pod)."
    )
    replicas: int | None = Field(default=None, ge=0, description="EdgeWorkload replica Pods on the site's nodes.")
    workloads: int | None = Field(default=None, ge=0, description="EdgeWorkloads with replica Pods on the site's nodes.")
    health: Health | None = Field(
        default=None, description="Up, Degraded (some nodes NotReady) or Down (edgeorch_site_up is 0, or no node "
        "is Ready)."
    )
    conditions: Conditions


class EdgeSite(K8sModel):
    """A compute location (far-edge, edge/MEC or cloud) that can host EdgeWorkload replicas."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (name_is_a_dns_label(f"it is the value of the {SITE_LABEL} node label"),)

    api_version: Literal["edgeorch.io/v1alpha1"] = Field(default="edgeorch.io/v1alpha1", description=f"API version: {GROUP_VERSION}.")
    kind: Literal["EdgeSite"] = Field(default="EdgeSite", description="EdgeSite")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: EdgeSiteSpec = Field(description="Desired state of the site.")
    status: EdgeSiteStatus | None = Field(default=None, description="Observed state of the site.")
