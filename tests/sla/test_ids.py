"""Deterministic ids and hashes, SLA-spec conversion and input validation (no chain)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sla_contracts.errors import LedgerInputError
from sla_contracts.ids import agreement_id, breach_id, canonical_json, terms_hash
from sla_contracts.model import AgreementTerms, Breach, Comparator, Migration, Objective, Severity
from sla_contracts.terms import duration_seconds, terms_from_spec

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "video-analytics-sla.yaml"
A = bytes(range(1, 33))


def test_terms_hash_is_canonical_json() -> None:
    a = {"provider": "p", "objectives": [{"name": "x", "window": "30s"}], "validity": {"start": "s", "end": "e"}}
    b = {"validity": {"end": "e", "start": "s"}, "objectives": [{"window": "30s", "name": "x"}], "provider": "p"}
    assert canonical_json(a) == canonical_json(b)
    assert b" " not in canonical_json(a)
    assert terms_hash(a) == terms_hash(b)
    assert terms_hash(a) != terms_hash({**a, "provider": "q"})
    assert len(terms_hash(a)) == 32


def test_agreement_and_breach_ids_are_deterministic() -> None:
    assert agreement_id("uid-1") == agreement_id("uid-1") != agreement_id("uid-2")
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    bid = breach_id(31337, contract, A, 0, 1000)
    assert bid == breach_id(31337, contract.lower(), A, 0, 1000)
    others = {breach_id(1, contract, A, 0, 1000), breach_id(31337, contract, A, 1, 1000),
              breach_id(31337, contract, A, 0, 1001), breach_id(31337, "0x" + "11" * 20, A, 0, 1000)}
    assert bid not in others and len(others) == 4


def test_terms_from_the_sample_sla_use_the_mildest_threshold() -> None:
    spec = yaml.safe_load(SAMPLE.read_text())["spec"]
    terms = terms_from_spec("uid-7", spec)
    assert terms.agreement_id == agreement_id("uid-7")
    assert terms.terms_hash == terms_hash(spec)
    assert [(o.comparator, o.threshold, o.window_s) for o in terms.objectives] == [
        (Comparator.LT, 8.0, 5), (Comparator.LT, 0.01, 30)]
    assert terms.valid_until - terms.valid_from == (365 * 4 + 1) * 86400
    assert terms.consumer_ref != b"\x00" * 32  # hashed, never the consumer's name
    assert b"tenant" not in terms.consumer_ref


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m", 60), ("1h30m", 5400), ("500ms", 1), ("1.5s", 2)])
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds("window", text) == seconds


def _terms(**changes: object) -> AgreementTerms:
    base: dict[str, object] = dict(agreement_id=A, terms_hash=A, valid_from=100, valid_until=200,
                                   objectives=[Objective(A, Comparator.LT, 1.0, 30)])
    base.update(changes)
    return AgreementTerms(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "message"), [
    ({"terms_hash": b""}, "terms_hash: must be 32 bytes, got empty"),
    ({"terms_hash": b"\x01" * 31}, "terms_hash: must be 32 bytes, got 31"),
    ({"agreement_id": b"\x00" * 32}, "agreement_id: must not be all zero"),
    ({"valid_until": 50}, "valid_until: must be after valid_from"),
    ({"valid_from": -1}, "valid_from: must be a unix time"),
    ({"objectives": []}, "objectives: at least one objective is required"),
    ({"objectives": [Objective(A, Comparator.LT, float("nan"), 30)]}, "objectives[0].threshold: must be finite"),
    ({"objectives": [Objective(A, Comparator.LT, 1.0, 0)]}, "objectives[0].window_s: must be a positive"),
    ({"objectives": [Objective(A, Comparator.LT, 3e12, 30)]}, "objectives[0].threshold: 3000000000000.0 is out of range"),
    ({"provider_account": "bob"}, "provider_account: not an address"),
])
def test_bad_terms_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(LedgerInputError, match="^" + re.escape(message)):
        _terms(**changes).validated()


@pytest.mark.parametrize(("breach", "message"), [
    (Breach(A, 0, Severity.MILD, 1.0, 100, 100, A), "breach.window_end: must be after window_start"),
    (Breach(A, 0, Severity.MILD, 1.0, 100, 130, b""), "breach.evidence_hash: must be 32 bytes, got empty"),
    (Breach(A, 300, Severity.MILD, 1.0, 100, 130, A), "breach.objective: must be an index"),
    (Breach(A, 0, 9, 1.0, 100, 130, A), "severity: unknown level 9"),  # type: ignore[arg-type]
    (Breach(A, 0, Severity.MILD, "high", 100, 130, A), "breach.observed: must be a number"),  # type: ignore[arg-type]
])
def test_bad_breaches_name_the_field(breach: Breach, message: str) -> None:
    with pytest.raises(LedgerInputError, match="^" + message):
        breach.as_tuple()


def test_bad_migration_and_spec_name_the_field() -> None:
    with pytest.raises(LedgerInputError, match=r"^to_site: must differ from from_site"):
        Migration(A, 0, 100, A, "bcn-1", "bcn-1").validated()
    with pytest.raises(LedgerInputError, match=r"^from_site: must be a site name"):
        Migration(A, 0, 100, A, "", "bcn-1").validated()
    with pytest.raises(LedgerInputError, match=r"^spec\.objectives\[0\]\.thresholds: at least one"):
        terms_from_spec("u", {"provider": "p", "consumer": "c", "validity": {"start": "2026-01-01T00:00:00Z",
                        "end": "2027-01-01T00:00:00Z"}, "objectives": [{"metric": "m", "comparator": "lt",
                                                                         "window": "30s", "thresholds": {}}]})
    with pytest.raises(LedgerInputError, match=r"^uid: must be a non-empty string"):
        agreement_id("")
