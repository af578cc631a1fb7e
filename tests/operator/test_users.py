"""Measured user distributions, pure parts (orchestrator.users) and the mobility loop's decisions
(orchestrator.mobility) against an in-memory Prometheus twin: smoothing, when the users moved far
enough to solve again, the migration budget, a query Prometheus refuses, a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import users
from orchestrator.engine import Outcome
from orchestrator.mobility import MobilityLoop
from orchestrator.prometheus import BAD_DATA, MetricsUnavailable, QueryRejected, Sample
from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.resources.common import ConditionStatus
from orchestrator.snapshot import QosMetrics, Request, build_workload
from orchestrator.users import Reading
from orchestrator.workloads import Reconciled

CELLS = ("cell-a", "cell-b", "cell-c")
distributions = st.dictionaries(st.sampled_from(CELLS), st.floats(0.01, 10), min_size=1).map(users.normalised)


@given(distributions, distributions)
def test_distance_is_a_metric_between_0_and_1(p: dict[str, float], q: dict[str, float]) -> None:
    d = users.distance(p, q)
    assert 0 <= d <= 1 + 1e-9 and d == pytest.approx(users.distance(q, p)) and users.distance(p, p) == 0


@given(distributions, distributions, st.floats(0, 100), st.floats(0, 100))
def test_smoothing_keeps_a_distribution_between_the_two(before: dict[str, float], now: dict[str, float], dt: float,
                                                         tau: float) -> None:
    mixed = users.smooth(before, now, dt, tau)
    assert sum(mixed.values()) == pytest.approx(1)
    assert users.distance(mixed, now) <= users.distance(before, now) + 1e-6


def test_smoothing_time_constant_and_min_share() -> None:
    moved = users.smooth({"cell-a": 1.0}, {"cell-b": 1.0}, dt=10, tau=10)  # one time constant: 1 - 1/e moved
    assert moved == pytest.approx({"cell-a": 0.3679, "cell-b": 0.6321}, abs=1e-4)
    assert users.smooth(None, {"cell-b": 1.0}, 1, 60) == {"cell-b": 1.0}
    assert users.smooth({"cell-a": 1.0}, {"cell-b": 1.0}, 1, 0) == {"cell-b": 1.0}
    assert users.published({"cell-a": 0.9, "cell-b": 0.09, "cell-c": 0.01}, 0.02) == pytest.approx(
        {"cell-a": 0.9 / 0.99, "cell-b": 0.09 / 0.99})
    assert users.published({f"c{i}": 0.01 for i in range(100)}, 0.02, max_cells=4) == {f"c{i}": 0.25 for i in (0, 1, 10, 11)}
    assert users.weights([({"cell": "cell-a"}, 3), ({"cell": "cell-a"}, 1), ({"cell": "cell-b"}, float("nan")),
                          ({"other": "cell-c"}, 5), ({"cell": "cell-c"}, -1)], "cell") == {"cell-a": 4}


def _spec(**users_spec: Any) -> dict[str, Any]:
    return {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}},
            "resources": {"cpu": "100m", "memory": "64Mi"}, "qos": {"maxLatencyMs": 50}, "users": users_spec,
            "migration": {"budgetPerHour": 2, "cooldownSeconds": 60}}


def _body(spec: dict[str, Any], status: dict[str, Any] | None = None, gen: int = 1) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "bus", "generation": gen}, "spec": spec, "status": status or {}}


METRIC = {"query": 'sum by (cell) (edgeorch_sim_cell_users{app="$name"})', "smoothingSeconds": 10,
          "intervalSeconds": 1, "moveThreshold": 0.3, "minShare": 0.05}


def test_the_solve_takes_the_measured_distribution_else_the_spec_cells() -> None:
    spec = EdgeWorkloadSpec.model_validate(_spec(cells=[{"cell": "cell-a", "share": 1}], fromMetric=METRIC))
    assert build_workload(Request("ns/bus", spec)).cells == {"cell-a": 1}
    assert build_workload(Request("ns/bus", spec, users={"cell-b": 0.5, "cell-c": 0.5})).cells == \
        {"cell-b": 0.5, "cell-c": 0.5}
    thirds = EdgeWorkloadSpec.model_validate(_spec(cells=[{"cell": c, "share": 0.3333} for c in CELLS]))
    assert sum(build_workload(Request("ns/bus", thirds)).cells.values()) == pytest.approx(1, abs=1e-12)  # was 0.9999
    body = _body(_spec(fromMetric=METRIC), {"users": {"cells": [{"cell": "cell-c", "share": 1}]}})
    assert users.cells_in_use(body) == {"cell-c": 1.0}
    assert users.cells_in_use(_body(_spec(cells=[{"cell": "cell-a", "share": 1}]), body["status"])) == {"cell-a": 1.0}


def _solved(status: dict[str, Any], placed: bool = True) -> Reconciled:
    outcome = Outcome("ns/bus", ("n1",) if placed else (), ("s1",) if placed else (), ("edge",) if placed else (),
                      1.0, None, {"name": "cpsat", "status": "OPTIMAL"}, "d1", 1)
    return Reconciled(status, [], outcome=outcome)


READ_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OK = (ConditionStatus.TRUE, "MetricsAvailable", "measured")


def test_a_solve_reports_the_users_it_was_solved_for_and_how_far_they_moved() -> None:
    stored = {"migrations": 2, "migrationLog": [1_000_000 - 4000, 1_000_000 - 100],
              "users": {"cells": [{"cell": "cell-a", "share": 1}], "readTime": "2026-12-01T11:59:00Z"}}
    body = _body(_spec(fromMetric=METRIC), stored)
    reading = Reading({"cell-b": 0.75, "cell-a": 0.25}, READ_AT, *OK)
    out = reading.report(body, _solved({"phase": "Placed", "migrations": 3}), now=1_000_000)
    assert out.status is not None
    assert out.status["users"] == {"cells": [{"cell": "cell-b", "share": 0.75}, {"cell": "cell-a", "share": 0.25}],
                                   "readTime": "2026-12-01T12:00:00Z", "distance": 0.75}
    assert out.status["migrationLog"] == [1_000_000 - 100, 1_000_000]  # the move counts against the budget
    assert [(c["type"], c["status"]) for c in out.status["conditions"]] == [("UsersMeasured", "True")]
    assert [(t, r) for t, r, _ in out.events] == [("Normal", "UsersMoved")]
    assert "cell-b 75 %" in out.events[0][2]
    # not solved now (a rollout step): the users in use stay, the condition is already said
    again = _body(_spec(fromMetric=METRIC), {**stored, "conditions": out.status["conditions"]})
    assert reading.report(again, Reconciled(None), now=1_000_000) == Reconciled(None)


def test_a_query_prometheus_refuses_is_said_once_and_a_static_workload_is_cleaned() -> None:
    bad = Reading(None, None, ConditionStatus.FALSE, "QueryInvalid", "spec.users.fromMetric.query: Prometheus "
                  "rejects it: parse error")
    body = _body(_spec(cells=[{"cell": "cell-a", "share": 1}], fromMetric=METRIC), {"phase": "Placed"})
    out = bad.report(body, Reconciled(None), now=0)
    assert out.status is not None and [(c["type"], c["status"], c["reason"]) for c in out.status["conditions"]] == \
        [("UsersMeasured", "False", "QueryInvalid")]
    assert out.events == [("Warning", "QueryInvalid", bad.message)]
    said = _body(body["spec"], {"phase": "Placed", "conditions": out.status["conditions"]})
    assert bad.report(said, Reconciled(None), now=0) == Reconciled(None)  # nothing new: no write, no Event
    static = _body(_spec(cells=[{"cell": "cell-a", "share": 1}]), {**said["status"], "users": {"cells": []}})
    cleaned = users.STATIC.report(static, Reconciled(None), now=0)
    assert cleaned.status == {"users": None, "conditions": []} and cleaned.events == []
    assert users.STATIC.report(_body(static["spec"], {"phase": "Placed"}), Reconciled(None), 0) == Reconciled(None)


def test_a_workload_with_no_users_yet_waits_pending() -> None:
    reading = Reading(None, None, ConditionStatus.UNKNOWN, "NoData", "not read yet")
    out = reading.report(_body(_spec(fromMetric=METRIC)), _solved({"phase": "Unplaceable"}, placed=False), now=0)
    assert out.status is not None and out.status["phase"] == "Pending" and out.events == []
    conds = {c["type"]: c["reason"] for c in out.status["conditions"]}
    assert conds == {"Placed": "WaitingForUsers", "UsersMeasured": "NoData"} and out.retry_after == 5.0
    again = reading.report(_body(_spec(fromMetric=METRIC), out.status), _solved({"phase": "Unplaceable"}, placed=False),
                           now=0)
    assert again.status is None and again.retry_after == 5.0  # said already: no write while it waits


class Twin:
    """An in-memory Prometheus: the samples (or the error) the next queries get."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.error: Exception | None = None
        self.queries: list[str] = []

    async def query(self, promql: str) -> list[Sample]:
        self.queries.append(promql)
        if self.error is not None:
            raise self.error
        return list(self.samples)

    async def metrics(self) -> QosMetrics:
        return QosMetrics(latency_ms={c: {"s1": 1.0} for c in CELLS})

    def users_in(self, cells: Mapping[str, float]) -> None:
        self.samples = [({"cell": c, "app": "bus"}, n) for c, n in cells.items()] + [({"cell": "cell-zz"}, 1000)]


