"""edgeorch's vocabulary: every name other software sees, defined once.

Owns: the API group and version, the resources' kinds and plurals, the labels, annotations, taint
and finalizer edgeorch writes or reads, and the condition types, phases and reasons its statuses
and Events use.  Users (kubectl, selectors, alerts), the simulator and the developer harness see
these names, so they are the API as much as the CRDs are: change one here and it changes
everywhere, or not at all.

Must not: import anything else from the project (every layer imports it; the simulator may import
this module alone, as any app would read the names of an API it follows).
"""

from __future__ import annotations

from enum import StrEnum

# -- the API -----------------------------------------------------------------------------------------
API_GROUP = "edgeorch.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
CATEGORY = "edgeorch"  # `kubectl get edgeorch` lists every kind

EDGESITE, EDGEWORKLOAD, SLA = "EdgeSite", "EdgeWorkload", "ServiceLevelAgreement"
EDGESITES, EDGEWORKLOADS, SLAS = "edgesites", "edgeworkloads", "servicelevelagreements"
RADIOCELL, RADIOCELLS = "RadioCell", "radiocells"

# -- labels ------------------------------------------------------------------------------------------
SITE_LABEL = f"{API_GROUP}/site"
"""On Nodes: the EdgeSite the node belongs to (unless the site sets a nodeSelector); on replica
Pods: the site they were placed on."""
TIER_LABEL = f"{API_GROUP}/tier"
"""On Nodes: far-edge, edge or cloud (when the EdgeSite does not say)."""
DISTRICT_LABEL = f"{API_GROUP}/district"
"""On Nodes and RadioCells: the city district (informational; dashboards and selectors group by it)."""
GPU_LABEL = f"{API_GROUP}/gpu"
"""On Nodes: `true` where GPUs are."""
WORKLOAD_LABEL = f"{API_GROUP}/workload"
"""On replica Pods: the name of their EdgeWorkload (same namespace)."""
NODE_LABEL = f"{API_GROUP}/node"
"""On replica Pods: the node the placement chose (kept after the Pod is bound)."""
TEMPLATE_HASH_LABEL = f"{API_GROUP}/template-hash"
"""On replica Pods: the hash of the version (Pod template and resources) they run."""

# -- annotations -------------------------------------------------------------------------------------
DECISION_ANNOTATION = f"{API_GROUP}/decision"
"""On replica Pods: the id of the placement decision that created them."""
AVOID_NODES_ANNOTATION = f"{API_GROUP}/avoid-nodes"
"""On EdgeWorkloads (written by the controller): nodes where a replica could not run, and until when."""
ANNOTATION_PREFIX = API_GROUP
"""Prefix of Kopf's progress and last-handled annotations on ServiceLevelAgreements."""
FINALIZER = f"{API_GROUP}/finalizer"
"""On ServiceLevelAgreements: the agreement's termination is recorded on chain before it goes."""

# -- intents of the operator's own loops (orchestrator.move_intents) ----------------------------------
QOS_GUARD_INTENT = "qos-bound"
"""Source of the QoS guard's intents: an EdgeWorkload's status.offload.id `qos-bound:0:<unix time>`."""
REOPTIMISER_INTENT = "reoptimiser"
"""Source of the re-optimiser's intents: status.offload.id `reoptimiser:0:<unix time>`."""

# -- priority classes --------------------------------------------------------------------------------
PRIORITY_CLASS_PREFIX = "edgeorch-priority-"
"""Replica Pods of an EdgeWorkload of priority P get the PriorityClass `edgeorch-priority-P` (value P,
never preempting: edgeorch's solver decides who yields room), so the kube-scheduler's queue and the
kubelet's eviction order honour the workload's priority too."""


def priority_class(priority: int) -> str:
    """The PriorityClass of a workload's replica Pods."""
    return f"{PRIORITY_CLASS_PREFIX}{priority}"


