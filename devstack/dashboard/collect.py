"""Reading what the city map shows: the cluster's objects and Events, Prometheus' link latency, the
chain's records and (on the local stack) the simulator's injected faults.

Every source is read on its own: one that fails leaves its part of the map empty and says why in
`Inputs.errors`, the rest is still drawn.  The chain is read incrementally (new blocks only), through
the same ledger client `edgeorch sla history` uses, and never deployed to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from devstack.dashboard.state import Inputs
from orchestrator.cells import Measured, measure
from orchestrator.kube.aio import AsyncKube, call_json
from orchestrator.prometheus import PrometheusSource
from orchestrator.vocabulary import EDGESITES, EDGEWORKLOAD, EDGEWORKLOADS, RADIOCELLS, SLA, SLAS

if TYPE_CHECKING:
    from sla_contracts.ledger import Ledger
    from sla_contracts.model import LedgerEvent

log = logging.getLogger("edgeorch.dashboard")
T = TypeVar("T")
EVENT_KINDS = (EDGEWORKLOAD, SLA)
MAX_RECORDS = 200


def record_of(e: LedgerEvent, names: Mapping[str, str]) -> dict[str, Any]:
    """One chain record for the side list: the event, the SLA it is about (its ns/name when known)."""
    from devstack.cli.sla import describe_event

    aid = e.args.get("agreement_id")
    ref = "0x" + bytes(aid).hex() if isinstance(aid, bytes | bytearray) else str(aid or "")
    return {"block": e.block_number, "tx": e.tx_hash, "event": e.name, "agreement": names.get(ref, ref[:18]),
            "text": describe_event(e)}


class LedgerFeed:
    """The chain's records, read incrementally; opens the ledger on first use (and again after an error)."""

    def __init__(self, url: str | None, state_dir: Path | None) -> None:
        self.url, self.state_dir = url, state_dir
        self._ledger: Ledger | None = None
        self._events: list[LedgerEvent] = []
        self._seen: set[tuple[int, int]] = set()
        self._next_block: int | None = None

    async def events(self) -> list[LedgerEvent]:
        from sla_contracts.ledger import open_ledger

        if not self.url:
            raise RuntimeError("no chain URL (--rpc-url or $EDGEORCH_CHAIN_URL)")
        if self._ledger is None:
            self._ledger = await open_ledger(self.url, state_dir=self.state_dir, deploy=False)
        try:
            new = await self._ledger.events(from_block=self._next_block)
        except Exception:
            await self.close()
            raise
        for e in new:  # the last block is read again next time (an event name queried before it was mined)
            if (e.block_number, e.log_index) not in self._seen:
                self._seen.add((e.block_number, e.log_index))
                self._events.append(e)
        self._events = self._events[-MAX_RECORDS:]
        if self._events:
            self._next_block = self._events[-1].block_number
        return list(self._events)

    async def close(self) -> None:
        if self._ledger is not None:
            ledger, self._ledger = self._ledger, None
            await ledger.close()


async def _guard(errors: dict[str, str], source: str, read: Awaitable[T], empty: T) -> T:
    try:
        return await read
    except Exception as exc:  # one source down leaves only its part of the map empty
        errors[source] = f"{type(exc).__name__}: {exc}"[:500]
        return empty


class Collector:
    """Reads every source into `Inputs` (see the module docstring)."""

    def __init__(self, kube: AsyncKube, prometheus: PrometheusSource, ledger: LedgerFeed,
                 faults: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None) -> None:
        self.kube, self.prometheus, self.ledger, self.faults = kube, prometheus, ledger, faults

    async def _events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind in EVENT_KINDS:
            listed = await call_json(self.kube.core.list_event_for_all_namespaces,
                                     field_selector=f"involvedObject.kind={kind}", limit=500)
            out.extend(listed.get("items") or [])
        return out

    async def read(self) -> Inputs:
        errors: dict[str, str] = {}
        lists: Sequence[list[dict[str, Any]]] = await asyncio.gather(*(
            _guard(errors, plural, self.kube.list_custom(plural), []) for plural in (EDGESITES, RADIOCELLS,
                                                                                      EDGEWORKLOADS, SLAS)))
        sites, cells, workloads, slas = lists
        empty: list[Any] = []
        measured, events, chain, faults = await asyncio.gather(
            measure(self.prometheus),
            _guard(errors, "events", self._events(), empty),
            _guard(errors, "chain", self.ledger.events(), empty),
            _guard(errors, "simulator", self.faults(), empty) if self.faults else _nothing(),
        )
        if isinstance(measured, Measured) and measured.error:
            errors["prometheus"] = measured.error
        names = _agreement_names(slas)
        return Inputs(
            sites=sites, cells=cells, workloads=workloads, slas=slas, events=events,
            latency_ms=measured.latency_ms, site_up=measured.site_up,
            records=[record_of(e, names) for e in chain], faults=faults, errors=errors,
            generated=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        )


async def _nothing() -> list[Any]:
    return []


def _agreement_names(slas: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """0x agreement id -> namespace/name of the SLA it records."""
    from sla_contracts.ids import agreement_id

    out: dict[str, str] = {}
    for sla in slas:
        meta = sla.get("metadata") or {}
        if meta.get("uid"):
            out["0x" + agreement_id(str(meta["uid"])).hex()] = f"{meta.get('namespace')}/{meta.get('name')}"
    return out
