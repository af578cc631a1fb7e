"""The ledger's exception types: one for bad input, one for a contract revert, one for a missing tool."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error of the SLA ledger."""


class LedgerInputError(LedgerError, ValueError):
    """An argument is invalid; the message starts with the field name (`terms_hash: must be 32 bytes`)."""


class LedgerRevert(LedgerError):
    """The contract rejected a call or transaction; `reason` is the revert string of the contract."""

    def __init__(self, reason: str, *, tx_hash: str | None = None) -> None:
        super().__init__(f"ledger reverted: {reason}" + (f" (tx {tx_hash})" if tx_hash else ""))
        self.reason = reason
        self.tx_hash = tx_hash


class LedgerUnavailable(LedgerError):
    """The chain does not answer, or the deployed contract is not the one this client expects."""


class ToolMissing(LedgerError, FileNotFoundError):
    """anvil or cast is not installed where the set-up script puts them."""
