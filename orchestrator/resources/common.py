"""Shared building blocks: the API group, the base model, CEL rules, conditions and quantities."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]{1,3}))?$"
"""A non-negative Kubernetes quantity whose decimal exponent has at most three digits: an exponent such
as 1e99999999999 kept the API server's CEL quantity check busy until the request timed out (found by
bench.fuzz); no resource amount needs more."""
QUANTITY_MAX_LENGTH = 64
REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
CONDITION_TYPE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)


class Tier(StrEnum):
    """The tier of a compute location: far-edge (at the cell), edge (MEC site) or cloud."""

    FAR_EDGE = "far-edge"
    EDGE = "edge"
    CLOUD = "cloud"


@dataclass(frozen=True)
class CelRule:
    """One cross-field rule, declared once: as CEL for the API server and as a Python check for pydantic.

    `message` must name the field (e.g. "spec.users.cells: ..."); `field_path` is relative to the object
    the rule sits on (e.g. ".cells") and is where the API server reports the error.
    """

    rule: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None
    reason: str = "FieldValueInvalid"

    def to_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        out["reason"] = self.reason
        return out


def _name_is_a_label(obj: Any) -> bool:
    name = obj.metadata.get("name")
    return name is None or (isinstance(name, str) and re.fullmatch(DNS_LABEL, name) is not None)


def name_is_a_dns_label(why: str) -> CelRule:
    """The rule that an object's metadata.name is a DNS label; `why` says what the name is used as."""
    return CelRule(
        rule=f"self.metadata.name.matches('{DNS_LABEL}')",
        message=f"metadata.name: must be a DNS label (lowercase alphanumerics and '-', at most 63 characters): {why}",
        check=_name_is_a_label,
    )


class K8sModel(BaseModel):
    """Base of every resource model: camelCase aliases, unknown fields rejected, CEL rules enforced."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )
    __cel__: ClassVar[tuple[CelRule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        if cls.__cel__:
            target["x-kubernetes-validations"] = [r.to_schema() for r in cls.__cel__]
        return schema

    @model_validator(mode="after")
    def _check_cel_mirrors(self) -> K8sModel:
        for rule in type(self).__cel__:
            if not rule.check(self):
                raise ValueError(rule.message)
        return self

    @model_validator(mode="after")
    def _check_list_types(self) -> K8sModel:
        """Mirror the API server's x-kubernetes-list-type: no duplicate items in sets, no duplicate keys in maps."""
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            list_type = extra.get("x-kubernetes-list-type")
            items = getattr(self, name)
            if list_type not in ("set", "map") or not items:
                continue
            raw_keys = extra.get("x-kubernetes-list-map-keys")
            keys = [str(k) for k in raw_keys] if isinstance(raw_keys, list) else []
            seen: set[object] = set()
            for item in items:
                key = tuple(getattr(item, to_snake(k)) for k in keys) if list_type == "map" else item
                if key in seen:
                    raise ValueError(f"{info.alias or name}: duplicate entry {key!r} (x-kubernetes-list-type: {list_type})")
                seen.add(key)
        return self


class StatusModel(K8sModel):
    """Base of status models: written by the operator, tolerant of fields it does not know."""

    model_config = ConfigDict(extra="ignore")


def to_k8s(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of a model as the API server stores it (camelCase, no nulls)."""
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def status_patch(status: StatusModel) -> dict[str, Any]:
    """A merge patch of the fields set on `status` (camelCase); a field set to None clears it.  Every
    status write goes through a status model, so nothing the CRD's schema refuses is ever sent."""
    full = to_k8s(status)
    fields = type(status).model_fields
    return {fields[name].alias or name: full.get(fields[name].alias or name) for name in status.model_fields_set}


# -- quantities ---------------------------------------------------------------------------------------

_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY_RE = re.compile(QUANTITY)
_SPLIT_RE = re.compile(r"^\+?([0-9.]+(?:[eE][+-]?[0-9.]+)?)([a-zA-Z]*)$")


def _quantity(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a Kubernetes quantity such as 500m, 2 or 256Mi, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be a non-negative Kubernetes quantity")
        return str(value)
    if isinstance(value, str) and len(value) <= QUANTITY_MAX_LENGTH and _QUANTITY_RE.fullmatch(value):
        return value
    raise ValueError(f"must be a Kubernetes quantity such as 500m, 2 or 256Mi, got {value!r}")


Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "pattern": QUANTITY,
        "maxLength": QUANTITY_MAX_LENGTH,
        "minimum": 0,
    }),
]
"""A non-negative Kubernetes quantity (int or string such as "500m", "2", "256Mi")."""


