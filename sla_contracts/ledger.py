"""The SLA ledger client: one async interface over the embedded and the JSON-RPC backend.

`open_ledger()` connects (embedded chain when `url` is None), finds the deployed contract through the
deployment file or deploys it, and returns a `Ledger`. Writes go through one KeyWriter per key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.logs import DISCARD

from sla_contracts.artifact import load_artifact
from sla_contracts.backends import LedgerKeys, ThreadedEthereumTesterProvider, embedded_web3, rpc_web3
from sla_contracts.deployment import default_state_dir, load_deployment, save_deployment
from sla_contracts.errors import (
    LedgerConfigError,
    LedgerInputError,
    LedgerRevert,
    LedgerUnavailable,
    NoContract,
)
from sla_contracts.ids import breach_id as compute_breach_id
from sla_contracts.model import (
    MAX_BATCH,
    AgreementInfo,
    AgreementStatus,
    AgreementTerms,
    BatchResult,
    Breach,
    Comparator,
    LedgerEvent,
    Migration,
    Resize,
    Role,
    Severity,
    TxReceiptInfo,
    WriteResult,
    WriteStatus,
    check_bytes32,
    from_fixed,
)
from sla_contracts.writer import KeyWriter, UnknownAgreement, as_ledger_error, receipt_info, revert_reason

EVENTS = ("AgreementCreated", "AgreementAmended", "AgreementTerminated", "AgreementAccepted",
          "BreachRecorded", "MigrationRecorded", "ResizeRecorded")
GAS_DEPLOY = 3_000_000


def _gas_terms(n_objectives: int) -> int:
    return 120_000 + 45_000 * n_objectives


def _account(account: str) -> str:
    if not is_address(account):
        raise LedgerInputError(f"account: not an address: {account!r}")
    return str(to_checksum_address(account))


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


class Ledger:
    """A connection to the deployed SlaLedger contract with the writers of the operator and oracle keys."""

    def __init__(self, w3: AsyncWeb3[Any], address: str, chain_id: int, keys: LedgerKeys,
                 deployed_block: int = 0) -> None:
        art = load_artifact()
        self.w3 = w3
        self.address = address
        self.chain_id = chain_id
        self.keys = keys
        self.deployed_block = deployed_block
        self.contract: AsyncContract = w3.eth.contract(address=w3.to_checksum_address(address), abi=art["abi"])
        self._writers: dict[str, KeyWriter] = {}
        self.operator = self.writer(keys.operator)
        self.oracle = self.writer(keys.oracle)
        self.admin = self.writer(keys.admin)

    @property
    def embedded(self) -> bool:
        return isinstance(self.w3.provider, ThreadedEthereumTesterProvider)

    def writer(self, private_key: str) -> KeyWriter:
        """The one writer of this key (created on first use): the only nonce counter of that key."""
        probe = KeyWriter(self.w3, private_key, self.chain_id)
        return self._writers.setdefault(probe.address, probe)

    def _data(self, fn: str, *args: Any) -> str:
        return str(self.contract.encode_abi(fn, args=list(args)))

    async def _view(self, fn: str, *args: Any) -> Any:
        try:
            return await getattr(self.contract.functions, fn)(*args).call()
        except Exception as exc:
            reason = revert_reason(exc)
            if reason is None:
                raise
            raise as_ledger_error(reason) from exc

    async def _write(self, writer: KeyWriter, fn: str, args: Sequence[Any], gas: int,
                     preflight: bool = True) -> dict[str, Any]:
        return await writer.transact(self.address, self._data(fn, *args), gas, preflight=preflight)

    # -- roles ------------------------------------------------------------------------------------

    async def grant_role(self, account: str, role: Role, *, writer: KeyWriter | None = None) -> TxReceiptInfo:
        """The admin gives `account` a role (ADMIN, OPERATOR or ORACLE)."""
        return receipt_info(await self._write(writer or self.admin, "grant_role", [_account(account), int(role)],
                                              100_000))

    async def revoke_role(self, account: str, role: Role, *, writer: KeyWriter | None = None) -> TxReceiptInfo:
        return receipt_info(await self._write(writer or self.admin, "revoke_role", [_account(account), int(role)],
                                              100_000))

    async def has_role(self, account: str, role: Role) -> bool:
        return bool(await self._view("has_role", _account(account), int(role)))

    # -- agreements -------------------------------------------------------------------------------

    async def create_agreement(self, terms: AgreementTerms, *, writer: KeyWriter | None = None) -> TxReceiptInfo:
        a = terms.validated()
        receipt = await self._write(writer or self.operator, "create_agreement", [
            a["agreement_id"], a["provider_ref"], a["provider_account"], a["consumer_ref"], a["terms_hash"],
            a["valid_from"], a["valid_until"], a["objectives"], a["revision"] or 1], _gas_terms(len(a["objectives"])))
        return receipt_info(receipt)

    async def amend_agreement(self, terms: AgreementTerms, *, writer: KeyWriter | None = None) -> TxReceiptInfo:
        """New terms, validity and objectives of an active agreement: its version goes up by one.  The
        contract refuses (LedgerRevert "revision: stale ...") terms whose revision is not above the
        recorded one; without a revision the terms take the recorded one + 1."""
        a = terms.validated()
        revision = a["revision"] if a["revision"] is not None else await self.revision(a["agreement_id"]) + 1
        receipt = await self._write(writer or self.operator, "amend_agreement", [
            a["agreement_id"], revision, a["terms_hash"], a["valid_from"], a["valid_until"], a["objectives"]],
            _gas_terms(len(a["objectives"])))
        return receipt_info(receipt)

    async def revision(self, agreement_id: bytes) -> int:
        """The revision of the agreement's current version (at least 1; 0: no such agreement)."""
        return int(await self._view("revision", check_bytes32("agreement_id", agreement_id)))

    async def terminate_agreement(self, agreement_id: bytes, *, writer: KeyWriter | None = None) -> TxReceiptInfo:
        aid = check_bytes32("agreement_id", agreement_id)
        return receipt_info(await self._write(writer or self.operator, "terminate_agreement", [aid], 100_000))

    async def accept_agreement(self, agreement_id: bytes, version: int, provider_key: str) -> TxReceiptInfo:
        """The provider account (signing with `provider_key`) accepts the given, current version."""
        aid = check_bytes32("agreement_id", agreement_id)
        return receipt_info(await self._write(self.writer(provider_key), "accept_agreement", [aid, version], 100_000))

    async def get_agreement(self, agreement_id: bytes) -> AgreementInfo:
        aid = check_bytes32("agreement_id", agreement_id)
        status, accepted, version, valid_from, valid_until, provider, terms, n = await self._view("get_agreement", aid)
        if status == AgreementStatus.NONE:
            raise UnknownAgreement("unknown agreement")
        objectives = []
        for i in range(n):
            cmp, threshold = await self._view("get_objective", aid, i)
            objectives.append((Comparator(cmp), from_fixed(threshold)))
        return AgreementInfo(
            agreement_id=aid, status=AgreementStatus(status), accepted=bool(accepted), version=int(version),
            valid_from=int(valid_from), valid_until=int(valid_until),
            provider_account=None if int(provider, 16) == 0 else provider, terms_hash=bytes(terms),
            objectives=objectives, revision=int(await self._view("revision", aid)),
        )

    # -- breaches ---------------------------------------------------------------------------------

    def breach_id(self, breach: Breach) -> bytes:
        return compute_breach_id(self.chain_id, self.address, breach.agreement_id, breach.objective,
                                 breach.window_start)

    async def record_breach(self, breach: Breach, *, writer: KeyWriter | None = None) -> WriteResult:
        """Write one breach; if it is already on chain the result is DUPLICATE (idempotent, no error)."""
        args = breach.as_tuple()
        bid = self.breach_id(breach)
        try:
            receipt = await self._write(writer or self.oracle, "record_breach", [args], 150_000)
        except LedgerRevert as exc:
            if exc.reason == "duplicate breach":
                return WriteResult(WriteStatus.DUPLICATE, bid, None)
            raise
        return WriteResult(WriteStatus.WRITTEN, bid, receipt_info(receipt))

    async def record_breaches(self, breaches: Sequence[Breach], *, writer: KeyWriter | None = None,
                              preflight: bool = True) -> BatchResult:
        """Write many breaches, MAX_BATCH per transaction (sent pipelined); duplicates are skipped.

        Any other invalid entry raises (LedgerInputError before sending, LedgerRevert from the contract)
        and its whole transaction is not written.
        """
        unique: dict[bytes, tuple[Any, ...]] = {}
        for i, b in enumerate(breaches):
            unique.setdefault(self.breach_id(b), b.as_tuple(f"breaches[{i}]"))
        ids, rows = list(unique), list(unique.values())
        chunks = [(ids[i:i + MAX_BATCH], rows[i:i + MAX_BATCH]) for i in range(0, len(rows), MAX_BATCH)]
        w = writer or self.oracle
        results = await asyncio.gather(*(self._batch(w, c_ids, c_rows, preflight) for c_ids, c_rows in chunks))
        written = [bid for r in results for bid in r[0]]
        written_set = set(written)
        receipts = [r[1] for r in results if r[1] is not None]
        last = receipts[-1] if receipts else None
        return BatchResult(written=written, duplicates=[b for b in ids if b not in written_set], receipt=last)

    async def _batch(self, w: KeyWriter, ids: list[bytes], rows: list[tuple[Any, ...]],
                     preflight: bool) -> tuple[list[bytes], TxReceiptInfo | None]:
        if not rows:
            return [], None
        receipt = await self._write(w, "record_breaches", [rows], 60_000 + 80_000 * len(rows), preflight)
        events = self.contract.events.BreachRecorded().process_receipt(receipt, errors=DISCARD)
        got = {bytes(e["args"]["breach_id"]) for e in events}
        return [b for b in ids if b in got], receipt_info(receipt)

    async def record_migration(self, migration: Migration, *, writer: KeyWriter | None = None) -> WriteResult:
        """Record that a workload moved because of a recorded breach (idempotent: DUPLICATE if already)."""
        m = migration.validated()
        bid = compute_breach_id(self.chain_id, self.address, m["agreement_id"], m["objective"], m["window_start"])
        mid = keccak(encode(["bytes32", "bytes32", "string", "string"],
                            [bid, m["workload_ref"], m["from_site"], m["to_site"]]))
        try:
            receipt = await self._write(writer or self.operator, "record_migration", [
                m["agreement_id"], m["objective"], m["window_start"], m["workload_ref"], m["from_site"],
                m["to_site"]], 150_000)
        except LedgerRevert as exc:
            if exc.reason == "duplicate migration":
                return WriteResult(WriteStatus.DUPLICATE, mid, None)
            raise
        return WriteResult(WriteStatus.WRITTEN, mid, receipt_info(receipt))

    async def record_resize(self, resize: Resize, *, writer: KeyWriter | None = None) -> WriteResult:
        """Record a resize of the agreement's workload (idempotent per (agreement, seq): DUPLICATE if already)."""
        r = resize.validated()
        rid = keccak(encode(["bytes32", "uint32"], [r["agreement_id"], r["seq"]]))
        try:
            receipt = await self._write(writer or self.operator, "record_resize", [
                r["agreement_id"], r["seq"], r["objective"], r["window_start"], r["workload_ref"], r["cpu_m"],
                r["replicas"], r["up"], r["moved"]], 120_000)
        except LedgerRevert as exc:
            if exc.reason == "duplicate resize":
                return WriteResult(WriteStatus.DUPLICATE, rid, None)
            raise
        return WriteResult(WriteStatus.WRITTEN, rid, receipt_info(receipt))

    # -- compliance views -------------------------------------------------------------------------

    async def breach_count(self, agreement_id: bytes, severity: Severity | int | str | None = None) -> int:
        """Breaches of an agreement, of one severity or (None) of all."""
        aid = check_bytes32("agreement_id", agreement_id)
        if severity is None:
            return int(sum(await self._view("breach_counts", aid)))
        return int(await self._view("breach_count", aid, int(Severity.parse(severity))))

    async def breach_counts(self, agreement_id: bytes) -> dict[Severity, int]:
        counts = await self._view("breach_counts", check_bytes32("agreement_id", agreement_id))
        return {s: int(counts[s]) for s in Severity}

    async def migration_count(self, agreement_id: bytes) -> int:
        return int(await self._view("migration_count", check_bytes32("agreement_id", agreement_id)))

    async def is_breach_recorded(self, agreement_id: bytes, objective: int, window_start: int) -> bool:
        return bool(await self._view("is_breach_recorded", check_bytes32("agreement_id", agreement_id),
                                     objective, window_start))

    async def events(self, names: Sequence[str] = EVENTS, agreement_id: bytes | None = None,
                     from_block: int | None = None) -> list[LedgerEvent]:
        """Contract events in chain order, optionally only those of one agreement."""
        out: list[LedgerEvent] = []
        filters = {} if agreement_id is None else {"agreement_id": check_bytes32("agreement_id", agreement_id)}
        start = self.deployed_block if from_block is None else from_block
        for name in names:
            if name not in EVENTS:
                raise LedgerInputError(f"names: unknown event {name!r} (one of {', '.join(EVENTS)})")
            logs = await getattr(self.contract.events, name).get_logs(from_block=start, argument_filters=filters)
            out += [LedgerEvent(
                name=name, args={k: bytes(v) if isinstance(v, bytes) else v for k, v in log["args"].items()},
                block_number=int(log["blockNumber"]), tx_hash=_hex(log["transactionHash"]),
                log_index=int(log["logIndex"])) for log in logs]
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

    async def breach_events(self, agreement_id: bytes | None = None) -> list[LedgerEvent]:
        return await self.events(["BreachRecorded"], agreement_id)

    async def close(self) -> None:
        await _disconnect(self.w3)


