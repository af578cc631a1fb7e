"""The README shows exactly the example manifests of deploy/examples/, they are valid, they fit the local
city, and the README stays a user's page (about 200 lines; benchmark tables live in docs/benchmarks.md).
tests/operator/test_readme_example.py applies the same manifests to the real stack."""

from __future__ import annotations

import inspect
import re

import yaml

from orchestrator.resources.registry import crd_for_kind
from orchestrator.service import Settings
from sim.nodes import site_manifest
from sim.scenario import load_scenario
from tests.readme import README, ROOT, blocks, example_files, shown_output


def test_the_readme_shows_every_example_manifest_verbatim() -> None:
    files = example_files()
    assert {f.name for f in files} == {"edgesite.yaml", "edgeworkload.yaml", "sla.yaml"}
    shown = blocks("yaml")
    for f in files:
        assert f.read_text() in shown, f"README.md must show {f.relative_to(ROOT)} as a ```yaml block, verbatim"
    manifests = [b for b in shown if "apiVersion: edgeorch.io/" in b]
    assert sorted(manifests) == sorted(f.read_text() for f in files), "a manifest in the README is not a file"


def test_the_examples_are_valid_and_fit_the_local_city() -> None:
    docs = {d["kind"]: d for f in example_files() for d in yaml.safe_load_all(f.read_text())}
    for doc in docs.values():
        crd_for_kind(doc["kind"]).resource.model_validate(doc)
    city = load_scenario("barcelona")
    site = docs["EdgeSite"]
    # The city already has this site with this spec: applying it to the local stack changes nothing.
    assert site["spec"] == next(site_manifest(s) for s in city.sites if s.name == site["metadata"]["name"])["spec"]
    workload, sla = docs["EdgeWorkload"], docs["ServiceLevelAgreement"]
    cells = {c.name for c in city.cells}
    assert {c["cell"] for c in workload["spec"]["users"]["cells"]} <= cells
    assert sla["spec"]["workloadRef"] == workload["metadata"]["name"]


def test_the_readme_is_a_users_page() -> None:
    text = README.read_text()
    lines = text.splitlines()
    assert 150 <= len(lines) <= 240, f"README.md has {len(lines)} lines; keep it near 200"
    assert "docs/benchmarks.md" in text and "docs/how-it-works.md" in text
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b(?!T)", text), "dated lab notes belong in the closing notes"
    for path in re.findall(r"`((?:deploy|docs|bench|sim|devstack|orchestrator|operator|placement|sla_contracts)"
                           r"/[\w./-]*)`", text):
        assert (ROOT / path.rstrip("/")).exists(), f"README.md names {path}, which does not exist"


def test_the_shown_output_has_the_printer_columns() -> None:
    for command, kind in (("kubectl get ew crowd-counter", "EdgeWorkload"),
                          ("kubectl get sla crowd-counter-sla", "ServiceLevelAgreement")):
        header = shown_output(command)[0].split()
        columns = [c.name.upper() for c in crd_for_kind(kind).columns if c.priority == 0]
        assert header == ["NAME", *columns], f"`{command}` in README.md shows {header}"


def test_the_settings_table_names_every_variable_with_its_default() -> None:
    source = inspect.getsource(Settings.from_env)
    found = dict(re.findall(r'^\s*(\w+)=.*?"(EDGEORCH_\w+)"', source, re.MULTILINE))
    assert len(found) >= 10, found
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(EDGEORCH_\w+)` \|.*$", README.read_text(), re.MULTILINE)}
    for attr, var in found.items():
        assert var in rows, f"the README's settings table has no row for {var}"
        default = getattr(Settings(), attr)
        if default is not None and attr != "ledger_dir":
            assert f"| `{default}` |" in rows[var], f"{var}: the README's default is not {default}"