# -- taints ------------------------------------------------------------------------------------------
FAR_EDGE_TAINT = f"{API_GROUP}/far-edge"
"""NoSchedule taint key of far-edge nodes; replicas allowed there get its toleration."""


# -- phases, condition types and their states --------------------------------------------------------
class Phase(StrEnum):
    """Lifecycle phase of an EdgeWorkload."""

    PENDING = "Pending"
    PLACED = "Placed"
    UNPLACEABLE = "Unplaceable"
    DEGRADED = "Degraded"


class WorkloadCondition(StrEnum):
    """Condition types of an EdgeWorkload."""

    PLACED = "Placed"
    UNPLACEABLE = "Unplaceable"
    DEGRADED = "Degraded"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    USERS_MEASURED = "UsersMeasured"  # spec.users.fromMetric: whether its query gives a distribution
    QOS_DEGRADED = "QoSDegraded"  # the placement breaks spec.qos on the measured links (orchestrator.qos_guard)
    RESIZED = "Resized"  # True while an agreement's elasticity sets its size (orchestrator.resize)


class Health(StrEnum):
    """Health of a site as seen by the operator."""

    UP = "Up"
    DEGRADED = "Degraded"
    DOWN = "Down"


class SiteCondition(StrEnum):
    """Condition types of an EdgeSite."""

    READY = "Ready"  # True while the site is Up or Degraded (some of its nodes NotReady)
    CORDONED = "Cordoned"  # spec.cordoned: True while its replicas drain (reason Draining) and after (Drained)


class CellCondition(StrEnum):
    """Condition types of a RadioCell."""

    METRICS_AVAILABLE = "MetricsAvailable"
    """True while Prometheus reports latency from the cell to at least one site."""


class ObjectiveState(StrEnum):
    """State of one SLA objective."""

    OK = "Ok"
    BREACHED = "Breached"
    NO_DATA = "NoData"


class SlaCondition(StrEnum):
    """Condition types of a ServiceLevelAgreement."""

    RECORDED = "Recorded"
    COMPLIANT = "Compliant"
    BREACHED = "Breached"
    LEDGER_PENDING = "LedgerPending"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    SUSPENDED = "Suspended"  # a `suspend` objective is breached: no resize or move of the workload


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


