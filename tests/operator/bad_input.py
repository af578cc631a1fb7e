"""EdgeWorkloads a tenant can get wrong (from the chaos run of issue #25): each mutation takes a
valid workload and breaks one field, the way a typo or a wrong guess of the Pod API would."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Mutation = Callable[[dict[str, Any]], None]


def _container(w: dict[str, Any]) -> dict[str, Any]:
    return w["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def _pod(w: dict[str, Any]) -> dict[str, Any]:
    return w["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _deep_affinity(w: dict[str, Any]) -> None:
    deep: Any = [{"key": "edgeorch.io/site", "operator": "Exists"}]
    for _ in range(250):  # 500 levels of JSON (a list and a map each)
        deep = [{"matchExpressions": deep}]
    _pod(w)["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": deep}}}


def _deep_preference(w: dict[str, Any]) -> None:
    """Deep where the solver does not look (a preferred term): the Pod is built of it."""
    deep: Any = "x"
    for _ in range(250):
        deep = [{"values": deep}]
    _pod(w)["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": deep}}


def _set(path: str, value: Any) -> Mutation:
    def mutate(w: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = w
        for p in parents:
            target = target[p]
        target[last] = value
    return mutate


BAD: dict[str, Mutation] = {
    "cpu-1e18": _set("spec.resources.cpu", "1e18"),
    "cpu-twenty-nines": _set("spec.resources.cpu", "99999999999999999999"),
    "memory-1e18": _set("spec.resources.memory", "1e18"),
    "memory-twenty-nines": _set("spec.resources.memory", "99999999999999999999"),
    "env-map": lambda w: _container(w).__setitem__("env", {"MODE": "fast"}),
    "bad-emptydir": lambda w: _pod(w).__setitem__("volumes", [{"name": "scratch", "emptyDir": {"sizeLimit": "lots"}}]),
    "numeric-toleration-key": lambda w: _pod(w).__setitem__("tolerations", [{"key": 42, "operator": "Exists"}]),
    "tolerations-a-map": lambda w: _pod(w).__setitem__("tolerations", {"key": "gpu", "operator": "Exists"}),
    "overhead": lambda w: _pod(w).__setitem__("overhead", {"cpu": "250m"}),
    "duplicate-containers": lambda w: _pod(w)["containers"].append(copy.deepcopy(_container(w))),
    "unicode-label": lambda w: w["spec"]["template"]["metadata"]["labels"].__setitem__("app", "càmera"),
    "hostnetwork-yes": lambda w: _pod(w).__setitem__("hostNetwork", "yes"),
    "deep-node-affinity": _deep_affinity,
    "deep-preferred-affinity": _deep_preference,
    "pull-policy-sometimes": lambda w: _container(w).__setitem__("imagePullPolicy", "Sometimes"),
    "port-out-of-range": lambda w: _container(w).__setitem__("ports", [{"containerPort": 70000}]),
    "mount-without-volume": lambda w: _container(w).__setitem__("volumeMounts", [{"name": "nope", "mountPath": "/x"}]),
}
"""Name -> how it breaks a valid workload (the fifteen of the issue, a deep affinity the solver does not
read, and tolerations the replica Pod cannot be built with)."""


def broken(valid: dict[str, Any], name: str) -> dict[str, Any]:
    """`valid` (a workload manifest) renamed to `name` and broken by mutation `name`."""
    out = copy.deepcopy(valid)
    out["metadata"]["name"] = name
    out["spec"]["template"]["metadata"]["labels"]["app"] = name
    BAD[name](out)
    return out
