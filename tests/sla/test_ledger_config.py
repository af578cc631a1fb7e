"""The operator's ledger configuration (sla_contracts.config) on anvil: a key file and an existing contract
address are used as they are (nothing deployed); a node of another chain, a missing or unreadable key, and
development keys outside the local stack are each one clear line that names the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from orchestrator.ledger import LedgerConnection
from sla_contracts.backends import DEV_KEYS, LedgerKeys
from sla_contracts.config import LedgerConfig
from sla_contracts.errors import LedgerConfigError
from sla_contracts.ledger import open_ledger
from tests.sla.conftest import Chain, chain_now, new_terms

pytestmark = pytest.mark.chain


def one_line(exc: pytest.ExceptionInfo[LedgerConfigError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


async def _contract_for(chain: Chain, operator_key: str, tmp_path: Path) -> str:
    """An SlaLedger deployed by someone else (anvil's dev account 0), whose operator and oracle are the
    account of `operator_key`; the address, as a real chain's operator is told it."""
    ledger = await open_ledger(chain.node.url, state_dir=tmp_path / "deployer",
                               keys=LedgerKeys(admin=DEV_KEYS[0], operator=operator_key, oracle=operator_key))
    try:
        await ledger.w3.provider.make_request("anvil_setBalance", [ledger.keys.address("operator"), hex(10**20)])
        return ledger.address
    finally:
        await ledger.close()


async def test_a_key_file_and_an_existing_address_are_used_without_deploying(anvil_chain: Chain,
                                                                             tmp_path: Path) -> None:
    account = Account.create()
    address = await _contract_for(anvil_chain, account.key.hex(), tmp_path)
    key_file = tmp_path / "secret" / "operator-key"
    key_file.parent.mkdir()
    key_file.write_text(account.key.hex().removeprefix("0x") + "\n")  # as `kubectl create secret --from-file` keeps it
    state = tmp_path / "state"
    config = LedgerConfig.from_env({
        "EDGEORCH_CHAIN_URL": anvil_chain.node.url, "EDGEORCH_CHAIN_ID": "31337", "EDGEORCH_STATE_DIR": str(state),
        "EDGEORCH_LEDGER_KEY_FILE": str(key_file), "EDGEORCH_LEDGER_ADDRESS": address.lower(),
    })
    assert not config.deploy and not config.dev_keys
    conn = LedgerConnection(config)
    await conn.check()  # the operator's start-up check: keys readable, right chain, the contract there
    ledger = await conn.get()
    try:
        deployer_nonce = await ledger.w3.eth.get_transaction_count(LedgerKeys.dev().address("admin"))
        assert ledger.address == address and ledger.keys.operator == ledger.keys.oracle == ledger.keys.admin
        terms = new_terms(await chain_now(ledger))
        receipt = await ledger.create_agreement(terms)
        tx = await ledger.w3.eth.get_transaction(receipt.tx_hash)
        assert tx["from"] == account.address and tx["to"] == address
        assert (await ledger.get_agreement(terms.agreement_id)).version == 1
        assert await ledger.w3.eth.get_transaction_count(LedgerKeys.dev().address("admin")) == deployer_nonce
        assert not state.exists(), "nothing deployed, nothing recorded"
    finally:
        await conn.close()

    # no address and nothing recorded: an error that says what to set (never a deployment)
    nothing = LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": anvil_chain.node.url, "EDGEORCH_STATE_DIR": str(state),
                                     "EDGEORCH_LEDGER_KEY_FILE": str(key_file)})
    with pytest.raises(LedgerConfigError) as exc:
        await LedgerConnection(nothing).check()
    line = one_line(exc)
    assert line.startswith("EDGEORCH_LEDGER_ADDRESS: no ledger deployed on chain 31337") and \
        "EDGEORCH_LEDGER_DEPLOY=true" in line, line


