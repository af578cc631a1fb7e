"""The rollout planner (orchestrator.rollout): make before break within maxSurge/maxUnavailable,
simulated step by step as the controller drives it (pure logic; the real path is
test_lifecycle_e2e.py)."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.decision import pod_name
from orchestrator.rollout import PodState, moves, step


def _drive(pods: dict[str, PodState], target: list[str], version: str, surge: int, unavailable: int,
           gone: frozenset[str] = frozenset(), ready_after: int = 1) -> tuple[int, list[int]]:
    """Run steps until done; new Pods become Ready `ready_after` steps after they are made.  The
    number of steps, and the Ready count after every step."""
    born: dict[str, int] = {}
    readies: list[int] = []
    for t in itertools.count():
        pods = {n: PodState(p.node, p.version, p.ready or (n in born and t - born[n] >= ready_after))
                for n, p in pods.items()}
        s = step(pods, target, version, surge, unavailable, gone)
        if s.done:
            return t, readies
        for n in s.delete:
            del pods[n]
        for node, i in s.create:
            name = pod_name("w", node, i)
            assert name not in pods, "a Pod is never made twice"
            pods[name] = PodState(node, version, False)
            born[name] = t
        assert len(pods) <= len(target) + surge
        readies.append(sum(1 for p in pods.values() if p.ready))
        assert t < 50, "the rollout never finished"
    raise AssertionError


def old(nodes: list[str], version: str = "v1") -> dict[str, PodState]:
    return {pod_name("w", n, i): PodState(n, version, True) for i, n in enumerate(nodes)}


@pytest.mark.parametrize(("surge", "unavailable"), [(1, 1), (1, 0), (0, 1), (2, 0), (4, 4)])
def test_a_new_version_rolls_within_the_budget(surge: int, unavailable: int) -> None:
    nodes = ["n1", "n2", "n3", "n4"]
    steps, readies = _drive(old(nodes), nodes, "v2", surge, unavailable)
    assert steps > 0 and min(readies) >= 4 - unavailable


def test_a_move_waits_until_the_new_replica_is_ready() -> None:
    pods = old(["a"], "v1")
    s = step(pods, ["b"], "v1", 1, 0)
    assert s.create == (("b", 0),) and s.delete == ()  # made first; the old one stays
    pods[pod_name("w", "b", 0)] = PodState("b", "v1", False)
    s = step(pods, ["b"], "v1", 1, 0)
    assert s.empty and not s.done  # the new one is not Ready yet: nothing goes
    pods[pod_name("w", "b", 0)] = PodState("b", "v1", True)
    s = step(pods, ["b"], "v1", 1, 0)
    assert s.delete == (pod_name("w", "a", 0),) and not s.create
    _, readies = _drive(old(["a", "b"]), ["c", "d"], "v1", 1, 0, ready_after=3)
    assert min(readies) >= 2


def test_a_replica_whose_node_is_gone_does_not_wait() -> None:
    s = step(old(["a", "b"]), ["b", "c"], "v1", 1, 0, gone=frozenset({"a"}))
    assert s.delete == (pod_name("w", "a", 0),) and s.create == (("c", 0),)


def test_a_move_off_a_not_ready_node_does_not_wait_for_pods_that_still_say_ready() -> None:
    """bench.chaos, etcd restart: both replicas on a NotReady node still said Ready (the node controller's
    mark never landed), the replacement elsewhere was not Ready, and with maxSurge 1 / maxUnavailable 0
    nothing moved, for good.  Pods on a NotReady node serve nobody: they count as not Ready."""
    pods = {**old(["dead", "dead"]), "w-c-0": PodState("c", "v1", False)}
    stuck = step(pods, ["c", "d"], "v1", 1, 0)
    assert stuck.empty  # what happened before: nothing to do, forever
    s = step(pods, ["c", "d"], "v1", 1, 0, down=frozenset({"dead"}))
    assert sorted(s.delete) == sorted(n for n, p in pods.items() if p.node == "dead")
    assert s.create == (("d", 0),) and s.ready == 0
    # a kept replica on a node that went NotReady stays (it is not stale), reported as not Ready
    s = step(old(["a", "b"]), ["a", "b"], "v1", 1, 0, down=frozenset({"a"}))
    assert s.empty and s.ready == 1 and not s.done


def test_stale_pods_that_are_not_ready_go_at_once_and_scale_down_is_no_move() -> None:
    pods = {**old(["a", "b"]), "w-x-0": PodState("c", "v1", False)}
    s = step(pods, ["a", "b"], "v1", 1, 1)
    assert s.delete == ("w-x-0",) and not s.create
    s = step(old(["a", "b", "c"]), ["a"], "v1", 1, 0)
    assert sorted(s.delete) == sorted([pod_name("w", "b", 1), pod_name("w", "c", 2)]) and s.ready == 1
    assert moves(["a", "b", "c"], ["a"]) == 0 and moves(["a", "b"], ["a", "c"]) == 1 and moves([], ["a"]) == 0


def test_new_pods_never_reuse_an_index_in_use_on_that_node() -> None:
    s = step(old(["n1"]), ["n1"], "v2", 1, 0)
    assert s.create == (("n1", 1),) and pod_name("w", "n1", 1) not in old(["n1"])


def test_done_means_every_replica_updated_ready_and_nothing_stale() -> None:
    assert step(old(["a", "b"], "v2"), ["a", "b"], "v2", 1, 0).done
    assert not step({**old(["a"], "v2"), "w-b-0": PodState("b", "v2", False)}, ["a", "b"], "v2", 1, 0).done
    assert not step(old(["a", "b", "c"], "v2"), ["a", "b"], "v2", 1, 0).done
