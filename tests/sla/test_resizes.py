"""Resizes on the ledger: one record per (agreement, resize number), an up one tied to a recorded
breach, a down one to none; only the operator writes them; the gas they cost."""

from __future__ import annotations

import pytest

from sla_contracts.errors import LedgerRevert
from sla_contracts.ids import name_ref
from sla_contracts.ledger import Ledger
from sla_contracts.model import Resize, WriteStatus
from tests.sla.conftest import chain_now, latency_breach, new_terms

pytestmark = pytest.mark.chain


async def test_a_resize_is_recorded_once_and_an_up_one_names_its_breach(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    breach = latency_breach(terms.agreement_id, now)
    up = Resize(terms.agreement_id, 1, 0, breach.window_start, name_ref("ns/video"), 4080, 1, True, 1)
    with pytest.raises(LedgerRevert, match="unknown breach"):
        await ledger.record_resize(up)
    await ledger.record_breach(breach)
    first = await ledger.record_resize(up)
    assert first.status is WriteStatus.WRITTEN
    assert first.receipt is not None and first.receipt.gas_used < 80_000, first.receipt
    assert (await ledger.record_resize(up)).status is WriteStatus.DUPLICATE
    down = Resize(terms.agreement_id, 2, 0, 0, name_ref("ns/video"), 3400, 1, False, 1)
    assert (await ledger.record_resize(down)).status is WriteStatus.WRITTEN
    events = await ledger.events(["ResizeRecorded"], terms.agreement_id)
    assert [(e.args["seq"], e.args["cpu_m"], e.args["up"]) for e in events] == [(1, 4080, True), (2, 3400, False)]
    assert bytes(events[0].args["breach_id"]) == ledger.breach_id(breach)
    assert bytes(events[1].args["breach_id"]) == b"\0" * 32
    assert bytes(events[0].args["resize_id"]) == first.record_id


async def test_a_resize_needs_a_known_agreement_and_the_operator(ledger: Ledger) -> None:
    now = await chain_now(ledger)
    terms = new_terms(now)
    with pytest.raises(LedgerRevert, match="unknown agreement"):
        await ledger.record_resize(Resize(terms.agreement_id, 1, 0, 0, name_ref("ns/a"), 100, 1, False))
    await ledger.create_agreement(terms)
    with pytest.raises(LedgerRevert):
        await ledger.record_resize(Resize(terms.agreement_id, 1, 0, 0, name_ref("ns/a"), 100, 1, False),
                                   writer=ledger.oracle)
