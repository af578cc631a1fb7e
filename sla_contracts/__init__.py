"""edgeorch SLA ledger: the Vyper contract and the async web3 client around it.

Owns: the contract source and its compiled artifact, deterministic agreement and
breach ids, the one writer per signing key (the only place that counts nonces),
the embedded (eth-tester) and JSON-RPC (anvil) backends, and the anvil process.

Must not: import orchestrator, Kopf or Kubernetes, or put personal data on chain.
"""
