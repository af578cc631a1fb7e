"""What the app API serves and streams (orchestrator.endpoints.book): a change of a cell's serving
replica is a relocation, a change of its IP or readiness an endpoint update; a watcher that falls
behind gets the whole map once instead of blocking anyone."""

from __future__ import annotations

import asyncio

from orchestrator.endpoints.book import QUEUE_SIZE, EndpointBook, changes, workload_of
from tests.endpoints.conftest import book_body as _ew
from tests.endpoints.conftest import serving_entry as _entry


def test_a_new_serving_replica_is_a_relocation_and_a_new_ip_an_update() -> None:
    before = workload_of(_ew([_entry("cell-a", "p1", "s1"), _entry("cell-b", "p1", "s1", "10.0.0.1")]))
    after = workload_of(_ew([_entry("cell-a", "p1", "s1", "10.0.0.1"), _entry("cell-b", "p2", "s2", "10.0.0.2")], "2"))
    found = {cell: (n.event, n.data) for n, cell in changes(before, after)}
    assert found["cell-a"][0] == "endpoint" and found["cell-a"][1]["podIP"] == "10.0.0.1"
    kind, data = found["cell-b"]
    assert kind == "relocation" and (data["previous"]["site"], data["current"]["site"]) == ("s1", "s2")
    assert data["current"]["ports"] == [{"name": "tcp-8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
    assert after.service == "cam.city.svc" and changes(after, after) == []


def test_a_watcher_that_falls_behind_is_resynced_and_a_deleted_workload_says_so() -> None:
    async def run() -> None:
        book = EndpointBook()
        book.observe(None, _ew([_entry("cell-a", "p1", "s1", "10.0.0.1")]))
        slow, other = book.watch("city", "cam", None), book.watch("city", "cam", "cell-b")
        for i in range(QUEUE_SIZE + 5):
            book.observe("MODIFIED", _ew([_entry("cell-a", f"p{i % 2 + 2}", "s1", "10.0.0.1")], str(i + 2)))
        assert slow.queue.qsize() <= QUEUE_SIZE and other.queue.empty()  # other watches cell-b only
        events = [slow.queue.get_nowait().event for _ in range(slow.queue.qsize())]
        assert "resync" in events and events.count("relocation") < QUEUE_SIZE
        book.observe("DELETED", _ew([]))
        assert slow.queue.get_nowait().event == "deleted" and book.get("city", "cam") is None
        book.unwatch(slow)
        book.unwatch(other)

    asyncio.run(run())
