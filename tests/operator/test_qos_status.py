"""What the QoS guard's verdict makes the controller write: the QoSDegraded condition with the measured
value and the Event of each transition, predictedLatencyMs only when it moved by more than 5 % or
crossed the bound (no write storm), never about a placement the workload left; and the reading
itself, by the solver's latency model (orchestrator.qos_status, pure)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import qos_status
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.workloads import Reconciled
from tests.operator.continuous import SITES, body, metrics


def _spec(b: dict[str, Any]) -> EdgeWorkloadSpec:
    return EdgeWorkloadSpec.model_validate(b["spec"])


def _verdict(b: dict[str, Any], m: Any = None, action: str = "") -> qos_status.Verdict:
    spec = _spec(b)
    sites = [p["site"] for p in b["status"]["placements"]]
    a = qos_status.reading("city/" + b["metadata"]["name"], spec, sites, SITES, m or metrics())
    assert a is not None
    return qos_status.verdict([p["node"] for p in b["status"]["placements"]], spec, a, action)


def _apply(b: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    return {**b, "status": {**b["status"], **patch}}


def _cond(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "QoSDegraded")


def test_the_reading_is_the_solvers_latency_model_on_fresh_metrics() -> None:
    b = body(cells={"cell-1": 0.5, "cell-2": 0.5}, nodes=["fe-a-n1", "mec-b-n1"])
    a = qos_status.reading("city/cam", _spec(b), ["fe-a", "mec-b"], SITES, metrics())
    assert a is not None and a.holds
    assert a.predicted_latency_ms == pytest.approx(((1.5 + 6.0) / 2 + (4.0 + 4.5) / 2) / 2)
    assert (a.worst_latency_ms, a.worst_site) == (6.0, "fe-a")
    faulted = qos_status.reading("city/cam", _spec(b), ["fe-a", "mec-b"], SITES, metrics({"fe-a": 40.0}))
    assert faulted is not None and faulted.breaking == ("fe-a",) and faulted.worst_latency_ms == 46.0
    # what cannot be said is not guessed: an unknown site, a site down, a cell without metrics
    assert qos_status.reading("city/cam", _spec(b), ["nowhere"], SITES, metrics()) is None
    assert qos_status.reading("city/cam", _spec(b), ["fe-a"], SITES, metrics(site_up={"fe-a": False})) is None
    assert qos_status.reading("city/cam", _spec(body(cells={"cell-9": 1.0})), ["fe-a"], SITES, metrics()) is None


def test_a_broken_bound_is_said_with_the_measured_value_once_and_recovery_too() -> None:
    b = body()
    v = _verdict(b, metrics({"fe-a": 40.0}), "re-placing")
    assert not v.holds and v.reason == "LatencyBoundExceeded"
    assert v.message == "measured 41.5 ms from cell cell-1 to site fe-a, over the bound of 8 ms; re-placing"
    patch, events = qos_status.status_change(b, v)
    cond = _cond(patch)
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "LatencyBoundExceeded", v.message)
    assert events == [("Warning", "QoSDegraded", v.message)]
    assert patch["predictedLatencyMs"] == 41.5  # 1.5 -> 41.5: kept current
    degraded = _apply(b, patch)
    assert qos_status.status_change(degraded, v) == ({}, [])  # said once: nothing new, no write
    assert qos_status.status_change(degraded, _verdict(b, metrics({"fe-a": 41.0}), "re-placing")) == ({}, [])
    moved_on = qos_status.status_change(degraded, _verdict(b, metrics({"fe-a": 40.0}), "not moving: cool-down"))[0]
    assert _cond(moved_on)["message"].endswith("not moving: cool-down")  # other words: written
    patch, events = qos_status.status_change(degraded, _verdict(b))
    assert _cond(patch)["status"] == "False" and _cond(patch)["reason"] == "WithinQoSBound"
    assert events == [("Normal", "QoSRecovered", "measured 1.5 ms from cell cell-1 to site fe-a, within the bound "
                                                 "of 8 ms")]
    assert patch["predictedLatencyMs"] == 1.5


def test_a_workload_that_never_broke_its_bound_gets_no_condition_and_few_writes() -> None:
    b = body()
    assert qos_status.status_change(b, _verdict(b)) == ({}, [])
    assert qos_status.status_change(_apply(b, {"predictedLatencyMs": 1.45}), _verdict(b)) == ({}, [])  # within 5 %
    assert qos_status.status_change(_apply(b, {"predictedLatencyMs": 1.3}), _verdict(b))[0] == {"predictedLatencyMs": 1.5}
    # crossing the bound is always said, however small the change
    near = body(max_ms=1.52)
    near["status"]["predictedLatencyMs"] = 1.53
    assert qos_status.status_change(near, _verdict(near))[0]["predictedLatencyMs"] == 1.5


def test_a_verdict_about_a_placement_the_workload_left_changes_nothing() -> None:
    b = body()
    v = _verdict(b, metrics({"fe-a": 40.0}), "re-placing")
    elsewhere = body(nodes=["mec-b-n1"])
    assert qos_status.status_change(elsewhere, v) == ({}, [])
    # the move the verdict asked for, in the same write: the condition says why, the new placement's
    # predicted latency (the solver's) stands
    move = {"placements": elsewhere["status"]["placements"], "predictedLatencyMs": 4.0,
            "conditions": [{"type": "Placed", "status": "True", "reason": "Placed", "message": "1 replica",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    merged = qos_status.merge(b, Reconciled(move, [("Normal", "Moved", "...")]), v)
    assert merged.status is not None and merged.status["predictedLatencyMs"] == 4.0
    assert {c["type"] for c in merged.status["conditions"]} == {"Placed", "QoSDegraded"}
    assert [e[1] for e in merged.events] == ["Moved", "QoSDegraded"]
    untouched = Reconciled(None, refresh=True)
    assert qos_status.merge(b, untouched, None) is untouched
    assert qos_status.merge(b, untouched, _verdict(b)) is untouched
    written = qos_status.merge(b, untouched, v)
    assert written.status is not None and not written.refresh  # a real change: never put off


@pytest.mark.parametrize(("now", "then", "gains"), [
    (4.0, 1.6, True),  # 2.4 ms and 60 %
    (4.0, 2.1, False),  # 1.9 ms: under 2 ms
    (20.0, 17.0, False),  # 3 ms but 15 %
    (20.0, 15.0, True),
])
def test_enough_needs_both_thresholds(now: float, then: float, gains: bool) -> None:
    assert qos_status.enough(now, then, 2.0, 0.2) is gains
