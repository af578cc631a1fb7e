"""The re-optimiser's decisions (orchestrator.reoptimise_plan, orchestrator.reoptimiser with a
recording engine): which changes are events, who waits for room, who may move and who could gain;
only a move that gains enough is asked for, never one that needs others to move, within the
cluster-wide limit; and nothing is asked when nothing gains.  The real path is
tests/operator/test_continuous_e2e.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from orchestrator import reoptimise_plan as plan
from orchestrator.health import Replica
from orchestrator.intents import IntentBook
from orchestrator.move_intents import MoveBook, Own, offload, reoptimise
from orchestrator.reoptimiser import CONFIRM_S, Reoptimiser
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.rollout import PodState
from orchestrator.snapshot import QosMetrics, Request, Reserved
from tests.operator.continuous import LATENCY, NODE_SITE, SITES, Engine, body, iso, metrics

T0 = 1_800_000_000.0


def node(name: str, cpu: str = "4", ready: bool = True, cordoned: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"edgeorch.io/site": NODE_SITE[name]}},
            "spec": {"unschedulable": cordoned},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


NODES: list[Mapping[str, Any]] = [node(n) for n in NODE_SITE]


def pod(name: str, on: str, cpu_m: int = 250, terminating: bool = False) -> Replica:
    return Replica(name, on, running=True, ready=True, requests=Reserved(cpu_m, 128, 0, 1), terminating=terminating)


def test_room_freed_a_site_back_a_node_added_a_request_lowered_a_priority_changed_are_events() -> None:
    pods = {"city/big": [pod("big-0", "fe-a-n1", 3000), pod("big-1", "fe-a-n2", 3000)]}
    room = plan.free_room(NODES, SITES, pods, {}, {})
    assert room["fe-a"] == plan.Room(2000, 2 * 8192 - 256, 2) and room["mec-b"].cpu_m == 4000
    look = plan.Look(room, plan.shapes({"city/big": body("big", nodes=["fe-a-n1", "fe-a-n2"], cpu="3")}))
    assert plan.triggers(look, look) == []
    terminating = {"city/big": [pod("big-0", "fe-a-n1", 3000, terminating=True), pod("big-1", "fe-a-n2", 3000)]}
    assert plan.free_room(NODES, SITES, terminating, {}, {}) == room  # a terminating Pod holds its room
    gone = plan.Look(plan.free_room(NODES, SITES, {}, {}, {}), {})
    assert plan.triggers(look, gone) == ["room freed at fe-a", "deleted: city/big"]
    lowered = plan.Look(room, plan.shapes({"city/big": body("big", nodes=["fe-a-n1", "fe-a-n2"], cpu="1")}))
    assert plan.triggers(look, lowered) == ["request lowered: city/big"]
    ranked = plan.Look(room, plan.shapes({"city/big": body("big", nodes=["fe-a-n1", "fe-a-n2"], cpu="3",
                                                           priority=900)}))
    assert plan.triggers(look, ranked) == ["priority changed: city/big"]
    # a cordoned or down site offers no room; back, it is an event, and so is a node more
    without = plan.free_room(NODES, {**SITES, "mec-b": {**SITES["mec-b"], "cordoned": True}}, pods, {}, {"fe-a": False})
    assert set(without) == {"cloud-c"}
    assert plan.triggers(plan.Look(without, {}), plan.Look(room, {})) == ["site(s) usable again: fe-a, mec-b"]
    fewer = plan.free_room([n for n in NODES if n["metadata"]["name"] != "fe-a-n2"], SITES, {}, {}, {})
    assert plan.triggers(plan.Look(fewer, {}), plan.Look(plan.free_room(NODES, SITES, {}, {}, {}), {})) == [
        "node(s) added at fe-a", "room freed at fe-a"]


def test_who_waits_for_room_who_may_move_and_who_could_gain() -> None:
    unplaceable = body("late", nodes=[], phase="Unplaceable", status={"conditions": [
        {"type": "Unplaceable", "status": "True", "reason": "NoFeasiblePlacement", "message": "no room",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    assert plan.waiting(unplaceable)
    refused = body("bad", nodes=[], phase="Unplaceable", status={"conditions": [
        {"type": "Unplaceable", "status": "True", "reason": "InvalidSpec", "message": "no",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    assert not plan.waiting(refused) and not plan.waiting(body())  # a spec the solver refuses fails again
    cloud = body("far", nodes=["cloud-c-n1"], max_ms=25)
    assert plan.could_gain(cloud, ["fe-a", "mec-b", "cloud-c"], LATENCY)
    assert not plan.could_gain(body("near", nodes=["fe-a-n1"]), ["fe-a", "mec-b", "cloud-c"], LATENCY)
    spec = EdgeWorkloadSpec.model_validate(cloud["spec"])
    pods = {"far-0": PodState("cloud-c-n1", "v", True)}
    assert plan.why_not("city/far", cloud, spec, (), None, False, pods, T0) is None
    assert plan.why_not("city/far", cloud, spec, (), None, False, {}, T0) == "its replicas are rolling"
    assert plan.why_not("city/far", cloud, spec, (), None, True, pods, T0) == "its QoS bound is broken (the QoS guard moves it)"
    guard = Own(offload(["fe-a"], "bound", T0), True)
    assert plan.why_not("city/far", cloud, spec, (), guard, False, pods, T0) == "the QoS guard's move is open"
    cooling = body("far", nodes=["cloud-c-n1"], max_ms=25, status={"lastMigrationTime": iso(T0 - 5)})
    assert (plan.why_not("city/far", cooling, spec, (), None, False, pods, T0) or "").startswith("cool-down")
    moving = Own(reoptimise("gain", T0), True)
    assert plan.in_progress(moving, cloud, {}, T0 + 10) and not plan.in_progress(moving, cloud, pods, T0 + 10)
    assert not plan.in_progress(moving, cloud, {}, T0 + plan.MOVE_TIMEOUT_S + 1)


class TwoRounds(Engine):
    """Answers the first `n` requests (the joint dry run) from `joint`, the later ones (each alone) from
    `answer`."""

    def __init__(self, joint: Mapping[str, tuple[str, ...]], alone: Mapping[str, tuple[str, ...]],
                 latency: Mapping[str, float], n: int) -> None:
        super().__init__(alone, latency)
        self.joint, self.n = dict(joint), n

    async def place(self, request: Request) -> Any:
        if len(self.requests) < self.n:
            self.requests.append(request)
            return await Engine(self.joint, self.latency).place(request)
        return await super().place(request)


class Fixture:
    def __init__(self, bodies: Mapping[str, dict[str, Any]], answer: Mapping[str, tuple[str, ...]],
                 latency: Mapping[str, float], *, engine: Engine | None = None, max_moves: int = 5) -> None:
        self.bodies = dict(bodies)
        self.engine = engine or Engine(answer, latency)
        self.moves = MoveBook()
        self.asked: list[str] = []
        self.queued: list[str] = []
        pods = {k: {f"{k}-{i}": PodState(p["node"], "v", True) for i, p in enumerate(b["status"]["placements"])}
                for k, b in self.bodies.items()}

        class View:
            def nodes(self) -> list[Mapping[str, Any]]:
                return NODES

            def sites(self) -> dict[str, Mapping[str, Any]]:
                return dict(SITES)

            def foreign(self) -> dict[str, Reserved]:
                return {}

            def replica_pods(self) -> dict[str, list[Replica]]:
                return {}

            def replicas(self, key: str) -> dict[str, PodState] | None:
                return pods.get(key)

        async def snapshot() -> QosMetrics:
            return metrics()

        self.r = Reoptimiser(self.engine, View(), lambda: self.bodies, snapshot, IntentBook(), self.moves,
                             lambda _k: False, self.asked.append, self.queued.append, max_moves=max_moves)

    def run(self, freed: set[str] | None = None, mono: float = 0.0) -> list[str]:
        look = plan.Look(plan.free_room(NODES, SITES, {}, {}, {}), plan.shapes(self.bodies))
        return asyncio.run(self.r.run("test", self.bodies, metrics(), look, freed or set(), now=T0, mono=mono))

    def run_twice(self) -> list[str]:
        """A run, and the one that confirms its gains (CONFIRM_S later): what the second asked."""
        assert self.run(mono=0.0) == [] and self.asked == []  # a gain seen once moves nothing
        return self.run(mono=CONFIRM_S)


def test_only_moves_that_gain_enough_are_asked_for_best_first_within_the_limit() -> None:
    bodies = {f"city/far{i}": body(f"far{i}", nodes=["cloud-c-n1"], max_ms=25) for i in range(3)}
    bodies["city/mid"] = body("mid", nodes=["mec-b-n1"], cells={"cell-1": 1.0})  # 4.0 ms; fe-a is 1.5
    answer = {"city/far0": ("fe-a-n1",), "city/far1": ("mec-b-n1",), "city/far2": ("cloud-c-n1",),
              "city/mid": ("fe-a-n2",)}
    latency = {"city/far0": 1.5, "city/far1": 4.0, "city/far2": 20.0, "city/mid": 1.5}
    f = Fixture(bodies, answer, latency, max_moves=2)
    asked = f.run_twice()
    assert asked == ["city/far0", "city/far1"]  # best gains first (18.5, 16 ms); the limit stops mid (2.5 ms)
    assert f.asked == asked and all(f.moves.of(k).action == "Reoptimise" for k in asked)  # type: ignore[union-attr]
    assert "20.0 -> 1.5 ms" in f.moves.of("city/far0").reason  # type: ignore[union-attr]
    joint = [r for r in f.engine.requests if r.key == "city/far2"]
    assert joint and all(r.dry_run and r.migration_weight is None for r in f.engine.requests)
    assert "city/far2" not in asked  # its answer is where it is: nothing to gain, never asked


def test_nothing_is_asked_when_nothing_gains_enough_and_a_gain_that_needs_others_to_move_is_not_taken() -> None:
    bodies = {"city/near": body("near", nodes=["fe-a-n1"]), "city/mid": body("mid", nodes=["mec-b-n1"],
                                                                          cells={"cell-2": 1.0})}
    f = Fixture(bodies, {"city/near": ("fe-a-n1",), "city/mid": ("fe-a-n1",)}, {"city/mid": 6.0})
    assert f.run_twice() == [] and f.asked == []  # mid: 4.5 -> 6.0 is no gain
    # jointly the dry run finds gains for both, but alone far's needs room another would have to give
    far = {"city/far": body("far", nodes=["cloud-c-n1"], max_ms=25), "city/far2": body("far2", nodes=["cloud-c-n1"],
                                                                                      max_ms=25)}
    engine = TwoRounds({"city/far": ("fe-a-n1",), "city/far2": ("fe-a-n2",)},
                       {"city/far": ("cloud-c-n1",), "city/far2": ("fe-a-n2",)}, {"city/far": 1.5, "city/far2": 1.5}, 4)
    g = Fixture(far, {}, {}, engine=engine)
    assert g.run_twice() == ["city/far2"]
    assert len(engine.requests) == 6  # twice one joint dry run of both, then one of each alone


def test_a_gain_seen_once_moves_nothing() -> None:
    bodies = {"city/far": body("far", nodes=["cloud-c-n1"], max_ms=25)}
    f = Fixture(bodies, {"city/far": ("fe-a-n1",)}, {"city/far": 1.5})
    assert f.run(mono=0.0) == []
    f.engine.answer = {"city/far": ("cloud-c-n1",)}  # the next look: it was a blip
    assert f.run(mono=CONFIRM_S) == []
    f.engine.answer = {"city/far": ("fe-a-n1",)}
    assert f.run(mono=2 * CONFIRM_S) == []  # seen anew: confirmed only at the next look
    assert f.run(mono=3 * CONFIRM_S) == ["city/far"]


def test_waiting_workloads_are_solved_again_when_room_that_fits_them_frees() -> None:
    late = body("late", nodes=[], phase="Unplaceable", cpu="2", status={"conditions": [
        {"type": "Unplaceable", "status": "True", "reason": "NoFeasiblePlacement", "message": "no room",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    huge = body("huge", nodes=[], phase="Unplaceable", cpu="64", status=late["status"])
    strict = body("strict", nodes=[], phase="Unplaceable", max_ms=1.0, status=late["status"])
    f = Fixture({"city/late": late, "city/huge": huge, "city/strict": strict}, {}, {})
    f.run(freed={"fe-a"})
    assert f.queued == ["city/late"]  # huge does not fit in what freed, fe-a is too far for strict
    f.queued.clear()
    f.run()
    assert f.queued == []  # a periodic run leaves them to their own retries
