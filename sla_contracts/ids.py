"""Deterministic identifiers and hashes: the same inputs give the same ids off chain and on chain."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

from sla_contracts.errors import LedgerInputError


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace, UTF-8 (the form that `terms_hash` hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def terms_hash(spec: Mapping[str, Any]) -> bytes:
    """keccak256 of the canonical JSON of an SLA spec (the `spec` dict as stored in Kubernetes)."""
    if not isinstance(spec, Mapping):
        raise LedgerInputError(f"spec: must be a mapping, got {type(spec).__name__}")
    return keccak(canonical_json(dict(spec)))


def agreement_id(uid: str) -> bytes:
    """keccak256 of the SLA object's uid (metadata.uid)."""
    if not isinstance(uid, str) or not uid:
        raise LedgerInputError("uid: must be a non-empty string")
    return keccak(text=uid)


def name_ref(name: str) -> bytes:
    """A pseudonymous 32-byte reference of a name (consumer, provider, workload): keccak256 of it."""
    return keccak(text=name)


def metric_id(metric: str) -> bytes:
    """The on-chain id of an objective's metric: keccak256 of the metric expression."""
    return keccak(text=metric)


def breach_id(chain_id: int, contract: str | bytes, agreement: bytes, objective: int, window_start: int) -> bytes:
    """keccak256(abi.encode(chain id, contract, agreement id, objective index, window start)), as the contract."""
    return keccak(encode(
        ["uint256", "address", "bytes32", "uint8", "uint64"],
        [chain_id, to_canonical_address(contract), agreement, objective, window_start],
    ))
