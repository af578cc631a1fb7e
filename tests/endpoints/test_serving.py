"""The serving map (orchestrator.endpoints.serving), table by table: each cell goes to the Ready replica
Pod with the lowest predicted latency by the placement's model (latency plus site penalty), a Pod of
an earlier placement serves until it goes, ties keep the Pod that served before, and without a Ready
Pod a cell maps to the nearest placed replica."""

from __future__ import annotations

from orchestrator.endpoints.serving import candidates, serving_map
from orchestrator.resources import CellEndpoint, ReplicaPlacement
from orchestrator.rollout import PodState

LATENCY = {"cell-a": {"site-a": 1.0, "site-b": 6.0}, "cell-b": {"site-a": 7.0, "site-b": 1.5}}
PLACED = [ReplicaPlacement(replica=0, node="a-n1", site="site-a", tier="far-edge"),
          ReplicaPlacement(replica=1, node="b-n1", site="site-b", tier="far-edge")]
SITES = {"a-n1": "site-a", "a-n2": "site-a", "b-n1": "site-b"}


def _map(pods: dict[str, PodState], placed: list[ReplicaPlacement] = PLACED, previous: list[CellEndpoint] | None = None,
         penalty: dict[str, float] | None = None) -> dict[str, tuple[str | None, str, str | None, bool]]:
    pool = candidates(placed, pods, "v1", SITES)
    out = serving_map(["cell-a", "cell-b"], pool, LATENCY, penalty, previous or [])
    return {e.cell: (e.pod, e.site, e.pod_ip, e.ready) for e in out}


def test_each_cell_goes_to_the_nearest_ready_replica() -> None:
    pods = {"w-a-0": PodState("a-n1", "v1", True, "10.0.0.1"), "w-b-0": PodState("b-n1", "v1", True, "10.0.0.2")}
    assert _map(pods) == {"cell-a": ("w-a-0", "site-a", "10.0.0.1", True), "cell-b": ("w-b-0", "site-b", "10.0.0.2", True)}


def test_a_site_penalty_counts_as_the_solver_counts_it() -> None:
    pods = {"w-a-0": PodState("a-n1", "v1", True, "10.0.0.1"), "w-b-0": PodState("b-n1", "v1", True, "10.0.0.2")}
    assert _map(pods, penalty={"site-a": 40.0})["cell-a"][1] == "site-b"  # 1 + 40 ms > 6 ms


def test_a_replica_not_ready_serves_no_one_while_another_is_ready() -> None:
    pods = {"w-a-0": PodState("a-n1", "v1", False, "10.0.0.1"), "w-b-0": PodState("b-n1", "v1", True, "10.0.0.2")}
    assert _map(pods)["cell-a"] == ("w-b-0", "site-b", "10.0.0.2", True)


def test_an_old_pod_serves_until_it_goes_and_the_new_one_when_nearer() -> None:
    moved = [ReplicaPlacement(replica=0, node="b-n1", site="site-b", tier="far-edge")]  # moving a -> b
    old = {"w-a-0": PodState("a-n1", "v1", True, "10.0.0.1")}
    assert _map(old, moved)["cell-a"] == ("w-a-0", "site-a", "10.0.0.1", True)  # the new one is not made yet
    both = {**old, "w-b-0": PodState("b-n1", "v1", True, "10.0.0.2")}
    assert _map(both, moved) == {"cell-a": ("w-a-0", "site-a", "10.0.0.1", True),  # still nearer for cell-a
                                 "cell-b": ("w-b-0", "site-b", "10.0.0.2", True)}
    assert _map({"w-b-0": both["w-b-0"]}, moved)["cell-a"] == ("w-b-0", "site-b", "10.0.0.2", True)  # old one gone


def test_ties_keep_the_pod_that_served_before() -> None:
    placed = [ReplicaPlacement(replica=0, node="a-n1", site="site-a", tier="edge"),
              ReplicaPlacement(replica=1, node="a-n2", site="site-a", tier="edge")]
    pods = {"w-1": PodState("a-n1", "v1", True, "10.0.0.1"), "w-2": PodState("a-n2", "v1", True, "10.0.0.2")}
    assert _map(pods, placed)["cell-a"][0] == "w-1"  # the lowest replica index
    before = [CellEndpoint(cell="cell-a", site="site-a", node="a-n2", pod="w-2", ready=True)]
    assert _map(pods, placed, before)["cell-a"][0] == "w-2"


def test_without_a_ready_pod_a_cell_maps_to_the_nearest_placed_replica() -> None:
    out = serving_map(["cell-a"], candidates(PLACED, {}, "v1", SITES), LATENCY)
    assert [(e.replica, e.site, e.pod, e.pod_ip, e.ready, e.latency_ms) for e in out] == \
        [(0, "site-a", None, None, False, 1.0)]
    assert serving_map(["cell-a"], [], LATENCY) == []


def test_an_unknown_cell_site_pair_is_never_preferred() -> None:
    pods = {"w-a-0": PodState("a-n1", "v1", True, "10.0.0.1")}
    out = serving_map(["cell-z"], candidates(PLACED[:1], pods, "v1", SITES), LATENCY)
    assert [(e.pod, e.latency_ms) for e in out] == [("w-a-0", None)]


def test_noise_between_near_sites_moves_no_cell_and_writes_no_new_latency() -> None:
    near = {"cell-a": {"site-a": 4.13, "site-b": 4.07}}
    pods = {"w-a-0": PodState("a-n1", "v1", True, "10.0.0.1"), "w-b-0": PodState("b-n1", "v1", True, "10.0.0.2")}
    pool = candidates(PLACED, pods, "v1", SITES)
    (first,) = serving_map(["cell-a"], pool, near)
    assert (first.pod, first.latency_ms) == ("w-b-0", 4.07)
    flipped = {"cell-a": {"site-a": 4.05, "site-b": 4.2}}  # within STICKY_MS: stays, and says what it said
    (again,) = serving_map(["cell-a"], pool, flipped, previous=[first])
    assert (again.pod, again.latency_ms) == ("w-b-0", 4.07)
    far = {"cell-a": {"site-a": 4.0, "site-b": 9.0}}  # a real change: relocated, with the new latency
    (moved,) = serving_map(["cell-a"], pool, far, previous=[again])
    assert (moved.pod, moved.latency_ms) == ("w-a-0", 4.0)
