"""`coordination.k8s.io/v1` Leases, for leader election (orchestrator.leader), with the blocking client.

The elector runs in a thread of its own so that a busy event loop can never delay a renewal; every
call takes a timeout (the time left before the renewal deadline), and an update carries the
resourceVersion it read, so two candidates that race for the same Lease cannot both win (the loser
gets KubeConflict).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from orchestrator.kube.errors import KubeNotFound
from orchestrator.kube.sync import api_client, call


def lease_client(kubeconfig: Path | None, user_agent: str) -> Any:
    """An ApiClient for the elector: in a Pod its service account, else `kubeconfig` ($KUBECONFIG)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        cfg = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.retries = False
        api = k8s.ApiClient(cfg)
    else:
        api = api_client(kubeconfig, pool=2)
    api.user_agent = user_agent
    return api


class Leases:
    """Read, create and update one namespace's Leases (plain dicts in, plain dicts out)."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self._co = k8s.CoordinationV1Api(api)

    def read(self, name: str, timeout: float) -> dict[str, Any] | None:
        """The Lease, or None when there is none."""
        try:
            out = call(self._co.read_namespaced_lease, name, self.namespace, _request_timeout=timeout)
        except KubeNotFound:
            return None
        return self._plain(out)

    def create(self, name: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Create the Lease (KubeConflict: another candidate created it first)."""
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": self.namespace}, "spec": spec}
        return self._plain(call(self._co.create_namespaced_lease, self.namespace, body, _request_timeout=timeout))

    def update(self, name: str, resource_version: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Replace the Lease's spec if it is still at `resource_version` (KubeConflict: it changed since)."""
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": self.namespace, "resourceVersion": resource_version},
                "spec": spec}
        return self._plain(call(self._co.replace_namespaced_lease, name, self.namespace, body,
                                _request_timeout=timeout))

    def _plain(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return out

    def close(self) -> None:
        self.api.close()
