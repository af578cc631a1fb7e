"""The one place that talks to the Kubernetes API and owns its error handling.

`errors` turns the clients' exceptions (the official `kubernetes` client and its asyncio twin)
into a few domain errors (not found, conflict, invalid, forbidden, unavailable); `sync` is the
blocking client used by the CLI and the local stack.  Nothing else in edgeorch imports a
Kubernetes client.  This package holds no placement or SLA logic.
"""

from orchestrator.kube.errors import (
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
    classify,
)

__all__ = [
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnavailable",
    "classify",
]
