"""A late agreement record never rolls the chain back: the outbox sends a version of an SLA after a
newer one landed (a status write that lost its removal, a second operator) and the chain keeps the
newer terms (the contract's revision check, found by tests/sla/test_contract_attacks.py)."""

from __future__ import annotations

import uuid

import pytest

from orchestrator.ledger import LedgerConnection, agreement_record, flush
from sla_contracts import agreement_id, terms_hash
from sla_contracts.config import LedgerConfig
from tests.qos.conftest import sla

pytestmark = pytest.mark.chain


async def test_a_late_record_of_an_older_generation_is_dropped_not_sent() -> None:
    conn = LedgerConnection(LedgerConfig.development())  # the embedded chain
    uid = str(uuid.uuid4())
    specs = {g: sla("svc-sla", "lifecycle", "svc", interval=5, warning_ms=10.0 * g)["spec"] for g in (1, 2, 3)}
    try:
        for generation in (1, 3):
            done = await flush(conn, [agreement_record(uid, specs[generation], generation)])
            assert len(done.written) == 1 and done.receipts, done
        late = await flush(conn, [agreement_record(uid, specs[2], 2)])
        assert len(late.written) == 1 and not late.receipts and not late.remaining and not late.failed
        info = await (await conn.get()).get_agreement(agreement_id(uid))
        assert (info.version, info.revision, info.terms_hash) == (2, 3, terms_hash(specs[3]))
    finally:
        await conn.close()
