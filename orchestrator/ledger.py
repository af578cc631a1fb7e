"""The operator's side of the SLA ledger: one connection, and the outbox that makes writes exactly-once.

Every record (an agreement version, a breach, a migration, a resize) is first written into the SLA's status
(`status.outbox`, keyed by its idempotency key) and only then sent to the chain; it leaves the outbox
once the chain has it.  A crash between the two re-sends it, and the chain's duplicate check turns
that into success, so each record lands exactly once.  While the chain is unreachable records wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.resources.common import parse_quantity
from sla_contracts import (
    Breach,
    Ledger,
    LedgerConfig,
    LedgerConfigError,
    LedgerError,
    LedgerInputError,
    LedgerRevert,
    LedgerUnavailable,
    Migration,
    Resize,
    agreement_id,
    name_ref,
    terms_from_spec,
)
from sla_contracts.anvil import rpc_chain_id

log = logging.getLogger("edgeorch.ledger")
MAX_ATTEMPTS_ON_REVERT = 3


class LedgerConnection:
    """Opens the ledger lazily and again after failures (with a short back-off), as `config` says."""

    def __init__(self, config: LedgerConfig) -> None:
        self.config = config
        self.url = config.url
        self._ledger: Ledger | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0

    async def preflight(self, timeout: float = 5.0) -> None:
        """What can be checked without writing anything (a standby writes nothing, on chain neither):
        the signing key, and the chain's id when the node answers; LedgerConfigError as `check` says it."""
        self.config.keys()
        if self.config.url is None or self.config.expected_chain_id() is None:
            return
        try:
            chain_id = await asyncio.to_thread(rpc_chain_id, self.config.url, timeout)
        except Exception:  # not answering now: `check` says so once leading
            return
        self.config.check_chain(chain_id)

    async def check(self, timeout: float = 10.0) -> None:
        """At start: LedgerConfigError when the configuration cannot work (no or unreadable key, another
        chain than configured, no contract and no deploying asked for); a chain that does not answer now
        is only logged: records wait in the outboxes until it does."""
        self.config.keys()
        if self.config.url is None:
            log.info("SLA ledger: %s", self.config.describe())  # opened on first use
            return
        try:
            async with self._lock:
                if self._ledger is None:
                    self._ledger = await asyncio.wait_for(self.config.open(), timeout)
                ledger = self._ledger
                assert ledger is not None
        except LedgerConfigError:
            raise
        except Exception as exc:
            log.warning("SLA ledger: %s; the chain does not answer yet (%s): records wait until it does",
                        self.config.describe(), exc)
            return
        log.info("SLA ledger: contract %s on chain %d at %s; operator account %s%s", ledger.address,
                 ledger.chain_id, self.url, ledger.keys.address("operator"),
                 " (anvil's development keys)" if self.config.dev_keys else "")

    async def get(self) -> Ledger:
        async with self._lock:
            if self._ledger is not None:
                return self._ledger
            if time.monotonic() < self._retry_at:
                raise LedgerUnavailable(f"chain at {self.url} unreachable (retrying shortly)")
            try:
                self._ledger = await self.config.open()
            except LedgerConfigError as exc:  # e.g. the node became another chain: nothing is written to it
                self._retry_at = time.monotonic() + 30.0
                raise LedgerUnavailable(f"ledger misconfigured: {exc}") from exc
            except Exception as exc:
                self._retry_at = time.monotonic() + 1.0
                raise LedgerUnavailable(f"chain at {self.url or 'embedded'} unreachable: {exc}") from exc
            return self._ledger

    async def reset(self) -> None:
        """Forget the connection after an error, so the next call reconnects."""
        async with self._lock:
            if self._ledger is not None:
                ledger, self._ledger = self._ledger, None
                try:
                    await ledger.close()
                except Exception:  # closing a broken connection may fail; nothing to keep
                    log.debug("closing the ledger failed", exc_info=True)

    async def close(self) -> None:
        await self.reset()


# -- records ---------------------------------------------------------------------------------------
def record(kind: str, key: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "key": key, "payload": json.dumps(payload, sort_keys=True, separators=(",", ":")),
            "attempts": 0}


def agreement_record(uid: str, spec: Mapping[str, Any], generation: int) -> dict[str, Any]:
    # bad terms fail here, naming the field, before anything is queued (not at the chain, after retries)
    terms_from_spec(uid, spec, revision=generation).validated()
    return record("Agreement", f"agreement:{generation}", {"uid": uid, "spec": spec, "generation": generation})


def breach_record(uid: str, objective: int, severity: str, observed: float, window: tuple[int, int],
                  evidence_hash: bytes) -> dict[str, Any]:
    return record("Breach", f"breach:{objective}:{window[0]}", {
        "uid": uid, "objective": objective, "severity": severity, "observed": observed,
        "windowStart": window[0], "windowEnd": window[1], "evidence": "0x" + evidence_hash.hex(),
    })


