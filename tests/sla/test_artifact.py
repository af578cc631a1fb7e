"""The compiled artefact used at run time is the compilation of the shipped source."""

from __future__ import annotations

import json

from sla_contracts.artifact import ARTIFACT, SOURCE, compile_source, load_artifact


def test_shipped_artifact_is_the_compiled_source() -> None:
    shipped = json.loads(ARTIFACT.read_text())
    fresh = compile_source(SOURCE)
    assert shipped["source_sha256"] == fresh["source_sha256"], "SlaLedger.vy changed: run python -m sla_contracts.artifact"
    assert shipped["compiler"] == fresh["compiler"]
    assert shipped["abi"] == fresh["abi"]
    assert shipped["bytecode"] == fresh["bytecode"]
    assert shipped["bytecode_runtime"] == fresh["bytecode_runtime"]


def test_runtime_artifact_has_every_entry_point() -> None:
    names = {e["name"] for e in load_artifact()["abi"] if "name" in e}
    assert {"create_agreement", "amend_agreement", "terminate_agreement", "accept_agreement", "record_breach",
            "record_breaches", "record_migration", "record_resize", "breach_count", "breach_counts", "get_agreement",
            "grant_role", "revoke_role", "BreachRecorded", "MigrationRecorded", "ResizeRecorded", "AgreementCreated",
            "AgreementAmended", "AgreementTerminated", "AgreementAccepted", "RoleGranted", "RoleRevoked"} <= names
