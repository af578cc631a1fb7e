"""The quick CP-SAT try on small models: it runs where it can prove optimality (few pairs, or a
limit long enough for the second CP-SAT pass), not on an online batch's short limit once the model
is too large for it to prove anything there."""

from __future__ import annotations

from typing import Any

from placement import SolverConfig, Status, Weights, check_violations, solve
from placement.generator import generate
from placement.pipeline import recipe_for
from placement.problem import Problem
from placement.tuning import TUNING


def _quick_tries(inst: Any, limit: float) -> bool:
    """Whether the recipe chosen for `inst` at `limit` has the quick CP-SAT try."""
    _name, recipe = recipe_for(Problem(inst, Weights()), SolverConfig(time_limit_s=limit, seed=0))
    return "quick CP-SAT" in [stage.name for stage in recipe]


def _pairs(n_w: int, n_n: int, seed: int) -> tuple[Any, int]:
    inst = generate(n_w, n_n, seed=seed)
    problem = Problem(inst, Weights())
    return inst, sum(len(problem.candidates(wi)) for wi in range(n_w))


def test_an_online_batch_too_large_to_prove_skips_the_quick_try() -> None:
    inst, pairs = _pairs(33, 200, 1)
    assert TUNING.quick_pairs < pairs <= 4_000, f"{pairs} pairs: not the small path above Tuning.quick_pairs any more"
    result = solve(inst, Weights(), SolverConfig(time_limit_s=0.15, seed=0))
    assert not _quick_tries(inst, 0.15)
    assert check_violations(inst, result) == []
    assert dict(result.unplaced) == {}
    assert result.status == Status.FEASIBLE and 0.0 < result.gap < 0.05  # the LP's bound, proven
    again = solve(inst, Weights(), SolverConfig(time_limit_s=0.15, seed=0))
    assert dict(again.assignment) == dict(result.assignment)  # same input and seed, same result


def test_a_tiny_batch_still_gets_the_quick_try() -> None:
    inst, pairs = _pairs(12, 200, 0)
    assert pairs <= TUNING.quick_pairs
    result = solve(inst, Weights(), SolverConfig(time_limit_s=0.15, seed=0))
    assert _quick_tries(inst, 0.15)
    assert check_violations(inst, result) == []


def test_a_limit_with_a_second_pass_keeps_the_quick_try() -> None:
    inst, pairs = _pairs(33, 200, 1)
    assert pairs > TUNING.quick_pairs
    result = solve(inst, Weights(), SolverConfig(time_limit_s=1.0, seed=0))
    assert _quick_tries(inst, 1.0)
    assert check_violations(inst, result) == []
