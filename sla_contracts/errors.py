"""The ledger's exception types: bad input, a contract revert, an unreachable chain, a configuration that
cannot work (wrong chain, no key), a missing tool."""

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


class NoContract(LedgerUnavailable):
    """The chain answers but holds no SlaLedger where the client looked (the address given, or the
    deployment file), and deploying one was not asked for."""


class ToolMissing(LedgerError, FileNotFoundError):
    """anvil or cast is not installed where the set-up script puts them."""


class LedgerConfigError(LedgerError, ValueError):
    """The ledger's configuration cannot work (no signing key, a wrong chain id, an unreadable key file):
    one line that names the setting and says what to set.  Retrying does not help."""
