"""Repeated identical Events are one Event whose count grows (#25: while Prometheus was down, an
agreement got a new MetricsUnavailable Warning every second), against the real API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.kube.aio import AsyncKube, event_name
from tests.conftest import StackHandle
from tests.operator.conftest import get_json, own_namespace

pytestmark = [pytest.mark.cluster]


def _events(stack: StackHandle, ns: str, involved: str) -> list[dict[str, Any]]:
    items = get_json(stack, "events", "-n", ns, "--field-selector", f"involvedObject.name={involved}")["items"]
    return sorted(items, key=lambda e: e["message"])


def test_repeated_events_aggregate_into_one_whose_count_grows(stack: StackHandle) -> None:
    with own_namespace(stack, "event-repeats") as ns:
        stack.kubectl("create", "configmap", "subject", "-n", ns)
        body = get_json(stack, "configmap", "subject", "-n", ns)
        down = "Prometheus at http://127.0.0.1:9 unreachable: connection refused"

        async def post(times: int, message: str = down) -> None:
            kube = await AsyncKube.connect(stack.kubeconfig)  # a new client: as after an operator restart
            try:
                for _ in range(times):
                    await kube.post_event(body, "Warning", "MetricsUnavailable", message)
                await asyncio.gather(*(kube.post_event(body, "Warning", "MetricsUnavailable", message)
                                       for _ in range(2)))
            finally:
                await kube.close()

        asyncio.run(post(4))
        events = _events(stack, ns, "subject")
        assert len(events) == 1, events
        first = events[0]
        assert first["count"] == 6 and first["reason"] == "MetricsUnavailable" and first["type"] == "Warning"
        assert first["lastTimestamp"] >= first["firstTimestamp"]
        assert first["metadata"]["name"] == event_name("subject", body["metadata"]["uid"], "Warning",
                                                       "MetricsUnavailable", down)

        asyncio.run(post(1))  # the restarted operator counts on the Event already there
        asyncio.run(post(1, "Prometheus rejected the query"))  # another message is another Event
        events = _events(stack, ns, "subject")
        assert [(e["message"], e["count"]) for e in events] == [(down, 9), ("Prometheus rejected the query", 3)]
