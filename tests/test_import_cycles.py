"""Every module of the layers imports on its own, first (an import cycle shows only when the
cycle's modules are imported in one order: the operator's order hid one, tests' could not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "placement", "sla_contracts", "sim", "devstack")

CHECK = """
import importlib, sys, traceback
from prometheus_client import REGISTRY
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in {packages!r}]:
        del sys.modules[loaded]
    for collector in list(REGISTRY._collector_to_names):  # (a module imported again registers its metrics again)
        REGISTRY.unregister(collector)
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_every_module_imports_first() -> None:
    modules = _modules()
    assert len(modules) > 50, modules
    proc = subprocess.run([sys.executable, "-c", CHECK.format(packages=set(PACKAGES)), *modules], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"modules that fail to import first:\n{proc.stdout}{proc.stderr[-2000:]}"
