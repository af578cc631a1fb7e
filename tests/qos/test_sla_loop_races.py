"""Kopf runs an SLA's timer and its change handlers as separate tasks: a tick that starts while `record()`
is sending a new version must not send it a second time (the chain would count two amendments).

The chain is the real embedded one; the Kubernetes side and Prometheus are small in-memory stand-ins
(the workload exists, every query parses and has no data), since only the order of the two coroutines
is under test.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from orchestrator.kube.errors import KubeNotFound
from orchestrator.ledger import LedgerConnection
from orchestrator.sla_loop import SlaLoop
from sla_contracts import LedgerConfig, agreement_id
from tests.qos.conftest import sla
from tests.sla.conftest import start_anvil

pytestmark = pytest.mark.chain


class StatusStore:
    """Keeps the status patches; `armed` is set by the first one after `arm()`."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.armed: asyncio.Event | None = None

    def arm(self) -> asyncio.Event:
        self.armed = asyncio.Event()
        return self.armed

    async def patch_custom(self, plural: str, ns: str, name: str, body: dict[str, Any], *, status: bool) -> None:
        self.patches.append(copy.deepcopy(body))
        if self.armed is not None:
            self.armed.set()

    async def get_custom(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        if plural != "edgeworkloads":
            raise KubeNotFound(f"{plural} {ns}/{name}")
        return {"metadata": {"name": name, "namespace": ns}, "spec": {}}


class NoData:
    """Prometheus, as the precheck sees it when every query parses and no series matches."""

    async def query(self, promql: str) -> list[Any]:
        return []


def _body(uid: str, generation: int, warning: float, status: dict[str, Any]) -> dict[str, Any]:
    doc = sla("svc-sla", "lifecycle", "svc", interval=5, warning_ms=warning)
    doc["metadata"].update(uid=uid, generation=generation)
    doc["status"] = copy.deepcopy(status)
    return doc


@pytest.mark.parametrize("backend", ["embedded", "anvil"])
async def test_a_tick_during_an_amendment_does_not_amend_twice(backend: str, tmp_path: Path) -> None:
    node = start_anvil(tmp_path) if backend == "anvil" else None
    uid = str(uuid.uuid4())
    store = StatusStore()
    conn = LedgerConnection(LedgerConfig.development(node.url if node else None, tmp_path))
    loop = SlaLoop(store, engine=None, prometheus=NoData(), ledger=conn, enqueue=lambda _k: None)  # type: ignore[arg-type]
    try:
        first = await loop.record(_body(uid, 1, 12.0, {}))
        assert first.status.get("version") == 1, first.status
        v1_status = {**first.status}
        amended = _body(uid, 2, 11.0, v1_status)
        armed = store.arm()

        async def tick_when_the_outbox_is_written() -> Any:
            await armed.wait()  # resumes at record()'s first await after it wrote the outbox: the chain
            return await loop.tick(_body(uid, 2, 11.0, v1_status), now=0.0)  # not due: only the outbox

        recorded, ticked = await asyncio.gather(loop.record(amended), tick_when_the_outbox_is_written())
        ledger = await conn.get()
        info = await ledger.get_agreement(agreement_id(amended["metadata"]["uid"]))
        assert info.version == 2, f"the chain counted {info.version - 1} amendments for one spec change"
        assert recorded.status.get("version") == 2, recorded.status
        assert not ticked.status.get("outbox"), f"the tick sent the amendment too: {ticked.status['outbox']}"
        after = await loop.tick(_body(uid, 2, 11.0, v1_status), now=0.0)
        assert not (after.status.get("outbox") or []), after.status
    finally:
        await conn.close()
        if node:
            node.stop()


async def test_the_timer_queues_a_generation_the_change_handler_has_not() -> None:
    """The change handler may be retrying (or Kopf missed the event): the next tick records the spec."""
    store = StatusStore()
    conn = LedgerConnection(LedgerConfig.development())
    loop = SlaLoop(store, engine=None, prometheus=NoData(), ledger=conn, enqueue=lambda _k: None)  # type: ignore[arg-type]
    try:
        body = _body(str(uuid.uuid4()), 3, 12.0, {})
        ticked = await loop.tick(body, now=0.0)
        assert ticked.status.get("observedGeneration") == 3 and ticked.status.get("version") == 1, ticked.status
        again = await loop.record(body)  # the change handler then has nothing left to do
        assert not again.events and "outbox" not in again.status, again
    finally:
        await conn.close()
