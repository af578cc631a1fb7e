"""Hand-made scenarios: explanations, priorities, offloading away from a degraded site, re-placement."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from placement import (
    SOLVERS,
    Instance,
    SolverConfig,
    SolveResult,
    Status,
    Weights,
    Workload,
    check_violations,
    solve,
)
from placement.generator import churn, generate
from placement.objective import evaluate
from tests.placement.instances import node, small

CONFIG = SolverConfig(time_limit_s=2.0)


def wl(name: str, **kw: Any) -> Workload:
    base: dict[str, Any] = {"replicas": 1, "cpu_m": 500, "memory_mb": 512, "cells": {"c1": 1.0}}
    base.update(kw)
    return Workload(name, **base)


def test_feasible_instance_is_optimal_and_prefers_low_latency() -> None:
    inst = small([wl("cam", replicas=2, max_latency_ms=6.0), wl("batch", cpu_m=4000)])
    r = solve(inst, config=CONFIG)
    assert r.status is Status.OPTIMAL
    assert r.unplaced == {}
    assert r.assignment["cam"] == ("fe1-a", "fe1-a")
    assert r.predicted_latency_ms["cam"] == pytest.approx(1.0)
    assert r.gap <= 1e-3


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_unplaceable_workloads_get_reasons_naming_the_constraint(solver: str) -> None:
    inst = small([
        wl("too-far", max_latency_ms=0.5),
        wl("sovereign", allowed_zones=frozenset({"fr-par"})),
        wl("huge", cpu_m=9000, max_latency_ms=10.0, allowed_zones=frozenset({"es-bcn"})),
        wl("spread", replicas=3, max_per_site=1, allowed_tiers=frozenset({"far-edge", "edge"})),
    ])
    r = SOLVERS[solver](inst, Weights(), CONFIG)
    assert r.status is Status.INFEASIBLE
    assert set(r.unplaced) == {"too-far", "sovereign", "huge", "spread"}
    assert "within 0.5 ms of cell c1" in r.unplaced["too-far"]
    assert "zone fr-par" in r.unplaced["sovereign"]
    assert r.unplaced["huge"].startswith("ResourceFit: no node in zone es-bcn within 10 ms of cell c1 has 9 CPUs")
    assert "max_per_site=1" in r.unplaced["spread"] and "2 of 3 replicas" in r.unplaced["spread"]
    assert check_violations(inst, r) == []


def test_capacity_reason_names_the_workloads_in_the_way() -> None:
    inst = small([wl("first", cpu_m=1500, max_latency_ms=2.0, priority=5),
                  wl("second", cpu_m=1500, max_latency_ms=2.0)])
    r = solve(inst, config=CONFIG)
    assert r.assignment == {"first": ("fe1-a",)}
    assert r.unplaced["second"].startswith("Capacity: the 1 feasible nodes (fe1-a) have no room left")
    assert "first (priority 5)" in r.unplaced["second"]


def test_higher_priority_displaces_lower_priority_and_says_so() -> None:
    low = wl("low", cpu_m=1500, max_latency_ms=2.0, priority=0, current=("fe1-a",))
    high = wl("high", cpu_m=1500, max_latency_ms=2.0, priority=3)
    inst = small([low, high])
    for incremental in (True, False):
        r = solve(inst, config=SolverConfig(time_limit_s=2.0, incremental=incremental))
        assert r.assignment == {"high": ("fe1-a",)}
        assert r.displaced == ("low",)
        assert r.unplaced["low"].startswith("displaced by higher-priority high")


def test_excluded_site_and_penalty_steer_workloads_away() -> None:
    app = wl("app", max_latency_ms=8.0, current=("fe1-a",))
    assert solve(small([app]), config=CONFIG).assignment["app"] == ("fe1-a",)
    moved = solve(small([app], excluded_sites=frozenset({"fe1"})), config=CONFIG)
    assert moved.assignment["app"] == ("mec1-a",)
    assert moved.migrations == 1
    penalised = solve(small([app], site_penalty_ms={"fe1": 10.0}), config=CONFIG)  # 11 ms > 8 ms
    assert penalised.assignment["app"] == ("mec1-a",)
    assert penalised.predicted_latency_ms["app"] == pytest.approx(5.0)
    # still within the bound: moves only when the latency gain (7 -> 5 ms) beats the migration cost
    assert solve(small([app], site_penalty_ms={"fe1": 6.0}), Weights(migration=3.0), CONFIG).migrations == 0
    assert solve(small([app], site_penalty_ms={"fe1": 6.0}), Weights(migration=1.0), CONFIG).migrations == 1
    blocked = solve(small([app], site_penalty_ms={"fe1": 20.0, "mec1": 20.0}), config=CONFIG)
    assert "app" in blocked.unplaced and "within 8 ms" in blocked.unplaced["app"]


def test_migration_weight_keeps_a_good_enough_placement() -> None:
    app = wl("app", current=("mec1-a",))
    sticky = solve(small([app]), Weights(migration=100.0), CONFIG)
    assert sticky.assignment["app"] == ("mec1-a",) and sticky.migrations == 0
    free = solve(small([app]), Weights(migration=0.0), CONFIG)
    assert free.assignment["app"] == ("fe1-a",)


def test_consolidation_packs_onto_fewest_nodes() -> None:
    nodes = [node(f"c{i}", "cloud1", 4000, 8192, idle_power_w=100.0) for i in range(4)]
    items = [wl(f"w{i}", cpu_m=c, memory_mb=100) for i, c in enumerate((2000, 2000, 1500, 1500, 1000))]
    inst = small(items, nodes=nodes)
    r = solve(inst, Weights(latency=0.0, cost=0.0, active_nodes=10.0, energy=1.0), CONFIG)
    assert r.status is Status.OPTIMAL
    assert len({n for ns in r.assignment.values() for n in ns}) == 2  # 8000m on 4000m nodes
    assert r.breakdown["active_nodes"] == pytest.approx(20.0)


def test_replacement_keeps_unaffected_workloads_and_moves_affected_ones() -> None:
    inst = generate(60, 20, seed=3)
    cold = solve(inst, config=CONFIG)
    moved, changed = churn(inst, dict(cold.assignment), fraction=0.1, seed=2)
    warm = solve(moved, config=CONFIG)
    assert check_violations(moved, warm) == []
    assert warm.migrations <= 2 * sum(w.replicas for w in moved.workloads if w.name in changed)
    # an unchanged workload moves only when that pays: putting it back where it ran, everything
    # else as it is, either breaks a constraint or does not improve the objective (here the
    # optimum moves most of them, to place workloads of higher priority)
    unchanged = [w.name for w in moved.workloads if w.name not in changed and w.name in cold.assignment]
    for name in unchanged:
        if name not in warm.assignment or Counter(warm.assignment[name]) == Counter(cold.assignment[name]):
            continue
        back = {**warm.assignment, name: cold.assignment[name]}
        fake = SolveResult(Status.FEASIBLE, back, {}, 0.0, 0.0, 0.0, {}, 0.0,
                           {w.name: "out" for w in moved.workloads if w.name not in back}, (), 0, "test")
        if not check_violations(moved, fake):
            assert evaluate(moved, Weights(), back).objective >= warm.objective - 1e-6, name
    # the affected ones move: none stays where its constraints no longer hold
    invalid = [w.name for w in moved.workloads if w.current and broken(moved, w.name, w.current)
               and not broken(inst, w.name, w.current)]
    assert invalid, "the churn should have made some placements invalid"
    assert all(warm.assignment.get(n) != cold.assignment[n] for n in invalid)


def broken(inst: Instance, name: str, nodes: tuple[str, ...]) -> list[str]:
    """The hard constraints `name` alone breaks on `nodes` (other workloads left out)."""
    others = {w.name: "left out" for w in inst.workloads if w.name != name}
    fake = SolveResult(Status.FEASIBLE, {name: nodes}, {}, 0.0, 0.0, 0.0, {}, 0.0, others, (), 0, "test")
    return check_violations(inst, fake)


def test_generator_is_seeded() -> None:
    assert generate(30, 10, seed=1) == generate(30, 10, seed=1)
    assert generate(30, 10, seed=1) != generate(30, 10, seed=2)


def test_repair_moves_a_small_workload_to_fit_a_left_out_one() -> None:
    from placement.objective import evaluate
    from placement.problem import Problem
    from placement.rounding import repair

    inst = small([wl("small", cpu_m=1000), wl("big", cpu_m=2000, max_latency_ms=2.0)])
    problem = Problem(inst, Weights())
    start = {"small": ("fe1-a",)}  # greedy-like: the small one took the only node the big one can use
    fixed = repair(problem, start)
    assert fixed == {"big": ("fe1-a",), "small": ("mec1-a",)}
    assert evaluate(inst, Weights(), fixed).objective < evaluate(inst, Weights(), start).objective
    # nothing better to do: a feasible complete assignment is returned unchanged
    assert repair(problem, fixed) == fixed


def test_replacement_moves_replicas_off_a_node_they_overload() -> None:
    """A current placement that no longer fits (two GPU replicas on a one-GPU node) is not kept."""
    nodes = [node("fe1-a", "fe1", gpu=1), node("mec1-a", "mec1", 8000, 16384, gpu=1)]
    w = Workload("w", 2, 250, 256, gpu=1, cells={"c1": 1.0}, current=("fe1-a", "fe1-a"))
    inst = small([w], nodes)
    result = solve(inst, config=CONFIG)
    assert check_violations(inst, result) == []
    assert sorted(result.assignment["w"]) == ["fe1-a", "mec1-a"]


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_no_node_gets_more_pods_than_it_allows(solver: str) -> None:
    """Kubernetes' allocatable `pods` (110 by default) is a capacity like CPU: the kube-scheduler
    refuses a Pod past it ("Too many pods"), so placement must not plan one."""
    nodes = [node("fe1-a", "fe1", 8000, 16384, pods=3, used_pods=1, cost_per_cpu_hour=0.01),
             node("mec1-a", "mec1", 8000, 16384, pods=2, cost_per_cpu_hour=0.05),
             node("cloud1-a", "cloud1", 64000, 262144, cost_per_cpu_hour=0.02)]
    small_ones = [wl(f"w{i}", cpu_m=100, memory_mb=64) for i in range(6)]
    inst = small(small_ones, nodes)
    r = SOLVERS[solver](inst, Weights(), CONFIG)
    assert check_violations(inst, r) == []
    per_node = Counter(n for placed in r.assignment.values() for n in placed)
    assert per_node["fe1-a"] <= 2 and per_node["mec1-a"] <= 2
    assert len(r.assignment) == 6  # the cloud node has no limit


def test_a_full_node_is_named_as_the_reason() -> None:
    nodes = [node("fe1-a", "fe1", 8000, 16384, pods=1)]
    inst = small([wl("a", allowed_tiers=frozenset({"far-edge"})), wl("b", allowed_tiers=frozenset({"far-edge"}))],
                 nodes)
    r = solve(inst, config=CONFIG)
    assert check_violations(inst, r) == []
    assert len(r.assignment) == 1 and len(r.unplaced) == 1
    assert "allocatable pods" in next(iter(r.unplaced.values()))


def test_violation_checker_counts_pods() -> None:
    nodes = [node("fe1-a", "fe1", 8000, 16384, pods=2, used_pods=1)]
    inst = small([wl("a", replicas=2)], nodes)
    fake = SolveResult(Status.FEASIBLE, {"a": ("fe1-a", "fe1-a")}, {}, 0.0, 0.0, 0.0, {}, 0.0, {}, (), 0, "fake")
    assert any("Pods 1+2 > 2" in v for v in check_violations(inst, fake))
