"""edgeorch placement core: decides on which node every replica runs.

Owns: the validated placement instance (nodes, sites, cells, workloads, weights), the
filter plugins that prune impossible workload/node pairs, the CP-SAT model, the
baseline heuristics and the always-complete result with explanations. The `cpsat`
solver is a pipeline of named stages (placement.pipeline: its recipes; placement.budget:
the time each stage gets; placement.tuning: every tuning constant), run per priority band, the
highest first (placement.priority: a lower band never holds room a higher band could use).

Must not: do any I/O. No Kubernetes, no chain, no Prometheus, no HTTP, no files,
no clocks other than the solver's own wall-time measurement. The same input and
seed give the same result when the deterministic budgets stop the search, not the wall
clock's safety nets (SolverConfig). Enforced by import-linter (pyproject.toml).
"""

from collections.abc import Callable

from placement.baselines import BASELINES
from placement.filters import DEFAULT_PLUGINS, Code, FilterPlugin, FilterStatus
from placement.model import (
    TIERS,
    Instance,
    InvalidInstance,
    Node,
    Prices,
    Site,
    SolverConfig,
    SolveResult,
    Status,
    Weights,
    Workload,
)
from placement.objective import evaluate
from placement.pipeline import solve_cpsat
from placement.violations import check_violations

SolverFn = Callable[[Instance, Weights, SolverConfig], SolveResult]

SOLVERS: dict[str, SolverFn] = {"cpsat": solve_cpsat, **BASELINES}


def solve(instance: Instance, weights: Weights | None = None, config: SolverConfig | None = None) -> SolveResult:
    """Place every workload of `instance` with the solver named in `config` (default CP-SAT)."""
    weights = weights or Weights()
    config = config or SolverConfig()
    try:
        fn = SOLVERS[config.solver]
    except KeyError:
        raise InvalidInstance("config.solver", f"unknown solver {config.solver!r}, one of {sorted(SOLVERS)}") from None
    return fn(instance, weights, config)


__all__ = [
    "DEFAULT_PLUGINS",
    "SOLVERS",
    "TIERS",
    "Code",
    "FilterPlugin",
    "FilterStatus",
    "Instance",
    "InvalidInstance",
    "Node",
    "Prices",
    "Site",
    "SolveResult",
    "SolverConfig",
    "Status",
    "Weights",
    "Workload",
    "check_violations",
    "evaluate",
    "solve",
]
