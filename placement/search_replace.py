"""The stages of a re-placement (some workloads already run somewhere).

Owns: running placement.replace (fix what may stay, free the affected, re-place them) as a stage, and
the bound a re-placement proves without an LP of its own: the earlier solve's LP prices
(`SolverConfig.prices`, placement.warm); the Lagrangian bound is a common stage (placement.stages).

Must not: read the clock but through the Budget.
"""

from __future__ import annotations

import math

from placement.budget import Budget
from placement.replace import replace_affected
from placement.stages import State
from placement.swaps import improve_swaps
from placement.warm import warm_bound


def replace_affected_stage(state: State, budget: Budget) -> None:
    """Re-place the affected workloads (and those in their way), then swaps and moves on the result.
    Its LP fallback, if it ran, proves the whole problem's bound and hands on its prices."""
    replaced = replace_affected(state.problem, state.config, budget)
    state.best = improve_swaps(state.problem, replaced.assignment)
    state.solved, state.bound, state.prices = replaced.solved, replaced.bound, replaced.prices
    state.own_lp = math.isfinite(state.bound)


def warm_start_bound(state: State, budget: Budget) -> None:
    """No LP ran: the bound from the earlier solve's prices."""
    if not state.own_lp and state.config.prices is not None:
        state.bound, state.prices = warm_bound(state.problem, state.config.prices), state.config.prices


def without_own_lp(state: State) -> bool:
    """The Lagrangian bound is worth its time: no LP of the whole problem ran."""
    return state.searching and not state.own_lp
