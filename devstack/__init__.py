"""edgeorch's developer and tester harness, apart from the operator.

Owns: the local control plane (`devstack.localstack`: etcd, kube-apiserver, controller-manager,
scheduler, kwok, Prometheus, the simulated city's exporter, anvil), the demo and its story, the
fault CLI, CRD generation from the resource models, and the `edgeorch` command that fronts them
(its `sla` commands are thin wrappers over `orchestrator`).

A top-level package rather than part of `sim/`: it drives the operator (starts it, generates its
CRDs, reads its statuses) as well as the simulator, while `sim` stays a leaf that only follows the
cluster.  Must not be imported by the operator's packages (`orchestrator`, `placement`,
`sla_contracts`; import-linter enforces it); nothing here runs in the operator image.
"""