class Reason(StrEnum):
    """Reasons of conditions and Events (CamelCase, as Kubernetes conventions ask)."""

    # EdgeWorkloads
    PLACED = "Placed"
    MOVED = "Moved"
    SCALED = "Scaled"
    SCALED_TO_ZERO = "ScaledToZero"
    ROLLING_UPDATE = "RollingUpdate"
    REPLICAS_UPDATED = "ReplicasUpdated"
    ROLLOUT_COMPLETE = "RolloutComplete"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
    MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
    UNPLACEABLE = "Unplaceable"
    INVALID_SPEC = "InvalidSpec"
    INVALID_TEMPLATE = "InvalidTemplate"
    POD_FORBIDDEN = "PodForbidden"
    NO_FEASIBLE_PLACEMENT = "NoFeasiblePlacement"
    KEPT_PREVIOUS = "KeptPrevious"
    REPLICA_LOST = "ReplicaLost"
    OFFLOADED = "Offloaded"
    FAILED_BACK = "FailedBack"
    OFFLOAD_IMPOSSIBLE = "OffloadImpossible"
    OFFLOAD_FAILED = "OffloadFailed"
    OFFLOAD_DEFERRED = "OffloadDeferred"
    FAIL_BACK_DEFERRED = "FailBackDeferred"
    SERVICE_NOT_CREATED = "ServiceNotCreated"  # its Service cannot be made (name taken, or no valid name)
    USERS_MOVED = "UsersMoved"
    WAITING_FOR_USERS = "WaitingForUsers"
    LATENCY_BOUND_EXCEEDED = "LatencyBoundExceeded"
    BANDWIDTH_BELOW_BOUND = "BandwidthBelowBound"
    WITHIN_QOS_BOUND = "WithinQoSBound"
    QOS_DEGRADED = "QoSDegraded"
    QOS_RECOVERED = "QoSRecovered"
    REOPTIMISED = "Reoptimised"
    PREEMPTED = "Preempted"  # its room went to a workload of a higher priority band (named in the message)
    PREEMPTING = "Preempting"  # it takes the room of workloads of a lower priority band (named in the message)
    RESIZED = "Resized"  # its size returned to the spec's
    SCALED_UP = "ScaledUp"  # an agreement's elasticity raised its CPU request or added a replica
    SCALED_DOWN = "ScaledDown"  # ... lowered it or removed one after a quiet period
    AS_SPECIFIED = "AsSpecified"  # its size is the spec's (no agreement resizes it)
    RESIZE_IMPOSSIBLE = "ResizeImpossible"  # the new size fits nowhere: the size is kept
    RESIZE_HELD = "ResizeHeld"  # a breach while use is high, but every bound is reached (or an HPA owns replicas)
    # EdgeSites
    SITE_UP = "SiteUp"
    NODES_NOT_READY = "NodesNotReady"
    NO_READY_NODES = "NoReadyNodes"
    SITE_OFFLINE = "SiteOffline"
    CORDONED = "Cordoned"
    DRAINING = "Draining"
    DRAINED = "Drained"
    UNCORDONED = "Uncordoned"
    NOT_CORDONED = "NotCordoned"
    # metrics
    PROMETHEUS_UNREACHABLE = "PrometheusUnreachable"
    QUERY_INVALID = "QueryInvalid"
    QUERY_FAILED = "QueryFailed"
    NO_DATA = "NoData"
    METRICS_AVAILABLE = "MetricsAvailable"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    # agreements
    WORKLOAD_NOT_FOUND = "WorkloadNotFound"
    OUTSIDE_VALIDITY = "OutsideValidity"
    OBJECTIVE_BREACHED = "ObjectiveBreached"
    ALL_OBJECTIVES_MET = "AllObjectivesMet"
    SLA_BREACHED = "SLABreached"
    SLA_RECOVERED = "SLARecovered"
    BREACH_IGNORED = "BreachIgnored"  # a breach of an `ignore` objective: recorded, nothing changes
    SUSPENDED = "Suspended"  # a breach of a `suspend` objective: resizes and moves wait until it ends
    NOT_SUSPENDED = "NotSuspended"
    # the ledger
    RECORDED = "Recorded"
    BREACH_RECORDED = "BreachRecorded"
    LEDGER_PENDING = "LedgerPending"
    LEDGER_REJECTED = "LedgerRejected"
    ON_CHAIN = "OnChain"
    QUEUED = "Queued"
    RETRYING = "Retrying"
    ALL_RECORDED = "AllRecorded"
    CHAIN_UNREACHABLE = "ChainUnreachable"
    TERMINATED = "Terminated"
    TERMINATION_NOT_RECORDED = "TerminationNotRecorded"


class NamedMetric(StrEnum):
    """The named metrics an SLA objective may use instead of PromQL (orchestrator.qos turns each into
    PromQL over the workload's own series, per site); the value is what it means."""

    P95_LATENCY_MS = "p95_latency_ms"
    P50_LATENCY_MS = "p50_latency_ms"
    MEAN_LATENCY_MS = "mean_latency_ms"
    FAILURE_RATIO = "failure_ratio"


NAMED_METRIC_MEANING: dict[NamedMetric, str] = {
    NamedMetric.P95_LATENCY_MS: "95th percentile of the request latency, in ms",
    NamedMetric.P50_LATENCY_MS: "median request latency, in ms",
    NamedMetric.MEAN_LATENCY_MS: "mean request latency, in ms",
    NamedMetric.FAILURE_RATIO: "failed requests / all requests (0..1)",
}
"""Named metrics, each over the workload's `edgeorch_app_request_latency_seconds` histogram (and
`edgeorch_app_requests_failed_total`) in the objective's window."""
