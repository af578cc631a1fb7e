"""Where the contract is deployed: `<state_dir>/ledger.json`, keyed by chain id and genesis hash.

An entry is trusted only if the code at its address is the shipped runtime bytecode.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEPLOYMENT_FILE = "ledger.json"


def default_state_dir() -> Path:
    """$EDGEORCH_STATE_DIR, else the local stack's ~/.local/state/edgeorch/stack (next to anvil's state)."""
    env = os.environ.get("EDGEORCH_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "edgeorch" / "stack"


def chain_key(chain_id: int, genesis_hash: str) -> str:
    return f"{chain_id}:{genesis_hash.lower()}"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_deployment(state_dir: Path, chain_id: int, genesis_hash: str) -> dict[str, Any] | None:
    """The recorded deployment on this chain ({"address", "block", "tx_hash"}), or None."""
    entry = _read(state_dir / DEPLOYMENT_FILE).get(chain_key(chain_id, genesis_hash))
    return entry if isinstance(entry, dict) and isinstance(entry.get("address"), str) else None


def save_deployment(state_dir: Path, chain_id: int, genesis_hash: str, entry: dict[str, Any]) -> Path:
    """Record (atomically) the deployment of this chain, keeping those of other chains."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / DEPLOYMENT_FILE
    data = _read(path)
    data[chain_key(chain_id, genesis_hash)] = entry
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
