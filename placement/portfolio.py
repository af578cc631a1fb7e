"""Starts and floors: the greedy portfolio of starts, the baselines' solutions as candidate starts,
and the guard that keeps every result at least as good as the best of them (issue 21: at loads
0.8-1.05 the LP rounding left placeable priority workloads out where the kube-like baseline placed
them, 1.3x-40x worse than that baseline).

Every baseline is deterministic and cheap next to the search (1,000 x 200: 0.02-0.07 s each;
10,000 x 1,000: 1-2 s each), so the solver scores all of them on its own problem (same filters,
same penalties) and starts from, or falls back to, the best.
"""

from __future__ import annotations

from placement.baselines import ASSIGNERS, regret_greedy
from placement.objective import evaluate
from placement.problem import Problem, left_out
from placement.tuning import TUNING as T

Assignment = dict[str, tuple[str, ...]]


def value_of(problem: Problem, assignment: Assignment) -> float:
    """The shared objective of `assignment` (the one every solver is scored with)."""
    return evaluate(problem.instance, problem.weights, assignment, problem.penalty).objective


def best_baseline(problem: Problem) -> tuple[Assignment, float, str]:
    """The best baseline solution on `problem`: (assignment, objective, baseline name); ties go to
    the first in ASSIGNERS order (deterministic)."""
    best: tuple[Assignment, float, str] | None = None
    for name, assign in ASSIGNERS.items():
        candidate = assign(problem)
        value = value_of(problem, candidate)
        if best is None or value < best[1] - 1e-9:
            best = (candidate, value, name)
    assert best is not None
    return best


def no_worse(problem: Problem, assignment: Assignment, floor: Assignment, floor_value: float) -> Assignment:
    """`assignment`, unless the baseline solution `floor` is better by the exact objective."""
    return floor if floor_value < value_of(problem, assignment) - 1e-9 else assignment


def better(problem: Problem, a: Assignment, b: Assignment) -> bool:
    """Whether `a` is better than `b` by the exact objective (CP-SAT's is integer-scaled)."""
    return value_of(problem, a) < value_of(problem, b) - 1e-9


def best_start(problem: Problem, floor: Assignment) -> Assignment:
    """The best of three greedy orders and the best baseline solution `floor`, by the shared
    objective, then retried with the left-out workloads first (a portfolio of hints)."""
    starts = [regret_greedy(problem, order) for order in ("candidates", "tight", "regret")]
    starts.append(floor)
    scored = [(value_of(problem, a), i) for i, a in enumerate(starts)]
    best_value, best_i = min(scored)
    best = starts[best_i]
    first: list[int] = []
    for _ in range(T.start_repair_rounds):
        missing = left_out(problem, best)
        if not missing:
            break
        first = first + [wi for wi in missing if wi not in first]
        trial = regret_greedy(problem, "regret", first=first)
        value = value_of(problem, trial)
        if value < best_value:
            best, best_value = trial, value
    return best
