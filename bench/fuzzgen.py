"""Hypothesis strategies of edgeorch's three custom resources, valid and broken, derived from the
pydantic models; bench.fuzz sends what they draw to a real API server.

`spec_strategy(kind)` walks the structural schema each CRD is generated from
(`orchestrator.resources.structural` of the kind's spec model): every property, bound, pattern, enum,
list type and int-or-string of the model, so a field added to a model is fuzzed with no change here.
Where a model passes core/v1 fields through (the Pod template), a few such fields are drawn with
arbitrary JSON values.  A handful of fields get realistic overrides (replica counts, requests, the
city's radio cells) so that valid workloads are cheap and some are placeable.  The CEL rules, which
a schema walk does not see, are met by `repair` (shares normalised, thresholds sorted, ...).

Each case is then left valid or broken by one mutation: a wrong JSON type, a number or length out of
range, a required field deleted, an unknown field, a huge string, the CEL rules left unmet
(`unrepaired`), or (EdgeSites) a name that is no DNS label.  `draw_cases` draws a reproducible list.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from orchestrator.resources import CRDS
from orchestrator.resources.common import DNS_LABEL, parse_quantity
from orchestrator.resources.sla import MAX_WINDOW_S, duration_s
from orchestrator.resources.structural import structural
from orchestrator.vocabulary import EDGESITE, EDGEWORKLOAD, GROUP_VERSION, SLA, NamedMetric

Node = dict[str, Any]
Path = tuple[str | int, ...]
LIST_CAP = 3  # items drawn per list beyond its minItems
TEXT_CAP = 24  # characters drawn per free-text string (its maxLength permitting)
HUGE = (20_000, 300_000, 2_000_000)  # lengths of a "huge string" (Kubernetes caps annotations at 256 KiB
# and etcd a whole object at 1.5 MiB; the API server takes a request body of up to 3 MiB)
UNKNOWN = "fuzzUnknownField"
CRASH = "model crashed:"
MUTATIONS = ("wrong_type", "out_of_range", "missing_required", "unknown_field", "huge_string", "unrepaired")
SITE_MUTATIONS = ("bad_site_name",)
VALID_WEIGHT = 4  # "valid" is drawn VALID_WEIGHT times as often as each mutation

# core/v1 fields the models pass through unchecked (the operator builds the replica Pods of them)
PASSTHROUGH: dict[str, tuple[str, ...]] = {
    "template.spec": ("nodeSelector", "tolerations", "hostNetwork", "volumes", "affinity", "priorityClassName",
                      "terminationGracePeriodSeconds", "dnsPolicy", "overhead"),
    "template.spec.containers[]": ("env", "ports", "imagePullPolicy", "command", "resources", "volumeMounts"),
    "template.metadata": ("generateName", "finalizers"),
}
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _spec_model(kind: str) -> type[BaseModel]:
    return next(info.spec for info in CRDS if info.kind == kind)


def _resource_model(kind: str) -> type[BaseModel]:
    return next(info.resource for info in CRDS if info.kind == kind)


def spec_schema(kind: str) -> Node:
    return structural(_spec_model(kind))


# -- the schema walk ----------------------------------------------------------------------------------
def _integers(node: Node) -> st.SearchStrategy[int]:
    lo, hi = node.get("minimum"), node.get("maximum")
    lo = -(2**31) if lo is None else int(lo) + (1 if node.get("exclusiveMinimum") else 0)
    hi = 2**31 if hi is None else int(hi) - (1 if node.get("exclusiveMaximum") else 0)
    return st.integers(lo, hi)


def _floats(node: Node) -> st.SearchStrategy[float]:
    return st.floats(min_value=node.get("minimum"), max_value=node.get("maximum"),
                     exclude_min=bool(node.get("exclusiveMinimum")) and node.get("minimum") is not None,
                     exclude_max=bool(node.get("exclusiveMaximum")) and node.get("maximum") is not None,
                     allow_nan=False, allow_infinity=False)


def _text(node: Node) -> st.SearchStrategy[str]:
    lo, hi = node.get("minLength", 0), node.get("maxLength")
    if node.get("format") == "date-time":
        return st.datetimes(datetime(1900, 1, 1), datetime(9999, 12, 31)).map(
            lambda d: d.replace(microsecond=0, tzinfo=UTC).isoformat().replace("+00:00", "Z"))
    if "pattern" in node:
        pattern: str = node["pattern"]
        return st.from_regex(pattern, fullmatch=True).filter(lambda s: lo <= len(s) <= (hi or 10**6))
    return st.text(min_size=lo, max_size=min(hi or TEXT_CAP, TEXT_CAP))


def from_schema(node: Node, path: str = "", overrides: dict[str, st.SearchStrategy[Any]] | None = None
                ) -> st.SearchStrategy[Any]:
    """Values of a structural schema node (`path`: dotted, `[]` for list items, relative to spec)."""
    overrides = overrides or {}
    if path in overrides:
        return overrides[path]
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if node.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(int(node.get("minimum", -(2**31))), 2**31),
                         st.from_regex(node.get("pattern") or ".*", fullmatch=True))
    kind = node.get("type")
    if kind == "integer":
        return _integers(node)
    if kind == "number":
        return _floats(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return _text(node)
    if kind == "array":
        items = from_schema(node["items"], f"{path}[]", overrides)
        lo = node.get("minItems", 0)
        hi = min(node.get("maxItems", lo + LIST_CAP), lo + LIST_CAP)
        keys = node.get("x-kubernetes-list-map-keys")
        if node.get("x-kubernetes-list-type") == "set":
            return st.lists(items, min_size=lo, max_size=hi, unique=True)
        if keys:
            return st.lists(items, min_size=lo, max_size=hi, unique_by=lambda x: tuple(str(x.get(k)) for k in keys))
        return st.lists(items, min_size=lo, max_size=hi)
    if kind == "object":
        return _object(node, path, overrides)
    raise ValueError(f"{path}: no strategy for schema {node}")


def _object(node: Node, path: str, overrides: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    props: dict[str, Node] = node.get("properties", {})
    required = set(node.get("required", []))

    def sub(name: str) -> str:
        return f"{path}.{name}" if path else name

    fixed = {n: from_schema(s, sub(n), overrides) for n, s in props.items() if n in required}
    optional = {n: from_schema(s, sub(n), overrides) for n, s in props.items() if n not in required}
    base: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(fixed, optional=optional)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        keys = st.one_of(st.from_regex(DNS_LABEL, fullmatch=True).filter(lambda s: len(s) <= 63), st.text(max_size=12))
        return st.dictionaries(keys, from_schema(extra, f"{path}{{}}", overrides), max_size=3)
    if node.get("x-kubernetes-preserve-unknown-fields") and path in PASSTHROUGH:
        extras = st.one_of(st.just({}), st.just({}), st.dictionaries(st.sampled_from(PASSTHROUGH[path]), JSON,
                                                                      min_size=1, max_size=2))
        return st.builds(lambda b, e: {**e, **b}, base, extras)
    return base


# -- the CEL rules, met ---------------------------------------------------------------------------------
def _repair_workload(spec: dict[str, Any]) -> None:
    cells = list({c["cell"]: c for c in spec["users"].get("cells") or []}.values())
    if cells:
        total = sum(c["share"] for c in cells)
        for c in cells:
            c["share"] = max(round(c["share"] / total, 6), 1e-6)
        cells[-1]["share"] = max(round(1 - sum(c["share"] for c in cells[:-1]), 6), 1e-6)
        spec["users"]["cells"] = cells
    elif "fromMetric" not in spec["users"]:
        spec["users"]["cells"] = [{"cell": "cell-eixample-1", "share": 1.0}]
    ports = (spec.get("service") or {}).get("ports") or []
    seen: set[tuple[Any, Any]] = set()
    unique = []
    for port in ports:
        key = (port.get("port"), port.get("protocol", "TCP"))
        if key not in seen:
            seen.add(key)
            unique.append(port)
    for i, port in enumerate(unique):  # several ports: each named, names unique (the Service's CEL rules)
        port["name"] = f"p{i}"
    if ports:
        spec["service"]["ports"] = unique
    p = spec.get("placement", {})
    if p.get("preferTier") and p.get("allowedTiers") and p["preferTier"] not in p["allowedTiers"]:
        del p["preferTier"]
    if p.get("maxPerNode", 0) > p.get("maxPerSite", 10**6):
        p["maxPerNode"], p["maxPerSite"] = p["maxPerSite"], p["maxPerNode"]
    s = spec.get("strategy", {})
    if s.get("maxSurge") in (0, "0%") and s.get("maxUnavailable") in (0, "0%"):
        s["maxUnavailable"] = 1


def _repair_sla(spec: dict[str, Any]) -> None:
    names: set[str] = set()
    for i, o in enumerate(spec["objectives"]):
        if o["name"] in names:
            o["name"] = f"{o['name'][:55]}-{i}"
        names.add(o["name"])
        if not 0 < duration_s(o["window"]) <= MAX_WINDOW_S:
            o["window"] = "30s"
        t = o["thresholds"]
        values = sorted(set(t.values()), reverse=o["comparator"] in ("gt", "ge")) or [1.0]
        o["thresholds"] = dict(zip(("warning", "mild", "serious", "severe", "catastrophic"), values, strict=False))
    _repair_elasticity(spec.get("elasticity"))
    v = spec["validity"]
    start, end = sorted((v["start"], v["end"]))  # RFC 3339 in UTC, four-digit years: ordered as text
    v["start"] = max(start, "1970-01-01T00:00:00Z")
    v["end"] = end if end > v["start"] else "9999-01-01T00:00:00Z"


def _repair_elasticity(e: dict[str, Any] | None) -> None:
    """A valid draft meets the elasticity's cross-field rules: low < high use, min <= max CPU and
    replicas, vertical or horizontal set (orchestrator.resources.elasticity)."""
    if e is None:
        return
    use = e.get("cpuUse")
    if use is not None and not use.get("low", 0.5) < use.get("high", 0.8):
        use["low"], use["high"] = 0.0, use.get("high", 0.8)
    vertical = e.get("vertical")
    if vertical is not None:
        try:
            if parse_quantity(str(vertical["minCpu"])) > parse_quantity(str(vertical["maxCpu"])):
                vertical["minCpu"], vertical["maxCpu"] = vertical["maxCpu"], vertical["minCpu"]
        except ValueError:
            vertical["minCpu"], vertical["maxCpu"] = "100m", "1"
    horizontal = e.get("horizontal")
    if horizontal is not None and horizontal.get("minReplicas", 1) > horizontal["maxReplicas"]:
        horizontal["minReplicas"], horizontal["maxReplicas"] = horizontal["maxReplicas"], horizontal.get("minReplicas", 1)
    if vertical is None and horizontal is None:
        e["horizontal"] = {"maxReplicas": 2}


REPAIR: dict[str, Callable[[dict[str, Any]], None]] = {
    EDGEWORKLOAD: _repair_workload, SLA: _repair_sla, EDGESITE: lambda spec: None,
}


# -- mutations ------------------------------------------------------------------------------------------
def leaves(value: Any, node: Node | None, path: Path = ()) -> Iterator[tuple[Path, Any, Node | None]]:
    """Every (path, value, schema) of a drawn object; schema None where the model passes values through."""
    yield path, value, node
    if isinstance(value, dict):
        props = (node or {}).get("properties", {})
        extra = (node or {}).get("additionalProperties")
        for k, v in value.items():
            yield from leaves(v, props.get(k, extra if isinstance(extra, dict) else None), (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (node or {}).get("items"), (*path, i))


def _wrong(node: Node) -> Any:
    if node.get("x-kubernetes-int-or-string"):
        return [1]
    return {"string": 12345, "integer": "fuzz", "number": "fuzz", "boolean": "yes", "object": "fuzz",
            "array": {"fuzz": 1}}[node["type"]]


def _out_of_range(value: Any, node: Node) -> Any | None:
    """A value just outside the node's bounds (None when it has none)."""
    if node.get("type") in ("integer", "number") and "enum" not in node:
        step = 1 if node["type"] == "integer" else 0.5
        if node.get("maximum") is not None:
            return node["maximum"] if node.get("exclusiveMaximum") else node["maximum"] + step
        if node.get("minimum") is not None:
            return node["minimum"] if node.get("exclusiveMinimum") else node["minimum"] - step
        return None
    if node.get("type") == "string" and "enum" not in node and "format" not in node:
        if node.get("maxLength") is not None:
            return "a" * (node["maxLength"] + 1)
        return "" if node.get("minLength") else None
    if node.get("type") == "array":
        if node.get("maxItems") is not None and value:
            return [copy.deepcopy(value[0]) for _ in range(node["maxItems"] + 1)]
        return [] if node.get("minItems") else None
    return None


