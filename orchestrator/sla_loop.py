"""The QoS closed loop for ServiceLevelAgreements, one tick at a time.

A tick: evaluate the objectives when the SLA's interval is due; persist new ledger records into the
SLA's outbox *before* sending them; flush the outbox; offload on a breach, fail back after recovery,
and queue each migration for the ledger too.  The handlers call `record()` and `tick()` and write the
returned status; this module also remembers the last status it wrote, so a stale watch event can
never count the same bad window twice.  Kopf runs an SLA's timer apart from its change handlers, so
the work on one SLA holds that SLA's lock: two tasks flushing one outbox would send a record twice
(and the chain would count one amendment as two).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from orchestrator import offload, slas, telemetry
from orchestrator.engine import PlacementEngine
from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.ledger import LedgerConnection, flush, migration_record
from orchestrator.prometheus import MetricsUnavailable, PrometheusSource
from orchestrator.resources.common import Condition, ConditionStatus, set_condition, to_k8s
from sla_contracts import agreement_id

log = logging.getLogger("edgeorch.sla")
PLURAL = "servicelevelagreements"
Event = tuple[str, str, str]
Announce = Callable[[str, str, Mapping[str, Any], list[str]], Awaitable[None]]


@dataclass
class TickResult:
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    workload_events: list[tuple[dict[str, Any], Event]] = field(default_factory=list)


class SlaLoop:
    def __init__(self, kube: AsyncKube, engine: PlacementEngine, prometheus: PrometheusSource,
                 ledger: LedgerConnection, announce: Announce | None = None, binding: str = "scheduler",
                 exclusive: Callable[[str], AbstractAsyncContextManager[Any]] | None = None) -> None:
        self.announce = announce
        # held while an offload or fail-back moves a workload (the controller's lock for that key)
        self.exclusive = exclusive or (lambda _key: contextlib.nullcontext())
        self.binding = binding  # how moved replicas reach their node (decision.BINDINGS)
        self.kube = kube
        self.engine = engine
        self.prometheus = prometheus
        self.ledger = ledger
        self._written: dict[str, dict[str, Any]] = {}  # uid -> the last status we wrote
        self._last_eval: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}  # uid -> held while record/tick/terminate work on it
        # Workloads under an agreement ("ns/name") -> the sites the simulator was last told: only
        # these get synthetic app traffic (the series SLA objectives are computed from).
        self._covered: dict[str, tuple[str, ...]] = {}

    def covers(self, workload: str) -> bool:
        """Whether an agreement covers workload "ns/name" (its app traffic is simulated)."""
        return workload in self._covered

    def _fresh(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`body` with the newest status we know of (ours, when the watch has not caught up)."""
        uid = body["metadata"]["uid"]
        mine = self._written.get(uid)
        out = dict(body)
        if mine is not None:
            out["status"] = {**(body.get("status") or {}), **mine}
        return out

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        self._last_eval.pop(uid, None)

    def _lock(self, body: Mapping[str, Any]) -> asyncio.Lock:
        return self._locks.setdefault(body["metadata"]["uid"], asyncio.Lock())

    async def _persist(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = body["metadata"]
        await self.kube.patch_custom(PLURAL, meta["namespace"], meta["name"], {"status": status}, status=True)
        self._remember(body, status)

    def _remember(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        uid = body["metadata"]["uid"]
        self._written[uid] = {**self._written.get(uid, {}), **status}

    # -- the agreement itself -------------------------------------------------------------------
    async def record(self, body: Mapping[str, Any]) -> TickResult:
        async with self._lock(body):
            return await self._record(body)

    async def _record(self, body: Mapping[str, Any]) -> TickResult:
        body = self._fresh(body)
        upd = slas.record(body)
        result = await self._commit(body, upd)
        try:
            await self._workload_sites(body)  # from now on its app traffic is simulated
        except KubeError as exc:  # the next evaluation tells the simulator
            log.warning("could not read workload %s: %s", body["spec"]["workloadRef"], exc)
        return result

    async def terminate(self, body: Mapping[str, Any]) -> str | None:
        """End the agreement on chain (the SLA is being deleted); the tx hash, or None if never recorded."""
        uid = body["metadata"]["uid"]
        lock = self._lock(body)
        async with lock:
            recorded = bool((self._fresh(body).get("status") or {}).get("agreementId"))
            self.forget(uid)
            self._covered.pop(f"{body['metadata']['namespace']}/{body['spec']['workloadRef']}", None)
            tx = None
            if recorded:
                ledger = await self.ledger.get()
                tx = str((await ledger.terminate_agreement(agreement_id(uid))).tx_hash)
        if not lock.locked() and self._locks.get(uid) is lock:
            del self._locks[uid]
        return tx

    # -- one tick -------------------------------------------------------------------------------
    async def tick(self, body: Mapping[str, Any], now: float | None = None) -> TickResult:
        async with self._lock(body):
            return await self._tick(body, time.time() if now is None else now)

    async def _tick(self, body: Mapping[str, Any], now: float) -> TickResult:
        body = self._fresh(body)
        uid = body["metadata"]["uid"]
        interval = int(((body.get("spec") or {}).get("evaluation") or {}).get("intervalSeconds", 5))
        # a generation the change handler has not queued yet (it is retrying, or its event was missed)
        gen = int(body["metadata"].get("generation") or 1)
        if (body.get("status") or {}).get("observedGeneration") != gen:
            upd = slas.record(body)
            if upd.new_records or upd.status:
                return await self._commit(body, upd)
        upd = slas.SlaUpdate()
        evaluated = False
        if now - self._last_eval.get(uid, 0.0) >= interval and (body.get("status") or {}).get("agreementId"):
            evaluated = True
            self._last_eval[uid] = now
            sites = await self._workload_sites(body)
            upd = await slas.evaluate(body, self.prometheus, sites, now)
            for sev in upd.breaches:
                telemetry.BREACHES.labels(sev).inc()
        result = await self._commit(body, upd)
        for action in upd.offloads:
            await self._offload(body, action, result)
        if evaluated and not upd.offloads and self._all_met(result.status or body.get("status") or {}):
            await self._fail_back(body, result)
        return result

    @staticmethod
    def _all_met(status: Mapping[str, Any]) -> bool:
        objectives = status.get("objectives") or []
        return bool(objectives) and all(o.get("state") == "Ok" for o in objectives)

    async def _workload_sites(self, body: Mapping[str, Any]) -> tuple[str, ...]:
        """The sites of the agreement's workload; the simulator is told of them when they changed."""
        ns, ref = body["metadata"]["namespace"], body["spec"]["workloadRef"]
        try:
            ew = await self.kube.get_custom("edgeworkloads", ns, ref)
        except KubeNotFound:
            return ()
        sites = tuple(p["site"] for p in (ew.get("status") or {}).get("placements") or [])
        key = f"{ns}/{ref}"
        if self._covered.get(key) != sites:
            self._covered[key] = sites
            if self.announce and sites:
                await self.announce(ns, ref, ew.get("spec") or {}, list(sites))
        return tuple(sorted(set(sites)))

    async def _offload(self, body: Mapping[str, Any], action: slas.Offload, result: TickResult) -> None:
        cause = {"sla": body["metadata"]["uid"], "objective": action.objective, "windowStart": action.window_start,
                 "reason": action.reason}
        try:
            async with self.exclusive(action.workload):
                moved = await offload.offload(self.kube, self.engine, action.workload, action.sites, cause,
                                              binding=self.binding)
        except (KubeError, MetricsUnavailable) as exc:
            result.events.append(("Warning", "OffloadFailed", f"{action.workload}: {exc}"[:1000]))
            return
        await self._migrations(body, moved, result)

    async def _fail_back(self, body: Mapping[str, Any], result: TickResult) -> None:
        workload = f"{body['metadata']['namespace']}/{body['spec']['workloadRef']}"
        try:
            metrics = await self.prometheus.snapshot()
            async with self.exclusive(workload):
                moved = await offload.fail_back(self.kube, self.engine, metrics, workload, binding=self.binding)
        except KubeNotFound:
            return
        except (KubeError, MetricsUnavailable) as exc:
            result.events.append(("Warning", "FailBackFailed", f"{workload}: {exc}"[:1000]))
            return
        await self._migrations(body, moved, result)

    async def _migrations(self, body: Mapping[str, Any], moved: offload.Moves, result: TickResult) -> None:
        if moved.body is not None:
            result.workload_events.extend((moved.body, e) for e in moved.events)
        if not moved.moves:
            return
        if self.announce and moved.body is not None:
            meta = moved.body["metadata"]
            sites = [p["site"] for p in (moved.body.get("status") or {}).get("placements") or []]
            self._covered[f"{meta['namespace']}/{meta['name']}"] = tuple(sites)
            await self.announce(meta["namespace"], meta["name"], moved.body["spec"], sites)
        telemetry.MIGRATIONS.inc(len(moved.moves))
        workload = f"{body['metadata']['namespace']}/{body['spec']['workloadRef']}"
        objective = int(moved.cause.get("objective", 0))
        window = int(moved.cause.get("windowStart", 0))
        records = [migration_record(body["metadata"]["uid"], objective, window, workload, a, b)
                   for a, b in moved.moves if a != b]
        upd = slas.SlaUpdate(new_records=records)
        more = await self._commit(self._fresh(body), upd)
        result.status.update(more.status)
        result.events.extend(more.events)

    # -- outbox ---------------------------------------------------------------------------------
    async def _commit(self, body: Mapping[str, Any], upd: slas.SlaUpdate) -> TickResult:
        """Persist new records into the outbox, flush it to the chain, and say what the status is now."""
        meta = body["metadata"]
        gen = meta.get("generation")
        outbox = slas.merge_outbox(slas.outbox_of(body), upd.new_records)
        status = dict(upd.status)
        result = TickResult(events=list(upd.events))
        conds = [Condition.model_validate(c) for c in
                 (status.get("conditions") or (body.get("status") or {}).get("conditions") or [])]
        if upd.new_records:  # in the status first, then to the chain: a crash in between loses nothing
            conds = set_condition(conds, "LedgerPending", ConditionStatus.TRUE, "Queued",
                                  f"{len(outbox)} record(s) queued for the chain", gen)
            await self._persist(body, {**status, "outbox": outbox, "conditions": [to_k8s(c) for c in conds]})
        if outbox:
            fl = await flush(self.ledger, outbox)
            for rec, error in fl.failed:
                result.events.append(("Warning", "LedgerRejected", f"{rec['kind']} {rec['key']}: {error}"[:1000]))
            if any(r["kind"] == "Agreement" for r in fl.written):
                status.update(await self._agreement_status(meta["uid"], fl.receipts))
                conds = set_condition(conds, "Recorded", ConditionStatus.TRUE, "OnChain",
                                      f"version {status.get('version')} recorded", gen)
                result.events.append(("Normal", "Recorded", f"agreement on chain, version {status.get('version')}"))
            written_breaches = [r for r in fl.written if r["kind"] == "Breach"]
            if written_breaches:
                result.events.append(("Normal", "BreachRecorded", ", ".join(
                    f"{r['key']} tx {fl.receipts.get(r['key'], 'already on chain')}" for r in written_breaches)))
            pending = fl.remaining
            conds = set_condition(
                conds, "LedgerPending", ConditionStatus.TRUE if pending else ConditionStatus.FALSE,
                "ChainUnreachable" if fl.unavailable else ("Retrying" if pending else "AllRecorded"),
                f"{len(pending)} record(s) waiting: {fl.unavailable or ''}"[:1000] if pending else "", gen)
            status["outbox"] = pending
            telemetry.LEDGER_PENDING.set(len(pending))
        if conds:
            status["conditions"] = [to_k8s(c) for c in conds]
        result.status = status
        self._remember(body, status)
        return result

    async def _agreement_status(self, uid: str, receipts: Mapping[str, str]) -> dict[str, Any]:
        ledger = await self.ledger.get()
        info = await ledger.get_agreement(agreement_id(uid))
        out: dict[str, Any] = {"agreementId": "0x" + info.agreement_id.hex(), "contractAddress": ledger.address,
                               "version": info.version}
        tx = next((v for k, v in receipts.items() if k.startswith("agreement:")), None)
        if tx:
            out["txHash"] = tx if tx.startswith("0x") else "0x" + tx
        return out
