"""From pydantic JSON Schema (2020-12) to a Kubernetes structural OpenAPI v3 schema.

Inlines `$ref`s, drops titles, turns `anyOf: [X, null]` into an optional X, numeric
`exclusiveMinimum`/`exclusiveMaximum` into OpenAPI v3.0 booleans, `const` into a one-value enum, and
`additionalProperties: true` (models with extra="allow") into `x-kubernetes-preserve-unknown-fields`.
CEL rules declared on the models (`x-kubernetes-validations`) are kept where pydantic put them.
Raises `SchemaError` for constructs Kubernetes rejects (e.g. `uniqueItems`, untyped nodes, a property
without a description), so a bad model fails generation instead of `kubectl apply`.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from orchestrator.vocabulary import API_GROUP, GROUP_VERSION

Schema = dict[str, Any]

_DROP = frozenset({"title", "examples", "$defs", "discriminator", "deprecated", "readOnly", "writeOnly"})
_KEEP = frozenset({
    "type", "description", "properties", "required", "items", "additionalProperties", "enum", "default",
    "format", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minItems", "maxItems", "minProperties", "maxProperties", "multipleOf", "nullable", "anyOf",
    "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
})


class SchemaError(ValueError):
    """A model produced a schema Kubernetes would reject or that reads badly in `kubectl explain`."""


def structural(model: type[BaseModel]) -> Schema:
    """The structural schema of `model` (by alias, validation mode)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Schema] = raw.get("$defs", {})
    return _convert(raw, defs, path=model.__name__)


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
    target = _resolve(target, defs)
    # Sibling keys of the $ref (a field's description, default, ...) win over the definition's.
    target.update({k: v for k, v in node.items() if k != "$ref"})
    return target


def _strip_null(node: Schema, defs: dict[str, Schema]) -> Schema:
    any_of = node.get("anyOf")
    if not any_of:
        return node
    non_null = [a for a in any_of if a.get("type") != "null"]
    if len(non_null) == len(any_of):
        return node
    if len(non_null) != 1:
        raise SchemaError(f"only `X | None` unions are supported, got {any_of}")
    out = {k: v for k, v in node.items() if k != "anyOf"}
    inner = _resolve(copy.deepcopy(non_null[0]), defs)
    merged = {**inner, **out}
    if merged.get("default", ...) is None:
        del merged["default"]
    return merged


def _convert(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    node = _strip_null(_resolve(node, defs), defs)
    node = _resolve(node, defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key not in _KEEP:
            raise SchemaError(f"{path}: unsupported JSON Schema keyword {key!r}")
        out[key] = value

    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in out and not isinstance(out[key], bool):
            out[key.replace("exclusiveM", "m")] = out[key]
            out[key] = True
    if out.get("uniqueItems"):
        raise SchemaError(f"{path}: uniqueItems is not allowed; use x-kubernetes-list-type: set")

    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        return out
    if "anyOf" in out:
        raise SchemaError(f"{path}: anyOf is only supported for int-or-string and nullable fields")
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "type" not in out:
        raise SchemaError(f"{path}: every node of a structural schema needs a type")

    if "properties" in out:
        props: dict[str, Schema] = {}
        for name, sub in out["properties"].items():
            conv = _convert(sub, defs, f"{path}.{name}")
            if not conv.get("description"):
                raise SchemaError(f"{path}.{name}: every property needs a description for kubectl explain")
            props[name] = conv
        out["properties"] = props
    if "items" in out:
        out["items"] = _convert(out["items"], defs, f"{path}[]")
    extra = out.get("additionalProperties")
    if extra is True:
        del out["additionalProperties"]
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif extra is False:
        del out["additionalProperties"]  # the API server prunes unknown fields of structural schemas
    elif isinstance(extra, dict):
        out["additionalProperties"] = _convert(extra, defs, f"{path}{{}}")
    return _ordered(out)


_ORDER = ("description", "type", "format", "enum", "default", "required", "properties", "items")


def _ordered(schema: Schema) -> Schema:
    """Keys in a stable, readable order: description and type first, CEL rules last."""
    head = {k: schema[k] for k in _ORDER if k in schema}
    rest = {k: schema[k] for k in sorted(schema) if k not in head and k != "x-kubernetes-validations"}
    tail = {}
    if "x-kubernetes-validations" in schema:
        keys = ("rule", "message", "fieldPath", "reason")
        tail["x-kubernetes-validations"] = [
            {k: r[k] for k in keys if k in r} for r in schema["x-kubernetes-validations"]
        ]
    return {**head, **rest, **tail}


def resource_schema(
    kind: str, description: str, spec: type[BaseModel], status: type[BaseModel], rules: list[dict[str, str]]
) -> Schema:
    """The openAPIV3Schema of a whole custom resource: apiVersion, kind, metadata, spec, status.

    `rules` are CEL rules on the whole object (they may read metadata.name).
    """
    spec_schema = structural(spec)
    status_schema = structural(status)
    root: Schema = {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "description": f"APIVersion of this object: {GROUP_VERSION}.",
                "type": "string",
            },
            "kind": {"description": f"Kind of this object: {kind}.", "type": "string"},
            "metadata": {"type": "object"},  # the API server allows nothing else on the root metadata
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if rules:
        root["x-kubernetes-validations"] = rules
    return root


__all__ = ["API_GROUP", "Schema", "SchemaError", "resource_schema", "structural"]
