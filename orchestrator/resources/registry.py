"""The registry of edgeorch's custom resources: names, scope, models and printer columns of every CRD."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from orchestrator.resources.common import K8sModel
from orchestrator.resources.edgesite import EdgeSite, EdgeSiteSpec, EdgeSiteStatus
from orchestrator.resources.edgeworkload import EdgeWorkload, EdgeWorkloadSpec
from orchestrator.resources.radiocell import RadioCell, RadioCellSpec, RadioCellStatus
from orchestrator.resources.sla import (
    ServiceLevelAgreement,
    ServiceLevelAgreementSpec,
    ServiceLevelAgreementStatus,
)
from orchestrator.resources.workload_status import EdgeWorkloadStatus
from orchestrator.vocabulary import (
    API_GROUP,
    EDGESITE,
    EDGESITES,
    EDGEWORKLOAD,
    EDGEWORKLOADS,
    RADIOCELL,
    RADIOCELLS,
    SLA,
    SLAS,
)


@dataclass(frozen=True)
class PrinterColumn:
    """One column of `kubectl get`."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str
    priority: int = 0


@dataclass(frozen=True)
class Scale:
    """The paths of a CRD's scale subresource."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str

    def to_schema(self) -> dict[str, str]:
        return {"specReplicasPath": self.spec_replicas_path, "statusReplicasPath": self.status_replicas_path,
                "labelSelectorPath": self.label_selector_path}


AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since the object was created.")


@dataclass(frozen=True)
class CrdInfo:
    """Everything the CRD generator and the operator need to know about one kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    scope: Literal["Namespaced", "Cluster"]
    resource: type[K8sModel]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...]
    scale: Scale | None = None  # the scale subresource (kubectl scale, HorizontalPodAutoscaler)

    @property
    def name(self) -> str:
        """metadata.name of the CRD (e.g. edgeworkloads.edgeorch.io)."""
        return f"{self.plural}.{API_GROUP}"

    @property
    def filename(self) -> str:
        """File name of the generated CRD under deploy/crds/."""
        return f"{self.name}.yaml"


CRDS: tuple[CrdInfo, ...] = (
    CrdInfo(
        kind=EDGESITE, plural=EDGESITES, singular=EDGESITE.lower(), short_names=("es",), scope="Cluster",
        resource=EdgeSite, spec=EdgeSiteSpec, status=EdgeSiteStatus,
        columns=(
            PrinterColumn("Tier", "string", ".spec.tier", "Tier of the site."),
            PrinterColumn("Zone", "string", ".spec.zone", "Data-sovereignty zone."),
            PrinterColumn("District", "string", ".spec.district", "City district.", priority=1),
            PrinterColumn("Nodes", "integer", ".status.nodes", "Nodes of the site."),
            PrinterColumn("Ready", "integer", ".status.readyNodes", "Nodes of the site that are Ready."),
            PrinterColumn("Health", "string", ".status.health", "Up, Degraded or Down."),
            PrinterColumn("Free CPU", "string", ".status.free.cpu", "CPU the Pods there do not request."),
            PrinterColumn("Free Memory", "string", ".status.free.memory", "Memory the Pods there do not request.",
                          priority=1),
            PrinterColumn("Replicas", "integer", ".status.replicas", "EdgeWorkload replicas on the site."),
            PrinterColumn("Cordoned", "boolean", ".spec.cordoned", "No new replicas; the ones there move."),
            AGE,
        ),
    ),
    CrdInfo(
        kind=EDGEWORKLOAD, plural=EDGEWORKLOADS, singular=EDGEWORKLOAD.lower(), short_names=("ew",),
        scope="Namespaced", resource=EdgeWorkload, spec=EdgeWorkloadSpec, status=EdgeWorkloadStatus,
        scale=Scale(".spec.replicas", ".status.replicas", ".status.selector"),
        columns=(
            PrinterColumn("Replicas", "integer", ".spec.replicas", "Requested replicas."),
            PrinterColumn("Phase", "string", ".status.phase", "Pending, Placed, Unplaceable or Degraded."),
            PrinterColumn("Sites", "string", ".status.sites", "Sites hosting replicas."),
            PrinterColumn("Latency", "number", ".status.predictedLatencyMs", "Worst predicted latency (ms)."),
            PrinterColumn("Decision", "string", ".status.decisionId", "Decision applied.", priority=1),
            AGE,
        ),
    ),
    CrdInfo(
        kind=SLA, plural=SLAS, singular=SLA.lower(),
        short_names=("sla",), scope="Namespaced",
        resource=ServiceLevelAgreement, spec=ServiceLevelAgreementSpec, status=ServiceLevelAgreementStatus,
        columns=(
            PrinterColumn("Provider", "string", ".spec.provider", "Infrastructure provider."),
            PrinterColumn("Workload", "string", ".spec.workloadRef", "Governed EdgeWorkload."),
            PrinterColumn("Compliance", "number", ".status.compliance", "Fraction of compliant windows."),
            PrinterColumn("Breaches", "integer", ".status.breaches", "Breaches so far."),
            PrinterColumn("Contract", "string", ".status.contractAddress", "Ledger contract.", priority=1),
            AGE,
        ),
    ),
    CrdInfo(
        kind=RADIOCELL, plural=RADIOCELLS, singular=RADIOCELL.lower(), short_names=("cell",), scope="Cluster",
        resource=RadioCell, spec=RadioCellSpec, status=RadioCellStatus,
        columns=(
            PrinterColumn("District", "string", ".spec.district", "City district."),
            PrinterColumn("Best-Site", "string", ".status.bestSite", "Site of lowest measured latency."),
            PrinterColumn("Latency", "number", ".status.bestLatencyMs", "Measured latency to the best site (ms)."),
            PrinterColumn("Served-By", "string", ".status.servedBy", "Serving sites, best first.", priority=1),
            AGE,
        ),
    ),
)


def crd_for_kind(kind: str) -> CrdInfo:
    """The registry entry of `kind` (KeyError if edgeorch does not define it)."""
    for info in CRDS:
        if info.kind == kind:
            return info
    raise KeyError(kind)
