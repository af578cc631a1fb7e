"""Agreements: create, read back, amend (new version), accept, terminate; expiry."""

from __future__ import annotations

import pytest

from sla_contracts.errors import LedgerInputError, LedgerRevert
from sla_contracts.ids import metric_id, terms_hash
from sla_contracts.ledger import Ledger
from sla_contracts.model import AgreementStatus, Comparator, Objective, Severity
from sla_contracts.writer import UnknownAgreement
from tests.sla.conftest import PROVIDER_KEY, chain_now, latency_breach, new_terms

pytestmark = pytest.mark.chain


async def test_create_reads_back_and_rejects_a_second_create(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    receipt = await ledger.create_agreement(terms)
    assert receipt.gas_used > 21_000
    info = await ledger.get_agreement(terms.agreement_id)
    assert info.status is AgreementStatus.ACTIVE and info.version == 1 and not info.accepted
    assert info.terms_hash == terms.terms_hash
    assert (info.valid_from, info.valid_until) == (terms.valid_from, terms.valid_until)
    assert info.objectives == [(Comparator.LT, 50.0), (Comparator.GT, 10.0), (Comparator.GE, 0.999)]
    with pytest.raises(LedgerRevert, match="agreement exists"):
        await ledger.create_agreement(terms)


async def test_many_objectives_are_packed_and_read_back(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    objs = [Objective(metric_id(f"m{i}"), Comparator(i % 4), -5.5 + i * 1.25, 30) for i in range(16)]
    terms = new_terms(now)
    terms = type(terms)(**{**terms.__dict__, "objectives": objs})
    await ledger.create_agreement(terms)
    info = await ledger.get_agreement(terms.agreement_id)
    assert info.objectives == [(o.comparator, o.threshold) for o in objs]
    # objective 15 (comparator ge 13.25) is checked against its own threshold
    breach = latency_breach(terms.agreement_id, now, objective=15, observed=13.0)
    assert (await ledger.record_breach(breach)).receipt is not None
    with pytest.raises(LedgerRevert, match="does not violate"):
        await ledger.record_breach(latency_breach(terms.agreement_id, now, objective=15, observed=13.25))


async def test_amend_makes_a_new_version_and_terminate_ends_it(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    await ledger.record_breach(latency_breach(terms.agreement_id, now, observed=60.0))
    amended = type(terms)(**{**terms.__dict__, "terms_hash": terms_hash({"amended": True}),
                             "objectives": [Objective(metric_id("latency_ms"), Comparator.LT, 100.0, 30)]})
    await ledger.amend_agreement(amended)
    info = await ledger.get_agreement(terms.agreement_id)
    assert info.version == 2 and info.terms_hash == amended.terms_hash
    assert info.objectives == [(Comparator.LT, 100.0)]
    with pytest.raises(LedgerRevert, match="does not violate"):  # 60 ms is fine under the new threshold
        await ledger.record_breach(latency_breach(terms.agreement_id, now, observed=60.0))
    with pytest.raises(LedgerRevert, match="objective: unknown index"):
        await ledger.record_breach(latency_breach(terms.agreement_id, now, objective=1, observed=1.0))
    await ledger.record_breach(latency_breach(terms.agreement_id, now, observed=150.0, severity=Severity.SEVERE))
    await ledger.terminate_agreement(terms.agreement_id)
    info = await ledger.get_agreement(terms.agreement_id)
    assert info.status is AgreementStatus.TERMINATED and info.version == 2
    with pytest.raises(LedgerRevert, match="agreement not active"):
        await ledger.record_breach(latency_breach(terms.agreement_id, now, observed=150.0))
    with pytest.raises(LedgerRevert, match="agreement not active"):
        await ledger.amend_agreement(amended)
    with pytest.raises(LedgerRevert, match="agreement not active"):
        await ledger.terminate_agreement(terms.agreement_id)
    events = await ledger.events(agreement_id=terms.agreement_id)
    assert [e.name for e in events] == ["AgreementCreated", "BreachRecorded", "AgreementAmended", "BreachRecorded",
                                        "AgreementTerminated"]
    assert [e.args["version"] for e in events if e.name == "BreachRecorded"] == [1, 2]
    assert await ledger.breach_counts(terms.agreement_id) == {
        Severity.WARNING: 0, Severity.MILD: 1, Severity.SERIOUS: 0, Severity.SEVERE: 1, Severity.CATASTROPHIC: 0}


async def test_the_provider_accepts_the_current_version_only(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    provider = ledger.writer(PROVIDER_KEY)
    terms = new_terms(now, provider_account=provider.address)
    await ledger.create_agreement(terms)
    with pytest.raises(LedgerRevert, match="caller is not the provider"):
        await ledger.accept_agreement(terms.agreement_id, 1, ledger.keys.operator)
    with pytest.raises(LedgerRevert, match="version: not the current version"):
        await ledger.accept_agreement(terms.agreement_id, 2, PROVIDER_KEY)
    await ledger.accept_agreement(terms.agreement_id, 1, PROVIDER_KEY)
    info = await ledger.get_agreement(terms.agreement_id)
    assert info.accepted and info.provider_account == provider.address
    with pytest.raises(LedgerRevert, match="terms_hash: unchanged"):  # a resent amendment is not a new version
        await ledger.amend_agreement(terms)
    assert (await ledger.get_agreement(terms.agreement_id)).version == 1
    await ledger.amend_agreement(type(terms)(**{**terms.__dict__, "terms_hash": terms_hash({"v": 2})}))
    assert not (await ledger.get_agreement(terms.agreement_id)).accepted  # a new version needs a new acceptance


async def test_an_expired_agreement_rejects_breaches(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now, start=now - 7200, end=now - 60)
    await ledger.create_agreement(terms)
    with pytest.raises(LedgerRevert, match="agreement expired"):
        await ledger.record_breach(latency_breach(terms.agreement_id, now, window_start=now - 1000))
    live = new_terms(now, start=now - 600, end=now + 3600)
    await ledger.create_agreement(live)
    with pytest.raises(LedgerRevert, match="window: ends after validity"):
        await ledger.record_breach(latency_breach(live.agreement_id, now, window_start=now + 3590))
    with pytest.raises(LedgerRevert, match="window: starts before validity"):
        await ledger.record_breach(latency_breach(live.agreement_id, now, window_start=now - 601))
    await ledger.record_breach(latency_breach(live.agreement_id, now, window_start=now - 600))
    assert await ledger.breach_count(live.agreement_id) == 1


async def test_unknown_agreements_are_input_errors(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    ghost = new_terms(now)
    for call in (ledger.get_agreement(ghost.agreement_id), ledger.terminate_agreement(ghost.agreement_id),
                 ledger.record_breach(latency_breach(ghost.agreement_id, now)), ledger.amend_agreement(ghost)):
        with pytest.raises(LedgerInputError, match=r"^agreement_id: unknown agreement") as info:
            await call
        assert isinstance(info.value, UnknownAgreement) and isinstance(info.value, LedgerRevert)
    with pytest.raises(LedgerInputError, match=r"^terms_hash: must be 32 bytes, got empty"):
        await ledger.create_agreement(type(ghost)(**{**ghost.__dict__, "terms_hash": b""}))
