"""The SLA contract under attack, as properties (hypothesis, bounded and reproducible examples) on both
backends (eth-tester in process, anvil): callers without the role for every state-changing function,
replayed breach ids, amendments with stale terms, and batch edge cases.

Found this way and fixed in the contract: an amendment replayed after a newer one (a late retry, a
second operator) was taken as a new version and rolled the terms back; every version now carries a
revision (the SLA object's generation) that only grows.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_contracts.artifact import load_artifact
from sla_contracts.backends import DEV_KEYS
from sla_contracts.errors import LedgerRevert
from sla_contracts.ids import metric_id, terms_hash
from sla_contracts.ledger import Ledger
from sla_contracts.model import (
    MAX_BATCH,
    AgreementTerms,
    Breach,
    Comparator,
    Objective,
    Role,
    Severity,
    WriteStatus,
)
from sla_contracts.writer import call_checked
from tests.sla.conftest import PROVIDER_KEY, chain_now, new_terms

pytestmark = pytest.mark.chain

ABI = load_artifact()["abi"]
STATE_CHANGING = {f["name"]: f for f in ABI if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
GUARD: dict[str, Role | None] = {
    "grant_role": Role.ADMIN, "revoke_role": Role.ADMIN,
    "create_agreement": Role.OPERATOR, "amend_agreement": Role.OPERATOR, "terminate_agreement": Role.OPERATOR,
    "record_migration": Role.OPERATOR, "record_resize": Role.OPERATOR, "record_breach": Role.ORACLE,
    "record_breaches": Role.ORACLE,
    "accept_agreement": None,  # the agreement's provider account only
}
"""Who may call each state-changing function; a new one must be added here (the first test says so)."""
LIMITS = {"objectives": 16, "breaches": MAX_BATCH}  # the contract's DynArray bounds, by argument name
EXAMPLES = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def abi_value(arg: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one ABI argument, within the bounds the contract decodes (so only its checks answer)."""
    kind: str = arg["type"]
    if kind.endswith("[]"):
        item = abi_value({**arg, "type": kind[:-2]})
        return st.lists(item, max_size=min(3, LIMITS.get(arg["name"], 3)))
    if kind == "tuple":
        return st.tuples(*(abi_value(c) for c in arg["components"]))
    if kind == "bytes32":
        return st.binary(min_size=32, max_size=32)
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(to_checksum_address)
    if kind == "bool":
        return st.booleans()
    if kind == "string":
        return st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", max_size=64)
    bits = int(kind.lstrip("uint") or 256)
    if kind.startswith("uint"):
        return st.integers(0, 2**bits - 1)
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


CALLER = st.one_of(st.integers(0, len(DEV_KEYS) - 1), st.integers(1, 2**255).map(
    lambda k: "0x" + k.to_bytes(32, "big").hex()))
"""A dev account (by index among those lacking the role; funded, so its transaction may be mined too)
or a fresh random key."""


@st.composite
def arguments(draw: st.DrawFn, fn: str) -> list[Any]:
    return [draw(abi_value(a)) for a in STATE_CHANGING[fn]["inputs"]]


def test_every_state_changing_function_is_guarded() -> None:
    assert set(STATE_CHANGING) == set(GUARD), "classify the new function in GUARD (who may call it)"


async def _lacks(ledger: Ledger, fn: str, address: str, provider: str) -> bool:
    role = GUARD[fn]
    if role is None:
        return address != provider
    return not await ledger.has_role(address, role)


