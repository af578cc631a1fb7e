"""Where the stack's programs are: the Go-built Kubernetes binaries, Prometheus (and promtool) and anvil.

A missing program is one clear error that says what to install or which script to run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_HINT = "run `bash scripts/setup.sh` (or `make test` / `make run`, which call it)"
K8S_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")


class MissingTool(RuntimeError):
    """A program the stack needs is not installed."""


def pinned_versions() -> dict[str, str]:
    """The pins of deploy/local/versions.env (KEY=VALUE lines)."""
    path = REPO_ROOT / "deploy" / "local" / "versions.env"
    try:
        text = path.read_text()
    except OSError as exc:
        raise MissingTool(f"cannot read the version pins {path}: {exc}") from exc
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip().strip('"')
    return pins


def k8s_bin_dir() -> Path:
    """The cache folder holding the pinned Kubernetes, etcd and kwok binaries."""
    override = os.environ.get("EDGEORCH_BIN_DIR")
    if override:
        base = Path(override)
    else:
        pins = pinned_versions()
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgeorch" / "bin"
        base = cache / f"k8s-{pins['K8S_VERSION']}_etcd-{pins['ETCD_VERSION']}_kwok-{pins['KWOK_VERSION']}"
    missing = [b for b in K8S_BINARIES if not os.access(base / b, os.X_OK)]
    if missing:
        raise MissingTool(
            f"missing {', '.join(missing)} in {base}: {SETUP_HINT} "
            "(it builds them from the Go module proxy; needs `go`, https://go.dev/dl/)"
        )
    return base


def k8s_binary(name: str) -> Path:
    return k8s_bin_dir() / name


def prometheus_binary() -> Path:
    found = os.environ.get("EDGEORCH_PROMETHEUS") or shutil.which("prometheus")
    if not found:
        raise MissingTool(f"prometheus is not installed: `apt-get install prometheus`, or {SETUP_HINT}")
    return Path(found)


def promtool_binary() -> Path:
    """promtool (checks and unit-tests Prometheus rules): $EDGEORCH_PROMTOOL, the PATH, or next to prometheus."""
    found = os.environ.get("EDGEORCH_PROMTOOL") or shutil.which("promtool")
    if found:
        return Path(found)
    beside = prometheus_binary().resolve().parent / "promtool"
    if not os.access(beside, os.X_OK):
        raise MissingTool(f"promtool is not installed (Debian's prometheus package has it): {SETUP_HINT}")
    return beside


def npm_tool(package: str, name: str) -> Path:
    """A binary from the project-local npm folder (.tools/npm)."""
    env_key = f"EDGEORCH_{name.upper()}"
    override = os.environ.get(env_key)
    path = Path(override) if override else (
        REPO_ROOT / ".tools" / "npm" / "node_modules" / "@foundry-rs" / package / "bin" / name
    )
    if not os.access(path, os.X_OK):
        raise MissingTool(f"{name} not found at {path}: {SETUP_HINT} (npm install of @foundry-rs/{package})")
    return path
