"""The time budget of one solve: the deadline, and the time each stage of the pipeline gets.

Owns: the solve's start on the wall clock (perf_counter), the search deadline (the limit less what
the bound and the result need), the contract's end (every solve returns by (1 + late_share) x the
limit + late_s, SolverConfig), and the conversion of shares of the limit into wall seconds and into
CP-SAT's deterministic seconds. Stages ask it for their slice instead of doing time arithmetic.

Deterministic budgets (`dtime`, `share`) depend on the limit only, so the same input and seed give
the same result; the wall-clock ends (`deadline`, `hard`, `pass_end`) are safety nets for a loaded
machine, and so is `slowness` (how much slower than estimated the baselines ran, at most max_slowness):
the late, cheap-to-skip stages (the greedy start where a baseline start exists, the placement-first
model) scale their wall-time estimates by it (issue 21: on a busy machine, single 2 s solves returned
after up to 2.43 s). The LP's decision does not: the baselines' estimate is linear in the pairs and
10,000 x 1,000 takes 3x it on an idle machine, which skipped the LP there (gap 2.7 % -> 57 %).

Must not: decide what runs (placement.pipeline's recipes do), or read any clock but perf_counter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from placement.tuning import TUNING, Tuning


@dataclass(slots=True)
class Budget:
    limit: float  # the time limit, seconds (SolverConfig.time_limit_s): the deterministic budgets
    start: float  # perf_counter when the solve started
    deadline: float  # the search stops here; the rest is the bound's and the result's
    hard: float  # stages that stop on deterministic budgets start no pass after this (a safety net)
    tuning: Tuning = TUNING
    wall: float = 0.0  # the wall-clock limit (SolverConfig.wall_limit_s, default the time limit): the safety nets
    slowness: float = 1.0  # measured wall time / estimated wall time of the baselines (>= 1: a busy machine)

    @classmethod
    def open(cls, limit: float, workloads: int, tuning: Tuning = TUNING, wall: float | None = None) -> Budget:
        """Start the clock for a solve of `workloads` workloads at `limit` seconds (`wall`: on the wall
        clock, default `limit`): keep the larger of reserve_share of the wall limit and the result's own
        time per workload, and at least half of it for the search."""
        t = tuning
        w = limit if wall is None else wall
        start = time.perf_counter()
        reserve = max(t.reserve_share * w, t.result_s_per_workload * workloads)
        deadline = start + max(0.5 * w, w - reserve)
        hard = start + (1.0 + t.late_share) * w + t.late_s - t.result_s - t.result_s_per_workload * workloads
        return cls(limit, start, deadline, hard, tuning, w)

    def set_aside(self, seconds: float) -> None:
        """Keep `seconds` for a stage that runs after the search (both ends move earlier)."""
        self.deadline -= seconds
        self.hard -= seconds

    def measured(self, estimate: float, actual: float) -> None:
        """A stage estimated at `estimate` wall seconds took `actual`: later `estimate`s are scaled by the
        ratio (at least 1, at most max_slowness), so on a busy machine late stages that cannot finish in
        what is left do not start (safety nets only)."""
        if estimate > 0:
            self.slowness = min(self.tuning.max_slowness, max(self.slowness, actual / estimate))

    def estimate(self, seconds: float) -> float:
        """`seconds` of a wall-time estimate on an idle machine, on this machine now."""
        return seconds * self.slowness

    def share(self, fraction: float) -> float:
        """Seconds of `fraction` of the time limit (for deterministic budgets and decisions)."""
        return fraction * self.limit

    def wall_share(self, fraction: float) -> float:
        """Wall seconds of `fraction` of the wall limit (for stages that stop on the clock)."""
        return fraction * self.wall

    def dtime(self, seconds: float) -> float:
        """CP-SAT's deterministic seconds for `seconds` of the limit (never the clock)."""
        return seconds * self.tuning.dtime_per_s

    def at(self, fraction: float) -> float:
        """The moment (perf_counter) `fraction` of the wall limit after the start."""
        return self.start + fraction * self.wall

    def left(self, until: float | None = None) -> float:
        """Wall seconds left before `until` (default: the search deadline)."""
        return (self.deadline if until is None else until) - time.perf_counter()

    def hard_less(self, seconds: float) -> float:
        """The safety net's end less `seconds` kept for what follows."""
        return self.hard - seconds

    @property
    def pass_end(self) -> float:
        """The last moment a CP-SAT pass may run to: the contract's end, reckoned from the deadline,
        less the result's time."""
        t = self.tuning
        return self.deadline + (t.reserve_share + t.late_share) * self.wall + t.late_s - t.result_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
