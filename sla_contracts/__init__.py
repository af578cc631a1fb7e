"""edgeorch SLA ledger: the Vyper contract and the async web3 client around it.

Owns: the contract source and its compiled artifact, deterministic agreement and
breach ids, the one writer per signing key (the only place that counts nonces),
the embedded (eth-tester) and JSON-RPC (anvil) backends, and the anvil process.

Must not: import orchestrator, Kopf or Kubernetes, or put personal data on chain.

Modules:
    SlaLedger.vy / SlaLedger.json  the contract and its compiled artefact (artifact.py rebuilds and checks it)
    model       typed records (AgreementTerms, Objective, Breach, Migration, Resize, results) and input validation
    ids         agreement_id(uid), breach_id(...), terms_hash(spec), name_ref, metric_id
    writer      KeyWriter: one per signing key, owns its nonce; reverts become LedgerRevert
    backends    embedded (eth-tester on one worker thread) and JSON-RPC AsyncWeb3; LedgerKeys
    deployment  <state_dir>/ledger.json: the contract address per chain id + genesis hash
    config      LedgerConfig: the operator's chain, keys (files), contract and chain id, from its environment
    ledger      Ledger and open_ledger()
    terms       ledger terms from a Kubernetes SLA spec; verify_terms()
    anvil       find_anvil(), find_cast(), AnvilProcess, wait_for_rpc(), free_port()

The client API is re-exported here lazily, so `import sla_contracts.anvil` stays light.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "open_ledger": "ledger", "Ledger": "ledger",
    "LedgerKeys": "backends", "LedgerConfig": "config",
    "LedgerError": "errors", "LedgerInputError": "errors", "LedgerRevert": "errors",
    "LedgerUnavailable": "errors", "LedgerConfigError": "errors", "NoContract": "errors", "ToolMissing": "errors",
    "UnknownAgreement": "writer",
    "agreement_id": "ids", "breach_id": "ids", "terms_hash": "ids", "name_ref": "ids", "metric_id": "ids",
    "AgreementTerms": "model", "Objective": "model", "Breach": "model", "Migration": "model", "Resize": "model",
    "Severity": "model", "Comparator": "model", "AgreementStatus": "model", "AgreementInfo": "model",
    "TxReceiptInfo": "model", "WriteResult": "model", "WriteStatus": "model", "BatchResult": "model",
    "LedgerEvent": "model",
    "verify_terms": "terms", "VerifyResult": "terms", "terms_from_spec": "terms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sla_contracts' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"sla_contracts.{module}"), name)