@pytest.mark.parametrize("fn", sorted(GUARD))
@settings(EXAMPLES, max_examples=6)
@given(data=st.data())
async def test_callers_without_the_role_are_refused_by_every_state_changing_function(
        ledger: Ledger, fn: str, data: st.DataObject) -> None:
    args, who = data.draw(arguments(fn)), data.draw(CALLER)
    now = await chain_now(ledger)
    provider = Account.from_key(PROVIDER_KEY).address
    if fn == "accept_agreement":  # a real agreement with a provider, so that the provider check is reached
        terms = new_terms(now, provider_account=provider)
        await ledger.create_agreement(terms)
        args[0] = terms.agreement_id
    if isinstance(who, int):
        lacking = [k for k in DEV_KEYS if await _lacks(ledger, fn, Account.from_key(k).address, provider)]
        key = lacking[who % len(lacking)]
    else:
        key = who
    caller = Account.from_key(key).address
    assert await _lacks(ledger, fn, caller, provider)
    if key not in DEV_KEYS:  # a fresh account, funded for its call (eth-tester checks the balance)
        await ledger.writer(DEV_KEYS[3]).transact(caller, "0x", 30_000, preflight=False, value=10**17)
    block = await ledger.w3.eth.block_number
    before = await ledger.events(from_block=block)
    data = ledger._data(fn, *args)
    expected = "caller is not the provider" if fn == "accept_agreement" else "caller lacks role"
    with pytest.raises(LedgerRevert, match=expected):
        await call_checked(ledger.w3, {"from": caller, "to": ledger.address, "data": data, "gas": 2_000_000})
    if key in DEV_KEYS:  # and mined, without the preflight call: reverted, nothing written
        with pytest.raises(LedgerRevert, match=expected):
            await ledger.writer(key).transact(ledger.address, data, 2_000_000, preflight=False)
    assert await ledger.events(from_block=block) == before  # nothing written


# -- replayed breaches --------------------------------------------------------------------------------
THREE = [Objective(metric_id("latency_ms"), Comparator.LT, 50.0, 30),
         Objective(metric_id("throughput_mbps"), Comparator.GT, 10.0, 30),
         Objective(metric_id("availability"), Comparator.GE, 0.999, 300)]
BAD = {0: (80.0, 1.0), 1: (2.0, 0.01), 2: (0.5, 0.001)}  # a violating value per objective, and a step
# window starts, relative to the agreement's start: the same one again, one 256 s on (the seen-bitmap's
# next word, same bit), one a second on (same word, next bit)
WINDOWS = st.sampled_from([0, 1, 255, 256, 257, 512, 1000, 1024])
BREACH = st.tuples(st.integers(0, 2), WINDOWS, st.sampled_from(list(Severity)), st.integers(1, 60))


async def _agreement(ledger: Ledger) -> tuple[AgreementTerms, int]:
    now = await chain_now(ledger)
    terms = new_terms(now, start=now - 4000, end=now + 86400)
    terms = AgreementTerms(**{**terms.__dict__, "objectives": THREE})
    await ledger.create_agreement(terms)
    return terms, now - 4000


def _breach(aid: bytes, start: int, plan: tuple[int, int, Severity, int]) -> Breach:
    objective, offset, severity, length = plan
    value, step = BAD[objective]
    return Breach(aid, objective, severity, value + length * step, start + offset, start + offset + length,
                  bytes([length]) * 32)


@EXAMPLES
@given(plans=st.lists(BREACH, min_size=1, max_size=12), sizes=st.lists(st.integers(0, 5), min_size=1, max_size=4))
async def test_a_replayed_breach_id_is_never_recorded_twice(ledger: Ledger, plans: list[Any], sizes: list[int]) -> None:
    """Breaches sent one by one and in batches (of drawn sizes, empty ones too), with replays of the
    same (objective, window start) under another severity, value or window end: each id once."""
    terms, start = await _agreement(ledger)
    aid = terms.agreement_id
    breaches = [_breach(aid, start, p) for p in plans]
    sends: list[tuple[bool, list[Breach]]] = []  # (one by one, breaches)
    i = 0
    for size in itertools.cycle(sizes):
        if i >= len(breaches):
            break
        sends.append((size == 0, breaches[i:i + max(size, 1)]))
        i += max(size, 1)
    assert (await ledger.record_breaches([])).written == []  # an empty batch: nothing sent
    seen: set[bytes] = set()
    for single, chunk in sends:
        ids = {ledger.breach_id(b) for b in chunk}
        if single:
            b = chunk[0]
            result = await ledger.record_breach(b)
            assert result.status is (WriteStatus.DUPLICATE if ids <= seen else WriteStatus.WRITTEN)
            if ids <= seen:  # the contract itself refuses the replay (the client calls that a success)
                with pytest.raises(LedgerRevert, match="duplicate breach"):
                    await ledger.oracle.preflight(ledger.address, ledger._data("record_breach", b.as_tuple()), 200_000)
        else:
            batch = await ledger.record_breaches(chunk)
            assert set(batch.written) == ids - seen and set(batch.duplicates) == ids & seen
        seen |= ids
    events = await ledger.breach_events(aid)
    recorded = [bytes(e.args["breach_id"]) for e in events]
    assert sorted(recorded) == sorted(seen) and len(recorded) == len(set(recorded))
    assert await ledger.breach_count(aid) == len(seen)
    for b in breaches:
        assert await ledger.is_breach_recorded(aid, b.objective, b.window_start)


