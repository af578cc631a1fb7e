"""The compiled contract: the shipped JSON artefact (used at run time) and its recompilation from source.

Regenerate after editing SlaLedger.vy: `python -m sla_contracts.artifact` (a test fails until you do).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "SlaLedger.vy"
ARTIFACT = HERE / "SlaLedger.json"


def compile_source(source: Path = SOURCE) -> dict[str, Any]:
    """Compile the Vyper source with the pinned compiler (slow: seconds)."""
    import vyper
    from vyper.compiler import compile_code

    text = source.read_text()
    out = compile_code(text, output_formats=["abi", "bytecode", "bytecode_runtime"])
    return {
        "contract": "SlaLedger",
        "compiler": f"vyper {vyper.__version__}",
        "source_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "bytecode_runtime": out["bytecode_runtime"],
    }


@cache
def load_artifact() -> dict[str, Any]:
    """The shipped artefact (abi, bytecode, bytecode_runtime)."""
    data: dict[str, Any] = json.loads(ARTIFACT.read_text())
    return data


def write_artifact() -> Path:
    ARTIFACT.write_text(json.dumps(compile_source(), indent=1, sort_keys=True) + "\n")
    return ARTIFACT


if __name__ == "__main__":
    print(f"wrote {write_artifact()}")
