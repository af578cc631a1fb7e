"""The generated CRDs: in sync with the models, structural, documented, and consistent with the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from orchestrator import crdgen
from orchestrator.resources import CRDS, CrdInfo
from orchestrator.resources.common import K8sModel
from orchestrator.resources.structural import SchemaError, structural
from tests.resources.cases import CRD_DIR

Schema = dict[str, Any]


def committed(info: CrdInfo) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CRD_DIR / info.filename).read_text())
    return doc


def root_schema(info: CrdInfo) -> Schema:
    schema: Schema = committed(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_committed_crds_match_the_models() -> None:
    diff = crdgen.drift(CRD_DIR)
    assert diff == "", f"deploy/crds drifted; run `python -m orchestrator.crdgen`:\n{diff}"


def test_check_mode_reports_drift_and_write_fixes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 1
    assert "edgeworkloads.edgeorch.io.yaml" in capsys.readouterr().out
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 0
    target = tmp_path / "edgesites.edgeorch.io.yaml"
    target.write_text(target.read_text().replace("far-edge", "fog"))
    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert any(line.startswith("-") and line.strip("- ") == "fog" for line in out.splitlines()), out
    assert any(line.startswith("+") and line.strip("+- ") == "far-edge" for line in out.splitlines()), out


@pytest.mark.parametrize("info", CRDS, ids=lambda i: i.kind)
def test_every_node_is_typed_and_every_property_described(info: CrdInfo) -> None:
    for path, node in walk(root_schema(info)):
        assert "$ref" not in node and "title" not in node and "uniqueItems" not in node, path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "anyOf" not in node and "oneOf" not in node, path
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
        if path == ".metadata":
            continue  # the API server forbids anything but `type` on the root metadata
        if path.count(".") >= 1 and not path.endswith(("[]", "{}")):
            assert node.get("description", "").strip(), f"{info.kind}{path} has no description"
        if node["type"] == "object" and not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "properties" in node or "additionalProperties" in node or path == ".metadata", path


@pytest.mark.parametrize("info", CRDS, ids=lambda i: i.kind)
def test_crd_names_subresources_and_columns(info: CrdInfo) -> None:
    crd = committed(info)
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{info.plural}.edgeorch.io" and spec["group"] == "edgeorch.io"
    assert spec["names"]["categories"] == ["edgeorch"] and spec["names"]["shortNames"] == list(info.short_names)
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    root = version["schema"]["openAPIV3Schema"]
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert "observedGeneration" in root["properties"]["status"]["properties"]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata"):
            continue
        node = root
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        want = {"date": "string", "integer": "integer", "number": "number", "string": "string", "boolean": "boolean"}
        assert node["type"] == want[column["type"]], column


def test_the_expected_short_names_scopes_and_columns() -> None:
    by_kind = {i.kind: i for i in CRDS}
    assert (by_kind["EdgeSite"].scope, by_kind["EdgeSite"].short_names) == ("Cluster", ("es",))
    assert (by_kind["EdgeWorkload"].scope, by_kind["EdgeWorkload"].short_names) == ("Namespaced", ("ew",))
    assert by_kind["ServiceLevelAgreement"].short_names == ("sla",)
    shown = lambda kind: [c.name for c in by_kind[kind].columns if c.priority == 0]  # noqa: E731
    assert shown("EdgeWorkload") == ["Replicas", "Phase", "Sites", "Latency", "Age"]
    assert shown("ServiceLevelAgreement") == ["Provider", "Workload", "Compliance", "Breaches", "Age"]


@pytest.mark.parametrize("info", CRDS, ids=lambda i: i.kind)
def test_conditions_follow_api_conventions(info: CrdInfo) -> None:
    conditions = root_schema(info)["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map" and conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) == {"type", "status", "reason", "lastTransitionTime"}
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert item["properties"]["reason"]["pattern"].startswith("^[A-Za-z]")


def cel_rules() -> list[tuple[str, str, dict[str, str], Schema]]:
    out = []
    for info in CRDS:
        for path, node in walk(root_schema(info)):
            for rule in node.get("x-kubernetes-validations", []):
                out.append((info.kind, path, rule, node))
    return out


def test_the_cel_rules_the_brief_asks_for_are_present() -> None:
    messages = {rule["message"].split(":")[0] for _, _, rule, _ in cel_rules()}
    assert {"spec.users.cells", "spec.validity.end", "spec.objectives", "spec.objectives[].thresholds"} <= messages


@pytest.mark.parametrize("kind,path,rule,node", cel_rules(), ids=lambda x: x if isinstance(x, str) else None)
def test_every_cel_rule_names_its_field(kind: str, path: str, rule: dict[str, str], node: Schema) -> None:
    assert rule["message"].startswith("spec." if path else "metadata."), rule
    named = rule["message"].split(":")[0].replace("[]", "")
    if "fieldPath" in rule:
        field = rule["fieldPath"].lstrip(".")
        assert field in node["properties"], rule
        assert named.endswith(field) or named.endswith(path.split(".")[-1].rstrip("[]")), rule
    assert rule["reason"] == "FieldValueInvalid"


def test_every_model_with_cel_rules_mirrors_them_in_python() -> None:
    seen: list[type[K8sModel]] = []
    stack: list[type[K8sModel]] = [K8sModel]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if "__cel__" in cls.__dict__:
            seen.append(cls)
            assert all(callable(r.check) and r.rule and r.message for r in cls.__cel__), cls
    total = sum(len(c.__cel__) for c in seen)
    assert total == len(cel_rules()), "a CEL rule is declared on a model that is not part of any CRD"


def test_the_generator_refuses_undocumented_fields_and_sets() -> None:
    class Undocumented(BaseModel):
        """A model with a field lacking a description."""

        x: int

    class WithSet(BaseModel):
        """A model with a set."""

        xs: set[int] = Field(description="a set")

    with pytest.raises(SchemaError, match="description"):
        structural(Undocumented)
    with pytest.raises(SchemaError, match="uniqueItems"):
        structural(WithSet)


def test_optional_fields_are_optional_not_nullable_unions() -> None:
    placement = root_schema(CRDS[1])["properties"]["spec"]["properties"]["placement"]
    assert placement["properties"]["maxPerSite"]["type"] == "integer"
    assert "maxPerSite" not in placement.get("required", [])
    assert placement["default"] == {}
    share = root_schema(CRDS[1])["properties"]["spec"]["properties"]["users"]["properties"]["cells"]["items"]
    assert share["properties"]["share"]["exclusiveMinimum"] is True and share["properties"]["share"]["minimum"] == 0
    template = root_schema(CRDS[1])["properties"]["spec"]["properties"]["template"]
    assert template["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    assert template["properties"]["spec"]["required"] == ["containers"]
