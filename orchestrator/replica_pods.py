"""Writes of replica Pods: create a rollout step's Pods (where their node has room now), and delete
Pods only if they are still the Pod seen.

Called by orchestrator.workloads (the workload controller's reconciliation, the one writer of replica
Pods); it decides nothing about where replicas go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.kube.aio import AsyncKube
from orchestrator.kube.errors import KubeError, KubeForbidden, KubeInvalid
from orchestrator.rollout import PodState
from orchestrator.snapshot import Reserved, fits, pod_requests
from orchestrator.vocabulary import NODE_LABEL, Reason

if TYPE_CHECKING:  # (orchestrator.engine imports the workloads module, which imports this one)
    from orchestrator.engine import PlacementEngine

TEMPLATE_ERRORS = (ValueError, TypeError, AttributeError, RecursionError)
"""What building a replica Pod raises on a template of the wrong shape (a string where a list is
expected, nesting deeper than Python recurses, ...): the tenant's mistake, said in the status."""
FORBIDDEN_RETRY_S = 30.0  # a Pod refused by admission (quota, RBAC, policy): that may change


def with_room(engine: PlacementEngine, creates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The replica Pods of a rollout step that fit on their node now, as the kube-scheduler counts
    room (every Pod there, terminating ones too), and the nodes where the others wait for room (a Pod
    of this workload still going, say): created there, they would be refused and sit Pending."""
    room: dict[str, Reserved | None] = {}
    keep, crowded = [], []
    for pod in creates:
        need = pod_requests(pod["spec"])
        node = pod["metadata"]["labels"][NODE_LABEL]
        if node not in room:
            room[node] = engine.room(node)
        left = room[node]
        if left is None or fits(need, left):
            keep.append(pod)
            if left is not None:
                room[node] = Reserved(left.cpu_m - need.cpu_m, left.memory_mb - need.memory_mb, left.gpu - need.gpu,
                                      left.pods - need.pods)
        else:
            crowded.append(node)
    return keep, sorted(set(crowded))


async def create(kube: AsyncKube, namespace: str, pods: list[dict[str, Any]]) -> tuple[str, str, float | None] | None:
    """Create the replica Pods.  When the API server refuses them (422/400: the Pod API rejects the
    template; 403: an admission plugin or RBAC does), the ones made now are deleted again and the
    refusal is returned as (reason, message, retry after); any other error raises."""
    results = await asyncio.gather(*(kube.create_pod(p) for p in pods), return_exceptions=True)
    refusals = [r for r in results if isinstance(r, KubeInvalid | KubeForbidden)]
    if not refusals:
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return None
    made = [p["metadata"]["name"] for p, r in zip(pods, results, strict=True) if r is True]
    await asyncio.gather(*(kube.delete_pod(namespace, name) for name in made))
    first: KubeError = refusals[0]
    if isinstance(first, KubeInvalid):  # the same template is refused again: wait for a new generation
        return Reason.INVALID_TEMPLATE, f"the Pod API rejected the template: {first}", None
    return Reason.POD_FORBIDDEN, f"the API server refused the replica Pod: {first}", FORBIDDEN_RETRY_S


async def delete(kube: AsyncKube, namespace: str, names: Iterable[str], pods: Mapping[str, PodState]) -> None:
    """Delete replica Pods `names`, each only if it is still the Pod seen (`pods`: its uid): names
    are reused across versions and moves, so a delete decided on a view that is behind never hits
    the Pod that took the name since."""
    await asyncio.gather(*(kube.delete_pod(namespace, n, pods[n].uid if n in pods else "") for n in names))
