"""What the ledger records, as typed values, and their validation (errors name the field).

Values on chain are fixed point: a threshold or an observed value `v` is stored as round(v * 10**6) in an
int64, so a metric keeps six decimals; observed values lie within about +-9.2e12, thresholds +-2.3e12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from sla_contracts.errors import LedgerInputError

SCALE = 10**6
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
THRESHOLD_MIN, THRESHOLD_MAX = -(2**61), 2**61 - 1
MAX_TIME = 2**40 - 1
MAX_OBJECTIVES = 16
MAX_BATCH = 64
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20


class Severity(IntEnum):
    """Severity of a breach, mildest first (the order of the contract and of the SLA resource)."""

    WARNING = 0
    MILD = 1
    SERIOUS = 2
    SEVERE = 3
    CATASTROPHIC = 4

    @classmethod
    def parse(cls, value: Severity | int | str) -> Severity:
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise LedgerInputError(f"severity: unknown level {value!r}") from None
        try:
            return cls(int(value))
        except ValueError:
            raise LedgerInputError(f"severity: unknown level {value!r}") from None


class Comparator(IntEnum):
    """How a good value compares with the threshold (lt/le: lower is better, gt/ge: higher is better)."""

    LT = 0
    LE = 1
    GT = 2
    GE = 3

    @classmethod
    def parse(cls, value: Comparator | int | str) -> Comparator:
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise LedgerInputError(f"comparator: unknown {value!r} (lt, le, gt, ge)") from None
        try:
            return cls(int(value))
        except ValueError:
            raise LedgerInputError(f"comparator: unknown {value!r} (lt, le, gt, ge)") from None

    def violated(self, observed: float, threshold: float) -> bool:
        """True when `observed` is on the bad side of `threshold` (as the contract checks it)."""
        return {
            Comparator.LT: observed >= threshold, Comparator.LE: observed > threshold,
            Comparator.GT: observed <= threshold, Comparator.GE: observed < threshold,
        }[self]


class Role(IntEnum):
    """Role bits of the contract."""

    ADMIN = 1
    OPERATOR = 2
    ORACLE = 4


class AgreementStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    TERMINATED = 2


class WriteStatus(StrEnum):
    WRITTEN = "written"
    DUPLICATE = "duplicate"


def to_fixed(field_name: str, value: float) -> int:
    """A metric value as the contract's int64 fixed point (six decimals)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LedgerInputError(f"{field_name}: must be a number, got {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise LedgerInputError(f"{field_name}: must be finite, got {value}")
    fixed = round(value * SCALE)
    if not INT64_MIN <= fixed <= INT64_MAX:
        raise LedgerInputError(f"{field_name}: {value} is out of the int64 fixed-point range (6 decimals)")
    return fixed


def from_fixed(value: int) -> float:
    return value / SCALE


def check_bytes32(field_name: str, value: object, *, allow_zero: bool = False) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise LedgerInputError(f"{field_name}: must be 32 bytes, got {type(value).__name__}")
    if len(value) == 0:
        raise LedgerInputError(f"{field_name}: must be 32 bytes, got empty")
    if len(value) != 32:
        raise LedgerInputError(f"{field_name}: must be 32 bytes, got {len(value)}")
    if not allow_zero and bytes(value) == ZERO32:
        raise LedgerInputError(f"{field_name}: must not be all zero")
    return bytes(value)


