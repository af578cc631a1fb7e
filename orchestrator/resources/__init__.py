"""edgeorch's Kubernetes resources: the one source of truth for EdgeSite, EdgeWorkload, ServiceLevelAgreement
and RadioCell.

Owns: the pydantic v2 models of every custom resource's spec and status (camelCase aliases, a description
on every field), the cross-field rules written twice from one place - as CEL (`x-kubernetes-validations`,
enforced by the API server) and as pydantic validators (so the operator's own validation matches the API
server's) - the registry of CRD names, scopes, short names and printer columns, and the conversion of
the models into structural OpenAPI v3 schemas (`orchestrator.resources.structural`), which
`python -m devstack.crdgen` writes to deploy/crds/.

Must not: talk to Kubernetes (no `kubernetes`/`kubernetes_asyncio` client, no Kopf, no web3), do I/O, or
hold any state; these are pure data models. Typical use::

    spec = EdgeWorkloadSpec.model_validate(cr["spec"])
    patch = {"status": to_k8s(EdgeWorkloadStatus(phase=Phase.PLACED, ...))}
"""

from orchestrator.resources.common import (
    CelRule,
    Condition,
    ConditionStatus,
    Tier,
    parse_cpu,
    parse_memory,
    set_condition,
    to_k8s,
)
from orchestrator.resources.edgesite import (
    EdgeSite,
    EdgeSiteSpec,
    EdgeSiteStatus,
    GeoLocation,
    PowerModel,
    SiteResources,
)
from orchestrator.resources.edgeworkload import (
    AppService,
    Container,
    EdgeWorkload,
    EdgeWorkloadSpec,
    MigrationPolicy,
    PlacementConstraints,
    PodSpec,
    PodTemplate,
    PodTemplateMetadata,
    QosTarget,
    ResourceRequest,
    ServicePort,
)
from orchestrator.resources.radiocell import RadioCell, RadioCellSpec, RadioCellStatus, ServingSite
from orchestrator.resources.registry import CRDS, CrdInfo, PrinterColumn, crd_for_kind
from orchestrator.resources.sla import (
    Comparator,
    EvaluationPolicy,
    LedgerRecord,
    ObjectiveStatus,
    OffloadIntent,
    Penalties,
    ServiceLevelAgreement,
    ServiceLevelAgreementSpec,
    ServiceLevelAgreementStatus,
    Severity,
    SlaObjective,
    Thresholds,
    Validity,
)
from orchestrator.resources.users import CellShare, UserDistribution, UsersFromMetric, UsersInUse
from orchestrator.resources.workload_status import (
    CellEndpoint,
    EdgeWorkloadStatus,
    ReplicaPlacement,
    SolverReport,
)
from orchestrator.vocabulary import (
    CellCondition,
    Health,
    ObjectiveState,
    Phase,
    SiteCondition,
    SlaCondition,
    WorkloadCondition,
)

__all__ = [
    "CRDS",
    "AppService",
    "CelRule",
    "CellCondition",
    "CellEndpoint",
    "CellShare",
    "Comparator",
    "Condition",
    "ConditionStatus",
    "Container",
    "CrdInfo",
    "EdgeSite",
    "EdgeSiteSpec",
    "EdgeSiteStatus",
    "EdgeWorkload",
    "EdgeWorkloadSpec",
    "EdgeWorkloadStatus",
    "EvaluationPolicy",
    "GeoLocation",
    "Health",
    "LedgerRecord",
    "MigrationPolicy",
    "ObjectiveState",
    "ObjectiveStatus",
    "OffloadIntent",
    "Penalties",
    "Phase",
    "PlacementConstraints",
    "PodSpec",
    "PodTemplate",
    "PodTemplateMetadata",
    "PowerModel",
    "PrinterColumn",
    "QosTarget",
    "RadioCell",
    "RadioCellSpec",
    "RadioCellStatus",
    "ReplicaPlacement",
    "ResourceRequest",
    "ServiceLevelAgreement",
    "ServiceLevelAgreementSpec",
    "ServiceLevelAgreementStatus",
    "ServicePort",
    "ServingSite",
    "Severity",
    "SiteCondition",
    "SiteResources",
    "SlaCondition",
    "SlaObjective",
    "SolverReport",
    "Thresholds",
    "Tier",
    "UserDistribution",
    "UsersFromMetric",
    "UsersInUse",
    "Validity",
    "WorkloadCondition",
    "crd_for_kind",
    "parse_cpu",
    "parse_memory",
    "set_condition",
    "to_k8s",
]
