"""Load-test plumbing for benchmarks on a real API server: raw HTTP on the official client (dicts in,
bytes out, no model (de)serialisation cost), namespaces, a Pod watch that records when each
workload's replicas are bound, and the CPU seconds of the stack's processes during a run.

Used by bench.operator (and bench.qos, bench.mobility); no benchmark logic of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from devstack.localstack import Stack

GROUP, VERSION = "edgeorch.io", "v1alpha1"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- raw HTTP on the official client (dicts in, bytes out: no model (de)serialisation cost) -----------
def request(api: Any, method: str, path: str, *, body: Any = None, query: list[tuple[str, str]] | None = None,
            timeout: Any = 30, stream: bool = False) -> Any:
    m, url, headers, data, post = api.param_serialize(
        method, path, query_params=query, body=body, auth_settings=["BearerToken"],
        header_params={"Content-Type": "application/json", "Accept": "application/json"})
    resp = api.call_api(m, url, header_params=headers, body=data, post_params=post, _request_timeout=timeout)
    if stream:
        return resp
    resp.read()
    return resp


def status_of(resp: Any) -> int:
    return int(resp.status)


def create(api: Any, path: str, body: dict[str, Any], attempts: int = 6) -> bool:
    """POST with retries on throttling and server/connection errors; an existing object counts."""
    for attempt in range(attempts):
        try:
            code = status_of(request(api, "POST", path, body=body))
        except Exception:  # connection reset under load: retry
            code = 0
        if 200 <= code < 300 or code == 409:
            return True
        if code and code not in (429, 500, 503, 504):
            log(f"create {path} {body['metadata']['name']}: HTTP {code}")
            return False
        time.sleep(0.05 * 2 ** attempt)
    return False


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def create_namespace(api: Any, ns: str) -> None:
    create(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    # Pods are admitted only once the namespace's default ServiceAccount exists
    wait_for(lambda: status_of(request(api, "GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")) == 200,
             60, f"the default service account of {ns}")


def _count(api: Any, path: str) -> int:
    """How many objects `path` lists (0 when the list itself is gone)."""
    resp = request(api, "GET", path, query=[("limit", "500")], timeout=60)
    if status_of(resp) == 404:
        return 0
    data = json.loads(resp.data)
    return len(data.get("items", [])) + int(data["metadata"].get("remainingItemCount") or 0)


def delete_namespace(api: Any, ns: str, timeout: float = 240) -> float:
    """Delete `ns` and wait until every Pod and EdgeWorkload in it is gone (the namespace object
    itself finishes terminating in the background: the next row uses a fresh name)."""
    t0 = time.monotonic()
    request(api, "DELETE", f"/api/v1/namespaces/{ns}")
    paths = (f"/api/v1/namespaces/{ns}/pods", f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/edgeworkloads")
    wait_for(lambda: all(_count(api, p) == 0 for p in paths), timeout, f"the Pods and EdgeWorkloads of {ns} to go",
             interval=0.5)
    return time.monotonic() - t0


# -- the bind watch -----------------------------------------------------------------------------------
@dataclass
class BindWatch:
    """Watches the Pods of one namespace; records when each workload has all its replicas bound."""

    api: Any
    namespace: str
    label: str
    expected: dict[str, int]
    bound_at: dict[str, float] = field(default_factory=dict)
    events: int = 0
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    _pods: dict[str, set[str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> BindWatch:
        rv = self._list()
        self._thread = threading.Thread(target=self._run, args=(rv,), name="bind-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(15)

    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def _list(self) -> str:
        resp = request(self.api, "GET", self._path(), timeout=60)
        data = json.loads(resp.data)
        now = time.monotonic()
        for pod in data.get("items", []):
            self._seen(pod, now)
        return str(data["metadata"]["resourceVersion"])

    def _seen(self, pod: dict[str, Any], now: float) -> None:
        meta = pod["metadata"]
        name = (meta.get("labels") or {}).get(self.label)
        if name not in self.expected or name in self.bound_at or meta.get("deletionTimestamp"):
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            return
        pods = self._pods.setdefault(name, set())
        pods.add(meta["name"])
        if len(pods) >= self.expected[name]:
            self.bound_at[name] = now
            if len(self.bound_at) == len(self.expected):
                self.done.set()

    def _run(self, rv: str) -> None:
        def seen(kind: str, obj: dict[str, Any], now: float) -> None:
            self.events += 1
            if kind in ("ADDED", "MODIFIED"):
                self._seen(obj, now)

        follow(self.api, self._path(), rv, seen, self._list, lambda: self._stop.is_set() or self.done.is_set(),
               self.errors)


def follow(api: Any, path: str, rv: str, seen: Callable[[str, dict[str, Any], float], None],
           relist: Callable[[], str], stop: Callable[[], bool], errors: list[str]) -> None:
    """Follow the watch of `path` from resourceVersion `rv` until `stop()`: every event goes to
    seen(type, object, monotonic time); an ERROR (410 Gone and friends) starts over from `relist()`,
    which returns the new version; a connection dropped under load resumes from the last version."""
    while not stop():
        try:
            resp = request(api, "GET", path, stream=True, timeout=(5, 30), query=[
                ("watch", "true"), ("resourceVersion", rv), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "20")])
            try:
                for line in iter_resp_lines(resp.response):  # type: ignore[no-untyped-call]
                    if not line:
                        continue
                    now = time.monotonic()
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        errors.append(str(obj.get("message")))
                        rv = relist()
                        break
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if event["type"] != "BOOKMARK":
                        seen(event["type"], obj, now)
                    if stop():
                        break
            finally:
                resp.response.release_conn()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.2)


# -- CPU use of the stack's processes during a row ----------------------------------------------------
COMPONENTS = ("operator", "kube-apiserver", "etcd", "kube-scheduler", "kube-controller-manager", "kwok")


def _cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of `pid` so far (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU seconds each component (and this benchmark process) spent between start() and stop()."""

    pids: dict[str, int | None]
    _start: dict[str, float | None] = field(default_factory=dict)
    _t0: float = 0.0

    def _now(self) -> dict[str, float | None]:
        t = os.times()
        return {**{n: _cpu_s(p) for n, p in self.pids.items()}, "bench client": t.user + t.system}

    def start(self) -> CpuMeter:
        self._start, self._t0 = self._now(), time.monotonic()
        return self

    def stop(self) -> dict[str, Any]:
        end, wall = self._now(), time.monotonic() - self._t0
        used = {n: round(e - b, 1) for n, e in end.items() if e is not None and (b := self._start.get(n)) is not None}
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return {"wall_s": round(wall, 1), "cpu_s": used, "loadavg_1m": round(load, 2) if load is not None else None}


