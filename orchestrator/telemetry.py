"""The operator's own metrics (prometheus-client), served on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
QUEUE_DEPTH = Gauge("edgeorch_placement_queue_depth", "Placement requests waiting for the next batch.")
LEDGER_PENDING = Gauge("edgeorch_ledger_pending_records", "Ledger records waiting in SLA outboxes.")
REPAIRS = Counter("edgeorch_replica_repairs_total",
                  "Workloads re-placed because replicas were lost (node gone or NotReady, Pod failed, "
                  "Unschedulable or missing).")
