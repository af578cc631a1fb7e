"""edgeorch orchestrator: the domain model, the control loop and the CLI.

Owns: snapshots built from Kubernetes and Prometheus, the translation of a snapshot
into a placement instance, decisions (diffs with stable ids), the single Kubernetes
wrapper (`orchestrator.kube`, the one place that handles API errors), the local
control plane (`orchestrator.localstack`) and the `edgeorch` command.

Must not: import Kopf or web3 directly (the ledger is reached through sla_contracts),
or run a solve on an event loop.
"""
