"""The swap and move local search keeps every constraint, never makes the objective worse,
and is deterministic."""

from __future__ import annotations

from dataclasses import replace

import pytest

from placement import SolveResult, Status, Weights, check_violations, evaluate
from placement.baselines import ASSIGNERS
from placement.generator import generate
from placement.problem import Problem
from placement.swaps import _State, applicable, improve_swaps


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("assigner", ["ffd", "greedy-latency"])
@pytest.mark.parametrize("pods", [None, 6])
def test_swaps_stay_feasible_and_never_worse(seed: int, assigner: str, pods: int | None) -> None:
    inst = generate(300, 60, seed=seed)
    if pods is not None:  # a tight Pod limit on every node (a move needs a free Pod slot)
        inst = replace(inst, nodes=tuple(replace(n, pods=pods) for n in inst.nodes))
    weights = Weights(active_nodes=3.0)
    problem = Problem(inst, weights)
    assert applicable(problem)
    start = ASSIGNERS[assigner](problem)
    out = improve_swaps(problem, dict(start))
    assert set(out) == set(start)
    assert all(len(out[name]) == len(start[name]) for name in start)
    fake = SolveResult(Status.FEASIBLE, out, {}, 0.0, 0.0, 0.0, {}, 0.0,
                       {w.name: "x" for w in inst.workloads if w.name not in out}, (), 0, "swaps")
    assert check_violations(inst, fake) == []
    before = evaluate(inst, weights, start).objective
    after = evaluate(inst, weights, out).objective
    assert after < before - 1e-6, "these greedy starts leave swaps or moves that pay"
    assert improve_swaps(problem, dict(start)) == out


def test_swaps_skip_balance() -> None:
    inst = generate(50, 20, seed=0)
    assert not applicable(Problem(inst, Weights(balance=1.0)))


def _running(inst, placed):  # type: ignore[no-untyped-def]
    """`inst` with every placed workload running where `placed` put it."""
    return replace(inst, workloads=tuple(replace(w, current=tuple(placed[w.name])) if w.name in placed else w
                                         for w in inst.workloads))


def test_swaps_on_a_replacement_count_migrations() -> None:
    inst = generate(300, 60, seed=0)
    start = ASSIGNERS["ffd"](Problem(inst, Weights()))
    running = _running(inst, start)
    # moving costs far more than any replica can gain: what runs stays
    assert improve_swaps(Problem(running, Weights(migration=1e6)), dict(start)) == dict(start)
    # a migration's usual price: some moves pay, and the exact objective (migrations included) improves
    weights = Weights()
    problem = Problem(running, weights)
    out = improve_swaps(problem, dict(start))
    before = evaluate(running, weights, start).objective
    after = evaluate(running, weights, out).objective
    assert after < before - 1e-6
    assert out != start
    fake = SolveResult(Status.FEASIBLE, out, {}, 0.0, 0.0, 0.0, {}, 0.0,
                       {w.name: "x" for w in running.workloads if w.name not in out}, (), 0, "swaps")
    assert check_violations(running, fake) == []


def test_swaps_bring_a_moved_replica_back_home() -> None:
    inst = generate(300, 60, seed=1)
    start = dict(ASSIGNERS["ffd"](Problem(inst, Weights())))
    running = _running(inst, start)
    problem = Problem(running, Weights(migration=1e6))  # only moving back pays
    st = _State(problem, start)
    cat = problem.cat
    name, away = next((w.name, b) for wi, w in enumerate(running.workloads) if w.replicas == 1 and w.name in start
                      for b in problem.candidates(wi).tolist()
                      if b != cat.node_index[start[w.name][0]] and st.fits(wi, b)
                      and st.spread_ok(wi, cat.node_index[start[w.name][0]], b))
    moved = {**start, name: (cat.node_names[away],)}
    back = improve_swaps(problem, moved)
    assert {k: tuple(sorted(v)) for k, v in back.items()} == {k: tuple(sorted(v)) for k, v in start.items()}


