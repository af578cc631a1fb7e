"""Users who move (#20 item 4), on the real stack: a workload that measures its users
(`spec.users.fromMetric` over the simulator's `edgeorch_sim_cell_users`) waits for its first
users, is placed at the far-edge site of the cell the bus is in, and follows the bus to another
district make-before-break (a Pod watch never sees fewer than 2 Ready replicas), saying so in
`status.users` and Events; a workload with fixed users beside it is left alone; and a query
Prometheus refuses gives the condition UsersMeasured=False (QueryInvalid) and one Warning Event."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sim.control import ExporterControlSync
from tests.conftest import StackHandle
from tests.operator.conftest import (
    ReadyWatch,
    apply_all,
    get_json,
    live_pods,
    own_namespace,
    placed_ready,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]
HOME, AWAY = ("cell-eixample-1", "fe-eixample"), ("cell-poblenou-1", "fe-poblenou")


def _follower(name: str, ns: str, app: str) -> dict[str, Any]:
    ew = workload(name, ns, replicas=2, cells={}, max_latency_ms=50, tiers=["far-edge", "edge"])
    ew["spec"]["users"] = {"fromMetric": {"query": f'sum by (cell) (edgeorch_sim_cell_users{{app="{app}"}})',
                                          "intervalSeconds": 1, "smoothingSeconds": 2, "moveThreshold": 0.3}}
    ew["spec"]["placement"]["preferTier"] = "far-edge"
    ew["spec"]["strategy"] = {"maxSurge": 1, "maxUnavailable": 0}
    ew["spec"]["migration"] = {"budgetPerHour": 20, "cooldownSeconds": 0}
    return ew


def _get(stack: StackHandle, ns: str, name: str) -> dict[str, Any]:
    return dict(get_json(stack, "edgeworkload", name, "-n", ns))


def _conditions(status: dict[str, Any] | None) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c.get("message", "")) for c in (status or {}).get("conditions") or []}


def _with(stack: StackHandle, ns: str, name: str, condition: str, reason: str) -> dict[str, Any] | None:
    """The workload once its `condition` has `reason`."""
    ew = _get(stack, ns, name)
    return ew if _conditions(ew.get("status")).get(condition, ("", ""))[1] == reason else None


def _events(stack: StackHandle, ns: str, name: str) -> list[tuple[str, str, str]]:
    items = get_json(stack, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
    return [(e["type"], e["reason"], e.get("message", "")) for e in items]


def test_a_workload_follows_a_bus_to_another_district_make_before_break(operator: StackHandle) -> None:
    control = ExporterControlSync(operator.exporter_url)
    app = f"bus-{uuid.uuid4().hex[:6]}"
    bus = None
    with own_namespace(operator, "users-bus") as ns, own_namespace(operator, "users-static") as static_ns:
        try:
            apply_all(operator, [_follower("tracker", ns, app)])
            waiting = wait_for(lambda: _with(operator, ns, "tracker", "Placed", "WaitingForUsers"), 60,
                               "tracker waiting for its users")
            assert waiting["status"]["phase"] == "Pending" and not live_pods(operator, ns)

            bus = control.start_bus(app, stops=[(HOME[0], 3600), (AWAY[0], 3600)], loop=False)
            st = wait_for(lambda: placed_ready(operator, ns, "tracker", 2), 120, "tracker placed where the bus is")
            assert st["sites"] == HOME[1], st
            assert st["users"]["cells"] == [{"cell": HOME[0], "share": 1.0}] and st["users"]["readTime"]
            assert _conditions(st)["UsersMeasured"][:2] == ("True", "MetricsAvailable"), st

            apply_all(operator, [workload("fixed", static_ns, replicas=1, cells={HOME[0]: 1.0}, max_latency_ms=50,
                                          tiers=["far-edge", "edge"])])
            fixed = wait_for(lambda: placed_ready(operator, static_ns, "fixed", 1), 90, "the static workload placed")
            fixed_pods = sorted(p["metadata"]["name"] for p in live_pods(operator, static_ns))

            with ReadyWatch(operator, ns) as watch:
                control.move_bus(bus["id"], 1)
                moved = wait_for(lambda: (lambda s: s if s and s["sites"] == AWAY[1] else None)(
                    placed_ready(operator, ns, "tracker", 2)), 120, f"tracker's replicas at {AWAY[1]}, Ready")
            print(f"followed the bus: {watch.events} Pod events, fewest Ready {watch.min_ready}")
            assert watch.events >= 4 and watch.min_ready >= 2, "\n".join(watch.log)
            assert moved["users"]["cells"][0]["cell"] == AWAY[0] and moved["migrations"] >= 2, moved
            assert len(moved["migrationLog"]) >= 2, moved  # the moves count against spec.migration's budget
            reasons = [r for _, r, _ in _events(operator, ns, "tracker")]
            assert "UsersMoved" in reasons and "Moved" in reasons, reasons

            after = placed_ready(operator, static_ns, "fixed", 1)
            assert after is not None and after["decisionId"] == fixed["decisionId"], (fixed, after)
            assert sorted(p["metadata"]["name"] for p in live_pods(operator, static_ns)) == fixed_pods
            assert "users" not in after and "UsersMeasured" not in _conditions(after)
        finally:
            if bus is not None:
                control.remove_groups(bus["id"])


def test_a_query_prometheus_refuses_is_a_condition_and_a_warning(operator: StackHandle) -> None:
    with own_namespace(operator, "users-bad-query") as ns:
        ew = workload("bad-query", ns, replicas=1, cells={HOME[0]: 1.0}, max_latency_ms=50, tiers=["far-edge", "edge"])
        ew["spec"]["users"]["fromMetric"] = {"query": 'sum by (cell) (edgeorch_sim_cell_users{app="x"}',
                                             "intervalSeconds": 1}
        apply_all(operator, [ew])
        st = wait_for(lambda: (lambda s: s if s and _conditions(s).get("UsersMeasured", ("",))[0] == "False" else None)(
            placed_ready(operator, ns, "bad-query", 1)), 90, "bad-query placed by its cells, UsersMeasured False")
        _, reason, message = _conditions(st)["UsersMeasured"]
        assert reason == "QueryInvalid" and message.startswith("spec.users.fromMetric.query: Prometheus rejects it"), \
            message
        assert st["sites"] == HOME[1]  # the cells hold until the metric gives users
        warnings = wait_for(lambda: [e for e in _events(operator, ns, "bad-query") if e[1] == "QueryInvalid"], 30,
                            "a QueryInvalid Event")
        assert warnings[0][0] == "Warning" and "Prometheus rejects it" in warnings[0][2]

        ew["spec"]["users"]["fromMetric"]["query"] = 'sum by (cell) (edgeorch_sim_cell_users{app="nobody-here"})'
        apply_all(operator, [ew])
        fixed = wait_for(lambda: _with(operator, ns, "bad-query", "UsersMeasured", "NoData"), 60,
                         "UsersMeasured NoData once the query parses")
        assert fixed["status"]["phase"] == "Placed" and len(
            [e for e in _events(operator, ns, "bad-query") if e[1] == "QueryInvalid"]) == 1
