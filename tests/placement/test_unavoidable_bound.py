"""Workloads that cannot run even alone: every solution pays their penalties, so every result's
bound counts them whole (an LP that places part of such a workload pays only part)."""

from __future__ import annotations

from placement import SOLVERS, SolverConfig, Weights, solve
from placement.generator import generate
from placement.problem import Problem


def test_the_bound_counts_the_penalties_of_workloads_that_cannot_run_even_alone() -> None:
    inst = generate(100, 200, seed=0)  # 3 workloads whose spread leaves too few nodes, even alone
    problem = Problem(inst, Weights())
    alone = problem.alone_replicas()
    hopeless = [w.name for wi, w in enumerate(inst.workloads) if alone[wi] < w.replicas]
    assert hopeless, "no workload is hopeless here any more: the test covers nothing"
    unavoidable = sum(problem.penalty[n] for n in hopeless)
    result = solve(inst, Weights(), SolverConfig(time_limit_s=0.4, seed=0))
    assert set(result.unplaced) >= set(hopeless)
    assert unavoidable <= result.bound <= result.objective
    assert result.gap < 0.01  # was 0.50 with the LP's bound, which paid half of one penalty
    for name in ("ffd", "kube"):
        other = SOLVERS[name](inst, Weights(), SolverConfig(time_limit_s=0.4, seed=0, solver=name))
        assert unavoidable <= other.bound <= other.objective
