"""The start of a large re-placement (where neither CP-SAT nor the swaps run): workloads freed
because moving pays (their users moved to other cells) are moved, not put back where they run."""

from __future__ import annotations

from placement import SolverConfig, Weights, solve
from placement.generator import churn, generate
from placement.objective import evaluate
from placement.problem import Problem
from placement.replace import _replace_start, _split


def test_improvable_workloads_move_in_the_start() -> None:
    inst = generate(1_000, 200, seed=0)
    cold = solve(inst, Weights(), SolverConfig(time_limit_s=2.0))
    moved, _ = churn(inst, dict(cold.assignment), fraction=0.05, seed=1)
    weights = Weights()
    problem = Problem(moved, weights)
    free, fixed, valid, gainers = _split(problem)
    assert gainers and gainers <= set(free)
    start = _replace_start(problem, list(free), dict(fixed), valid, gainers)
    stay = _replace_start(problem, list(free), dict(fixed), valid, set())  # every valid one kept
    objective = evaluate(moved, weights, start).objective
    assert objective < evaluate(moved, weights, stay).objective - 1.0
    names = {moved.workloads[wi].name: moved.workloads[wi] for wi in gainers}
    relocated = [n for n, w in names.items() if n in start and sorted(start[n]) != sorted(w.current)]
    assert relocated  # some find a better home (the others had no room where they would gain)
