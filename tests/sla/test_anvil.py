"""anvil only: restart with its state (nothing lost, deployment found again), an independent reader
(the cast binary), and process control errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from eth_abi.abi import decode

from sla_contracts.anvil import AnvilProcess, find_anvil, find_cast, free_port, wait_for_rpc
from sla_contracts.deployment import DEPLOYMENT_FILE
from sla_contracts.errors import LedgerUnavailable, ToolMissing
from sla_contracts.ids import name_ref
from sla_contracts.ledger import Ledger, open_ledger
from sla_contracts.model import Migration, Severity
from tests.sla.conftest import chain_now, latency_breach, new_terms, start_anvil

pytestmark = pytest.mark.chain

BREACH_SIG = "BreachRecorded(bytes32 indexed,bytes32 indexed,uint8 indexed,uint8,int64,uint64,uint64,bytes32,uint16)"


async def test_a_restarted_anvil_keeps_the_ledger_and_the_deployment_is_found_again(tmp_path: Path) -> None:
    node = start_anvil(tmp_path)
    try:
        ledger = await open_ledger(node.url, state_dir=tmp_path)
        now = await chain_now(ledger)
        terms = new_terms(now)
        await ledger.create_agreement(terms)
        breaches = [latency_breach(terms.agreement_id, now, severity=Severity.SERIOUS) for _ in range(3)]
        await ledger.record_breaches(breaches)
        await ledger.record_migration(Migration(terms.agreement_id, 0, breaches[0].window_start, name_ref("w"),
                                                "bcn-1", "bcn-2"))
        before = (ledger.address, await ledger.get_agreement(terms.agreement_id),
                  await ledger.breach_counts(terms.agreement_id), await ledger.events(agreement_id=terms.agreement_id))
        await ledger.close()
    finally:
        node.stop()
    deployments = json.loads((tmp_path / DEPLOYMENT_FILE).read_text())
    assert [e["address"] for e in deployments.values()] == [before[0]]

    node = AnvilProcess(free_port(), state_file=tmp_path / "anvil-state.json", log_file=tmp_path / "anvil.log")
    node.start()
    try:
        ledger = await open_ledger(node.url, state_dir=tmp_path, deploy=False)
        after = (ledger.address, await ledger.get_agreement(terms.agreement_id),
                 await ledger.breach_counts(terms.agreement_id), await ledger.events(agreement_id=terms.agreement_id))
        assert after == before
        assert len(after[3]) == 5  # created, 3 breaches, migration
        # and it keeps working: the writers resume from the chain's nonces
        assert (await ledger.record_breach(latency_breach(terms.agreement_id, now))).receipt is not None
        assert json.loads((tmp_path / DEPLOYMENT_FILE).read_text()) == deployments
        await ledger.close()
    finally:
        node.stop()


async def test_cast_reads_the_same_breaches_and_counts(anvil_ledger: Ledger) -> None:
    ledger = anvil_ledger
    now = await chain_now(ledger)
    terms = new_terms(now)
    await ledger.create_agreement(terms)
    ours = [latency_breach(terms.agreement_id, now, observed=50.0 + i, severity=Severity(i)) for i in range(4)]
    await ledger.record_breaches(ours)
    url, cast = ledger.w3.provider.endpoint_uri, str(find_cast())  # type: ignore[attr-defined]
    out = subprocess.run([cast, "logs", "--json", "--rpc-url", url, "--address", ledger.address,
                          "--from-block", str(ledger.deployed_block), BREACH_SIG],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    logs = [log for log in json.loads(out) if log["topics"][2] == "0x" + terms.agreement_id.hex()]
    theirs = []
    for log in logs:
        objective, observed, start, end, evidence, version = decode(
            ["uint8", "int64", "uint64", "uint64", "bytes32", "uint16"], bytes.fromhex(log["data"][2:]))
        theirs.append((log["topics"][1], int(log["topics"][3], 16), objective, observed, start, end, evidence, version))
    client = [("0x" + bytes(e.args["breach_id"]).hex(), e.args["severity"], e.args["objective"], e.args["observed"],
               e.args["window_start"], e.args["window_end"], bytes(e.args["evidence_hash"]), e.args["version"])
              for e in await ledger.breach_events(terms.agreement_id)]
    assert theirs == client
    assert [t[0] for t in theirs] == ["0x" + ledger.breach_id(b).hex() for b in ours]
    counts = subprocess.run([cast, "call", "--rpc-url", url, ledger.address, "breach_counts(bytes32)(uint256[5])",
                             "0x" + terms.agreement_id.hex()], capture_output=True, text=True, timeout=60,
                            check=True).stdout.strip()
    assert counts == "[1, 1, 1, 1, 0]"
    terms_out = subprocess.run([cast, "call", "--rpc-url", url, ledger.address,
                                "get_agreement(bytes32)(uint256,bool,uint16,uint64,uint64,address,bytes32,uint8)",
                                "0x" + terms.agreement_id.hex()], capture_output=True, text=True, timeout=60,
                               check=True).stdout.splitlines()
    assert terms_out[0] == "1" and terms_out[6] == "0x" + terms.terms_hash.hex()


def test_missing_tools_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert find_anvil().name == "anvil"
    monkeypatch.setenv("EDGEORCH_ANVIL", str(tmp_path / "nope"))
    monkeypatch.setenv("EDGEORCH_CAST", str(tmp_path / "nope"))
    for finder in (find_anvil, find_cast):
        with pytest.raises(ToolMissing, match=r"run scripts/setup\.sh \(npm install of @foundry-rs/anvil-linux-amd64"):
            finder()


def test_an_anvil_that_dies_at_start_reports_its_log(tmp_path: Path, anvil_ledger: Ledger) -> None:
    busy = int(anvil_ledger.w3.provider.endpoint_uri.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    with pytest.raises(LedgerUnavailable, match=f"port {busy} on 127.0.0.1 is in use"):
        AnvilProcess(busy, log_file=tmp_path / "busy.log").start(timeout=10)
    (tmp_path / "state.json").write_text("garbage{")
    node = AnvilProcess(free_port(), state_file=tmp_path / "state.json", log_file=tmp_path / "anvil.log")
    with pytest.raises(LedgerUnavailable, match=r"anvil exited with \d+ at start[\s\S]*failed to parse json file"):
        node.start(timeout=10)
    assert node.pid is None
    with pytest.raises(LedgerUnavailable, match="no JSON-RPC answer"):
        wait_for_rpc(f"http://127.0.0.1:{free_port()}", timeout=0.3)