def check_time(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIME:
        raise LedgerInputError(f"{field_name}: must be a unix time in seconds (0..2**40-1), got {value!r}")
    return value


@dataclass(frozen=True)
class Objective:
    """One objective on chain: which metric, what good means and the threshold whose violation is a breach."""

    metric_id: bytes
    comparator: Comparator
    threshold: float
    window_s: int

    def as_tuple(self, index: int) -> tuple[bytes, int, int, int]:
        name = f"objectives[{index}]"
        mid = check_bytes32(f"{name}.metric_id", self.metric_id)
        cmp = Comparator.parse(self.comparator)
        if isinstance(self.window_s, bool) or not isinstance(self.window_s, int) or not 0 < self.window_s < 2**32:
            raise LedgerInputError(f"{name}.window_s: must be a positive number of seconds, got {self.window_s!r}")
        threshold = to_fixed(f"{name}.threshold", self.threshold)
        if not THRESHOLD_MIN <= threshold <= THRESHOLD_MAX:
            raise LedgerInputError(f"{name}.threshold: {self.threshold} is out of range (|t| < 2**61 / 10**6)")
        return (mid, int(cmp), threshold, self.window_s)


@dataclass(frozen=True)
class AgreementTerms:
    """An agreement's terms as recorded: ids and hashes only (no personal data)."""

    agreement_id: bytes
    terms_hash: bytes
    valid_from: int
    valid_until: int
    objectives: Sequence[Objective]
    provider_ref: bytes = ZERO32
    consumer_ref: bytes = ZERO32
    provider_account: str | None = None
    revision: int | None = None
    """Only grows from version to version (the SLA object's generation): the contract refuses an
    amendment whose revision is not above the recorded one (a first version's is at least 1), so a late
    replay cannot roll the terms back.  None: 1 at creation, the recorded revision + 1 for an
    amendment (read from the chain)."""

    def validated(self) -> dict[str, Any]:
        """The contract arguments, or LedgerInputError naming the first bad field."""
        out: dict[str, Any] = {
            "agreement_id": check_bytes32("agreement_id", self.agreement_id),
            "terms_hash": check_bytes32("terms_hash", self.terms_hash),
            "provider_ref": check_bytes32("provider_ref", self.provider_ref, allow_zero=True),
            "consumer_ref": check_bytes32("consumer_ref", self.consumer_ref, allow_zero=True),
            "valid_from": check_time("valid_from", self.valid_from),
            "valid_until": check_time("valid_until", self.valid_until),
        }
        if out["valid_until"] <= out["valid_from"]:
            raise LedgerInputError(
                f"valid_until: must be after valid_from ({self.valid_until} <= {self.valid_from})")
        if not self.objectives:
            raise LedgerInputError("objectives: at least one objective is required")
        if len(self.objectives) > MAX_OBJECTIVES:
            raise LedgerInputError(f"objectives: at most {MAX_OBJECTIVES}, got {len(self.objectives)}")
        out["objectives"] = [o.as_tuple(i) for i, o in enumerate(self.objectives)]
        account = self.provider_account or ZERO_ADDRESS
        if not is_address(account):
            raise LedgerInputError(f"provider_account: not an address: {account!r}")
        out["provider_account"] = to_checksum_address(account)
        if self.revision is not None and (isinstance(self.revision, bool) or not isinstance(self.revision, int)
                                          or not 0 <= self.revision < 2**64):
            raise LedgerInputError(f"revision: must be a whole number 0..2**64-1, got {self.revision!r}")
        out["revision"] = self.revision
        return out


@dataclass(frozen=True)
class Breach:
    """A violation of one objective in one evaluation window, written by the oracle."""

    agreement_id: bytes
    objective: int
    severity: Severity
    observed: float
    window_start: int
    window_end: int
    evidence_hash: bytes

    def as_tuple(self, name: str = "breach") -> tuple[bytes, int, int, int, int, int, bytes]:
        if isinstance(self.objective, bool) or not isinstance(self.objective, int) or not 0 <= self.objective < 256:
            raise LedgerInputError(f"{name}.objective: must be an index 0..255, got {self.objective!r}")
        start = check_time(f"{name}.window_start", self.window_start)
        end = check_time(f"{name}.window_end", self.window_end)
        if end <= start:
            raise LedgerInputError(f"{name}.window_end: must be after window_start ({end} <= {start})")
        return (
            check_bytes32(f"{name}.agreement_id", self.agreement_id), self.objective,
            int(Severity.parse(self.severity)), to_fixed(f"{name}.observed", self.observed), start, end,
            check_bytes32(f"{name}.evidence_hash", self.evidence_hash),
        )


@dataclass(frozen=True)
class Migration:
    """The workload moved from one site to another because of a recorded breach."""

    agreement_id: bytes
    objective: int
    window_start: int
    workload_ref: bytes
    from_site: str
    to_site: str

    def validated(self) -> dict[str, Any]:
        for name in ("from_site", "to_site"):
            site = getattr(self, name)
            if not isinstance(site, str) or not site or len(site.encode()) > 64:
                raise LedgerInputError(f"{name}: must be a site name of 1..64 bytes, got {site!r}")
        if self.from_site == self.to_site:
            raise LedgerInputError(f"to_site: must differ from from_site ({self.to_site!r})")
        if isinstance(self.objective, bool) or not isinstance(self.objective, int) or not 0 <= self.objective < 256:
            raise LedgerInputError(f"objective: must be an index 0..255, got {self.objective!r}")
        return {
            "agreement_id": check_bytes32("agreement_id", self.agreement_id),
            "objective": self.objective,
            "window_start": check_time("window_start", self.window_start),
            "workload_ref": check_bytes32("workload_ref", self.workload_ref),
            "from_site": self.from_site, "to_site": self.to_site,
        }


@dataclass(frozen=True)
class Resize:
    """An agreement's elasticity resized its workload: number `seq` of the agreement, to `cpu_m` per
    replica and `replicas`; up for a recorded breach (objective, window_start), or down (window_start 0)."""

    agreement_id: bytes
    seq: int
    objective: int
    window_start: int
    workload_ref: bytes
    cpu_m: int
    replicas: int
    up: bool
    moved: int = 0

    def validated(self) -> dict[str, Any]:
        for name, top in (("seq", 2**32 - 1), ("cpu_m", 2**32 - 1), ("replicas", 2**16 - 1), ("moved", 2**16 - 1),
                          ("objective", 255)):
            value = getattr(self, name)
            low = 1 if name in ("seq", "cpu_m") else 0
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
                raise LedgerInputError(f"{name}: must be a whole number {low}..{top}, got {value!r}")
        return {
            "agreement_id": check_bytes32("agreement_id", self.agreement_id), "seq": self.seq,
            "objective": self.objective,
            "window_start": 0 if self.window_start == 0 else check_time("window_start", self.window_start),
            "workload_ref": check_bytes32("workload_ref", self.workload_ref), "cpu_m": self.cpu_m,
            "replicas": self.replicas, "up": bool(self.up), "moved": self.moved,
        }


@dataclass(frozen=True)
class TxReceiptInfo:
    """What a mined transaction cost and where it landed."""

    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class WriteResult:
    """Outcome of an idempotent write: written now, or already on chain (duplicate, then `receipt` may be None)."""

    status: WriteStatus
    record_id: bytes
    receipt: TxReceiptInfo | None


@dataclass(frozen=True)
class BatchResult:
    """Outcome of a breach batch: ids written by this transaction and ids that were already recorded."""

    written: list[bytes]
    duplicates: list[bytes]
    receipt: TxReceiptInfo | None


@dataclass(frozen=True)
class AgreementInfo:
    """The current state of an agreement as the contract stores it."""

    agreement_id: bytes
    status: AgreementStatus
    accepted: bool
    version: int
    valid_from: int
    valid_until: int
    provider_account: str | None
    terms_hash: bytes
    objectives: list[tuple[Comparator, float]] = field(default_factory=list)
    revision: int = 0


@dataclass(frozen=True)
class LedgerEvent:
    """One contract event: its name, decoded arguments and position on chain."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int