def _set(doc: dict[str, Any], path: Path, value: Any) -> None:
    target: Any = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value


def _delete(doc: dict[str, Any], path: Path) -> None:
    target: Any = doc
    for p in path[:-1]:
        target = target[p]
    del target[path[-1]]


@dataclass(frozen=True)
class Case:
    """One object to send: its kind, the document, how it was broken (or "valid") and where."""

    kind: str
    doc: dict[str, Any]
    mutation: str
    path: Path = ()
    detail: str = ""

    @property
    def field(self) -> str:
        """The mutated field as the API server spells it (spec.users.cells[0].share)."""
        return render(self.path)


def render(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def model_errors(kind: str, doc: dict[str, Any]) -> tuple[str, ...]:
    """The fields the pydantic model names in its errors (none: it accepts `doc`)."""
    try:
        _resource_model(kind).model_validate(doc)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            out.append(render(tuple(p for p in err["loc"] if isinstance(p, str | int))))
            out += re.findall(r"(?:spec|metadata)\.[\w.\[\]]+", str(err.get("msg", "")))
        return tuple(dict.fromkeys(o.rstrip(".:") for o in out))
    except Exception as exc:  # the model itself broke on the document: a bug bench.fuzz reports
        return (f"{CRASH} {type(exc).__name__}: {exc}"[:300],)
    return ()


@st.composite
def case_strategy(draw: st.DrawFn, kind: str, overrides: dict[str, st.SearchStrategy[Any]] | None = None) -> Case:
    """One object of `kind`: valid or broken by one mutation (metadata.name is left to the sender)."""
    schema = spec_schema(kind)
    spec = draw(from_schema(schema, "", overrides))
    extra = SITE_MUTATIONS if kind == EDGESITE else ()
    mutation = draw(st.sampled_from(("valid",) * VALID_WEIGHT + MUTATIONS + extra))
    if mutation != "unrepaired":
        REPAIR[kind](spec)
    doc: dict[str, Any] = {"apiVersion": GROUP_VERSION, "kind": kind, "metadata": {}, "spec": spec}
    path: Path = ()
    detail = ""
    all_leaves = list(leaves(spec, schema, ("spec",)))
    typed = [(p, v, n) for p, v, n in all_leaves if n is not None and len(p) > 1]
    if mutation == "wrong_type":
        path, _, node = draw(st.sampled_from(typed))
        assert node is not None
        _set(doc, path, _wrong(node))
    elif mutation == "out_of_range":
        ranged = [(p, r) for p, v, n in typed if n is not None and (r := _out_of_range(v, n)) is not None]
        path, bad = draw(st.sampled_from(ranged))
        _set(doc, path, bad)
        detail = repr(bad)[:40]
    elif mutation == "missing_required":
        required = [(*p, r) for p, v, n in [((), spec, schema), *((p[1:], v, n) for p, v, n in typed)]
                    if isinstance(v, dict) and n is not None for r in n.get("required", [])]
        path = ("spec", *draw(st.sampled_from(required)))
        _delete(doc, path)
    elif mutation == "unknown_field":
        closed = [p for p, v, n in all_leaves if isinstance(v, dict) and n is not None and n.get("properties")
                  and not n.get("x-kubernetes-preserve-unknown-fields")]
        path = (*draw(st.sampled_from(closed)), UNKNOWN)
        _set(doc, path, draw(JSON))
    elif mutation == "huge_string":
        strings = [p for p, v, _ in all_leaves if isinstance(v, str) and len(p) > 1]
        if kind == EDGEWORKLOAD:  # where the model sets no bound: an annotation of the replicas' Pods
            spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("annotations", {})
            strings += [("spec", "template", "metadata", "annotations", "fuzz")] * max(1, len(strings) // 2)
        path = draw(st.sampled_from(strings))
        size = draw(st.sampled_from(HUGE))
        _set(doc, path, "x" * size)
        detail = f"{size} chars"
    elif mutation == "bad_site_name":
        path, detail = ("metadata", "name"), "name with a dot (a DNS subdomain, not a label)"
    return Case(kind, doc, mutation, path, detail)


def default_overrides(cells: list[str] | None = None, zones: list[str] | None = None
                      ) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """Realistic values where a valid object should stay cheap (a few replicas of small requests) and
    may be placeable (the city's cells and zones) or recorded (a metric Prometheus knows); each still
    lets the schema walk draw the odd value."""
    def mostly(usual: st.SearchStrategy[Any], walked: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.sampled_from((True, True, True, False)).flatmap(lambda u: usual if u else walked)

    ew, sla = spec_schema(EDGEWORKLOAD)["properties"], spec_schema(SLA)["properties"]
    res = ew["resources"]["properties"]
    cell = from_schema(ew["users"]["properties"]["cells"]["items"]["properties"]["cell"])
    zone = from_schema(ew["placement"]["properties"]["allowedZones"]["items"])
    return {
        EDGEWORKLOAD: {
            "replicas": st.integers(0, 3),
            "resources.cpu": mostly(st.sampled_from(["10m", "50m", "100m", 1]), from_schema(res["cpu"])),
            "resources.memory": mostly(st.sampled_from(["16Mi", "64Mi", 10**8]), from_schema(res["memory"])),
            "resources.gpu": mostly(st.just(0), from_schema(res["gpu"])),
            "users.cells[].cell": mostly(st.sampled_from(cells), cell) if cells else cell,
            "placement.allowedZones[]": mostly(st.sampled_from(zones), zone) if zones else zone,
        },
        SLA: {
            "objectives[].metric": mostly(st.sampled_from([*(m.value for m in NamedMetric), "vector(1)"]),
                                          from_schema(sla["objectives"]["items"]["properties"]["metric"])),
        },
    }


def draw_cases(kinds: dict[str, int], *, seed_value: int = 0,
               overrides: dict[str, dict[str, st.SearchStrategy[Any]]] | None = None) -> list[Case]:
    """`kinds[k]` cases of each kind, the same for the same seed.  Each case is the second example of
    its own seeded run of hypothesis' generation phase (the first is always the simplest; a longer
    run would mostly draw small variations of earlier examples); no shrinking, no example database."""
    out: list[Case] = []
    for k, (kind, count) in enumerate(kinds.items()):
        strategy = case_strategy(kind, (overrides or {}).get(kind))
        for i in range(count):
            drawn: list[Case] = []

            @seed(seed_value * 1_000_003 + k * 10_007 + i)
            @settings(max_examples=2, database=None, phases=[Phase.generate], deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def collect(case: Case) -> None:
                drawn.append(case)  # noqa: B023 (run at once, in this iteration)

            collect()
            out.append(drawn[-1])
    return out
