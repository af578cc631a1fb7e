"""Offload intents (orchestrator.intents): pending until the status names them, tied to their breach,
and unreadable values never drive a move.  Pure logic; the real path is test_offload_intent.py."""

from __future__ import annotations

from typing import Any

from orchestrator import intents
from orchestrator.intents import FAIL_BACK, OFFLOAD, Intent


def ew(intent: Intent | str | None = None, done: dict[str, Any] | None = None) -> dict[str, Any]:
    annotations = {}
    if intent is not None:
        annotations[intents.INTENT_ANNOTATION] = intent if isinstance(intent, str) else intent.encode()
    return {"metadata": {"annotations": annotations}, "status": {"offload": done} if done else {}}


OLD = Intent("sla-1", 0, 1000, OFFLOAD, ("fe-gracia",), "first fault")
NEW = Intent("sla-1", 0, 2000, OFFLOAD, ("fe-gracia",), "second fault")


def test_an_intent_is_pending_until_the_status_names_its_id_and_action() -> None:
    assert intents.pending(ew(OLD)) == OLD
    assert intents.pending(ew(OLD, intents.record(OLD, [("fe-gracia", "mec-sagrera")], "t"))) is None
    back = Intent("sla-1", 0, 1000, FAIL_BACK, OLD.avoid)
    assert intents.pending(ew(back, intents.record(OLD, [], "t"))) == back  # the offload was done, not this
    assert intents.pending(ew(NEW, intents.record(OLD, [], "t"))) == NEW  # an old breach's record is not this one's


def test_only_an_offload_avoids_sites() -> None:
    assert intents.avoided_sites(ew(OLD)) == {"fe-gracia"}
    assert intents.avoided_sites(ew(Intent("sla-1", 0, 1000, FAIL_BACK, ("fe-gracia",)))) == frozenset()
    assert intents.avoided_sites(ew()) == frozenset()


def test_a_value_we_did_not_write_drives_nothing() -> None:
    for text in ["fe-gracia", "{}", '{"action": "Teleport", "sla": "s", "objective": 0, "windowStart": 1}',
                 '{"action": "Offload", "sla": "s", "objective": "x", "windowStart": 1}']:
        assert intents.read(ew(text)) is None
        assert intents.avoided_sites(ew(text)) == frozenset()


def test_a_newer_breach_replaces_an_older_intent_never_the_reverse() -> None:
    assert NEW.newer_than(OLD) and not OLD.newer_than(NEW)
    assert NEW.newer_than(None)
    back = Intent("sla-1", 0, 1000, FAIL_BACK, OLD.avoid)
    assert back.newer_than(OLD) and not OLD.newer_than(back)
    other = Intent("sla-2", 0, 1000, OFFLOAD, ("mec-22at",))  # two agreements, one window: one wins, stably
    assert OLD.newer_than(other) != other.newer_than(OLD)


def test_the_status_record_names_the_breach_and_its_moves() -> None:
    done = intents.record(OLD, [("fe-gracia", "mec-sagrera")], "2026-12-04T00:00:00Z")
    assert intents.moves_of({"status": {"offload": done}}) == (OLD.id, OFFLOAD, [("fe-gracia", "mec-sagrera")])
    assert intents.breach_of(OLD.id) == ("sla-1", 0, 1000)
    assert intents.breach_of("garbage") is None
