"""Offload intents (orchestrator.intents): held by the agreement's status, pending until the
workload's status names them, tied to their breach, and values we did not write drive nothing.
Pure logic; the real path is test_offload_intent.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from orchestrator import intents
from orchestrator.intents import FAIL_BACK, OFFLOAD, Intent, IntentBook

WHEN = datetime(2026, 12, 4, tzinfo=UTC)


def ew(done: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": "apps", "name": "video"}, "status": {"offload": done} if done else {}}


def sla(uid: str, intent: Intent | dict[str, Any] | str | None, workload: str = "video") -> dict[str, Any]:
    value = intent.status() if isinstance(intent, Intent) else intent
    return {"metadata": {"namespace": "apps", "name": f"sla-{uid}", "uid": uid},
            "spec": {"workloadRef": workload}, "status": {"offloadIntent": value} if value is not None else {}}


OLD = Intent("sla-1", 0, 1000, OFFLOAD, ("fe-gracia",), "first fault")
NEW = Intent("sla-1", 0, 2000, OFFLOAD, ("fe-gracia",), "second fault")


def test_the_agreement_status_round_trips_an_intent() -> None:
    assert intents.of_agreement(sla("sla-1", OLD)) == OLD
    assert intents.of_agreement(sla("sla-1", None)) is None


def test_an_intent_is_pending_until_the_workload_status_names_its_id_and_action() -> None:
    assert intents.pending(ew(), [OLD]) == OLD
    assert intents.pending(ew(intents.record(OLD, [("fe-gracia", "mec-sagrera")], WHEN)), [OLD]) is None
    back = Intent("sla-1", 0, 1000, FAIL_BACK, OLD.avoid)
    assert intents.pending(ew(intents.record(OLD, [], WHEN)), [back]) == back  # the offload was done, not this
    assert intents.pending(ew(intents.record(OLD, [], WHEN)), [NEW]) == NEW  # an old breach's record is not this one's
    assert intents.pending(ew(), []) is None


def test_of_two_agreements_the_newer_breach_is_carried_out_first() -> None:
    other = Intent("sla-2", 1, 1500, OFFLOAD, ("mec-22at",), "other agreement")
    assert intents.pending(ew(), [OLD, other]) == other
    assert intents.pending(ew(intents.record(other, [], WHEN)), [OLD, other]) == OLD


def test_only_an_offload_avoids_sites_and_every_agreement_counts() -> None:
    assert intents.avoided_sites([OLD]) == {"fe-gracia"}
    assert intents.avoided_sites([Intent("sla-1", 0, 1000, FAIL_BACK, ("fe-gracia",))]) == frozenset()
    assert intents.avoided_sites([OLD, Intent("sla-2", 0, 9, OFFLOAD, ("mec-22at",))]) == {"fe-gracia", "mec-22at"}
    assert intents.avoided_sites([]) == frozenset()


def test_a_value_we_did_not_write_drives_nothing() -> None:
    for value in ["fe-gracia", {}, {"action": "Teleport", "objective": 0, "windowStart": 1},
                  {"action": "Offload", "objective": "x", "windowStart": 1}]:
        assert intents.of_agreement(sla("sla-1", value)) is None


def test_the_book_follows_the_agreements_statuses() -> None:
    book = IntentBook()
    book.seed([sla("sla-1", OLD), sla("sla-2", None), sla("sla-3", NEW, workload="other")])
    assert book.of("apps/video") == (OLD,)
    assert book.of("apps/other") == (replace(NEW, sla="sla-3"),)
    book.observe(sla("sla-1", None))  # withdrawn
    assert book.of("apps/video") == ()
    book.observe(sla("sla-2", Intent("sla-2", 0, 5, OFFLOAD, ("x",))))
    assert [i.sla for i in book.of("apps/video")] == ["sla-2"]
    book.forget("sla-2")  # the agreement is gone
    assert book.of("apps/video") == ()
    book.observe(sla("sla-3", NEW, workload="video"))  # the agreement now names another workload
    assert book.of("apps/other") == () and book.of("apps/video") == (replace(NEW, sla="sla-3"),)


def test_a_newer_breach_replaces_an_older_intent_never_the_reverse() -> None:
    assert NEW.newer_than(OLD) and not OLD.newer_than(NEW)
    assert NEW.newer_than(None)
    back = Intent("sla-1", 0, 1000, FAIL_BACK, OLD.avoid)
    assert back.newer_than(OLD) and not OLD.newer_than(back)
    other = Intent("sla-2", 0, 1000, OFFLOAD, ("mec-22at",))  # two agreements, one window: one wins, stably
    assert OLD.newer_than(other) != other.newer_than(OLD)


def test_the_status_record_names_the_breach_and_its_moves() -> None:
    done = intents.record(OLD, [("fe-gracia", "mec-sagrera")], WHEN)
    assert intents.moves_of({"status": {"offload": done}}) == (OLD.id, OFFLOAD, [("fe-gracia", "mec-sagrera")])
    assert intents.breach_of(OLD.id) == ("sla-1", 0, 1000)
    assert intents.breach_of("garbage") is None
