"""Issue 21: pure bin packing gets a search of its own (placement.binpack)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from placement import SolverConfig, Weights, binpack
from placement.generator import bin_packing, consolidation_weights, generate
from placement.pipeline import recipe_for
from placement.problem import Problem

CASES = [(r, exact, seed) for r in (1, 2, 3) for exact in (False, True) for seed in (0, 1, 2)]


def _items(resources: int, exact: bool, seed: int, n: int = 90) -> tuple[Problem, binpack.Items]:
    problem = Problem(bin_packing(n, resources, seed=seed, exact=exact), consolidation_weights())
    it = binpack.items(problem)
    assert it is not None
    return problem, it


def _valid(it: binpack.Items, bins: binpack.Bins) -> bool:
    every = sorted(i for b in bins for i in b)
    return every == list(range(len(it.sizes))) and all(bool(np.all(it.sizes[b].sum(axis=0) <= it.cap)) for b in bins)


def test_only_pure_bin_packing_is_recognised() -> None:
    _, it = _items(3, False, 0)
    assert it.sizes.shape == (90, 3)  # CPU, memory, GPU; Pods never bind
    assert binpack.items(Problem(generate(60, 12, seed=0), Weights())) is None
    latency_too = Weights(latency=1.0, cost=0.0, migration=0.0, active_nodes=1.0, energy=0.0, balance=0.0)
    assert binpack.items(Problem(bin_packing(30, 1, seed=0), latency_too)) is None


@pytest.mark.parametrize(("resources", "exact", "seed"), CASES)
def test_search_packs_every_item_within_capacity_in_no_more_bins_than_ffd(resources: int, exact: bool,
                                                                           seed: int) -> None:
    _, it = _items(resources, exact, seed)
    ffd = binpack.pack(it, binpack.decreasing(it)[0], best_fit=False)
    bins = binpack.solve(it, [], 50_000, 0, time.perf_counter() + 60)
    assert _valid(it, bins)
    assert len(bins) <= len(ffd)
    volume = max(math.ceil(float(it.sizes[:, r].sum()) / float(it.cap[r]) - 1e-9) for r in range(len(it.cap)))
    assert len(bins) >= volume


def test_same_budget_same_packing_and_more_budget_never_more_bins() -> None:
    for resources in (1, 3):
        _, it = _items(resources, False, 3, n=150)
        far = time.perf_counter() + 60
        small = binpack.solve(it, [], 20_000, 0, far)
        assert binpack.solve(it, [], 20_000, 0, far) == small
        assert len(binpack.solve(it, [], 200_000, 0, far)) <= len(small)


def test_the_bin_emptying_search_beats_the_decreasing_heuristics() -> None:
    # 300 items of uniform random size, one resource: ffd 94 nodes, the volume bound 92
    problem, it = _items(1, False, 0, n=300)
    first = min(len(binpack.pack(it, o, bf)) for o in binpack.decreasing(it) for bf in (False, True))
    bins = binpack.solve(it, [], 500_000, 0, time.perf_counter() + 60)
    assert _valid(it, bins) and len(bins) < first
    packed = binpack.assignment_of(problem, bins)
    assert binpack.bins_of(problem, packed) is not None and len(set(packed.values())) == len(bins)


def test_large_bin_packing_takes_its_own_recipe() -> None:
    problem = Problem(bin_packing(300, 2, seed=0), consolidation_weights())
    assert recipe_for(problem, SolverConfig(time_limit_s=1.0))[0] == "BIN_PACKING"
    assert recipe_for(Problem(generate(1_000, 200, seed=0), Weights()), SolverConfig())[0] == "COLD_LARGE"