async def _deploy(w3: AsyncWeb3[Any], keys: LedgerKeys, chain_id: int) -> tuple[str, int, str]:
    art = load_artifact()
    admin = KeyWriter(w3, keys.admin, chain_id)
    args = encode(["address", "address"], [keys.address("operator"), keys.address("oracle")])
    data = art["bytecode"] + args.hex()
    receipt = await admin.transact(None, data, GAS_DEPLOY, preflight=False)
    return str(receipt["contractAddress"]), int(receipt["blockNumber"]), _hex(receipt["transactionHash"])


async def _code_matches(w3: AsyncWeb3[Any], address: str) -> bool:
    code = bytes(await w3.eth.get_code(w3.to_checksum_address(address)))
    return code == bytes.fromhex(load_artifact()["bytecode_runtime"].removeprefix("0x"))


async def open_ledger(url: str | None = None, *, state_dir: Path | None = None, keys: LedgerKeys | None = None,
                      address: str | None = None, deploy: bool = True, chain_id: int | None = None) -> Ledger:
    """Connect to the ledger: embedded chain (url None) or the JSON-RPC node at `url`.

    With `chain_id`, the node must be that chain (LedgerConfigError before anything is read or sent).
    The contract is found at `address`, else through `<state_dir>/ledger.json` (checked by its code), else
    deployed by the admin key (unless deploy=False: LedgerUnavailable) and recorded there. `state_dir`
    defaults to default_state_dir() for a JSON-RPC chain; the embedded chain lives only in this process,
    so it always gets a fresh deployment and no file.
    Keys default to anvil's dev accounts 0 (admin), 1 (operator), 2 (oracle).
    """
    keys = keys or LedgerKeys.dev()
    if url is None:
        state_dir = None
    elif state_dir is None:
        state_dir = default_state_dir()
    w3 = embedded_web3() if url is None else rpc_web3(url)
    expected = chain_id
    try:
        chain_id = int(await w3.eth.chain_id)
        genesis = _hex((await w3.eth.get_block(0))["hash"])
    except Exception as exc:
        await _disconnect(w3)
        if url is None:
            raise
        raise LedgerUnavailable(f"no chain at {url}: {exc}") from exc
    if expected is not None and chain_id != expected:
        await _disconnect(w3)
        raise LedgerConfigError(f"chain id: the node at {url or 'embedded'} is chain {chain_id}, "
                                f"the configuration says {expected}")
    block = 0
    found = address
    if found is None and state_dir is not None:
        entry = load_deployment(state_dir, chain_id, genesis)
        if entry is not None:
            found, block = entry["address"], int(entry.get("block", 0))
    if found is not None and not await _code_matches(w3, found):
        if address is not None or not deploy:
            await _disconnect(w3)
            raise NoContract(f"no SlaLedger with the shipped bytecode at {found} on chain {chain_id}")
        found = None
    if found is None:
        if not deploy:
            await _disconnect(w3)
            where = f"{state_dir}/ledger.json" if state_dir else "no state dir given"
            raise NoContract(f"no ledger deployed on chain {chain_id} ({where})")
        found, block, tx_hash = await _deploy(w3, keys, chain_id)
        if state_dir is not None:
            save_deployment(state_dir, chain_id, genesis, {"address": found, "block": block, "tx_hash": tx_hash})
    return Ledger(w3, found, chain_id, keys, deployed_block=block)


async def _disconnect(w3: AsyncWeb3[Any]) -> None:
    disconnect = getattr(w3.provider, "disconnect", None)
    if disconnect is not None:
        await disconnect()


__all__ = ["Ledger", "LedgerInputError", "UnknownAgreement", "open_ledger"]
