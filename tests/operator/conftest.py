"""Helpers for the operator tests: building EdgeWorkloads, waiting, reading objects."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import StackHandle


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {str(last)[:500]}")


def get_json(stack: StackHandle, *args: str) -> Any:
    return json.loads(stack.kubectl("get", *args, "-o", "json").stdout)


def workload(name: str, namespace: str, *, replicas: int = 1, cells: dict[str, float], max_latency_ms: float,
             tiers: list[str] | None = None, zones: list[str] | None = None, cpu: str = "250m",
             memory: str = "128Mi", max_per_node: int | None = None) -> dict[str, Any]:
    placement: dict[str, Any] = {}
    if tiers:
        placement["allowedTiers"] = tiers
    if zones:
        placement["allowedZones"] = zones
    if max_per_node:
        placement["maxPerNode"] = max_per_node
    return {
        "apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:1"}]}},
            "resources": {"cpu": cpu, "memory": memory},
            "users": {"cells": [{"cell": c, "share": s} for c, s in cells.items()]},
            "qos": {"maxLatencyMs": max_latency_ms},
            "placement": placement,
        },
    }


def apply_all(stack: StackHandle, docs: list[dict[str, Any]]) -> None:
    stack.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


def ensure_namespace(stack: StackHandle, name: str) -> None:
    stack.kubectl("create", "namespace", name, check=False)


@contextmanager
def own_namespace(stack: StackHandle, ns: str) -> Iterator[str]:
    """A namespace for one test, deleted afterwards (its workloads' capacity is free for the next tests)."""
    ensure_namespace(stack, ns)
    try:
        yield ns
    finally:
        stack.kubectl("delete", "namespace", ns, "--timeout=90s", check=False)


def live_pods(stack: StackHandle, ns: str) -> list[dict[str, Any]]:
    """The namespace's Pods that are not terminating."""
    return [p for p in get_json(stack, "pods", "-n", ns)["items"] if not p["metadata"].get("deletionTimestamp")]