def migration_record(uid: str, objective: int, window_start: int, workload: str, from_site: str,
                     to_site: str) -> dict[str, Any]:
    return record("Migration", f"migration:{objective}:{window_start}:{from_site}:{to_site}", {
        "uid": uid, "objective": objective, "windowStart": window_start, "workload": workload,
        "from": from_site, "to": to_site,
    })


def resize_record(uid: str, intent: Any, workload: str, ew: Mapping[str, Any]) -> dict[str, Any]:
    """The ledger record of resize `intent` (an orchestrator.resources.ResizeIntent) of agreement `uid`,
    as the workload `ew` carried it out (its status.resize: CPU per replica, replicas, moves)."""
    done = (ew.get("status") or {}).get("resize") or {}
    cpu = math.ceil(parse_quantity(done.get("cpu") or ew["spec"]["resources"]["cpu"]) * 1000)
    return record("Resize", f"resize:{intent.seq}", {
        "uid": uid, "seq": intent.seq, "objective": intent.objective or 0, "windowStart": intent.window_start or 0,
        "workload": workload, "cpuMillis": cpu, "replicas": int(done.get("replicas", ew["spec"]["replicas"])),
        "direction": str(intent.direction.value), "moved": len(done.get("moves") or []),
    })


@dataclass
class FlushResult:
    remaining: list[dict[str, Any]]
    written: list[dict[str, Any]]
    failed: list[tuple[dict[str, Any], str]]  # dropped after permanent errors
    receipts: dict[str, str]  # key -> tx hash
    unavailable: str | None = None


async def _write(ledger: Ledger, rec: Mapping[str, Any]) -> str | None:
    p = json.loads(rec["payload"])
    if rec["kind"] == "Agreement":
        generation = p.get("generation") or int(str(rec["key"]).rpartition(":")[2] or 1)  # older records: the key
        terms = terms_from_spec(p["uid"], p["spec"], revision=generation)
        try:
            info = await ledger.get_agreement(terms.agreement_id)
        except LedgerError:
            info = None
        if info is not None and info.version > 0:
            if info.terms_hash == terms.terms_hash or info.revision >= generation:
                return None  # this version, or a newer one, is already on chain
            try:
                return str((await ledger.amend_agreement(terms)).tx_hash)
            except LedgerRevert as exc:
                if exc.reason.startswith("revision: stale"):  # a newer version landed since we looked
                    return None
                raise
        return str((await ledger.create_agreement(terms)).tx_hash)
    if rec["kind"] == "Breach":
        result = await ledger.record_breach(Breach(
            agreement_id=agreement_id(p["uid"]), objective=p["objective"], severity=p["severity"],
            observed=p["observed"], window_start=p["windowStart"], window_end=p["windowEnd"],
            evidence_hash=bytes.fromhex(p["evidence"][2:]),
        ))
        return str(result.receipt.tx_hash) if result.receipt else None
    if rec["kind"] == "Migration":
        mig = await ledger.record_migration(Migration(
            agreement_id=agreement_id(p["uid"]), objective=p["objective"], window_start=p["windowStart"],
            workload_ref=name_ref(p["workload"]), from_site=p["from"], to_site=p["to"],
        ))
        return str(mig.receipt.tx_hash) if mig.receipt else None
    if rec["kind"] == "Resize":
        res = await ledger.record_resize(Resize(
            agreement_id=agreement_id(p["uid"]), seq=p["seq"], objective=p["objective"], window_start=p["windowStart"],
            workload_ref=name_ref(p["workload"]), cpu_m=p["cpuMillis"], replicas=p["replicas"],
            up=p["direction"] == "Up", moved=p["moved"],
        ))
        return str(res.receipt.tx_hash) if res.receipt else None
    raise LedgerInputError(f"outbox[{rec['key']}].kind: unknown record kind {rec['kind']!r}")


async def flush(conn: LedgerConnection, outbox: list[dict[str, Any]]) -> FlushResult:
    """Send the outbox to the chain in order; stop at the first sign the chain is unreachable."""
    result = FlushResult(remaining=[], written=[], failed=[], receipts={})
    pending = list(outbox)
    if not pending:
        return result
    try:
        ledger = await conn.get()
    except LedgerUnavailable as exc:
        result.unavailable = str(exc)
        result.remaining = [{**r, "attempts": r.get("attempts", 0) + 1, "lastError": str(exc)[:1000]} for r in pending]
        return result
    for i, rec in enumerate(pending):
        try:
            tx = await _write(ledger, rec)
        except (LedgerInputError, LedgerRevert) as exc:
            attempts = rec.get("attempts", 0) + 1
            if attempts >= MAX_ATTEMPTS_ON_REVERT:
                result.failed.append((rec, str(exc)))
            else:
                result.remaining.append({**rec, "attempts": attempts, "lastError": str(exc)[:1000]})
            continue
        except Exception as exc:  # the chain went away mid-flush: keep this and the rest for later
            await conn.reset()
            result.unavailable = str(exc)
            result.remaining.extend({**r, "attempts": r.get("attempts", 0) + 1, "lastError": str(exc)[:1000]}
                                    for r in pending[i:])
            return result
        result.written.append(rec)
        if tx:
            result.receipts[rec["key"]] = tx
    return result
