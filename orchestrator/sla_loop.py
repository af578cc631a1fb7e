"""The QoS closed loop for ServiceLevelAgreements, one tick at a time.

A tick: evaluate the objectives when the SLA's interval is due; persist new ledger records into the
SLA's outbox *before* sending them; flush the outbox.  Offload and fail-back follow from the state,
level-triggered: while an objective is breached the workload must carry an Offload intent for that
breach, once all are met a FailBack intent when moving back pays (orchestrator.offload decides,
orchestrator.intents records; the controller moves); the moves the controller made for this
agreement's intents are queued for the ledger under the breach's id.  The handlers call `record()` and `tick()` and write the
returned status; this module also remembers the last status it wrote, so a stale watch event can
never count the same bad window twice.  Kopf runs an SLA's timer apart from its change handlers, so
the work on one SLA holds that SLA's lock: two tasks flushing one outbox would send a record twice
(and the chain would count one amendment as two).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator import elasticity, intents, offload, slas, telemetry
from orchestrator.engine import PlacementEngine
from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.ledger import LedgerConnection, flush, migration_record
from orchestrator.prometheus import MetricsUnavailable, PrometheusSource
from orchestrator.resources import EdgeWorkloadSpec, ServiceLevelAgreementSpec, ServiceLevelAgreementStatus
from orchestrator.resources.common import Condition, ConditionStatus, set_condition, status_patch
from orchestrator.resources.elasticity import BreachType
from orchestrator.scaler import Scaler
from orchestrator.vocabulary import EDGEWORKLOADS, SLAS, EventType, ObjectiveState, Reason
from orchestrator.vocabulary import SlaCondition as Cond
from orchestrator.workloads import key_of
from sla_contracts import agreement_id

log = logging.getLogger("edgeorch.sla")
Event = tuple[str, str, str]


@dataclass
class TickResult:
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    workload_events: list[tuple[dict[str, Any], Event]] = field(default_factory=list)


class SlaLoop:
    def __init__(self, kube: AsyncKube, engine: PlacementEngine, prometheus: PrometheusSource,
                 ledger: LedgerConnection, enqueue: Callable[[str], None],
                 book: intents.IntentBook | None = None) -> None:
        self.enqueue = enqueue  # asks the controller to reconcile workload "ns/name" (its intent changed)
        self.book = book if book is not None else intents.IntentBook()  # the controller reads intents here
        self.kube = kube
        self.engine = engine
        self.prometheus = prometheus
        self.ledger = ledger
        self.scaler = Scaler(kube, prometheus, enqueue)  # resizes for `act` breaches (orchestrator.scaler)
        self._written: dict[str, dict[str, Any]] = {}  # uid -> the last status we wrote
        self._last_eval: dict[str, float] = {}
        self._recheck_at: dict[str, float] = {}  # uid -> when an unrecorded generation is checked again
        self._locks: dict[str, asyncio.Lock] = {}  # uid -> held while record/tick/terminate work on it
        self._deferred: dict[str, tuple[str, str]] = {}  # workload -> the intent last said to be deferred
        self._asked: dict[str, tuple[str, str]] = {}  # sla uid -> the intent this process enqueued last
        self._pending: dict[str, int] = {}  # sla uid -> records waiting in its outbox (the metric is the sum)
        self._compliance_labels: dict[str, tuple[str, str, str]] = {}  # sla uid -> its compliance gauge's labels

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
        self._recheck_at.pop(uid, None)
        self._asked.pop(uid, None)
        self.scaler.forget(uid)
        resized = self.book.resized_by(uid)
        self.book.forget(uid)
        if resized is not None:  # back to the spec's size: the controller hears of it now
            self.enqueue(resized)
        if self._pending.pop(uid, None) is not None:
            telemetry.LEDGER_PENDING.set(sum(self._pending.values()))
        labels = self._compliance_labels.pop(uid, None)
        if labels is not None:
            telemetry.SLA_COMPLIANCE.remove(*labels)

    def _lock(self, body: Mapping[str, Any]) -> asyncio.Lock:
        return self._locks.setdefault(body["metadata"]["uid"], asyncio.Lock())

    async def _persist(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = body["metadata"]
        await self.kube.patch_custom(SLAS, meta["namespace"], meta["name"], {"status": status}, status=True)
        self._remember(body, status)

    def _remember(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        uid = body["metadata"]["uid"]
        self._written[uid] = {**self._written.get(uid, {}), **status}
        self.book.observe(self._fresh(body))

    # -- the agreement itself -------------------------------------------------------------------
    async def record(self, body: Mapping[str, Any]) -> TickResult:
        async with self._lock(body):
            return await self._record(body)

    async def _record(self, body: Mapping[str, Any], now: float | None = None) -> TickResult:
        """Queue this generation for the ledger once Prometheus has checked its PromQL and its workload
        exists (orchestrator.slas.precheck); until then the status says why, again at every interval."""
        body = self._fresh(body)
        uid = body["metadata"]["uid"]
        now = time.time() if now is None else now
        not_yet = None
        if _unobserved(body):
            not_yet = await slas.precheck(body, self.prometheus, await self._workload(body) is not None)
            if not_yet is not None and not_yet.retry:
                self._recheck_at[uid] = now + _interval(body)
            else:
                self._recheck_at.pop(uid, None)
        return await self._commit(body, slas.record(body, not_yet))

    async def terminate(self, body: Mapping[str, Any]) -> str | None:
        """End the agreement on chain (the SLA is being deleted); the tx hash, or None if never recorded."""
        uid = body["metadata"]["uid"]
        lock = self._lock(body)
        async with lock:
            recorded = bool((self._fresh(body).get("status") or {}).get("agreementId"))
            self.forget(uid)
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
        self.book.observe(body)
        uid = body["metadata"]["uid"]
        interval = _interval(body)
        due = now - self._last_eval.get(uid, 0.0) >= interval
        # a generation not queued yet: the change handler is retrying, its event was missed, or the
        # precheck said not yet (its workload missing, Prometheus unreachable: checked again an interval later)
        if _unobserved(body) and now >= self._recheck_at.get(uid, 0.0):
            return await self._record(body, now)
        upd = slas.SlaUpdate()
        evaluated = False
        ew: dict[str, Any] | None = None
        if due and (body.get("status") or {}).get("agreementId"):
            evaluated = True
            self._last_eval[uid] = now
            ew = await self._workload(body)
            sites = tuple(sorted(set(offload.sites_of(ew)))) if ew is not None else ()
            upd = await slas.evaluate(body, self.prometheus, sites, now, workload_found=ew is not None)
            for sev in upd.breaches:
                telemetry.BREACHES.labels(sev).inc()
        result = await self._commit(body, upd)
        if evaluated:
            await self._drive(body, ew, result, now)
        return result

    @staticmethod
    def _all_met(status: Mapping[str, Any]) -> bool:
        objectives = status.get("objectives") or []
        return bool(objectives) and all(o.get("state") == ObjectiveState.OK for o in objectives)

    async def _workload(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The agreement's workload (None when it does not exist)."""
        ns, ref = body["metadata"]["namespace"], body["spec"]["workloadRef"]
        try:
            return await self.kube.get_custom(EDGEWORKLOADS, ns, ref)
        except KubeNotFound:
            return None

    # -- offload intents (orchestrator.intents): recorded here, carried out by the controller ---
    async def _drive(self, body: Mapping[str, Any], ew: Mapping[str, Any] | None, result: TickResult,
                     now: float) -> None:
        """Level-triggered, after each evaluation: queue the moves of an intent the controller carried
        out for the ledger, then make sure this agreement's status holds the intent its state asks for
        (an offload for the newest open breach; a fail-back once every objective is met), and that the
        controller has been asked for it."""
        if ew is None:
            return
        await self._record_moves(body, ew, result)
        body = self._fresh(body)
        status = {**(body.get("status") or {}), **result.status}
        # only `act` breaches move (or resize) the workload; a `suspend` breach freezes it (orchestrator.scaler)
        types = elasticity.breach_types(ServiceLevelAgreementSpec.model_validate(body["spec"]))
        breached = [(w, -i, i, status["objectives"][i])
                    for w, i, _ in elasticity.open_breaches(status.get("objectives") or [], types, BreachType.ACT)]
        current = intents.of_agreement(body)
        uid = body["metadata"]["uid"]
        try:
            scaled = await self.scaler.drive(body, ew, status, now, lambda st: self._persist(body, _checked(st)),
                                             lambda upd: self._merge(body, upd, result))
            result.events.extend(scaled.events or [])
            result.workload_events.extend((dict(ew), e) for e in scaled.workload_events or [])
            if scaled.acting:  # resized for the breach (or frozen): nothing moves for it now
                return
            if breached:
                _, _, i, o = max(breached)
                reason = (f"SLA {body['metadata']['name']}: objective {o['name']} breached "
                          f"({o.get('severity') or 'breach'}, window {o['breachWindowStart']})")
                still = current.avoid if current is not None and current.action == intents.OFFLOAD else ()
                want = offload.offload_intent(ew, uid, i, int(o["breachWindowStart"]), list(o.get("breachSites") or []),
                                              reason, still)
                if want is not None and (current is None or want.id != current.id) and want.newer_than(current):
                    await self._request(body, ew, want, result, now)
                    return
            elif current is not None and self._all_met(status):
                await self._fail_back(body, ew, current, result, now)
                return
            if current is not None and intents.pending(ew, [current]) is not None \
                    and self._asked.get(uid) != (current.id, current.action):
                self._asked[uid] = (current.id, current.action)  # recorded before this process started
                self.enqueue(key_of(ew))
        except KubeNotFound:
            return
        except (KubeError, MetricsUnavailable) as exc:
            result.events.append((EventType.WARNING, Reason.OFFLOAD_FAILED, f"{key_of(ew)}: {exc}"[:1000]))

    async def _set_intent(self, body: Mapping[str, Any], intent: intents.Intent | None) -> None:
        """Write this agreement's intent (None: withdrawn) to its status, before anyone acts on it."""
        await self._persist(body, _checked({"offloadIntent": None if intent is None else intent.status()}))

    async def _request(self, body: Mapping[str, Any], ew: Mapping[str, Any], want: intents.Intent,
                       result: TickResult, now: float) -> None:
        """Record `want` (within the workload's migration budget) and ask the controller for it."""
        spec = EdgeWorkloadSpec.model_validate(ew["spec"])
        why = offload.deferred(ew, spec, now)
        if why:
            if self._deferred.get(key_of(ew)) != (want.id, want.action):  # said once per intent, not every tick
                self._deferred[key_of(ew)] = (want.id, want.action)
                verb = "not leaving " + ", ".join(want.avoid) if want.action == intents.OFFLOAD else "not failing back"
                reason = Reason.OFFLOAD_DEFERRED if want.action == intents.OFFLOAD else Reason.FAIL_BACK_DEFERRED
                result.workload_events.append((dict(ew), (EventType.WARNING, reason, f"{verb}: {why}")))
            return
        self._deferred.pop(key_of(ew), None)
        await self._set_intent(body, want)
        self._asked[body["metadata"]["uid"]] = (want.id, want.action)
        self.enqueue(key_of(ew))

    async def _fail_back(self, body: Mapping[str, Any], ew: Mapping[str, Any], current: intents.Intent,
                         result: TickResult, now: float) -> None:
        if current.action != intents.OFFLOAD:
            return  # failing back already
        spec = EdgeWorkloadSpec.model_validate(ew["spec"])
        if not spec.migration.fail_back or not intents.carried_out(ew, current):
            # withdrawn (no fail-back wanted, or met again before the offload could be carried out):
            # the sites are no longer avoided, and nothing moves for it
            await self._set_intent(body, None)
            return
        back = await offload.fail_back_intent(self.engine, await self.prometheus.snapshot(), ew, current)
        if back is not None:
            await self._request(body, ew, back, result, now)

    async def _record_moves(self, body: Mapping[str, Any], ew: Mapping[str, Any], result: TickResult) -> None:
        """Queue for the ledger the moves of this agreement's intent the controller last carried out
        (once: the SLA's status names the intent whose moves are queued, in the same write)."""
        done = intents.moves_of(ew)
        breach = intents.breach_of(done[0]) if done else None
        if done is None or breach is None or breach[0] != body["metadata"]["uid"]:
            return
        mark = f"{done[0]}/{done[1]}"
        if (self._fresh(body).get("status") or {}).get("migrationsRecorded") == mark:
            return
        _, objective, window = breach
        records = [migration_record(breach[0], objective, window, key_of(ew), a, b) for a, b in done[2] if a != b]
        telemetry.MIGRATIONS.inc(len(records))
        more = await self._commit(self._fresh(body), slas.SlaUpdate(status={"migrationsRecorded": mark},
                                                                     new_records=records))
        result.status.update(more.status)
        result.events.extend(more.events)

    async def _merge(self, body: Mapping[str, Any], upd: slas.SlaUpdate, result: TickResult) -> None:
        """Commit `upd` (status and ledger records) and fold what it says into this tick's result."""
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
            conds = set_condition(conds, Cond.LEDGER_PENDING, ConditionStatus.TRUE, Reason.QUEUED,
                                  f"{len(outbox)} record(s) queued for the chain", gen)
            await self._persist(body, _checked({**status, "outbox": outbox, "conditions": conds}))
        if outbox:
            fl = await flush(self.ledger, outbox)
            for rec, error in fl.failed:
                result.events.append((EventType.WARNING, Reason.LEDGER_REJECTED, f"{rec['kind']} {rec['key']}: {error}"[:1000]))
            if any(r["kind"] == "Agreement" for r in fl.written):
                status.update(await self._agreement_status(meta["uid"], fl.receipts))
                conds = set_condition(conds, Cond.RECORDED, ConditionStatus.TRUE, Reason.ON_CHAIN,
                                      f"version {status.get('version')} recorded", gen)
                result.events.append((EventType.NORMAL, Reason.RECORDED, f"agreement on chain, version {status.get('version')}"))
            written_breaches = [r for r in fl.written if r["kind"] == "Breach"]
            if written_breaches:
                result.events.append((EventType.NORMAL, Reason.BREACH_RECORDED, ", ".join(
                    f"{r['key']} tx {fl.receipts.get(r['key'], 'already on chain')}" for r in written_breaches)))
            pending = fl.remaining
            conds = set_condition(
                conds, Cond.LEDGER_PENDING, ConditionStatus.TRUE if pending else ConditionStatus.FALSE,
                Reason.CHAIN_UNREACHABLE if fl.unavailable else (Reason.RETRYING if pending else Reason.ALL_RECORDED),
                f"{len(pending)} record(s) waiting: {fl.unavailable or ''}"[:1000] if pending else "", gen)
            status["outbox"] = pending
            self._pending[meta["uid"]] = len(pending)
            telemetry.LEDGER_PENDING.set(sum(self._pending.values()))
        if conds:
            status["conditions"] = conds
        result.status = status = _checked(status)
        self._remember(body, status)
        if status.get("compliance") is not None:
            labels = (meta["namespace"], meta["name"], str((body.get("spec") or {}).get("workloadRef", "")))
            self._compliance_labels[meta["uid"]] = labels
            telemetry.SLA_COMPLIANCE.labels(*labels).set(float(status["compliance"]))
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


def _interval(body: Mapping[str, Any]) -> int:
    return int(((body.get("spec") or {}).get("evaluation") or {}).get("intervalSeconds", 5))


def _unobserved(body: Mapping[str, Any]) -> bool:
    """Whether the SLA's current generation is neither queued for the ledger nor refused yet."""
    gen = int(body["metadata"].get("generation") or 1)
    return bool((body.get("status") or {}).get("observedGeneration") != gen)


def _checked(status: Mapping[str, Any]) -> dict[str, Any]:
    """A status patch through the agreement's status model (what the CRD's schema accepts)."""
    return status_patch(ServiceLevelAgreementStatus.model_validate(status))
