"""Breaches: threshold checks per comparator, duplicates, batches, concurrent writers."""

from __future__ import annotations

import asyncio
import random

import pytest

from sla_contracts.errors import LedgerRevert
from sla_contracts.ids import metric_id, name_ref
from sla_contracts.ledger import Ledger
from sla_contracts.model import Breach, Comparator, Migration, Objective, Severity, WriteStatus
from tests.sla.conftest import chain_now, latency_breach, new_terms

pytestmark = pytest.mark.chain

# (comparator, threshold 10, observed): violated?
CASES = [
    (Comparator.LT, 10.0, True), (Comparator.LT, 9.999999, False), (Comparator.LT, 10.5, True),
    (Comparator.LE, 10.0, False), (Comparator.LE, 10.000001, True), (Comparator.LE, -3.0, False),
    (Comparator.GT, 10.0, True), (Comparator.GT, 10.000001, False), (Comparator.GT, -2.0, True),
    (Comparator.GE, 10.0, False), (Comparator.GE, 9.999999, True), (Comparator.GE, 11.0, False),
]


async def test_only_values_on_the_bad_side_of_the_threshold_are_breaches(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    terms = type(terms)(**{**terms.__dict__, "objectives": [
        Objective(metric_id(f"m-{c.name}"), c, 10.0, 30) for c in Comparator]})
    await ledger.create_agreement(terms)
    written = 0
    for i, (cmp, observed, violated) in enumerate(CASES):
        assert cmp.violated(observed, 10.0) is violated  # the client's rule is the contract's
        breach = Breach(terms.agreement_id, int(cmp), Severity.WARNING, observed, now - 900 + i, now - 870 + i,
                        b"\x01" * 32)
        if violated:
            assert (await ledger.record_breach(breach)).status is WriteStatus.WRITTEN
            written += 1
        else:
            with pytest.raises(LedgerRevert, match="observed value does not violate the threshold"):
                await ledger.record_breach(breach)
    assert await ledger.breach_count(terms.agreement_id) == written == 6


async def test_a_duplicate_breach_is_rejected_by_the_contract_and_a_success_for_the_client(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    breach = latency_breach(terms.agreement_id, now)
    first = await ledger.record_breach(breach)
    assert first.status is WriteStatus.WRITTEN and first.receipt is not None
    assert first.record_id == ledger.breach_id(breach)
    onchain_id = await ledger.contract.functions.breach_id(breach.agreement_id, 0, breach.window_start).call()
    assert bytes(onchain_id) == first.record_id
    # same agreement, objective and window: a duplicate even with another value or severity
    again = Breach(breach.agreement_id, 0, Severity.SEVERE, 99.0, breach.window_start, breach.window_end,
                   b"\x02" * 32)
    second = await ledger.record_breach(again)
    assert second.status is WriteStatus.DUPLICATE and second.record_id == first.record_id
    with pytest.raises(LedgerRevert, match="duplicate breach"):  # the contract itself rejects it
        await ledger.oracle.preflight(ledger.address, ledger._data("record_breach", again.as_tuple()), 150_000)
    assert await ledger.breach_count(terms.agreement_id) == 1
    assert await ledger.breach_count(terms.agreement_id, Severity.SEVERE) == 0
    assert await ledger.is_breach_recorded(terms.agreement_id, 0, breach.window_start)
    assert not await ledger.is_breach_recorded(terms.agreement_id, 0, breach.window_start + 1)
    assert len(await ledger.breach_events(terms.agreement_id)) == 1


async def test_a_batch_skips_duplicates_and_rejects_invalid_entries_as_a_whole(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    aid = terms.agreement_id
    earlier = latency_breach(aid, now)
    await ledger.record_breach(earlier)
    fresh = [latency_breach(aid, now, severity=Severity(i % 5)) for i in range(70)]  # two transactions
    result = await ledger.record_breaches([earlier, *fresh, fresh[3]])
    assert result.written == [ledger.breach_id(b) for b in fresh]
    assert result.duplicates == [ledger.breach_id(earlier)]
    assert await ledger.breach_count(aid) == 71
    assert await ledger.breach_count(aid, Severity.MILD) == 1 + 14
    again = await ledger.record_breaches(fresh[:5])
    assert again.written == [] and len(again.duplicates) == 5
    bad = [latency_breach(aid, now), latency_breach(aid, now, observed=1.0)]
    with pytest.raises(LedgerRevert, match="does not violate"):
        await ledger.record_breaches(bad)
    assert await ledger.breach_count(aid) == 71
    assert not await ledger.is_breach_recorded(aid, 0, bad[0].window_start)


async def test_100_breaches_from_10_concurrent_tasks_land_exactly_once(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    breaches = [latency_breach(terms.agreement_id, now, severity=Severity(i % 5)) for i in range(100)]
    rng = random.Random(7)

    async def task(k: int) -> list[tuple[bytes, WriteStatus]]:
        own = breaches[k * 10:(k + 1) * 10]
        others = rng.sample(breaches, 5)  # racing with the owners of these
        out = []
        for b in rng.sample(own + others, 15):
            r = await ledger.record_breach(b)
            out.append((r.record_id, r.status))
        return out

    results = [r for rs in await asyncio.gather(*(task(k) for k in range(10))) for r in rs]
    written = [bid for bid, status in results if status is WriteStatus.WRITTEN]
    assert sorted(written) == sorted(ledger.breach_id(b) for b in breaches)  # each exactly once
    assert len(results) - len(written) == 50
    assert await ledger.breach_count(terms.agreement_id) == 100
    assert await ledger.breach_counts(terms.agreement_id) == dict.fromkeys(Severity, 20)
    events = await ledger.breach_events(terms.agreement_id)
    assert sorted(bytes(e.args["breach_id"]) for e in events) == sorted(written)


async def test_migrations_reference_a_recorded_breach_once(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    breach = latency_breach(terms.agreement_id, now)
    move = Migration(terms.agreement_id, 0, breach.window_start, name_ref("ns/video"), "bcn-edge-1", "bcn-cloud")
    with pytest.raises(LedgerRevert, match="unknown breach"):
        await ledger.record_migration(move)
    await ledger.record_breach(breach)
    first = await ledger.record_migration(move)
    assert first.status is WriteStatus.WRITTEN
    assert (await ledger.record_migration(move)).status is WriteStatus.DUPLICATE
    assert await ledger.migration_count(terms.agreement_id) == 1
    [event] = await ledger.events(["MigrationRecorded"], terms.agreement_id)
    assert event.args["from_site"] == "bcn-edge-1" and event.args["to_site"] == "bcn-cloud"
    assert bytes(event.args["breach_id"]) == ledger.breach_id(breach)
    assert bytes(event.args["migration_id"]) == first.record_id
