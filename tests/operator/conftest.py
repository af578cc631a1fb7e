"""Helpers for the operator tests: building EdgeWorkloads, waiting, reading objects."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
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


def placed_ready(stack: StackHandle, ns: str, name: str, replicas: int) -> dict[str, Any] | None:
    """The workload's status once its `replicas` Pods run where it says, all Ready."""
    st = get_json(stack, "edgeworkload", name, "-n", ns).get("status") or {}
    pods = [p for p in live_pods(stack, ns) if p["metadata"]["labels"].get("edgeorch.io/workload") == name]
    ready = [p for p in pods if pod_ready(p)]
    nodes = sorted(p["spec"].get("nodeName") or "" for p in ready)
    if st.get("phase") != "Placed" or len(pods) != replicas or len(ready) != replicas \
            or nodes != sorted(p["node"] for p in st.get("placements") or []):
        return None
    return {**st, "podNodes": nodes}


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """Ready and not terminating (a Pod being deleted serves no one we count on)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    return not meta.get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


class KubectlWatch:
    """`kubectl get ARGS --watch -o json` in the background: `on_object` gets every object (or watch
    event, with `--output-watch-events` among ARGS) as it is printed; `stop()` ends it."""

    def __init__(self, stack: StackHandle, args: list[str], on_object: Callable[[dict[str, Any]], None]) -> None:
        from devstack.localstack.tools import k8s_binary

        self._on = on_object
        self._proc = subprocess.Popen([str(k8s_binary("kubectl")), f"--kubeconfig={stack.kubeconfig}", "get", *args,
                                       "--watch", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in self._proc.stdout:
            buffer += line
            try:
                obj, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue  # an object printed over several lines: not complete yet
            buffer = buffer.lstrip()[end:]
            self._on(obj)

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._thread.join(10)


class WatchLost(Exception):
    """The API server ended the watch with an error (events between were lost)."""


class ReadyWatch:
    """Follows a namespace's Pods through a watch (every state change, not samples): the fewest
    Ready Pods seen after the first listing, and every Pod name seen per image of its first
    container.  Use as a context manager around the change under test."""

    def __init__(self, stack: StackHandle, ns: str) -> None:
        from kubernetes import client, watch

        from orchestrator.kube.sync import api_client

        self._core = client.CoreV1Api(api_client(stack.kubeconfig))
        self._watch = watch.Watch()
        self.ns = ns
        self.min_ready = 10**9
        self.events = 0
        self.names: dict[str, set[str]] = {}
        self._pods: dict[str, dict[str, Any]] = {}
        self.error: Exception | None = None
        self.log: list[str] = []  # every change seen, with the Ready count after it (for failure messages)
        self._listed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _see(self, pod: dict[str, Any], deleted: bool = False) -> None:
        name = pod["metadata"]["name"]
        if deleted:
            self._pods.pop(name, None)
        else:
            self._pods[name] = pod
            self.names.setdefault(pod["spec"]["containers"][0]["image"], set()).add(name)
        ready = sum(1 for p in self._pods.values() if pod_ready(p))
        if self._listed.is_set():  # (a listing is seen one Pod at a time: counted once it is whole)
            self.min_ready = min(self.min_ready, ready)
        self.log.append(f"{time.monotonic():.2f} {'DELETED' if deleted else 'seen'} {name} "
                        f"{pod['spec']['containers'][0]['image'].rsplit('/', 1)[-1]} ready={pod_ready(pod)} "
                        f"terminating={bool(pod['metadata'].get('deletionTimestamp'))} -> {ready} Ready")

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # said in __exit__: a watch that stopped proves nothing
            self.error = exc

    def _follow(self) -> None:
        listing = self._core.list_namespaced_pod(self.ns, _preload_content=False)
        body = json.loads(listing.data)
        for pod in body["items"]:
            self._see(pod)
        version = body["metadata"]["resourceVersion"]
        self._listed.set()
        self.min_ready = sum(1 for p in self._pods.values() if pod_ready(p))
        while not self._stop.is_set():
            try:
                for ev in self._watch.stream(self._core.list_namespaced_pod, self.ns, resource_version=version,
                                             timeout_seconds=5, allow_watch_bookmarks=True):
                    obj = ev["raw_object"]
                    if ev["type"] == "ERROR":  # 410 Gone: events were lost, so the count would be unproven
                        raise WatchLost(f"pod watch ended: {obj}")
                    version = obj["metadata"]["resourceVersion"]
                    if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self.events += 1
                        self._see(obj, deleted=ev["type"] == "DELETED")
                    if self._stop.is_set():
                        return
            except WatchLost:
                raise
            except Exception:  # the connection dropped: resume from the last version, nothing is missed
                if self._stop.is_set():
                    return
                time.sleep(0.2)

    def __enter__(self) -> ReadyWatch:
        self._thread.start()
        if not self._listed.wait(30):
            raise AssertionError(f"the pod watch did not list the namespace: {self.error}")
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._watch.stop()
        self._thread.join(10)
        if self.error is not None:
            raise AssertionError(f"the pod watch failed, so the Ready count is unproven: {self.error}")
