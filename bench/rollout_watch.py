"""A Pod watch for bench.rollout: per workload (a label's value), its live Pods' image and readiness;
when each workload's rollout finished, and the fewest Ready replicas any rolling workload had."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.kubeload import follow, request

ImageOf = Callable[[str, int], str]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class RolloutWatch:
    """Follows one namespace's Pods.  `expected`: workload -> replicas.  After `expect(image_of, v)`,
    a workload whose patch was noted (`patched`) is finished the first moment exactly its replicas
    are live (not terminating), all on image_of(name, v) and all Ready."""

    def __init__(self, api: Any, namespace: str, label: str, expected: dict[str, int]) -> None:
        self.api, self.namespace, self.label, self.expected = api, namespace, label, expected
        self.pods: dict[str, dict[str, tuple[str, bool]]] = {n: {} for n in expected}  # name -> pod -> (image, ready)
        self.patched_at: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.min_ready = 10**9
        self.min_ready_of = ""  # the workload that had the fewest
        self.trace: dict[str, list[str]] = {}  # workload -> its Pods after each change during its rollout
        self.errors: list[str] = []
        self.done = threading.Event()
        self._target: tuple[ImageOf, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the benchmark asks ----------------------------------------------------------------------
    def start(self) -> RolloutWatch:
        rv = self._list()
        self._thread = threading.Thread(target=self._run, args=(rv,), name="rollout-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    def settled(self, image_of: ImageOf, version: int) -> bool:
        with self._lock:
            return all(self._complete(n, image_of(n, version)) for n in self.expected)

    def wait_settled(self, image_of: ImageOf, version: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.settled(image_of, version):
            if time.monotonic() > deadline:
                late = [n for n in self.expected if not self._complete(n, image_of(n, version))]
                raise TimeoutError(f"{len(late)} workloads not Ready at version {version} after {timeout:.0f} s, "
                                   f"e.g. {late[:3]}: {[self.pods[n] for n in late[:3]]}")
            time.sleep(0.25)

    def expect(self, image_of: ImageOf, version: int) -> None:
        with self._lock:
            self._target = (image_of, version)
            self.finished.clear()
            self.done.clear()

    def patched(self, name: str, t: float) -> None:
        with self._lock:
            self.patched_at[name] = t

    # -- the watch ------------------------------------------------------------------------------------
    def _complete(self, name: str, image: str) -> bool:
        pods = self.pods[name].values()
        return len(pods) == self.expected[name] and all(i == image and r for i, r in pods)

    def _seen(self, event: str, pod: dict[str, Any], now: float, *, listing: bool = False) -> None:
        meta = pod["metadata"]
        name = (meta.get("labels") or {}).get(self.label)
        if name not in self.expected:
            return
        with self._lock:
            if event == "DELETED" or meta.get("deletionTimestamp"):
                self.pods[name].pop(meta["name"], None)
            else:
                self.pods[name][meta["name"]] = (pod["spec"]["containers"][0]["image"], _ready(pod))
            if not listing:
                self._count(name, now)

    def _count(self, name: str, now: float) -> None:
        """After a change of workload `name`'s Pods (the lock held): its Ready count, and whether it finished."""
        if self._target is None or name not in self.patched_at or name in self.finished:
            return
        ready = sum(1 for _, r in self.pods[name].values() if r)
        self.trace.setdefault(name, []).append(f"{now - self.patched_at[name]:.2f}s {ready} Ready "
                                              f"{sorted(self.pods[name].items())}")
        if ready < self.min_ready:
            self.min_ready, self.min_ready_of = ready, name
        image_of, version = self._target
        if self._complete(name, image_of(name, version)):
            self.finished[name] = now
            if len(self.finished) == len(self.expected):
                self.done.set()

    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def _list(self) -> str:
        data = json.loads(request(self.api, "GET", self._path(), timeout=60).data)
        now = time.monotonic()
        with self._lock:
            for pods in self.pods.values():
                pods.clear()
        for pod in data.get("items", []):
            self._seen("ADDED", pod, now, listing=True)
        with self._lock:  # counted once the listing is whole (a relist after 410 Gone)
            for name in self.expected:
                self._count(name, now)
        return str(data["metadata"]["resourceVersion"])

    def _run(self, rv: str) -> None:
        follow(self.api, self._path(), rv, self._seen, self._list, self._stop.is_set, self.errors)
