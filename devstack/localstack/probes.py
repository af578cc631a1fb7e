"""Liveness probes of the side components over loopback HTTP (Prometheus, anvil, the exporter).

The Kubernetes API is never probed here: that goes through `orchestrator.kube`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def http_post(url: str, timeout: float = 5.0) -> bool:
    """POST with an empty body; True on a 2xx answer."""
    req = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def chain_id(url: str, timeout: float = 1.0) -> int | None:
    """The chain id a JSON-RPC node answers with, or None."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(json.loads(resp.read())["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        return None
