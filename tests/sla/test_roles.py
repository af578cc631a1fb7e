"""Every write from a key without the role is rejected, on both backends, preflighted or mined."""

from __future__ import annotations

import pytest

from sla_contracts.backends import DEV_KEYS
from sla_contracts.errors import LedgerRevert
from sla_contracts.ids import name_ref
from sla_contracts.ledger import Ledger
from sla_contracts.model import Migration, Role
from tests.sla.conftest import chain_now, latency_breach, new_terms

pytestmark = pytest.mark.chain


async def test_operator_writes_from_other_keys_are_rejected(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    for key in (ledger.keys.oracle, ledger.keys.admin):
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.create_agreement(terms, writer=ledger.writer(key))
    await ledger.create_agreement(terms)
    breach = latency_breach(terms.agreement_id, now)
    await ledger.record_breach(breach)
    for key in (ledger.keys.oracle, ledger.keys.admin):
        w = ledger.writer(key)
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.amend_agreement(terms, writer=w)
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.terminate_agreement(terms.agreement_id, writer=w)
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.record_migration(Migration(terms.agreement_id, 0, breach.window_start, name_ref("wl"),
                                                    "bcn-1", "bcn-2"), writer=w)
    assert (await ledger.get_agreement(terms.agreement_id)).version == 1


async def test_only_the_oracle_writes_breaches(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    for key in (ledger.keys.operator, ledger.keys.admin):
        w = ledger.writer(key)
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.record_breach(latency_breach(terms.agreement_id, now), writer=w)
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.record_breaches([latency_breach(terms.agreement_id, now)], writer=w)
    assert await ledger.breach_count(terms.agreement_id) == 0


async def test_a_mined_revert_has_the_same_reason(ledger: Ledger) -> None:
    """Without the preflight call the transaction is mined, fails, and its reason is replayed."""
    now = await chain_now(ledger)
    terms = new_terms(now)
    data = ledger._data("terminate_agreement", terms.agreement_id)
    with pytest.raises(LedgerRevert, match="caller lacks role") as info:
        await ledger.oracle.transact(ledger.address, data, 100_000, preflight=False)
    assert info.value.tx_hash is not None
    # the writer's nonce stayed right: the next write from that key goes through
    await ledger.create_agreement(terms)
    assert (await ledger.record_breach(latency_breach(terms.agreement_id, now))).receipt is not None


async def test_admin_grants_and_revokes_and_nobody_else_does(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    extra = ledger.writer(DEV_KEYS[3])
    with pytest.raises(LedgerRevert, match="caller lacks role"):
        await ledger.record_breach(latency_breach(terms.agreement_id, now), writer=extra)
    for key in (ledger.keys.operator, ledger.keys.oracle):
        with pytest.raises(LedgerRevert, match="caller lacks role"):
            await ledger.grant_role(extra.address, Role.ORACLE, writer=ledger.writer(key))
    await ledger.grant_role(extra.address, Role.ORACLE)
    assert await ledger.has_role(extra.address, Role.ORACLE)
    await ledger.record_breach(latency_breach(terms.agreement_id, now), writer=extra)
    await ledger.revoke_role(extra.address, Role.ORACLE)
    assert not await ledger.has_role(extra.address, Role.ORACLE)
    with pytest.raises(LedgerRevert, match="caller lacks role"):
        await ledger.record_breach(latency_breach(terms.agreement_id, now), writer=extra)
    with pytest.raises(LedgerRevert, match="admin cannot revoke own admin role"):
        await ledger.revoke_role(ledger.admin.address, Role.ADMIN)
    assert await ledger.breach_count(terms.agreement_id) == 1