# -- one row ------------------------------------------------------------------------------------------
@contextmanager
def local_stack_only() -> Iterator[None]:
    """Stack.up uses $KUBECONFIG's cluster when it answers; a benchmark wants its own local stack."""
    saved = os.environ.pop("KUBECONFIG", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["KUBECONFIG"] = saved


@contextmanager
def own_stack(prefix: str, scenario: str, state_dir: Path | None = None, *, chain: bool = True,
              keep: bool = False) -> Iterator[tuple[Any, Any]]:
    """A local stack of its own with the operator running: (Stack, StackState); always torn down,
    and its state removed unless given (`state_dir`) or `keep`."""
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(state / "stack")
    try:
        with local_stack_only():
            st = stack.up(scenario, chain=chain, log=log)
        stack.start_operator()
        yield stack, st
    finally:
        stack.down(log=log)
        if not keep and not state_dir:
            shutil.rmtree(state, ignore_errors=True)


def apiserver_requests(api: Any) -> Counter[str]:
    """kube-apiserver's request counts so far, by "VERB resource[/subresource]" (its /metrics,
    apiserver_request_total summed over codes, scopes and components); empty if unreadable."""
    out: Counter[str] = Counter()
    try:
        text = request(api, "GET", "/metrics", timeout=30).data.decode()
    except Exception:
        return out
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition("} ")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if labels.get("verb") == "WATCH":
            continue
        what = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        out[f"{labels.get('verb', '')} {what}"] += int(float(value))
    return out
