"""edgeorch placement core: decides on which node every replica runs.

Owns: the validated placement instance (nodes, sites, cells, workloads, weights), the
filter plugins that prune impossible workload/node pairs, the CP-SAT model, the
baseline heuristics and the always-complete result with explanations.

Must not: do any I/O. No Kubernetes, no chain, no Prometheus, no HTTP, no files,
no clocks other than the solver's own wall-time measurement. The same input and
seed give the same result. Enforced by import-linter (pyproject.toml).
"""
