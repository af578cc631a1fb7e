"""Priority bands (placement.priority): a lower-priority workload never holds a place that a
higher-priority one needs to be placed or to get nearer its users.  Hand-made cases (four apps, room
near the users for two), and a property against brute force: every band's placement is the best it
can get with the higher bands where they are and the lower bands ignored."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placement import (
    Instance,
    InvalidInstance,
    SolverConfig,
    Status,
    Weights,
    Workload,
    check_violations,
    solve,
)
from placement.objective import evaluate
from placement.pipeline import solve_band
from placement.priority import band_limits, bands, taken
from tests.placement.instances import instances, node, small
from tests.placement.test_exact import brute_force

CONFIG = SolverConfig(time_limit_s=1.0, workers=1)
EDGE = ("fe1-a", "fe1-b")
NODES = [node("fe1-a", "fe1", 2000, 4096, cost_per_cpu_hour=0.1), node("fe1-b", "fe1", 2000, 4096, cost_per_cpu_hour=0.1),
         node("cloud1-a", "cloud1", 64000, 262144, cost_per_cpu_hour=0.02)]


def app(name: str, priority: int, cpu_m: int, current: tuple[str, ...] = ()) -> Workload:
    return Workload(name, 1, cpu_m, 512, cells={"c1": 1.0}, priority=priority, current=current)


# the higher the priority, the larger the request: cost alone would give the far-edge to the small ones
APPS = [app("p200", 200, 1100), app("p400", 400, 1200), app("p700", 700, 1500), app("p900", 900, 1800)]


def on_edge(assignment: Any) -> set[str]:
    return {name for name, nodes in assignment.items() if set(nodes) <= set(EDGE)}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
def test_the_two_highest_priorities_get_the_far_edge_whatever_the_order(order: tuple[int, ...]) -> None:
    r = solve(small([APPS[i] for i in order], NODES), config=CONFIG)
    assert on_edge(r.assignment) == {"p700", "p900"}, r.assignment
    assert not r.unplaced and check_violations(small([APPS[i] for i in order], NODES), r) == []
    # without bands (one band of everything), the two smallest requests took it
    flat = solve(small([APPS[i] for i in order], NODES), config=replace(CONFIG, priority_band=10_000))
    assert on_edge(flat.assignment) == {"p200", "p400"}, flat.assignment


def test_a_raised_priority_moves_in_and_the_lowest_on_the_edge_moves_out() -> None:
    now = [replace(APPS[0], current=("fe1-a",)), replace(APPS[1], current=("cloud1-a",)),
           replace(APPS[2], current=("fe1-b",)), replace(APPS[3], current=("cloud1-a",))]
    r = solve(small(now, NODES), config=CONFIG)  # p200 holds a far-edge node that p900 needs
    assert on_edge(r.assignment) == {"p700", "p900"} and r.assignment["p700"] == ("fe1-b",), r.assignment
    assert r.migrations == 2  # p900 in, p200 out
    placed = [replace(w, current=r.assignment[w.name]) for w in now]
    raised = [*placed[:1], replace(placed[1], priority=950), *placed[2:]]  # p400 -> 950: band 9, above p700
    r = solve(small(raised, NODES), config=CONFIG)
    assert on_edge(r.assignment) == {"p400", "p900"}, r.assignment
    assert r.migrations == 2 and r.assignment["p700"] == ("cloud1-a",)  # p400 in, p700 out


def test_room_is_taken_only_where_needed_and_the_lowest_band_yields_first() -> None:
    r = solve(small([replace(APPS[0], current=("fe1-a",)), APPS[1]], NODES), config=CONFIG)
    assert r.assignment == {"p200": ("fe1-a",), "p400": ("fe1-b",)}  # a free node is as good: nobody moves
    placed = [replace(APPS[0], current=("fe1-a",)), replace(APPS[1], current=("fe1-b",)), APPS[2]]
    r = solve(small(placed, NODES), config=CONFIG)
    assert r.assignment == {"p700": ("fe1-a",), "p400": ("fe1-b",), "p200": ("cloud1-a",)}, r.assignment
    assert r.migrations == 1


def test_within_a_band_a_higher_priority_does_not_move_a_placed_one_out() -> None:
    now = [app("holder", 900, 1800, ("fe1-a",)), app("other", 900, 1800, ("fe1-b",)), app("newcomer", 950, 1800)]
    r = solve(small(now, NODES), config=CONFIG)
    assert r.assignment["holder"] == ("fe1-a",) and r.assignment["other"] == ("fe1-b",), r.assignment
    assert r.assignment["newcomer"] == ("cloud1-a",)


def test_a_lower_band_with_nowhere_else_to_go_is_displaced_and_says_by_whom() -> None:
    low = Workload("low", 1, 1500, 512, cells={"c1": 1.0}, max_latency_ms=2.0, priority=100, current=("fe1-a",))
    high = Workload("high", 1, 1500, 512, cells={"c1": 1.0}, max_latency_ms=2.0, priority=800)
    r = solve(small([low, high]), config=CONFIG)
    assert r.assignment == {"high": ("fe1-a",)} and r.displaced == ("low",)
    assert r.unplaced["low"].startswith("displaced by higher-priority high")


def test_one_band_is_solved_exactly_as_before() -> None:
    inst = small([replace(a, priority=a.priority % 100) for a in APPS], NODES)  # 0, 0, 0, 0
    assert len(bands(inst, 100)) == 1
    assert solve(inst, config=CONFIG).assignment == solve_band(inst, Weights(), CONFIG).assignment


def test_the_time_limit_is_shared_out_and_a_bad_band_width_is_named() -> None:
    limits = band_limits([1, 9], 1.0)
    assert sum(limits) <= 1.0 and limits[0] >= 0.08 and limits[1] > limits[0]
    with pytest.raises(InvalidInstance, match=r"config\.priority_band"):
        solve(small(APPS, NODES), config=replace(CONFIG, priority_band=0))


BANDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def contended(draw: st.DrawFn) -> Instance:
    """Little room near the users (one or two small far-edge nodes, a small MEC node), a cloud with
    room for all; up to four workloads of up to three bands wanting the near places, some running."""
    nodes = [node(f"fe1-{i}", "fe1", 2000, 4096, cost_per_cpu_hour=0.1) for i in range(draw(st.integers(1, 2)))]
    nodes += [node("mec1-a", "mec1", 2000, 8192, cost_per_cpu_hour=0.05),
              node("cloud1-a", "cloud1", 64000, 262144, cost_per_cpu_hour=0.02)]
    names = [n.name for n in nodes]
    workloads = []
    for i in range(draw(st.integers(2, 4))):
        replicas = draw(st.integers(1, 2))
        share = draw(st.sampled_from((0.0, 0.5, 1.0)))
        workloads.append(Workload(
            f"w{i}", replicas, draw(st.sampled_from((500, 1000, 1500, 2000))), 512,
            cells={c: v for c, v in (("c1", share), ("c2", 1.0 - share)) if v > 0},
            max_latency_ms=draw(st.sampled_from((None, None, 10.0))),
            priority=draw(st.integers(0, 299)), max_per_node=draw(st.sampled_from((None, 1))),
            current=tuple(draw(st.lists(st.sampled_from(names), min_size=replicas, max_size=replicas)))
            if draw(st.booleans()) else ()))
    return small(workloads, nodes)


@BANDED
@given(inst=st.one_of(contended(), instances(max_workloads=4, max_nodes=3, max_replicas=2)), data=st.data())
def test_no_lower_band_holds_a_place_a_higher_band_needs(inst: Instance, data: st.DataObject) -> None:
    """Each band's objective in the result is the brute-force optimum of that band alone on the
    capacity the higher bands' placement (in the result) leaves: had a lower band's replica been
    somewhere a higher-band workload could use to be placed or to gain, this optimum would be lower."""
    if all(w.priority < 3 for w in inst.workloads):  # the generic instances: priorities 0-2, spread them out
        prios = data.draw(st.lists(st.integers(0, 299), min_size=len(inst.workloads), max_size=len(inst.workloads)))
        inst = inst.replace_workloads([replace(w, priority=p) for w, p in zip(inst.workloads, prios, strict=True)])
    weights = Weights()
    result = solve(inst, weights, SolverConfig(time_limit_s=6.0, workers=1, incremental=False))
    assert check_violations(inst, result) == []
    assert result.bound <= result.objective + 1e-6
    nodes = inst.nodes
    for group in bands(inst, 100):
        sub = Instance(nodes, inst.sites, tuple(inst.workloads[wi] for wi in group), inst.latency_ms,
                       inst.bandwidth_mbps, inst.excluded_sites, inst.site_penalty_ms)
        mine = {w.name: result.assignment[w.name] for w in sub.workloads if w.name in result.assignment}
        got = evaluate(sub, weights, mine).objective
        best = brute_force(sub, weights)
        assert math.isclose(got, best, rel_tol=1e-6, abs_tol=1e-6), (got, best, [w.priority for w in sub.workloads])
        nodes = taken(nodes, sub, mine)
    if len(bands(inst, 100)) > 1:
        assert result.status in (Status.OPTIMAL, Status.INFEASIBLE)
