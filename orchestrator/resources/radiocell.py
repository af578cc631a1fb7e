"""RadioCell (cluster-scoped, short name `cell`): one 5G radio cell of the deployment, where users attach.

The spec says where the cell is (created by whoever owns the radio network: the city simulator on
the local stack, an inventory sync in production); the status, written by the operator's cell loop
alone (orchestrator.cells), says which sites serve the cell, best first, by the cell-to-site latency
Prometheus measures.  EdgeWorkloads name cells in `spec.users.cells[].cell`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.resources.common import (
    DNS_LABEL,
    CelRule,
    Conditions,
    K8sModel,
    StatusModel,
    name_is_a_dns_label,
)
from orchestrator.resources.edgesite import GeoLocation
from orchestrator.vocabulary import GROUP_VERSION

MAX_SERVING_SITES = 16
"""A cell's status lists at most this many sites (the best ones)."""


class RadioCellSpec(K8sModel):
    """Desired state of a RadioCell: where the cell is."""

    district: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL, description="City district of the cell (e.g. eixample)."
    )
    location: GeoLocation = Field(description="Geographic coordinates of the cell's antenna.")
    description: str | None = Field(
        default=None, max_length=1024, description="Free text about the cell (e.g. the street or the venue)."
    )


class ServingSite(K8sModel):
    """One site that serves the cell, with the round-trip latency measured from the cell to it."""

    site: str = Field(min_length=1, max_length=253, description="Name of the EdgeSite.")
    latency_ms: float = Field(ge=0, description="Measured cell-to-site round-trip latency, in ms.")


class RadioCellStatus(StatusModel):
    """Observed state of a RadioCell, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the spec this status was computed from."
    )
    sites: list[ServingSite] = Field(
        default_factory=list, max_length=MAX_SERVING_SITES,
        description=f"The sites that serve the cell, lowest measured latency first (at most {MAX_SERVING_SITES}); "
        "sites reported down are left out.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["site"]},
    )
    served_by: str | None = Field(
        default=None, max_length=4096, description="The names of `sites`, comma-separated (for kubectl get -o wide)."
    )
    best_site: str | None = Field(default=None, max_length=253, description="The site of lowest measured latency.")
    best_latency_ms: float | None = Field(
        default=None, ge=0, description="The measured latency from the cell to bestSite, in ms."
    )
    conditions: Conditions


class RadioCell(K8sModel):
    """A 5G radio cell: where users attach; EdgeWorkloads place replicas near the cells of their users."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (name_is_a_dns_label("EdgeWorkloads name it in spec.users.cells[].cell"),)

    api_version: Literal["edgeorch.io/v1alpha1"] = Field(default="edgeorch.io/v1alpha1", description=f"API version: {GROUP_VERSION}.")
    kind: Literal["RadioCell"] = Field(default="RadioCell", description="RadioCell")
    metadata: dict[str, object] = Field(default_factory=dict, description="Standard object metadata.")
    spec: RadioCellSpec = Field(description="Desired state of the cell.")
    status: RadioCellStatus | None = Field(default=None, description="Observed state of the cell.")
