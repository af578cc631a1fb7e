"""Pure builders from a placement decision to Kubernetes objects: replica Pods pinned to their
nodes (which Pods to make and delete when is orchestrator.rollout's).

A replica Pod's name is derived from (workload, node, index on that node), so creating it twice is
a harmless conflict and a restarted operator finds what it already created.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.resources import EdgeWorkloadSpec
from orchestrator.selectors import required_terms
from orchestrator.snapshot import operator_tolerations
from orchestrator.vocabulary import (
    DECISION_ANNOTATION,
    EDGEWORKLOAD,
    GROUP_VERSION,
    NODE_LABEL,
    SITE_LABEL,
    TEMPLATE_HASH_LABEL,
    WORKLOAD_LABEL,
    priority_class,
)

MANAGED_BY = {"app.kubernetes.io/managed-by": "edgeorch"}


def decision_id(key: str, nodes: Sequence[str]) -> str:
    """A stable id of 'workload `key` runs on these nodes' (order of replicas does not matter)."""
    text = key + "\0" + "\0".join(sorted(nodes))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def pod_name(workload: str, node: str, index: int) -> str:
    """`<workload>-<hash of node>-<index>`, at most 63 characters."""
    return f"{workload[:48]}-{_short(node)}-{index}"


BINDINGS = ("scheduler", "direct")
"""How replica Pods reach their node.  `scheduler`: the kube-scheduler binds them (it re-checks
capacity against every Pod on the node, also those edgeorch does not manage).  `direct`: the Pod is
created with spec.nodeName set as well, so no scheduler round trip (no Binding, no Scheduled Event);
the kubelet's admission is then the only check against Pods edgeorch does not know of."""


def pinned_affinity(affinity: Any, node: str) -> dict[str, Any]:
    """The template's affinity with the Pod pinned to `node`: the pin joins every required node term
    of the template (terms are ORed, a term's requirements ANDed), and the rest is kept as it is."""
    pin = {"key": "metadata.name", "operator": "In", "values": [node]}
    out: dict[str, Any] = copy.deepcopy(dict(affinity)) if isinstance(affinity, Mapping) else {}
    terms = required_terms(out)
    pinned = [{**t, "matchFields": [*(t.get("matchFields") or []), pin]} for t in terms] or [{"matchFields": [pin]}]
    node_affinity = dict(out.get("nodeAffinity") or {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": pinned}
    out["nodeAffinity"] = node_affinity
    return out


def build_pod(
    owner: Mapping[str, Any], spec: EdgeWorkloadSpec, node: str, index: int, site: str, decision: str,
    *, binding: str = "scheduler", version: str = "",
) -> dict[str, Any]:
    """A replica Pod pinned to `node` by required node affinity, owned by the EdgeWorkload (and
    bound to it at creation with `binding="direct"`, see BINDINGS)."""
    meta = owner["metadata"]
    name = meta["name"]
    tmpl = spec.template.model_dump(by_alias=True, exclude_none=True)
    pod_spec: dict[str, Any] = copy.deepcopy(tmpl["spec"])
    labels = {**tmpl.get("metadata", {}).get("labels", {}), **MANAGED_BY,
              WORKLOAD_LABEL: name, NODE_LABEL: node[:63], SITE_LABEL: site}
    if version:
        labels[TEMPLATE_HASH_LABEL] = version
    annotations = {**tmpl.get("metadata", {}).get("annotations", {}), DECISION_ANNOTATION: decision}
    if not any((c.get("resources") or {}).get("requests") for c in pod_spec["containers"]):
        requests = {"cpu": str(spec.resources.cpu), "memory": str(spec.resources.memory)}
        if spec.resources.gpu:
            requests["nvidia.com/gpu"] = str(spec.resources.gpu)
        resources = pod_spec["containers"][0].setdefault("resources", {})
        resources["requests"] = requests
        if spec.resources.gpu:  # an extended resource is never overcommitted: the API wants limit == request
            resources["limits"] = {**(resources.get("limits") or {}), "nvidia.com/gpu": str(spec.resources.gpu)}
    pod_spec["affinity"] = pinned_affinity(pod_spec.get("affinity"), node)
    tolerations = list(pod_spec.get("tolerations") or [])
    for added in operator_tolerations(spec):
        if not any(t.get("key") == added["key"] for t in tolerations):
            tolerations.append(added)
    pod_spec["tolerations"] = tolerations
    if not pod_spec.get("priorityClassName"):  # the template's own class wins
        pod_spec["priorityClassName"] = priority_class(spec.priority)
    if binding == "direct":
        pod_spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(name, node, index),
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": owner.get("apiVersion", GROUP_VERSION),
                "kind": owner.get("kind", EDGEWORKLOAD),
                "name": name,
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }],
        },
        "spec": pod_spec,
    }
