"""Helpers for the app API tests: namespaces with ServiceAccounts of given rights and their tokens,
a workload that declares a container port, and HTTP calls to the operator's API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.conftest import StackHandle
from tests.operator.conftest import apply_all, ensure_namespace, get_json, wait_for, workload


@dataclass
class AppEnv:
    """A namespace with one placed workload and tokens: `reader` (view), `editor` (edit), `stranger` (none)."""

    stack: StackHandle
    namespace: str
    name: str
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def path(self, what: str, name: str | None = None) -> str:
        return f"/apis/v1/namespaces/{self.namespace}/edgeworkloads/{name or self.name}/{what}"

    def ew(self, name: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = get_json(self.stack, "edgeworkload", name or self.name, "-n", self.namespace)
        return found


def token_for(stack: StackHandle, ns: str, account: str, role: str | None) -> str:
    """A token of ServiceAccount `account` in `ns`, bound to ClusterRole `role` there (None: no rights)."""
    stack.kubectl("create", "serviceaccount", account, "-n", ns, check=False)
    if role:
        stack.kubectl("create", "rolebinding", f"{account}-{role}", f"--clusterrole={role}",
                      f"--serviceaccount={ns}:{account}", "-n", ns, check=False)
    return stack.kubectl("create", "token", account, "-n", ns, "--duration=2h").stdout.strip()


def app_workload(name: str, ns: str, cells: dict[str, float]) -> dict[str, Any]:
    """One far-edge replica for users in `cells`, whose container serves HTTP on 8080."""
    ew = workload(name, ns, cells=cells, max_latency_ms=10, tiers=["far-edge"], cpu="100m", memory="64Mi")
    ew["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080}]
    return ew


def serving(env: AppEnv, name: str | None = None) -> dict[str, dict[str, Any]] | None:
    """The workload's status.serving by cell once it is placed for its generation and every cell is served
    by a Ready Pod with an IP; else None."""
    ew = env.ew(name)
    st = ew.get("status") or {}
    cells = [c["cell"] for c in ew["spec"]["users"]["cells"]]
    by_cell = {e["cell"]: e for e in st.get("serving") or []}
    if st.get("observedGeneration") != ew["metadata"]["generation"] or st.get("phase") != "Placed" \
            or sorted(by_cell) != sorted(cells) or not all(e.get("ready") and e.get("podIP") for e in by_cell.values()):
        return None
    return by_cell


def make_env(stack: StackHandle, ns: str, name: str, cells: dict[str, float]) -> AppEnv:
    ensure_namespace(stack, ns)
    env = AppEnv(stack, ns, name, stack.state.api_url)
    for account, role in (("reader", "view"), ("editor", "edit"), ("stranger", None)):
        env.tokens[account] = token_for(stack, ns, account, role)
    apply_all(stack, [app_workload(name, ns, cells)])
    wait_for(lambda: serving(env), 90, f"{ns}/{name} placed, each cell served by a Ready Pod")
    return env


@pytest.fixture(scope="module")
def app_env(operator: StackHandle) -> Iterator[AppEnv]:
    env = make_env(operator, "app-api", "streamer", {"cell-eixample-1": 0.9, "cell-gracia-1": 0.1})
    try:
        yield env
    finally:
        operator.kubectl("delete", "namespace", env.namespace, "--timeout=90s", check=False)


def book_body(serving: list[dict[str, Any]], version: str = "1",
              cells: dict[str, float] | None = None) -> dict[str, Any]:
    """An EdgeWorkload city/cam as the operator's watch sees it (users in `cells`, by default cell-a and
    cell-b; a container port 8080), with status.serving `serving` at resourceVersion `version`."""
    ew = workload("cam", "city", cells=cells or {"cell-a": 0.5, "cell-b": 0.5}, max_latency_ms=10)
    ew["metadata"].update(uid="u", generation=1, resourceVersion=version)
    ew["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    ew["status"] = {"serving": serving}
    return ew


def serving_entry(cell: str, pod: str, site: str, ip: str | None = None) -> dict[str, Any]:
    """A status.serving entry: `cell` served by `pod` at `site`, Ready with `ip` (none: not Ready)."""
    out = {"cell": cell, "site": site, "node": f"{site}-n1", "pod": pod, "ready": ip is not None}
    return {**out, "podIP": ip} if ip else out


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) of a Server-Sent Events stream, read line by line."""
    kind, data = "message", ""
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            yield kind, json.loads(data)
            kind, data = "message", ""