# -- batches ------------------------------------------------------------------------------------------
@EXAMPLES
@given(size=st.sampled_from([0, 1, MAX_BATCH - 1, MAX_BATCH]), repeats=st.integers(0, 3))
async def test_batch_edges_empty_full_and_duplicates_within(ledger: Ledger, size: int, repeats: int) -> None:
    """A batch of 0..MAX_BATCH entries (the same breach repeated inside it too) is one transaction that
    writes each new id once; one entry more than MAX_BATCH cannot be sent as one."""
    terms, start = await _agreement(ledger)
    aid = terms.agreement_id
    rows = [_breach(aid, start, (0, 5 * k, Severity.MILD, 4)).as_tuple() for k in range(size)]
    rows += rows[:1] * repeats
    data = ledger._data("record_breaches", rows[:MAX_BATCH])
    written = int.from_bytes(await call_checked(ledger.w3, {"from": ledger.oracle.address, "to": ledger.address,
                                                            "data": data, "gas": 12_000_000}), "big")
    assert written == min(size, MAX_BATCH)
    await ledger.oracle.transact(ledger.address, data, 12_000_000)
    assert await ledger.breach_count(aid) == min(size, MAX_BATCH)
    too_many = ledger._data("record_breaches", [_breach(aid, start, (1, 5 * k, Severity.MILD, 4)).as_tuple()
                                                for k in range(MAX_BATCH + 1)])
    with pytest.raises(LedgerRevert):
        await call_checked(ledger.w3, {"from": ledger.oracle.address, "to": ledger.address, "data": too_many,
                                       "gas": 12_000_000})
    assert await ledger.breach_count(aid) == min(size, MAX_BATCH)


# -- stale amendments ---------------------------------------------------------------------------------
@EXAMPLES
@given(order=st.lists(st.integers(2, 6), min_size=1, max_size=8))
async def test_an_amendment_never_rolls_back_to_older_terms(ledger: Ledger, order: list[int]) -> None:
    """Amendments of revisions 2..6 (each with its own terms) arrive in a drawn order, with repeats:
    the newest revision seen wins; older or repeated ones revert; the provider may accept only the
    current version."""
    now = await chain_now(ledger)
    provider = Account.from_key(PROVIDER_KEY).address
    base = AgreementTerms(**{**new_terms(now, provider_account=provider).__dict__, "revision": 1})
    await ledger.create_agreement(base)
    aid = base.agreement_id

    def revision(r: int) -> AgreementTerms:
        return AgreementTerms(**{**base.__dict__, "revision": r, "terms_hash": terms_hash({"aid": aid.hex(), "r": r}),
                                 "objectives": [Objective(metric_id("latency_ms"), Comparator.LT, 10.0 * r, 30)]})

    newest, versions = 1, 1
    for r in order:
        if r > newest:
            await ledger.amend_agreement(revision(r))
            newest, versions = r, versions + 1
        else:
            with pytest.raises(LedgerRevert, match="revision: stale"):
                await ledger.amend_agreement(revision(r))
    info = await ledger.get_agreement(aid)
    assert (info.revision, info.version, info.terms_hash) == (newest, versions, revision(newest).terms_hash)
    assert info.objectives == [(Comparator.LT, 10.0 * newest)]
    with pytest.raises(LedgerRevert, match="terms_hash: unchanged"):  # new revision, same terms: no new version
        await ledger.amend_agreement(AgreementTerms(**{**revision(newest).__dict__, "revision": newest + 1}))
    if versions > 1:
        with pytest.raises(LedgerRevert, match="version: not the current version"):
            await ledger.accept_agreement(aid, versions - 1, PROVIDER_KEY)
    await ledger.accept_agreement(aid, versions, PROVIDER_KEY)
    assert (await ledger.get_agreement(aid)).accepted
