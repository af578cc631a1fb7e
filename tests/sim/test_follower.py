"""The simulator follows the cluster (sim.follower): which workloads get synthetic requests, where.
Pure logic here; the QoS tests on the real stack (tests/qos) prove the follower against the API."""

from __future__ import annotations

from typing import Any

from sim.faults import CityState, WorkloadPlacement
from sim.follower import Follower, covered, placement_of, primary_site
from sim.scenario import load_scenario


def ew(*sites: str, cells: dict[str, float] | None = None) -> dict[str, Any]:
    return {"spec": {"users": {"cells": [{"cell": c, "share": s} for c, s in (cells or {}).items()]}},
            "status": {"placements": [{"replica": i, "node": f"{s}-n01", "site": s} for i, s in enumerate(sites)]}}


def test_requests_go_to_the_site_holding_most_replicas_from_the_users_cells() -> None:
    assert primary_site(["mec-22at", "fe-gracia", "fe-gracia"]) == "fe-gracia"
    assert primary_site(["mec-22at", "fe-gracia"]) == "fe-gracia"  # a tie: the first by name
    p = placement_of(ew("mec-22at", cells={"cell-poblenou-1": 0.7, "cell-gracia-1": 0.3}))
    assert p == WorkloadPlacement(site="mec-22at", cells={"cell-poblenou-1": 0.7, "cell-gracia-1": 0.3})
    assert placement_of(ew()) is None  # runs nowhere: no requests


def test_only_workloads_an_agreement_names_are_followed() -> None:
    slas = [{"metadata": {"namespace": "a"}, "spec": {"workloadRef": "cam"}},
            {"metadata": {"namespace": "b"}, "spec": {"workloadRef": "cam"}},
            {"metadata": {"namespace": "a"}, "spec": {}}]
    assert covered(slas) == {("a", "cam"), ("b", "cam")}


def test_apply_follows_moves_and_removals_and_leaves_hand_registered_workloads_alone() -> None:
    state = CityState(load_scenario("barcelona"))
    state.set_workload("bench/by-hand", WorkloadPlacement(site="mec-22at"))
    f = Follower(state, kubeconfig=None)  # type: ignore[arg-type]
    f.apply({"a/cam": WorkloadPlacement(site="fe-gracia"), "bench/by-hand": WorkloadPlacement(site="fe-gracia")})
    assert state.workloads["a/cam"].site == "fe-gracia"
    assert state.workloads["bench/by-hand"].site == "mec-22at"
    f.apply({"a/cam": WorkloadPlacement(site="mec-sagrera")})  # offloaded
    assert state.workloads["a/cam"].site == "mec-sagrera"
    f.apply({"a/nowhere": WorkloadPlacement(site="no-such-site")})  # not a site of this city: skipped
    assert "a/cam" not in state.workloads and "a/nowhere" not in state.workloads
    assert "bench/by-hand" in state.workloads
