"""The fuzz generator (bench/fuzzgen.py), pure: reproducible, every mutation class drawn, valid cases
valid for the operator's own models, and every mutation is one the model refuses or passes through."""

from __future__ import annotations

import json
from functools import cache

from bench.fuzz import KINDS, fuzz_cases, names_the_field
from bench.fuzzgen import MUTATIONS, SITE_MUTATIONS, Case, model_errors, spec_schema


def _named(case: Case, i: int) -> dict[str, object]:
    doc = json.loads(json.dumps(case.doc))
    doc["metadata"] = {"name": f"c-{i}" + (".x" if case.mutation == "bad_site_name" else ""), "namespace": "ns"}
    if case.kind == "EdgeSite":
        del doc["metadata"]["namespace"]
    return doc


@cache
def cases() -> list[Case]:
    return fuzz_cases(90, 7, "barcelona")


def test_the_same_seed_draws_the_same_objects_and_every_class() -> None:
    assert [c.doc for c in cases()[:15]] == [c.doc for c in fuzz_cases(15, 7, "barcelona")]
    assert [c.kind for c in cases()[:3]] == list(KINDS)  # interleaved
    assert {c.mutation for c in cases()} >= {"valid", *MUTATIONS, *SITE_MUTATIONS}


def test_valid_cases_pass_the_models_and_schema_mutations_do_not() -> None:
    for i, case in enumerate(cases()):
        errors = model_errors(case.kind, _named(case, i))
        assert not any(e.startswith("model crashed") for e in errors), (case, errors)
        if case.mutation == "valid":
            # the walk stays inside the schema and repair meets the CEL rules; only the quantity bound
            # (a CEL rule the walk cannot see) may still refuse one
            assert not errors or all("resources" in e for e in errors), (case.doc, errors)
        if case.mutation in ("wrong_type", "missing_required", "unknown_field", "bad_site_name"):
            assert errors, (case.mutation, case.field, case.doc)


def test_an_api_server_message_names_the_field_or_a_parent() -> None:
    case = Case("EdgeWorkload", {}, "out_of_range", ("spec", "users", "cells", 0, "share"))
    said = 'EdgeWorkload.edgeorch.io "x" is invalid: [spec.users.cells[0].share: Invalid value: 2: must be ...]'
    assert names_the_field(said, case, ())
    assert names_the_field("spec.users.cells: the shares must sum to 1", case, ())
    assert not names_the_field('EdgeWorkload.edgeorch.io "x" is invalid: spec: Invalid value', case, ())
    assert spec_schema("EdgeSite")["properties"]["costPerCpuHour"]["maximum"] == 1e4