class Loop:
    def __init__(self, twin: Twin, wall: float = 1_000_000.0) -> None:
        self.resolved: list[str] = []
        self.queued: list[str] = []
        self.wall = wall
        self.loop = MobilityLoop(twin.query, twin.metrics, self.resolved.append, self.queued.append,
                                 wall=lambda: self.wall)

    def tick(self, t: float) -> list[str]:
        return asyncio.run(self.loop.tick(t))


def _placed_body(cells: dict[str, float], *, last_move: datetime | None = None, log: list[int] | None = None,
                 metric: dict[str, Any] = METRIC) -> dict[str, Any]:
    status: dict[str, Any] = {"placements": [{"replica": 0, "node": "n1", "site": "s1", "tier": "edge"}],
                              "users": {"cells": [{"cell": c, "share": s} for c, s in cells.items()],
                                        "readTime": "2026-12-01T11:00:00Z"}, "migrationLog": log or []}
    if last_move:
        status["lastMigrationTime"] = last_move.isoformat()
    return _body(_spec(fromMetric=metric), status)


def test_the_loop_solves_again_once_the_smoothed_users_moved_past_the_threshold() -> None:
    twin, loop = Twin(), None
    twin.users_in({"cell-a": 40})
    loop = Loop(twin)
    loop.loop.observe(None, _placed_body({"cell-a": 1.0}))
    assert loop.tick(0) == [] and twin.queries == ['sum by (cell) (edgeorch_sim_cell_users{app="bus"})']
    assert loop.queued == ["ns/bus"]  # UsersMeasured turns True: the controller writes it
    assert loop.loop.reading("ns/bus").cells == {"cell-a": 1.0}  # cell-zz has no latency metrics: left out
    twin.users_in({"cell-b": 40})  # the bus moved on
    asked_at = [t for t in range(1, 30) if loop.tick(t)]
    # tau 10 s, threshold 0.3: 1 - exp(-t/10) >= 0.3 after about 3.6 s, then it waits for the answer
    assert asked_at == [4] and loop.resolved == ["ns/bus"]
    assert loop.loop.reading("ns/bus").cells == pytest.approx({"cell-a": 0.0550, "cell-b": 0.9450}, abs=1e-3)
    assert loop.loop.reading("ns/bus").read_at is not None
    loop.loop.observe(None, _placed_body(dict(loop.loop.reading("ns/bus").cells or {})))  # the controller's answer
    assert loop.tick(30) == []
    assert len(twin.queries) == 31 and loop.queued == ["ns/bus"]


