"""Which nodes a workload's Pod template admits: its `nodeSelector` and the required terms of its
node affinity, evaluated as the kube-scheduler does (labels, and `metadata.name` for matchFields).

Pure.  Placement only sees the result (`Workload.allowed_nodes`), so a replica is never pinned to a
node its own template rules out (before, such a Pod stayed Unschedulable).  The replica Pods keep
these rules: `orchestrator.decision.build_pod` adds its pin to every required term.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from placement import InvalidInstance

NodeTest = Callable[[Mapping[str, Any]], bool]
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def required_terms(affinity: Any) -> list[Mapping[str, Any]]:
    """The required nodeSelectorTerms of a Pod affinity ([] when it has none)."""
    if not isinstance(affinity, Mapping):
        return []
    node = affinity.get("nodeAffinity")
    if not isinstance(node, Mapping):
        return []
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, Mapping):
        return []
    terms = required.get("nodeSelectorTerms")
    return [t for t in terms if isinstance(t, Mapping)] if isinstance(terms, list) else []


def _requirement(req: Any, where: str, fields: bool) -> Callable[[Mapping[str, str]], bool]:
    if not isinstance(req, Mapping) or not isinstance(req.get("key"), str):
        raise InvalidInstance(where, "expected {key, operator, values}")
    key, op, values = req["key"], req.get("operator"), req.get("values") or []
    if op not in (("In", "NotIn") if fields else OPERATORS):
        raise InvalidInstance(f"{where}.operator", f"expected one of {', '.join(OPERATORS[:2] if fields else OPERATORS)}"
                                                   f", got {op!r}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidInstance(f"{where}.values", "expected a list of strings")
    wanted = set(values)
    if op == "In":
        return lambda labels: labels.get(key) in wanted
    if op == "NotIn":
        return lambda labels: labels.get(key) not in wanted
    if op == "Exists":
        return lambda labels: key in labels
    if op == "DoesNotExist":
        return lambda labels: key not in labels
    if len(values) != 1:
        raise InvalidInstance(f"{where}.values", f"{op} takes exactly one integer")
    try:
        bound = int(values[0])
    except ValueError:
        raise InvalidInstance(f"{where}.values", f"{op} takes an integer, got {values[0]!r}") from None

    def compare(labels: Mapping[str, str]) -> bool:
        try:
            value = int(labels[key])
        except (KeyError, ValueError):
            return False
        return value > bound if op == "Gt" else value < bound

    return compare


def _term(term: Mapping[str, Any], where: str) -> NodeTest:
    exprs = [_requirement(r, f"{where}.matchExpressions[{i}]", False)
             for i, r in enumerate(term.get("matchExpressions") or [])]
    fields = [_requirement(r, f"{where}.matchFields[{i}]", True) for i, r in enumerate(term.get("matchFields") or [])]
    for i, r in enumerate(term.get("matchFields") or []):
        if r.get("key") != "metadata.name":
            raise InvalidInstance(f"{where}.matchFields[{i}].key", f"only metadata.name is supported, got {r.get('key')!r}")
    if not exprs and not fields:
        return lambda node: False  # an empty term matches no node (as in the kube-scheduler)

    def test(node: Mapping[str, Any]) -> bool:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = {"metadata.name": meta.get("name", "")}
        return all(e(labels) for e in exprs) and all(f(name) for f in fields)

    return test


def node_test(pod_spec: Mapping[str, Any]) -> NodeTest | None:
    """A test of whether a node admits Pods of `pod_spec` (its nodeSelector and required node
    affinity), or None when the template has neither.  InvalidInstance names a malformed field."""
    base = "spec.template.spec"
    selector = pod_spec.get("nodeSelector")
    if selector is not None and (not isinstance(selector, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in selector.items())):
        raise InvalidInstance(f"{base}.nodeSelector", "expected a map of label -> value (strings)")
    terms: Sequence[NodeTest] = [_term(t, f"{base}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuring"
                                         f"Execution.nodeSelectorTerms[{i}]")
                                 for i, t in enumerate(required_terms(pod_spec.get("affinity")))]
    if not selector and not terms:
        return None
    wanted = dict(selector or {})

    def test(node: Mapping[str, Any]) -> bool:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            return False
        return not terms or any(t(node) for t in terms)

    return test


__all__ = ["NodeTest", "node_test", "required_terms"]
