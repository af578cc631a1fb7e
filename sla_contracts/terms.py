"""From a Kubernetes ServiceLevelAgreement spec (the dict as stored) to ledger terms, and back to a check.

On chain each objective keeps one threshold: that of its mildest set severity level, where a breach
starts; the severity the oracle reports is carried by the breach event. The terms hash covers the whole
spec (canonical JSON), so any change of it shows as a MISMATCH in `verify_terms`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sla_contracts.errors import LedgerInputError
from sla_contracts.ids import agreement_id, metric_id, name_ref, terms_hash
from sla_contracts.model import AgreementStatus, AgreementTerms, Comparator, Objective, Severity

if TYPE_CHECKING:
    from sla_contracts.ledger import Ledger

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(field_name: str, text: str) -> int:
    """A Kubernetes-style duration (30s, 1m, 1h30m, 500ms) in whole seconds, rounded up, at least 1."""
    if not isinstance(text, str) or not text or _DURATION.sub("", text):
        raise LedgerInputError(f"{field_name}: not a duration like 30s, 5m, 1h30m: {text!r}")
    total = sum(float(v) * _UNIT_S[u] for v, u in _DURATION.findall(text))
    return max(1, math.ceil(total))


def unix_time(field_name: str, value: Any) -> int:
    """An RFC 3339 date-time (or a datetime) with a time zone, as unix seconds."""
    try:
        dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise LedgerInputError(f"{field_name}: not an RFC 3339 date-time: {value!r}") from None
    if dt.tzinfo is None:
        raise LedgerInputError(f"{field_name}: needs a time zone: {value!r}")
    return int(dt.timestamp())


def _objective(i: int, o: Mapping[str, Any]) -> Objective:
    name = f"spec.objectives[{i}]"
    if not isinstance(o, Mapping):
        raise LedgerInputError(f"{name}: must be a mapping")
    thresholds = o.get("thresholds") or {}
    levels = [(s, thresholds[s.name.lower()]) for s in Severity if thresholds.get(s.name.lower()) is not None]
    if not levels:
        raise LedgerInputError(f"{name}.thresholds: at least one severity level must be set")
    metric = o.get("metric")
    if not isinstance(metric, str) or not metric:
        raise LedgerInputError(f"{name}.metric: must be a non-empty string")
    return Objective(
        metric_id=metric_id(metric), comparator=Comparator.parse(o.get("comparator", "")),
        threshold=float(levels[0][1]), window_s=duration_seconds(f"{name}.window", o.get("window", "")),
    )


def terms_from_spec(uid: str, spec: Mapping[str, Any], provider_account: str | None = None,
                    revision: int | None = None) -> AgreementTerms:
    """The ledger terms of a ServiceLevelAgreement: ids and hashes only (consumer and provider hashed);
    `revision` is the SLA object's metadata.generation of this spec."""
    if not isinstance(spec, Mapping):
        raise LedgerInputError(f"spec: must be a mapping, got {type(spec).__name__}")
    validity = spec.get("validity") or {}
    objectives = spec.get("objectives") or []
    if not isinstance(objectives, list) or not objectives:
        raise LedgerInputError("spec.objectives: at least one objective is required")
    for key in ("provider", "consumer"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise LedgerInputError(f"spec.{key}: must be a non-empty string")
    return AgreementTerms(
        agreement_id=agreement_id(uid), terms_hash=terms_hash(spec),
        valid_from=unix_time("spec.validity.start", validity.get("start")),
        valid_until=unix_time("spec.validity.end", validity.get("end")),
        objectives=[_objective(i, o) for i, o in enumerate(objectives)],
        provider_ref=name_ref(spec["provider"]), consumer_ref=name_ref(spec["consumer"]),
        provider_account=provider_account, revision=revision,
    )


@dataclass(frozen=True)
class VerifyResult:
    """The terms hash recomputed from a spec against the one on chain (None: no such agreement)."""

    uid: str
    agreement_id: bytes
    expected: bytes
    on_chain: bytes | None
    version: int | None
    status: AgreementStatus

    @property
    def match(self) -> bool:
        return self.on_chain is not None and self.on_chain == self.expected

    def describe(self) -> str:
        head = "MATCH" if self.match else "MISMATCH"
        chain = "no agreement on chain" if self.on_chain is None else f"0x{self.on_chain.hex()} (version {self.version}, {self.status.name.lower()})"
        return (f"{head}: SLA uid {self.uid}, agreement 0x{self.agreement_id.hex()}\n"
                f"  spec terms hash:  0x{self.expected.hex()}\n  chain terms hash: {chain}")


async def verify_terms(ledger: Ledger, uid: str, spec: Mapping[str, Any]) -> VerifyResult:
    """Recompute the terms hash of `spec` and compare it with the current version of the agreement of `uid`."""
    from sla_contracts.writer import UnknownAgreement

    aid, expected = agreement_id(uid), terms_hash(spec)
    try:
        info = await ledger.get_agreement(aid)
    except UnknownAgreement:
        return VerifyResult(uid, aid, expected, None, None, AgreementStatus.NONE)
    return VerifyResult(uid, aid, expected, info.terms_hash, info.version, info.status)
