"""One signing key used by two clients (a restarted operator's old process still flushing, a second
operator, a person with cast): the writer whose nonce fell behind reads it again and still sends."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account

from sla_contracts.backends import DEV_KEYS
from sla_contracts.ledger import open_ledger
from tests.sla.conftest import Chain


async def test_a_writer_whose_nonce_another_client_used_sends_again(anvil_chain: Chain, tmp_path: Path) -> None:
    key = DEV_KEYS[3]
    to = Account.create().address
    first = await open_ledger(anvil_chain.node.url, state_dir=tmp_path / "a")
    second = await open_ledger(anvil_chain.node.url, state_dir=tmp_path / "b")
    try:
        mine, theirs = first.writer(key), second.writer(key)
        await mine.transact(to, "0x", 30_000, preflight=False, value=1)  # its nonce counter is now set
        await theirs.transact(to, "0x", 30_000, preflight=False, value=1)  # the chain's nonce moves on
        receipt = await mine.transact(to, "0x", 30_000, preflight=False, value=1)  # too low: read again, sent
        assert receipt["status"] == 1
        assert await first.w3.eth.get_balance(to) == 3
    finally:
        for ledger in (first, second):
            await ledger.close()