def test_an_ejection_brings_a_replica_in_from_the_cloud() -> None:
    """The far-edge node is full of two small workloads that lose little at the MEC; the big one,
    stuck in the cloud, gains much at the far edge (the MEC lacks the memory it needs). No swap or
    plain move gets there (it does not fit in place of either small one alone); moving both small
    ones out first does."""
    from placement.model import Instance, Node, Site, Workload
    from placement.swaps import _eject_pass, _move_pass, _swap_pass

    sites = (Site("fe", "far-edge", "z"), Site("mec", "edge", "z"), Site("cloud", "cloud", "z"))
    nodes = (Node("fe-n", "fe", "far-edge", "z", 2000, 4096), Node("mec-n", "mec", "edge", "z", 8000, 2048),
             Node("cloud-n", "cloud", "cloud", "z", 64000, 262144))
    lat = {"c": {"fe": 1.0, "mec": 3.0, "cloud": 30.0}}
    bw = {"c": {"fe": 1000.0, "mec": 1000.0, "cloud": 1000.0}}
    wls = (Workload("big", 1, 1500, 3000, cells={"c": 1.0}), Workload("s1", 1, 1000, 512, cells={"c": 1.0}),
           Workload("s2", 1, 1000, 512, cells={"c": 1.0}))
    inst = Instance(nodes, sites, wls, lat, bw)
    weights = Weights(active_nodes=0.0)
    problem = Problem(inst, weights)
    start = {"big": ("cloud-n",), "s1": ("fe-n",), "s2": ("fe-n",)}
    st = _State(problem, start)
    assert _swap_pass(st) == 0.0 and _move_pass(st) == 0.0  # neither finds it
    gain = _eject_pass(st)
    assert gain > 20.0  # 29 ms gained, 2 x 2 ms lost (and a little CPU price)
    out = improve_swaps(problem, dict(start))
    assert out == {"big": ("fe-n",), "s1": ("mec-n",), "s2": ("mec-n",)}  # both make way (500 m left)
    before, after = evaluate(inst, weights, start).objective, evaluate(inst, weights, out).objective
    assert after == pytest.approx(before - gain, abs=1e-6)
    fake = SolveResult(Status.FEASIBLE, out, {}, 0.0, 0.0, 0.0, {}, 0.0, {}, (), 0, "swaps")
    assert check_violations(inst, fake) == []


@pytest.mark.parametrize("migration", [0.0, 5.0, 10.0])
def test_an_ejection_in_a_replacement_pays_for_its_migrations(migration: float) -> None:
    """The same city with all three running where they are: the ejection moves three replicas, so
    it happens exactly when its gain without migrations (about 25) beats three migrations."""
    from placement.model import Instance, Node, Site, Workload

    sites = (Site("fe", "far-edge", "z"), Site("mec", "edge", "z"), Site("cloud", "cloud", "z"))
    nodes = (Node("fe-n", "fe", "far-edge", "z", 2000, 4096), Node("mec-n", "mec", "edge", "z", 8000, 2048),
             Node("cloud-n", "cloud", "cloud", "z", 64000, 262144))
    lat = {"c": {"fe": 1.0, "mec": 3.0, "cloud": 30.0}}
    bw = {"c": {"fe": 1000.0, "mec": 1000.0, "cloud": 1000.0}}
    start = {"big": ("cloud-n",), "s1": ("fe-n",), "s2": ("fe-n",)}
    wls = (Workload("big", 1, 1500, 3000, cells={"c": 1.0}, current=start["big"]),
           Workload("s1", 1, 1000, 512, cells={"c": 1.0}, current=start["s1"]),
           Workload("s2", 1, 1000, 512, cells={"c": 1.0}, current=start["s2"]))
    inst = Instance(nodes, sites, wls, lat, bw)
    ejected = {"big": ("fe-n",), "s1": ("mec-n",), "s2": ("mec-n",)}
    free = Weights(active_nodes=0.0, migration=0.0)
    gain0 = evaluate(inst, free, start).objective - evaluate(inst, free, ejected).objective
    assert 15.0 < gain0 < 30.0  # (so 5 per migration pays and 10 does not)
    weights = Weights(active_nodes=0.0, migration=migration)
    out = improve_swaps(Problem(inst, weights), dict(start))
    assert out == (ejected if gain0 > 3 * migration else start)
