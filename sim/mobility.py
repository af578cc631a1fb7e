"""Moving user groups of the simulated city: buses along routes, crowds gathering for an event.

Groups (JSON bodies of `POST /groups`, discriminated by `kind`; `app` is the `app` label of the
metric, the name the app's own query selects):
  {"kind": "bus", "app": A, "route": R [, "users": 40, "handover_s": 0]}
      along the city's route R (sim.scenario RouteSpec), from its first stop; or with
      "stops": [{"cell": C, "dwell_s": S}, ...] [, "loop": true] instead of a route.  During the last
      `handover_s` seconds of a dwell its users pass linearly from this stop's cell to the next one's.
  {"kind": "crowd", "app": A, "cells": {C: weight, ...} [, "users": 500, "ramp_s": 60, "hold_s": null]}
      gathers in the cells over `ramp_s`, stays `hold_s` (null: until removed), then leaves over `ramp_s`.
`PATCH /groups/{id}` with {"stop": k} puts a bus at stop k now (its dwell there starts over), so a
test or a demo moves it on its own schedule.

The exporter publishes every group's users per cell as `edgeorch_sim_cell_users{cell, app}` (the
groups of one app in one cell summed; no series where nobody is).  Time is a monotonic clock given
to `Groups` (a test passes its own).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sim.faults import FaultError, parse_kind
from sim.scenario import DNS_LABEL, City, StopSpec

App = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Bus(_Body):
    kind: Literal["bus"]
    app: App
    route: str | None = None
    stops: list[StopSpec] | None = Field(default=None, min_length=1, max_length=256)
    loop: bool = True
    users: float = Field(default=40.0, gt=0, le=1e6)
    handover_s: float = Field(default=0.0, ge=0, le=3600)


class Crowd(_Body):
    kind: Literal["crowd"]
    app: App
    cells: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    users: float = Field(default=500.0, gt=0, le=1e7)
    ramp_s: float = Field(default=60.0, ge=0, le=86400)
    hold_s: float | None = Field(default=None, ge=0, le=86400 * 7)


GROUP_KINDS: dict[str, type[Bus | Crowd]] = {"bus": Bus, "crowd": Crowd}


def parse_group(data: Any) -> Bus | Crowd:
    """A group from its JSON body (FaultError names the bad field); not checked against a city."""
    return parse_kind(data, GROUP_KINDS)


@dataclass
class ActiveGroup:
    """A group on the move: `start` is when it was at the beginning of its route (or began gathering)."""

    id: str
    group: Bus | Crowd
    stops: tuple[StopSpec, ...]  # a bus's stops (its route's, or its own); empty for a crowd
    loop: bool
    start: float

    def stop_at(self, t: float) -> tuple[int, float]:
        """(index of the stop a bus is at, seconds spent there) `t` seconds after its start."""
        lap = sum(s.dwell_s for s in self.stops)
        if self.loop:
            t %= lap
        for i, stop in enumerate(self.stops):
            if t < stop.dwell_s or i == len(self.stops) - 1:
                return i, t
            t -= stop.dwell_s
        raise AssertionError("unreachable")  # pragma: no cover

    def users(self, now: float) -> dict[str, float]:
        """Cell -> users of this group at monotonic time `now`."""
        t = max(0.0, now - self.start)
        g = self.group
        if isinstance(g, Crowd):
            return {c: g.users * self._gathered(t) * w / sum(g.cells.values()) for c, w in g.cells.items()}
        i, there = self.stop_at(t)
        stop = self.stops[i]
        nxt = i + 1 if i + 1 < len(self.stops) else (0 if self.loop else None)
        left = stop.dwell_s - there
        if nxt is None or g.handover_s <= 0 or left >= g.handover_s or self.stops[nxt].cell == stop.cell:
            return {stop.cell: g.users}
        passed = 1.0 - left / g.handover_s
        return {stop.cell: g.users * (1 - passed), self.stops[nxt].cell: g.users * passed}

    def _gathered(self, t: float) -> float:
        """The fraction of a crowd present `t` seconds after it began gathering."""
        assert isinstance(self.group, Crowd)
        ramp, hold = self.group.ramp_s, self.group.hold_s
        if ramp > 0 and t < ramp:
            return t / ramp
        if hold is None or t < ramp + hold:
            return 1.0
        if ramp > 0 and t < 2 * ramp + hold:
            return 1.0 - (t - ramp - hold) / ramp
        return 0.0

    def to_json(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.group.model_dump(exclude_none=True, mode="json"),
                               "cells_now": {c: round(u, 3) for c, u in self.users(now).items() if u > 0}}
        if self.stops:
            out["stop"] = self.stop_at(max(0.0, now - self.start))[0]
        return out


class Groups:
    """The city's moving user groups, validated against it."""

    def __init__(self, city: City, clock: Callable[[], float] = time.monotonic) -> None:
        self.city = city
        self.clock = clock
        self.active: dict[str, ActiveGroup] = {}
        self._cells = {c.name for c in city.cells}
        self._ids = itertools.count(1)

    def add(self, data: Any) -> ActiveGroup:
        """Start a group (a JSON body or a model); FaultError names the bad field."""
        group = data if isinstance(data, Bus | Crowd) else parse_group(data)
        stops: tuple[StopSpec, ...] = ()
        loop = True
        if isinstance(group, Bus):
            if (group.route is None) == (group.stops is None):
                raise FaultError("route: give a route of the city or stops, not both and not neither")
            if group.route is not None:
                try:
                    route = self.city.route(group.route)
                except KeyError as exc:
                    known = ", ".join(r.name for r in self.city.routes) or "none"
                    raise FaultError(f"route: unknown route {group.route!r} (known: {known})") from exc
                stops, loop = tuple(route.stops), route.loop
            else:
                stops, loop = tuple(group.stops or ()), group.loop
            cells = [s.cell for s in stops]
        else:
            cells = list(group.cells)
        for cell in cells:
            if cell not in self._cells:
                raise FaultError(f"cells: unknown cell {cell!r}")
        active = ActiveGroup(f"g{next(self._ids)}", group, stops, loop, self.clock())
        self.active[active.id] = active
        return active

    def move(self, group_id: str, stop: int) -> ActiveGroup:
        """Put bus `group_id` at `stop` now (KeyError: no such group; FaultError: not a bus, no such stop)."""
        active = self.active[group_id]
        if not active.stops:
            raise FaultError(f"stop: group {group_id} is a crowd, not a bus")
        if not 0 <= stop < len(active.stops):
            raise FaultError(f"stop: must be 0..{len(active.stops) - 1}, got {stop}")
        active.start = self.clock() - sum(s.dwell_s for s in active.stops[:stop])
        return active

    def remove(self, group_id: str | None = None) -> list[str]:
        """Remove one group (KeyError if unknown) or all of them; the ids removed."""
        if group_id is None:
            ids = list(self.active)
            self.active.clear()
            return ids
        del self.active[group_id]
        return [group_id]

    def cell_users(self) -> dict[tuple[str, str], float]:
        """(cell, app) -> users now, over every group (cells where nobody is are left out)."""
        now = self.clock()
        out: dict[tuple[str, str], float] = {}
        for active in self.active.values():
            for cell, n in active.users(now).items():
                if n > 0:
                    out[(cell, active.group.app)] = out.get((cell, active.group.app), 0.0) + n
        return out

    def to_json(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [g.to_json(now) for g in self.active.values()]
