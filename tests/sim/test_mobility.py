"""Moving user groups (sim.mobility): buses along routes and crowds, on a clock the test turns."""

from __future__ import annotations

import pytest

from sim.faults import FaultError
from sim.mobility import Groups
from sim.scenario import load_scenario


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def groups(clock: Clock) -> Groups:
    return Groups(load_scenario("barcelona"), clock)


def test_a_bus_follows_its_route_stop_by_stop_and_starts_again(groups: Groups, clock: Clock) -> None:
    route = load_scenario("barcelona").route("v15")
    bus = groups.add({"kind": "bus", "app": "tracker", "route": "v15", "users": 30})
    seen = []
    for stop in route.stops:
        seen.append(groups.cell_users())
        clock.t += stop.dwell_s
    assert seen == [{(s.cell, "tracker"): 30.0} for s in route.stops]
    assert groups.cell_users() == {(route.stops[0].cell, "tracker"): 30.0}  # a loop: the first stop again
    assert groups.to_json()[0]["stop"] == 0 and groups.to_json()[0]["id"] == bus.id


def test_a_bus_hands_its_users_over_to_the_next_cell(groups: Groups, clock: Clock) -> None:
    groups.add({"kind": "bus", "app": "tracker", "stops": [{"cell": "cell-sants-1", "dwell_s": 60},
                                                           {"cell": "cell-eixample-1", "dwell_s": 60}],
                "handover_s": 20, "users": 40, "loop": False})
    clock.t += 40
    assert groups.cell_users() == {("cell-sants-1", "tracker"): 40.0}
    clock.t += 10
    assert groups.cell_users() == pytest.approx({("cell-sants-1", "tracker"): 20.0, ("cell-eixample-1", "tracker"): 20.0})
    clock.t += 1000  # no loop: it stays at its last stop
    assert groups.cell_users() == {("cell-eixample-1", "tracker"): 40.0}


def test_a_bus_moved_to_a_stop_stays_there_its_dwell_time(groups: Groups, clock: Clock) -> None:
    bus = groups.add({"kind": "bus", "app": "tracker", "stops": [{"cell": "cell-sants-1", "dwell_s": 3600},
                                                                 {"cell": "cell-poblenou-1", "dwell_s": 3600}]})
    clock.t += 100
    groups.move(bus.id, 1)
    assert groups.cell_users() == {("cell-poblenou-1", "tracker"): 40.0}
    clock.t += 3599
    assert groups.cell_users() == {("cell-poblenou-1", "tracker"): 40.0}
    clock.t += 2
    assert groups.cell_users() == {("cell-sants-1", "tracker"): 40.0}
    with pytest.raises(FaultError, match=r"stop: must be 0\.\.1"):
        groups.move(bus.id, 2)
    with pytest.raises(KeyError):
        groups.move("g99", 0)


def test_a_crowd_gathers_holds_and_leaves(groups: Groups, clock: Clock) -> None:
    groups.add({"kind": "crowd", "app": "stadium", "cells": {"cell-les-corts-1": 3, "cell-sants-2": 1},
                "users": 400, "ramp_s": 100, "hold_s": 50})
    assert groups.cell_users() == {}  # nobody yet: no series
    clock.t += 50
    assert groups.cell_users() == pytest.approx({("cell-les-corts-1", "stadium"): 150, ("cell-sants-2", "stadium"): 50})
    clock.t += 100
    assert groups.cell_users() == pytest.approx({("cell-les-corts-1", "stadium"): 300, ("cell-sants-2", "stadium"): 100})
    clock.t += 50
    assert groups.cell_users() == pytest.approx({("cell-les-corts-1", "stadium"): 150, ("cell-sants-2", "stadium"): 50})
    clock.t += 100
    assert groups.cell_users() == {}


def test_groups_of_one_app_in_one_cell_add_up_and_are_removed(groups: Groups) -> None:
    a = groups.add({"kind": "bus", "app": "tracker", "stops": [{"cell": "cell-sants-1", "dwell_s": 60}], "users": 10})
    groups.add({"kind": "crowd", "app": "tracker", "cells": {"cell-sants-1": 1}, "users": 5, "ramp_s": 0})
    groups.add({"kind": "crowd", "app": "other", "cells": {"cell-sants-1": 1}, "users": 7, "ramp_s": 0})
    assert groups.cell_users() == {("cell-sants-1", "tracker"): 15.0, ("cell-sants-1", "other"): 7.0}
    assert groups.remove(a.id) == [a.id]
    assert groups.cell_users()[("cell-sants-1", "tracker")] == 5.0
    assert len(groups.remove()) == 2 and groups.cell_users() == {}


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "tram", "app": "x"}, "kind: must be one of bus, crowd"),
    ({"kind": "bus", "app": "x", "route": "v99"}, "route: unknown route 'v99' .known: v15, h12."),
    ({"kind": "bus", "app": "x"}, "route: give a route of the city or stops"),
    ({"kind": "bus", "app": "x", "route": "v15", "stops": [{"cell": "cell-sants-1", "dwell_s": 1}]}, "route: give"),
    ({"kind": "bus", "app": "x", "stops": [{"cell": "cell-mars-1", "dwell_s": 1}]}, "cells: unknown cell 'cell-mars-1'"),
    ({"kind": "bus", "app": "x", "stops": [{"cell": "cell-sants-1", "dwell_s": 0}]}, r"stops\[0\]\.dwell_s"),
    ({"kind": "bus", "app": "Not An App", "route": "v15"}, "app"),
    ({"kind": "bus", "app": "x", "route": "v15", "users": 0}, "users"),
    ({"kind": "crowd", "app": "x", "cells": {}}, "cells"),
    ({"kind": "crowd", "app": "x", "cells": {"cell-sants-1": 1}, "ramp_s": -1}, "ramp_s"),
    ([1, 2], "body: expected a JSON object"),
])
def test_bad_groups_are_refused_naming_the_field(groups: Groups, body: object, field: str) -> None:
    with pytest.raises(FaultError, match=field):
        groups.add(body)
    assert groups.active == {}
