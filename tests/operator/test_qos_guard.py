"""The QoS guard's decisions, tick by tick with explicit clocks (orchestrator.qos_guard with
orchestrator.move_intents): a blip moves nothing; a broken bound records an Offload intent within the
migration budget and cool-down (or says why not); an agreement's open offload rules; the fail-back
waits for a better placement that gains enough and holds; one intent drives a workload at a time.
The real path (Prometheus, the controller, Pods) is tests/operator/test_continuous_e2e.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from orchestrator import intents
from orchestrator.intents import Intent, IntentBook
from orchestrator.move_intents import MoveBook, adopt, open_offload, reoptimise
from orchestrator.qos_guard import QosGuard
from orchestrator.snapshot import QosMetrics
from tests.operator.continuous import SITES, Engine, body, iso, metrics

KEY = "city/cam"
T0 = 1_800_000_000.0


class Harness:
    def __init__(self, b: dict[str, Any], *, answer: Mapping[str, tuple[str, ...]] | None = None,
                 latency: Mapping[str, float] | None = None, **kw: Any) -> None:
        self.bodies = {KEY: b}
        self.m = metrics()
        self.book = IntentBook()
        self.moves = MoveBook()
        self.requested: list[str] = []
        self.enqueued: list[str] = []
        self.posted: list[tuple[str, str, str]] = []
        self.engine = Engine(answer, latency)

        async def snapshot() -> QosMetrics:
            return self.m

        self.guard = QosGuard(self.engine, lambda: SITES, lambda: self.bodies, snapshot, self.book, self.moves,
                              self.requested.append, self.enqueued.append, lambda _b, ev: self.posted.extend(ev), **kw)

    def tick(self, t: float) -> None:
        asyncio.run(self.guard.tick(now=T0 + t, mono=t))

    def fault(self, then: list[str] | None = None) -> None:
        """+40 ms at fe-a for two readings (t 0 and 2); with `then`, the controller carries the offload out there."""
        self.m = metrics({"fe-a": 40.0})
        self.tick(0)
        self.tick(2)
        if then is not None:
            self.carry_out(then, 3)

    def carry_out(self, moved_to: list[str], t: float) -> None:
        """What the controller does with the pending intent: the new placement and status.offload."""
        intent = self.moves.of(KEY)
        assert intent is not None
        b = self.bodies[KEY]
        moved = body(nodes=moved_to, migration=b["spec"]["migration"])
        sites = [p["site"] for p in b["status"]["placements"]]
        new_sites = [p["site"] for p in moved["status"]["placements"]]
        log = [int(T0 + t)] * len(intents.site_moves(sites, new_sites))
        moved["status"].update(offload={**intents.record(intent, intents.site_moves(sites, new_sites), _dt(T0 + t))},
                               migrationLog=b["status"].get("migrationLog", []) + log,
                               lastMigrationTime=iso(T0 + t))
        moved["status"]["offload"]["time"] = iso(T0 + t)
        self.bodies[KEY] = moved


def _dt(t: float) -> Any:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC)


def test_a_blip_moves_nothing_a_broken_bound_offloads_and_the_condition_says_it() -> None:
    h = Harness(body())
    h.tick(0)
    assert h.guard.verdict(KEY) is not None and h.guard.verdict(KEY).holds and h.requested == []  # type: ignore[union-attr]
    h.m = metrics({"fe-a": 40.0})
    h.tick(2)  # one bad reading: nothing said, nothing moved
    assert h.requested == [] and not h.guard.degraded(KEY)
    h.m = metrics()
    h.tick(4)
    h.m = metrics({"fe-a": 40.0})
    h.tick(6)
    assert h.requested == []  # not two in a row
    h.tick(8)
    intent = h.moves.of(KEY)
    assert intent is not None and intent.action == "Offload" and intent.avoid == ("fe-a",)
    assert intent.id == f"qos-bound:0:{int(T0 + 8)}" and "41.5 ms > 8 ms" in intent.reason
    assert h.requested == [KEY] and h.enqueued == [KEY]
    v = h.guard.verdict(KEY)
    assert v is not None and v.message.endswith("re-placing") and "measured 41.5 ms" in v.message
    # the controller sees it in what it honours for the workload
    assert h.moves.wanted(KEY, h.book.of(KEY)) == (intent,)
    h.tick(10)  # still pending: no second intent
    assert h.requested == [KEY] and h.moves.of(KEY) == intent


def test_no_move_beyond_the_budget_or_within_the_cool_down_and_the_condition_says_why() -> None:
    spent = body(migration={"budgetPerHour": 2, "cooldownSeconds": 60, "failBack": True},
                 status={"migrationLog": [int(T0) - 100, int(T0) - 50]})
    h = Harness(spent)
    h.fault()
    assert h.requested == [] and h.moves.of(KEY) is None
    v = h.guard.verdict(KEY)
    assert v is not None and not v.holds and v.message.endswith("not moving: migration budget used up (2/2 in the "
                                                                  "last hour)")
    cooling = Harness(body(status={"lastMigrationTime": iso(T0 - 10)}))
    cooling.fault()
    assert cooling.requested == []
    assert cooling.guard.verdict(KEY).message.endswith("cool-down of 60 s after the last migration")  # type: ignore[union-attr]
    cooling.tick(62)  # the cool-down is over (wall clock T0 + 62)
    assert cooling.requested == [KEY]


def test_an_agreements_open_offload_rules_and_a_covered_workload_waits_for_its_sla() -> None:
    h = Harness(body(), sla_grace_s=30)
    sla = {"metadata": {"uid": "sla-1", "namespace": "city"}, "spec": {"workloadRef": "cam"},
           "status": {"offloadIntent": {"objective": 0, "windowStart": 100, "action": "Offload", "avoid": ["fe-a"]}}}
    h.book.observe(sla)
    h.moves.put(KEY, reoptimise("earlier", T0))
    h.fault()
    assert h.requested == [] and h.moves.of(KEY) is None  # ours dropped: the SLA's offload rules
    assert "an SLA's offload is under way" in h.guard.verdict(KEY).message  # type: ignore[union-attr]
    assert h.moves.wanted(KEY, h.book.of(KEY)) == h.book.of(KEY)
    # an agreement without an open intent: its loop goes first, the guard after the grace
    h.book.observe({**sla, "status": {}})
    assert open_offload(h.book.of(KEY)) is None and h.book.covered(KEY)
    h.tick(4)
    assert h.requested == [] and "under an SLA" in h.guard.verdict(KEY).message  # type: ignore[union-attr]
    h.tick(32)
    assert h.requested == [KEY]


def test_fail_back_needs_enough_gain_held_for_a_while_and_no_flapping() -> None:
    h = Harness(body(migration={"budgetPerHour": 10, "cooldownSeconds": 0, "failBack": True}),
                answer={KEY: ("fe-a-n1",)}, latency={KEY: 1.5}, fail_back_hold_s=10)
    h.fault(["mec-b-n1"])
    h.tick(4)  # at mec-b (4.0 ms) the bound holds; fe-a still faulted: no what-if asked
    assert h.engine.requests == [] and h.guard.verdict(KEY).holds  # type: ignore[union-attr]
    adopted, ours = adopt(h.bodies[KEY]), h.moves.of(KEY)  # a restarted operator finds the same intent
    assert adopted is not None and ours is not None and (adopted.id, adopted.action, adopted.avoid) == \
        (ours.id, ours.action, ours.avoid)
    h.m = metrics()  # healed: fe-a at 1.5 ms, 2.5 ms (62 %) better
    for t in (6, 8, 10, 12, 14):
        h.tick(t)
    assert h.requested == [KEY]  # the offload only: the better placement has not held 10 s yet
    assert all(r.dry_run and r.migration_weight == 0.0 and not r.avoid_sites for r in h.engine.requests)
    h.m = metrics({"fe-a": 40.0})  # it breaks again within the hold: the clock starts over
    h.tick(15)
    h.m = metrics()
    for t in (17, 19, 21, 23, 25):
        h.tick(t)
    assert h.requested == [KEY]
    h.tick(27)
    back = h.moves.of(KEY)
    assert back is not None and back.action == "FailBack" and h.requested == [KEY, KEY]
    assert "1.5 ms" in back.reason


def test_no_fail_back_for_a_small_gain_and_without_fail_back_only_no_longer_avoided() -> None:
    # fe-a comes back only 1 ms better than where the workload went: not worth a move
    small = Harness(body(migration={"budgetPerHour": 10, "cooldownSeconds": 0, "failBack": True}),
                    answer={KEY: ("fe-a-n1",)}, latency={KEY: 3.0}, fail_back_hold_s=0)
    small.fault(["mec-b-n1"])
    small.m = metrics({"fe-a": 1.5})  # fe-a at 3.0 ms against 4.0 at mec-b
    for t in range(4, 40, 2):
        small.tick(t)
    assert small.requested == [KEY] and small.engine.requests == []
    off = Harness(body(migration={"budgetPerHour": 10, "cooldownSeconds": 0, "failBack": False}))
    off.fault(["mec-b-n1"])
    off.tick(4)
    assert off.moves.of(KEY) is not None  # fe-a still bad: still avoided
    off.m = metrics()
    off.tick(6)
    assert off.moves.of(KEY) is None and off.requested == [KEY]  # no longer avoided, nothing moved


def test_an_offload_nothing_could_carry_out_is_withdrawn_when_the_bound_holds_again() -> None:
    h = Harness(body())
    h.fault()
    assert h.moves.of(KEY) is not None
    h.bodies[KEY]["status"].update(phase="Degraded", conditions=[
        {"type": "Unplaceable", "status": "True", "reason": "NoFeasiblePlacement", "message": "no site within 8 ms",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    h.tick(4)
    assert h.guard.verdict(KEY).message.endswith("no other placement meets it: no site within 8 ms")  # type: ignore[union-attr]
    h.m = metrics()
    h.enqueued.clear()
    h.tick(6)
    assert h.moves.of(KEY) is None and KEY in h.enqueued


def test_one_intent_drives_a_workload_and_a_later_one_replaces_ours() -> None:
    own, agreements = MoveBook(), IntentBook()
    sla_back = Intent("sla-1", 0, 100, intents.FAIL_BACK, ("fe-a",))
    assert own.wanted(KEY, (sla_back,)) == (sla_back,)
    ours = reoptimise("gain", T0)
    own.put(KEY, ours)
    assert own.wanted(KEY, (sla_back,)) == (ours,)  # a closed agreement intent yields to ours
    b = body()
    assert own.sync(KEY, b, (sla_back,)) is not None  # pending
    b["status"]["offload"] = {"id": sla_back.id, "action": "FailBack", "moves": [], "time": iso(T0 + 5)}
    assert own.sync(KEY, b, (sla_back,)) is None and own.of(KEY) is None  # carried out after ours: replaced
    assert agreements.of(KEY) == () and not agreements.covered(KEY)