def test_the_migration_budget_and_cool_down_hold_the_move_back() -> None:
    twin = Twin()
    twin.users_in({"cell-b": 40})
    now = datetime.fromtimestamp(1_000_000, UTC)
    loop = Loop(twin)
    sharp = {**METRIC, "smoothingSeconds": 0}
    loop.loop.observe(None, _placed_body({"cell-a": 1.0}, last_move=now - timedelta(seconds=10), metric=sharp))
    assert loop.tick(0) == []  # cool-down: 10 s < 60 s
    loop.loop.observe(None, _placed_body({"cell-a": 1.0}, log=[999_000, 999_500], metric=sharp))
    assert loop.tick(1) == []  # budget: 2 moves in the last hour
    loop.loop.observe(None, _placed_body({"cell-a": 1.0}, last_move=now - timedelta(seconds=61), log=[990_000],
                                         metric=sharp))
    assert loop.tick(2) == ["ns/bus"]


def test_a_restarted_loop_starts_from_the_users_in_use_and_a_bad_query_is_said() -> None:
    twin = Twin()
    twin.users_in({"cell-a": 10, "cell-b": 30})
    loop = Loop(twin)
    loop.loop.observe(None, _placed_body({"cell-a": 0.25, "cell-b": 0.75}))
    assert loop.loop.reading("ns/bus").cells == {"cell-a": 0.25, "cell-b": 0.75}  # before any reading
    assert loop.tick(0) == [] and loop.resolved == []  # the same users: nothing to solve
    twin.error = QueryRejected("q", BAD_DATA, 'parse error: unexpected "}"')
    loop.tick(1)
    reading = loop.loop.reading("ns/bus")
    assert (reading.state, reading.reason) == (ConditionStatus.FALSE, "QueryInvalid") and loop.queued == ["ns/bus"] * 2
    assert "Prometheus rejects it: parse error" in reading.message and reading.cells == {"cell-a": 0.25, "cell-b": 0.75}
    twin.error = MetricsUnavailable("down")
    loop.tick(2)
    assert loop.loop.reading("ns/bus").reason == "PrometheusUnreachable"
    loop.loop.observe("DELETED", _placed_body({}))
    assert loop.loop.reading("ns/bus") is users.STATIC and loop.tick(3) == []


