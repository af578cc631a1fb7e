"""The operator's ledger configuration, from its environment: which chain, which keys sign, which contract.

On a real chain (EDGEORCH_CHAIN_URL set):
    EDGEORCH_LEDGER_KEY_FILE         a file holding the operator's private key (hex): a mounted Secret's key
    EDGEORCH_LEDGER_ORACLE_KEY_FILE  the breach writer's (ORACLE) key; default: the operator's
    EDGEORCH_LEDGER_ADMIN_KEY_FILE   the key that deploys a new contract; default: the operator's
    EDGEORCH_CHAIN_ID                the chain the node must be (checked when the operator starts)
    EDGEORCH_LEDGER_ADDRESS          the SlaLedger to use; default: the one recorded in
                                     $EDGEORCH_STATE_DIR/ledger.json for this chain
    EDGEORCH_LEDGER_DEPLOY           `true`: deploy a contract when none is found (never otherwise)
The local stack sets EDGEORCH_LEDGER_DEV_KEYS=true (anvil's public development accounts; refused on any
chain but anvil's 31337) and EDGEORCH_LEDGER_DEPLOY=true.  Without EDGEORCH_CHAIN_URL the ledger is an
in-process chain (eth-tester) with the development keys, for tests.

Every mistake is a LedgerConfigError: one line that names the variable and says what to set.
Key files are read when the ledger opens, never logged, never kept anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_utils.address import is_address, to_checksum_address

from sla_contracts.backends import LedgerKeys
from sla_contracts.deployment import default_state_dir
from sla_contracts.errors import LedgerConfigError, NoContract
from sla_contracts.ledger import Ledger, open_ledger

ANVIL_CHAIN_ID = 31337  # the local stack's anvil (devstack.localstack.components.anvil)
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
KEY_VARS = {"operator": "EDGEORCH_LEDGER_KEY_FILE", "oracle": "EDGEORCH_LEDGER_ORACLE_KEY_FILE",
            "admin": "EDGEORCH_LEDGER_ADMIN_KEY_FILE"}


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise LedgerConfigError(f"{name}: expected true or false, got {value!r}")


def read_key(path: Path, variable: str) -> str:
    """The private key in `path` (hex, optional 0x, surrounding whitespace ignored); the error names
    `variable` and the file, never the content."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise LedgerConfigError(f"{variable}: cannot read the key file {path}: {exc.strerror or exc}") from exc
    hex_key = text.removeprefix("0x").removeprefix("0X")
    try:
        if len(hex_key) != 64:
            raise ValueError
        Account.from_key(bytes.fromhex(hex_key))
    except ValueError as exc:
        raise LedgerConfigError(f"{variable}: {path} does not hold a private key (64 hex digits)") from exc
    return "0x" + hex_key.lower()


