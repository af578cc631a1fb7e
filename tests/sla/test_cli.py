"""`edgeorch sla show | history | verify` against the session's anvil."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from devstack.cli import main
from sla_contracts.ids import name_ref
from sla_contracts.ledger import Ledger
from sla_contracts.model import Migration, Severity
from sla_contracts.terms import terms_from_spec
from tests.sla.conftest import Chain, chain_now, latency_breach

pytestmark = pytest.mark.chain

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "video-analytics-sla.yaml"


@dataclass
class Recorded:
    uid: str
    doc: dict[str, Any]
    args: list[str]


@pytest.fixture(scope="module")
async def recorded(anvil_ledger: Ledger, anvil_chain: Chain) -> Recorded:
    doc = yaml.safe_load(SAMPLE.read_text())
    uid = str(uuid.uuid4())
    terms = terms_from_spec(uid, doc["spec"])
    await anvil_ledger.create_agreement(terms)
    now = await chain_now(anvil_ledger)
    breach = latency_breach(terms.agreement_id, now, observed=12.5, severity=Severity.MILD)
    await anvil_ledger.record_breach(breach)
    await anvil_ledger.record_migration(Migration(terms.agreement_id, 0, breach.window_start, name_ref("wl"),
                                                  "bcn-edge-3", "bcn-cloud-1"))
    return Recorded(uid, doc, ["--rpc-url", anvil_chain.node.url, "--state-dir", str(anvil_chain.state_dir)])


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["sla", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_show_prints_the_agreement_by_uid_and_by_id(recorded: Recorded) -> None:
    data = json.loads(run("show", recorded.uid, "--json", *recorded.args))
    assert data["status"] == "active" and data["version"] == 1
    assert data["objectives"] == [{"comparator": "lt", "threshold": 8.0}, {"comparator": "lt", "threshold": 0.01}]
    assert data["breaches"]["mild"] == 1 and data["migrations"] == 1
    text = run("show", data["agreement_id"], *recorded.args)
    assert f"agreement_id:     {data['agreement_id']}" in text and "mild 1" in text


def test_history_lists_versions_breaches_and_migrations(recorded: Recorded) -> None:
    lines = run("history", recorded.uid, *recorded.args).splitlines()
    assert len(lines) == 3
    assert "created  version 1" in lines[0]
    assert "breach   mild" in lines[1] and "observed 12.5" in lines[1]
    assert "migration bcn-edge-3 -> bcn-cloud-1" in lines[2]


def test_verify_says_match_or_mismatch(recorded: Recorded, tmp_path: Path) -> None:
    whole = tmp_path / "sla.yaml"
    whole.write_text(yaml.safe_dump({**recorded.doc, "metadata": {"uid": recorded.uid}}))
    assert run("verify", "--spec", str(whole), *recorded.args).startswith("MATCH")
    spec_only = tmp_path / "spec.json"
    spec_only.write_text(json.dumps(recorded.doc["spec"], indent=4))  # whitespace and key order do not matter
    assert run("verify", "--spec", str(spec_only), "--uid", recorded.uid, *recorded.args).startswith("MATCH")
    changed = {**recorded.doc["spec"], "consumer": "tenant-0000"}
    spec_only.write_text(json.dumps(changed))
    out = run("verify", "--spec", str(spec_only), "--uid", recorded.uid, *recorded.args, code=1)
    assert out.startswith("MISMATCH")
    out = run("verify", "--spec", str(spec_only), "--uid", "no-such-uid", *recorded.args, code=1)
    assert "MISMATCH" in out and "no agreement on chain" in out


def test_errors_are_one_clear_line(recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = str(uuid.uuid4())
    assert f"agreement_id: unknown agreement (SLA uid {unknown})" in run("show", unknown, *recorded.args, code=2)
    out = run("show", recorded.uid, "--rpc-url", recorded.args[1], "--state-dir", str(tmp_path), code=2)
    assert "no ledger deployed on chain 31337" in out
    monkeypatch.delenv("EDGEORCH_CHAIN_URL", raising=False)
    assert "no chain: give --rpc-url or set EDGEORCH_CHAIN_URL" in run("show", recorded.uid, code=2)
