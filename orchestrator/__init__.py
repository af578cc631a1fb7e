"""edgeorch orchestrator: the operator's domain model, control loops and Kubernetes wrapper.

Owns: snapshots built from Kubernetes and Prometheus, the translation of a snapshot into a
placement instance, decisions (diffs with stable ids), the EdgeWorkload controller (the one writer
of EdgeWorkloads and their Pods), the SLA loop and its ledger outbox, offload intents, the loops
that ask it for new solves (EdgeSites: `sites`; users who move: `mobility`), and the single
Kubernetes wrapper (`orchestrator.kube`, the one place that handles API errors).

Must not: import Kopf or web3 directly (the ledger is reached through sla_contracts), import the
simulator (`sim`) or the developer harness (`devstack`), or run a solve on an event loop.
"""
