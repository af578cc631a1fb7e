"""The one writer per signing key: the only place that counts nonces.

A writer signs locally and sends raw transactions. Its asyncio.Lock covers only nonce assignment and the
send, so concurrent callers are safe and their transactions are pipelined: each waits for its own receipt
outside the lock. A failed send resynchronises the nonce from the chain (at once, and sends again, when the
chain says the nonce is too low: another client signed with the key). Reverts of both backends come
out as LedgerRevert (UnknownAgreement when the contract does not know the agreement).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_tester.exceptions import TransactionFailed
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from sla_contracts.errors import LedgerInputError, LedgerRevert, LedgerUnavailable
from sla_contracts.model import TxReceiptInfo

PRIORITY_FEE = 10**9
FEE_REFRESH_S = 5.0
RECEIPT_TIMEOUT_S = 120.0


class UnknownAgreement(LedgerInputError, LedgerRevert):
    """The contract does not know the agreement (a bad input and a revert at once)."""

    def __init__(self, reason: str, *, tx_hash: str | None = None) -> None:
        LedgerRevert.__init__(self, reason, tx_hash=tx_hash)
        self.args = (f"agreement_id: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


def revert_reason(exc: BaseException) -> str | None:
    """The revert string of an eth_call / estimate error of either backend, or None if it is no revert."""
    if isinstance(exc, ContractLogicError | TransactionFailed):
        text = str(exc.args[0]) if exc.args else str(exc)
    elif isinstance(exc, Web3RPCError) and "revert" in str(exc).lower():
        text = str(exc.message) if getattr(exc, "message", None) else str(exc)
    else:
        return None
    text = re.sub(r"^(execution reverted:?\s*)", "", text.strip(), flags=re.IGNORECASE)
    return text or "execution reverted"


def as_ledger_error(reason: str, tx_hash: str | None = None) -> LedgerRevert:
    if reason == "unknown agreement":
        return UnknownAgreement(reason, tx_hash=tx_hash)
    return LedgerRevert(reason, tx_hash=tx_hash)


async def call_checked(w3: AsyncWeb3[Any], tx: dict[str, Any], block: int | str = "latest") -> bytes:
    """eth_call that raises LedgerRevert with the reason."""
    try:
        out: bytes = await w3.eth.call(tx, block_identifier=block)  # type: ignore[arg-type]
        return out
    except Exception as exc:
        reason = revert_reason(exc)
        if reason is None:
            raise
        raise as_ledger_error(reason) from exc


class KeyWriter:
    """Sends the transactions of one signing key, with its own nonce counter."""

    def __init__(self, w3: AsyncWeb3[Any], private_key: str, chain_id: int) -> None:
        self.w3 = w3
        self.account = Account.from_key(private_key)
        self._key = PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
        self.address: str = self.account.address
        self.chain_id = chain_id
        self._lock = asyncio.Lock()
        self._nonce: int | None = None
        self._max_fee: int | None = None
        self._fee_at = 0.0

    async def _fees(self) -> tuple[int, int]:
        now = time.monotonic()
        if self._max_fee is None or now - self._fee_at > FEE_REFRESH_S:
            block = await self.w3.eth.get_block("latest")
            base = int(block.get("baseFeePerGas", 10**9) or 0)
            self._max_fee, self._fee_at = 3 * base + PRIORITY_FEE, now
        return self._max_fee, PRIORITY_FEE

    async def preflight(self, to: str | None, data: str, gas: int) -> None:
        """Run the transaction as a call first: a revert raises here and uses no nonce."""
        tx: dict[str, Any] = {"from": self.address, "data": data, "gas": gas}
        if to is not None:
            tx["to"] = to
        await call_checked(self.w3, tx)

    async def send(self, to: str | None, data: str, gas: int, value: int = 0) -> str:
        """Sign and send (with `value` wei); returns the transaction hash (the receipt is not awaited).
        A nonce the chain calls too low (another client signed with this key meanwhile) is read again
        from the chain and the transaction sent once more."""
        async with self._lock:
            for attempt in (1, 2):
                if self._nonce is None:
                    self._nonce = await self.w3.eth.get_transaction_count(self.address, "pending")  # type: ignore[arg-type]
                max_fee, tip = await self._fees()
                tx: dict[str, Any] = {
                    "chainId": self.chain_id, "nonce": self._nonce, "gas": gas, "data": data, "value": value,
                    "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip, "type": 2,
                }
                if to is not None:
                    tx["to"] = to
                signed = Account.sign_transaction(tx, self._key)  # a parsed key: no public-key derivation per tx
                try:
                    tx_hash = await self.w3.eth.send_raw_transaction(signed.raw_transaction)
                except Exception as exc:
                    self._nonce, self._max_fee = None, None  # resync on the next send
                    if attempt == 1 and "nonce too low" in str(exc).lower():
                        continue
                    reason = revert_reason(exc)
                    if reason is not None:
                        raise as_ledger_error(reason) from exc
                    raise
                self._nonce += 1
                return "0x" + bytes(tx_hash).hex()
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def wait(self, tx_hash: str, timeout: float = RECEIPT_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                receipt = await self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                if receipt is not None:
                    return dict(receipt)
            except TransactionNotFound:
                pass
            if time.monotonic() > deadline:
                raise LedgerUnavailable(f"no receipt for {tx_hash} within {timeout:.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def transact(self, to: str | None, data: str, gas: int, *, preflight: bool = True,
                       value: int = 0) -> dict[str, Any]:
        """Preflight (optional), send, wait for the receipt; a reverted transaction raises LedgerRevert."""
        if preflight:
            await self.preflight(to, data, gas)
        tx_hash = await self.send(to, data, gas, value)
        receipt = await self.wait(tx_hash)
        if receipt.get("status") != 1:
            reason = "execution reverted"
            try:
                block = int(receipt["blockNumber"]) - 1
                await call_checked(self.w3, {"from": self.address, "to": to, "data": data, "gas": gas}, block)
            except LedgerRevert as exc:
                reason = exc.reason
            raise as_ledger_error(reason, tx_hash)
        return receipt


def receipt_info(receipt: dict[str, Any]) -> TxReceiptInfo:
    tx_hash = receipt["transactionHash"]
    return TxReceiptInfo(
        tx_hash=tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex(),
        block_number=int(receipt["blockNumber"]), gas_used=int(receipt["gasUsed"]),
    )
