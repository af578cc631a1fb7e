"""The SLA outbox is a list-map keyed by `key` (the API server rejects duplicates): merging new records."""

from __future__ import annotations

from orchestrator.ledger import migration_record
from orchestrator.slas import merge_outbox


def test_two_replicas_moving_between_the_same_sites_queue_one_record() -> None:
    uid, window = "u-1", 1_796_146_624
    moves = [("fe-eixample", "mec-22at"), ("fe-eixample", "mec-22at"), ("mec-montjuic", "mec-22at")]
    records = [migration_record(uid, 0, window, "default/video-analytics", a, b) for a, b in moves]
    outbox = merge_outbox([], records)
    assert [r["key"] for r in outbox] == [f"migration:0:{window}:fe-eixample:mec-22at",
                                          f"migration:0:{window}:mec-montjuic:mec-22at"]


def test_an_entry_already_queued_is_kept_as_it_is() -> None:
    queued = {**migration_record("u-1", 0, 5, "ns/w", "a", "b"), "attempts": 2, "lastError": "chain down"}
    again = migration_record("u-1", 0, 5, "ns/w", "a", "b")
    assert merge_outbox([queued], [again]) == [queued]
