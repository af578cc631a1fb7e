"""Helpers for the QoS closed-loop tests: SLAs, the exporter's fault API, reading the chain with cast."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from sla_contracts.anvil import find_cast
from sla_contracts.ids import agreement_id
from tests.conftest import StackHandle

BREACH_SIG = "BreachRecorded(bytes32 indexed,bytes32 indexed,uint8 indexed,uint8,int64,uint64,uint64,bytes32,uint16)"


def sla(name: str, namespace: str, workload: str, *, interval: int = 1, breach_after: int = 2,
        recover_after: int = 2, warning_ms: float = 12.0) -> dict[str, Any]:
    return {
        "apiVersion": "edgeorch.io/v1alpha1", "kind": "ServiceLevelAgreement",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "provider": "bcn-edge-operator", "consumer": "tenant-test", "workloadRef": workload,
            "objectives": [{
                "name": "latency", "metric": "p95_latency_ms", "comparator": "lt", "window": "3s",
                "thresholds": {"warning": warning_ms, "mild": warning_ms + 3, "serious": warning_ms + 13,
                               "severe": warning_ms + 28, "catastrophic": warning_ms + 68},
            }],
            "validity": {"start": "2026-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
            "evaluation": {"intervalSeconds": interval, "breachAfter": breach_after, "recoverAfter": recover_after},
        },
    }


def cast(*args: str) -> str:
    out = subprocess.run([str(find_cast()), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"cast {' '.join(args)} failed: {out.stderr}"
    return out.stdout.strip()


def chain_breaches(stack: StackHandle, contract: str, agreement: str) -> list[dict[str, Any]]:
    """BreachRecorded events of one agreement, read with cast (an independent reader)."""
    logs = json.loads(cast("logs", "--json", "--rpc-url", stack.chain_url, "--address", contract,
                           "--from-block", "0", BREACH_SIG))
    return [log for log in logs if log["topics"][2] == agreement]


def chain_breach_counts(stack: StackHandle, contract: str, agreement: str) -> list[int]:
    out = cast("call", "--rpc-url", stack.chain_url, contract, "breach_counts(bytes32)(uint256[5])", agreement)
    return [int(x) for x in out.strip("[]").split(",")]


def ledger_address(stack: StackHandle) -> str:
    """The SLA contract the operator deployed on the stack's chain (its deployment file)."""
    data = json.loads((stack.state_dir / "ledger.json").read_text())
    (address,) = {v["address"] for v in data.values() if isinstance(v, dict) and "address" in v}
    return str(address)


def on_chain(stack: StackHandle, uid: str) -> bool:
    """Whether the chain holds an agreement for the SLA `uid` (get_agreement's status: 0 none), read with
    cast; False too when the operator has deployed no contract yet."""
    if not (stack.state_dir / "ledger.json").exists():
        return False
    out = cast("call", "--rpc-url", stack.chain_url, ledger_address(stack),
               "get_agreement(bytes32)(uint256,bool,uint16,uint64,uint64,address,bytes32,uint8)",
               "0x" + agreement_id(uid).hex())
    return int(out.splitlines()[0].split()[0]) != 0