async def test_a_wrong_chain_id_fails_at_start_with_one_line(anvil_chain: Chain, tmp_path: Path) -> None:
    config = LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": anvil_chain.node.url, "EDGEORCH_CHAIN_ID": "11155111",
                                    "EDGEORCH_LEDGER_DEV_KEYS": "false", "EDGEORCH_LEDGER_KEY_FILE": str(_key(tmp_path)),
                                    "EDGEORCH_LEDGER_DEPLOY": "true", "EDGEORCH_STATE_DIR": str(tmp_path / "s")})
    with pytest.raises(LedgerConfigError) as exc:
        await LedgerConnection(config).check()
    assert one_line(exc) == (f"EDGEORCH_CHAIN_ID: chain id: the node at {anvil_chain.node.url} is chain 31337, "
                             "the configuration says 11155111")
    assert not (tmp_path / "s").exists(), "nothing was deployed on the wrong chain"


def _key(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text(Account.create().key.hex())
    return path


def test_no_key_outside_the_local_stack_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(LedgerConfigError) as exc:
        LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": "https://rpc.example.org"})
    line = one_line(exc)
    assert line.startswith("EDGEORCH_LEDGER_KEY_FILE: no signing key for the chain at https://rpc.example.org")
    assert "EDGEORCH_LEDGER_DEV_KEYS=true" in line and "local stack" in line
    with pytest.raises(LedgerConfigError) as exc:
        LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": "https://rpc.example.org", "EDGEORCH_LEDGER_DEV_KEYS": "true",
                               "EDGEORCH_CHAIN_ID": "1"})
    assert one_line(exc).startswith("EDGEORCH_LEDGER_DEV_KEYS: anvil's development keys are public; refused on chain 1")
    missing = tmp_path / "not-mounted"
    with pytest.raises(LedgerConfigError) as exc:
        LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": "https://rpc.example.org",
                               "EDGEORCH_LEDGER_KEY_FILE": str(missing)}).keys()
    assert one_line(exc).startswith(f"EDGEORCH_LEDGER_KEY_FILE: cannot read the key file {missing}")
    secret = tmp_path / "garbage"
    secret.write_text("not-a-key-but-a-secret-value")
    with pytest.raises(LedgerConfigError) as exc:
        LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": "https://rpc.example.org",
                               "EDGEORCH_LEDGER_ORACLE_KEY_FILE": str(secret),
                               "EDGEORCH_LEDGER_KEY_FILE": str(_key(tmp_path))}).keys()
    line = one_line(exc)
    assert line == f"EDGEORCH_LEDGER_ORACLE_KEY_FILE: {secret} does not hold a private key (64 hex digits)"
    assert "secret-value" not in line
    for env, field in (({"EDGEORCH_CHAIN_ID": "mainnet"}, "EDGEORCH_CHAIN_ID"),
                       ({"EDGEORCH_LEDGER_ADDRESS": "0x1234"}, "EDGEORCH_LEDGER_ADDRESS"),
                       ({"EDGEORCH_LEDGER_DEPLOY": "sometimes"}, "EDGEORCH_LEDGER_DEPLOY")):
        with pytest.raises(LedgerConfigError) as exc:
            LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": "http://127.0.0.1:8545", "EDGEORCH_LEDGER_DEV_KEYS": "1", **env})
        assert one_line(exc).startswith(f"{field}: "), exc.value


def test_the_local_stack_and_tests_keep_the_development_keys() -> None:
    embedded = LedgerConfig.from_env({})
    assert embedded.url is None and embedded.keys() == LedgerKeys.dev() and embedded.deploy
    local = LedgerConfig.from_env({"EDGEORCH_CHAIN_URL": "http://127.0.0.1:8545", "EDGEORCH_LEDGER_DEV_KEYS": "true",
                                   "EDGEORCH_LEDGER_DEPLOY": "true"})
    assert local.keys() == LedgerKeys.dev() and local.deploy and local.expected_chain_id() == 31337
