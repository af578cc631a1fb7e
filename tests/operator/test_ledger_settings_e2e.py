"""The operator process (kopf run operator/handlers.py) against the real stack refuses a ledger
configuration that cannot work, at start, with one log line that names the setting and exit code 2:
another chain than EDGEORCH_CHAIN_ID says, or a chain URL without a signing key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from tests.conftest import StackHandle

pytestmark = [pytest.mark.cluster, pytest.mark.chain]

HANDLERS = Path(__file__).resolve().parents[2] / "operator" / "handlers.py"


def _run_operator(stack: StackHandle, **env: str | None) -> subprocess.CompletedProcess[str]:
    full = stack.env()
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run([sys.executable, "-m", "kopf", "run", str(HANDLERS), "--standalone", "--all-namespaces"],
                          env=full, capture_output=True, text=True, timeout=120)


def _the_line(proc: subprocess.CompletedProcess[str]) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "configuration error" in line]
    assert len(lines) == 1, output
    return lines[0]


def test_another_chain_than_configured_stops_the_operator_at_start(stack: StackHandle, tmp_path: Path) -> None:
    key = tmp_path / "operator-key"  # a real chain's set-up: a key file (a mounted Secret), no development keys
    key.write_text(Account.create().key.hex())
    line = _the_line(_run_operator(stack, EDGEORCH_CHAIN_ID="137", EDGEORCH_LEDGER_DEV_KEYS=None,
                                   EDGEORCH_LEDGER_KEY_FILE=str(key)))
    assert line.endswith(f"edgeorch: configuration error: EDGEORCH_CHAIN_ID: chain id: the node at {stack.chain_url} "
                         "is chain 31337, the configuration says 137"), line


def test_a_chain_without_a_signing_key_stops_the_operator_at_start(stack: StackHandle) -> None:
    line = _the_line(_run_operator(stack, EDGEORCH_LEDGER_DEV_KEYS=None))
    assert f"EDGEORCH_LEDGER_KEY_FILE: no signing key for the chain at {stack.chain_url}" in line, line