@dataclass(frozen=True)
class LedgerConfig:
    """How to open the ledger (see the module docstring); `open()` checks the chain and opens it."""

    url: str | None = None
    state_dir: Path | None = None
    key_files: Mapping[str, Path] = field(default_factory=dict)  # role -> file (operator, oracle, admin)
    dev_keys: bool = False
    address: str | None = None
    deploy: bool = False
    chain_id: int | None = None

    @classmethod
    def development(cls, url: str | None = None, state_dir: Path | None = None) -> LedgerConfig:
        """anvil's development keys, deploying when no contract is found: the local stack and tests."""
        return cls(url=url, state_dir=state_dir, dev_keys=True, deploy=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LedgerConfig:
        """The configuration of the environment; checks names and combinations (files are read by keys())."""
        env = os.environ if env is None else env
        url = env.get("EDGEORCH_CHAIN_URL") or None
        files = {role: Path(env[var]) for role, var in KEY_VARS.items() if env.get(var)}
        dev = _flag(env, "EDGEORCH_LEDGER_DEV_KEYS")
        if files and dev:
            raise LedgerConfigError("EDGEORCH_LEDGER_DEV_KEYS: set it or EDGEORCH_LEDGER_KEY_FILE, not both")
        if files and "operator" not in files:
            raise LedgerConfigError(f"EDGEORCH_LEDGER_KEY_FILE: required with {KEY_VARS[min(files)]} "
                                    "(the operator's own key)")
        if url and not files and not dev:
            raise LedgerConfigError(
                f"EDGEORCH_LEDGER_KEY_FILE: no signing key for the chain at {url}; point it at a file holding "
                "the operator's private key (e.g. a mounted Secret); anvil's development keys are only for "
                "the local stack (EDGEORCH_LEDGER_DEV_KEYS=true)")
        address = env.get("EDGEORCH_LEDGER_ADDRESS") or None
        if address is not None:
            if not is_address(address):
                raise LedgerConfigError(f"EDGEORCH_LEDGER_ADDRESS: not an address: {address!r}")
            address = str(to_checksum_address(address))
        chain_text = env.get("EDGEORCH_CHAIN_ID", "").strip()
        try:
            chain_id = int(chain_text) if chain_text else None
        except ValueError:
            raise LedgerConfigError(f"EDGEORCH_CHAIN_ID: expected a number, got {chain_text!r}") from None
        if dev and url and chain_id not in (None, ANVIL_CHAIN_ID):
            raise LedgerConfigError(f"EDGEORCH_LEDGER_DEV_KEYS: anvil's development keys are public; "
                                    f"refused on chain {chain_id} (only anvil's {ANVIL_CHAIN_ID})")
        state = env.get("EDGEORCH_STATE_DIR")
        return cls(url=url, state_dir=Path(state) if state else None, key_files=files, dev_keys=dev or not url,
                   address=address, deploy=_flag(env, "EDGEORCH_LEDGER_DEPLOY") or not url, chain_id=chain_id)

    def keys(self) -> LedgerKeys:
        """The signing keys: read from the key files, or anvil's development keys."""
        if not self.key_files:
            if self.url and not self.dev_keys:
                raise LedgerConfigError(f"EDGEORCH_LEDGER_KEY_FILE: no signing key for the chain at {self.url}")
            return LedgerKeys.dev()
        operator = read_key(self.key_files["operator"], KEY_VARS["operator"])
        other = {role: read_key(self.key_files[role], KEY_VARS[role]) if role in self.key_files else operator
                 for role in ("oracle", "admin")}
        return LedgerKeys(admin=other["admin"], operator=operator, oracle=other["oracle"])

    def expected_chain_id(self) -> int | None:
        """The chain id the node must have: the configured one; anvil's with the development keys."""
        if self.chain_id is not None:
            return self.chain_id
        return ANVIL_CHAIN_ID if self.url and self.dev_keys else None

    async def open(self) -> Ledger:
        """Open the ledger as configured: LedgerConfigError when it cannot work as set, LedgerUnavailable
        when the chain does not answer (or holds no contract yet and deploying was not asked for)."""
        keys = self.keys()
        try:
            return await open_ledger(self.url, state_dir=self.state_dir, keys=keys, address=self.address,
                                     deploy=self.deploy or self.url is None, chain_id=self.expected_chain_id())
        except LedgerConfigError as exc:  # the node is another chain
            raise self._another_chain(exc) from exc
        except NoContract as exc:
            if self.address is not None:
                raise LedgerConfigError(f"EDGEORCH_LEDGER_ADDRESS: {exc}") from exc
            raise LedgerConfigError(f"EDGEORCH_LEDGER_ADDRESS: {exc}; set the address of your SlaLedger, or "
                                    "EDGEORCH_LEDGER_DEPLOY=true to deploy one") from exc

    def check_chain(self, chain_id: int) -> None:
        """LedgerConfigError (as `open` raises it) when a node of chain `chain_id` is not the one configured."""
        expected = self.expected_chain_id()
        if expected is not None and chain_id != expected:
            raise self._another_chain(LedgerConfigError(
                f"chain id: the node at {self.url or 'embedded'} is chain {chain_id}, the configuration says {expected}"))

    def _another_chain(self, exc: LedgerConfigError) -> LedgerConfigError:
        if self.chain_id is not None:
            return LedgerConfigError(f"EDGEORCH_CHAIN_ID: {exc}")
        return LedgerConfigError(f"EDGEORCH_LEDGER_DEV_KEYS: {exc} (anvil's); anvil's development keys are "
                                 "only for the local stack")

    def describe(self) -> str:
        """One line for the log: where, which contract, which signer (addresses only)."""
        if self.url is None:
            return "an in-process chain (eth-tester), development keys"
        try:
            signer = Account.from_key(self.keys().operator).address
        except LedgerConfigError:
            signer = "?"
        contract = self.address or f"recorded in {(self.state_dir or default_state_dir()) / 'ledger.json'}"
        return (f"chain {self.url} (id {self.expected_chain_id() or 'not checked'}), contract {contract}"
                f"{' (deployed if missing)' if self.deploy else ''}, operator account {signer}"
                f"{' (anvil development keys)' if self.dev_keys else ''}")


__all__ = ["ANVIL_CHAIN_ID", "KEY_VARS", "LedgerConfig", "read_key"]
