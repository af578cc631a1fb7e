"""The machine a benchmark ran on, recorded next to every result (house rule: state the machine).

`machine()` returns plain JSON-able data: CPU model, logical cores, load average at the start (the
benchmarks share the host with whatever else runs), OS, Python, and, given an API client, the
Kubernetes server version the benchmark talked to.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine(api: Any = None, *, packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Where and with what a benchmark ran; `api` (a kubernetes ApiClient) adds the server version."""
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 0,
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    if api is not None:
        from kubernetes import client as k8s

        try:
            info["kubernetes"] = str(k8s.VersionApi(api).get_code(_request_timeout=5).git_version)
        except Exception as exc:  # the version is informative; never fail a benchmark over it
            info["kubernetes"] = f"unknown ({type(exc).__name__})"
    if packages:
        info["packages"] = {name: _package_version(name) for name in packages}
    return info


def describe(info: dict[str, Any]) -> str:
    """One line for the printed report."""
    parts = [f"{info['cpu_model']}, {info['cores']} cores", f"load {info.get('loadavg_1m')}",
             info["os"], f"Python {info['python']}"]
    if "kubernetes" in info:
        parts.append(f"Kubernetes {info['kubernetes']}")
    parts += [f"{k} {v}" for k, v in (info.get("packages") or {}).items()]
    return "; ".join(parts)


__all__ = ["cpu_model", "describe", "machine"]