def _int_or_percent(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be a whole number or a percentage such as 25%, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value
    if re.fullmatch(r"[0-9]{1,3}%", value) and int(value[:-1]) <= 100:
        return value
    raise ValueError(f"must be a whole number or a percentage from 0% to 100%, got {value!r}")


IntOrPercent = Annotated[
    int | str,
    BeforeValidator(_int_or_percent),
    WithJsonSchema({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "pattern": r"^([0-9]{1,2}|100)%$",
        "minimum": 0,
    }),
]
"""A count or a percentage of the replicas ("25%"), as a Deployment's maxSurge and maxUnavailable."""


def scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """An IntOrPercent as a count of `total` (percentages round up for a surge, down otherwise)."""
    if isinstance(value, int):
        return value
    share = total * int(value[:-1])
    return -(-share // 100) if round_up else share // 100


def parse_quantity(q: str | int) -> Decimal:
    """A quantity's value as a Decimal ("500m" -> 0.5, "256Mi" -> 268435456)."""
    text = str(q)
    match = _SPLIT_RE.fullmatch(text)
    if not match or match.group(2) not in _SUFFIX or not _QUANTITY_RE.fullmatch(text):
        raise ValueError(f"not a Kubernetes quantity: {q!r}")
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except ArithmeticError as exc:  # an exponent beyond Decimal's range ("1e99999999", found by bench.fuzz)
        raise ValueError(f"not a Kubernetes quantity (out of range): {q!r}") from exc


def parse_cpu(q: str | int) -> float:
    """CPU cores of a quantity ("500m" -> 0.5)."""
    return float(parse_quantity(q))


def parse_memory(q: str | int) -> int:
    """Bytes of a memory quantity ("256Mi" -> 268435456)."""
    return int(parse_quantity(q))


# -- conditions ---------------------------------------------------------------------------------------


class ConditionStatus(StrEnum):
    """The status of a condition, as in Kubernetes API conventions."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(K8sModel):
    """One observation of the resource's state, following Kubernetes API conventions (metav1.Condition)."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(
        min_length=1, max_length=316, pattern=CONDITION_TYPE,
        description="Type of condition in CamelCase (e.g. Placed, Compliant); one entry per type.",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: str = Field(
        min_length=1, max_length=1024, pattern=REASON,
        description="Programmatic CamelCase identifier of the cause of the last transition (e.g. SolverOptimal).",
    )
    message: str = Field(
        default="", max_length=32768, description="Human-readable detail of the last transition; may be empty."
    )
    last_transition_time: datetime = Field(
        description="When the condition last changed status (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the spec this condition was computed from."
    )


Conditions = Annotated[
    list[Condition],
    Field(
        default_factory=list,
        max_length=16,
        description="Current conditions of the resource, one per type (Kubernetes API conventions).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


def set_condition(
    conditions: Iterable[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """`conditions` with `type_` set; lastTransitionTime changes only when the status does."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    out: list[Condition] = []
    found = False
    for c in conditions:
        if c.type != type_:
            out.append(c)
            continue
        found = True
        changed = c.status != status
        out.append(Condition(
            type=type_, status=status, reason=reason, message=message,
            last_transition_time=now if changed else c.last_transition_time,
            observed_generation=observed_generation,
        ))
    if not found:
        out.append(Condition(
            type=type_, status=status, reason=reason, message=message,
            last_transition_time=now, observed_generation=observed_generation,
        ))
    return out


Name = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Label = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
