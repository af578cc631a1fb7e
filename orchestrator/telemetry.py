"""The operator's own metrics (prometheus-client), served on /metrics.

Counters with labels are created for every label value up front, so each series exists (at 0) from the
start: dashboards and alert rules (deploy/monitoring) see data before the first breach or error.
`ClusterCollector` adds gauges computed at scrape time from the operator's watch indices (replicas per
site and tier, workloads per phase, the Unplaceable ones), so nothing has to keep them in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.resources.sla import LEVELS
from orchestrator.vocabulary import Phase

SOLVE_SECONDS = Histogram(
    "edgeorch_solve_seconds", "Wall time of one placement solve (a batch).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
SOLVE_GAP = Gauge("edgeorch_solve_gap", "Relative optimality gap of the last solve.")
BATCH_SIZE = Histogram(
    "edgeorch_batch_size", "Workloads solved together in one batch.", buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
)
PLACEMENTS = Counter("edgeorch_placements_total", "Placement decisions applied.", ["result"])
MIGRATIONS = Counter("edgeorch_migrations_total", "Replica migrations applied.")
BREACHES = Counter("edgeorch_breaches_total", "SLA breaches detected.", ["severity"])
RECONCILE_ERRORS = Counter("edgeorch_reconcile_errors_total", "Reconciliations that failed.", ["kind"])
QUEUE_DEPTH = Gauge("edgeorch_placement_queue_depth",
                    "Workloads waiting: for the workload controller, and for the next placement batch.")
LEDGER_PENDING = Gauge("edgeorch_ledger_pending_records", "Ledger records waiting in SLA outboxes.")
REPAIRS = Counter("edgeorch_replica_repairs_total",
                  "Workloads re-placed because replicas were lost (node gone or NotReady, Pod failed, "
                  "Unschedulable or missing).")
LEADER = Gauge("edgeorch_leader", "1 while this operator process holds the leader Lease and acts, 0 on a standby "
               "(orchestrator.leader).")
SLA_COMPLIANCE = Gauge("edgeorch_sla_compliance",
                       "Compliance of an agreement (status.compliance: moving share of objectives met, 0..1).",
                       ["namespace", "sla", "workload"])

for _result in ("placed", "unplaceable"):
    PLACEMENTS.labels(_result)
for _level in LEVELS:
    BREACHES.labels(_level)
for _kind in ("internal", "metrics", "kubernetes"):
    RECONCILE_ERRORS.labels(_kind)

SiteTier = tuple[str, str]


class ClusterCollector(Collector):
    """Gauges read from the operator's view of the cluster at each scrape."""

    def __init__(self, replicas: Callable[[], Mapping[SiteTier, int]], phases: Callable[[], Mapping[str, str]]) -> None:
        self.replicas = replicas  # (site, tier) -> replicas placed there
        self.phases = phases  # "namespace/name" -> phase of every EdgeWorkload

    def collect(self) -> Iterator[Metric]:
        placed = GaugeMetricFamily("edgeorch_replicas", "Replicas placed (EdgeWorkloads' status.placements), "
                                   "per site and tier.", labels=["site", "tier"])
        for (site, tier), count in sorted(self.replicas().items()):
            placed.add_metric([site, tier], count)
        yield placed
        phases = self.phases()
        counts = dict.fromkeys((p.value for p in Phase), 0)
        unplaceable = GaugeMetricFamily("edgeorch_workload_unplaceable", "1 for each EdgeWorkload in phase "
                                        "Unplaceable (no placement meets its constraints).",
                                        labels=["namespace", "workload"])
        for key, phase in sorted(phases.items()):
            counts[phase] = counts.get(phase, 0) + 1
            if phase == Phase.UNPLACEABLE:
                namespace, _, name = key.partition("/")
                unplaceable.add_metric([namespace, name], 1)
        workloads = GaugeMetricFamily("edgeorch_workloads", "EdgeWorkloads per phase.", labels=["phase"])
        for phase, count in sorted(counts.items()):
            workloads.add_metric([phase], count)
        yield workloads
        yield unplaceable

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("edgeorch_replicas", "", labels=["site", "tier"])
        yield GaugeMetricFamily("edgeorch_workloads", "", labels=["phase"])
        yield GaugeMetricFamily("edgeorch_workload_unplaceable", "", labels=["namespace", "workload"])