def test_a_smaller_move_is_solved_once_the_best_allowed_site_serves_the_users_better_by_more_than_a_move() -> None:
    class Near(Twin):
        async def metrics(self) -> QosMetrics:  # cell-a is near s1, cell-b near s2 and the cloud
            return QosMetrics(latency_ms={"cell-a": {"s1": 1.0, "s2": 6.0, "cloud": 2.0},
                                          "cell-b": {"s1": 6.0, "s2": 1.0, "cloud": 0.5}})

    twin = Near()
    resolved: list[str] = []
    sites = {"s1": {"tier": "edge"}, "s2": {"tier": "edge"}, "cloud": {"tier": "cloud"}}
    loop = MobilityLoop(twin.query, twin.metrics, resolved.append, lambda _: None, sites=lambda: sites,
                        min_gain_ms=2.0, wall=lambda: 1_000_000.0)
    metric = {**METRIC, "smoothingSeconds": 0, "moveThreshold": 0.9}
    body = _placed_body({"cell-a": 1.0}, metric=metric)
    body["spec"]["placement"] = {"allowedTiers": ["edge"]}
    loop.observe(None, body)
    twin.users_in({"cell-a": 70, "cell-b": 30})  # on s1: 2.5 ms; on s2: 4.5 ms: stay
    assert asyncio.run(loop.tick(0)) == []
    twin.users_in({"cell-a": 20, "cell-b": 80})  # on s1: 5 ms; on s2: 2 ms: 3 ms better (> 2 ms), TV 0.8 < 0.9
    assert asyncio.run(loop.tick(1)) == ["ns/bus"]
    sites["s2"]["cordoned"] = True  # only the cloud is better, and the workload may not go there
    answered = _placed_body({"cell-a": 0.7, "cell-b": 0.3}, metric=metric) | {"spec": body["spec"]}
    answered["status"]["users"]["readTime"] = "2026-12-01T11:00:01Z"  # the controller solved (and stayed)
    loop.observe(None, answered)
    assert asyncio.run(loop.tick(2)) == []
    del sites["s2"]["cordoned"]
    assert asyncio.run(loop.tick(3)) == ["ns/bus"]
