"""Fill a fresh cluster: edgeorch's CRDs, its namespace, its RBAC (deploy/rbac: the operator's roles and
the tenant roles aggregated into admin/edit/view), the simulated city's Nodes, EdgeSites and RadioCells.

Applied with server-side apply, so running it again changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from devstack.localstack.tools import REPO_ROOT
from orchestrator.kube.errors import KubeError, KubeNotFound
from orchestrator.kube.sync import Applier, call, crds_established, nodes_by_readiness, session, wait_until
from sim.nodes import cell_manifests, node_manifests, site_manifests
from sim.scenario import load_scenario

CRD_DIR = REPO_ROOT / "deploy" / "crds"
RBAC_DIR = REPO_ROOT / "deploy" / "rbac"
OPERATOR_ACCOUNT = REPO_ROOT / "deploy" / "operator" / "serviceaccount.yaml"  # the identity the RBAC is bound to
NAMESPACE = "edgeorch-system"


def crd_manifests(crd_dir: Path = CRD_DIR) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(crd_dir.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return [d for d in docs if d.get("kind") == "CustomResourceDefinition"]


def rbac_manifests(rbac_dir: Path = RBAC_DIR) -> list[dict[str, Any]]:
    """The objects of deploy/rbac's kustomization (the files it lists, in order)."""
    kustomization = yaml.safe_load((rbac_dir / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization.get("resources") or []:
        docs.extend(d for d in yaml.safe_load_all((rbac_dir / name).read_text()) if d)
    return docs


def populate(kubeconfig: Path, scenario: str, *, simulated_nodes: bool, log: Callable[[str], None]) -> dict[str, int]:
    """Apply CRDs, the namespace, RBAC, Nodes (kwok), EdgeSites and RadioCells; wait until the Nodes are Ready."""
    city = load_scenario(scenario)
    with session(kubeconfig) as api:
        applier = Applier(api)
        applier.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        crds = crd_manifests()
        if crds:
            applier.apply_all(crds, parallel=1)
            wait_until(lambda: crds_established(api, [c["metadata"]["name"] for c in crds]), 30,
                       "edgeorch's CRDs to be established")
            applier.invalidate()
        applier.apply_all(rbac_manifests(), parallel=1)
        applier.apply_all(_load(OPERATOR_ACCOUNT), parallel=1)
        if simulated_nodes:  # our own control plane: the simulator's exporter has an identity of its own
            applier.apply_all(exporter_rbac(), parallel=1)
        nodes = node_manifests(city) if simulated_nodes else []
        if nodes:
            t0 = time.monotonic()
            applier.apply_all(nodes)
            names = {n["metadata"]["name"] for n in nodes}

            def all_ready() -> bool:
                ready, _ = nodes_by_readiness(api, "type=kwok")
                return names <= set(ready)

            wait_until(all_ready, 30 + len(nodes) / 10, f"{len(nodes)} simulated nodes to be Ready", 0.25)
            log(f"{len(nodes)} simulated nodes Ready in {time.monotonic() - t0:.1f} s")
            wait_until(lambda: _has_default_service_account(api), 30, "the default service account")
        sites, cells = site_manifests(city), cell_manifests(city)
        if crds:
            applier.apply_all(sites + cells)
        ready, _ = nodes_by_readiness(api)
    return {"nodes": len(ready), "sites": len(sites), "cells": len(cells)}


EXPORTER_USER = "edgeorch-exporter"  # the CN of the exporter's client certificate (devstack.localstack.pki)


def exporter_rbac() -> list[dict[str, Any]]:
    """What the simulator's exporter may do on the local stack: follow the workloads under an agreement
    (sim.follower lists the SLAs and reads their EdgeWorkloads), nothing else."""
    meta = {"name": "edgeorch-local-exporter", "labels": {"app.kubernetes.io/part-of": "edgeorch"}}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta,
         "rules": [{"apiGroups": ["edgeorch.io"], "resources": ["servicelevelagreements"], "verbs": ["list"]},
                   {"apiGroups": ["edgeorch.io"], "resources": ["edgeworkloads"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": meta["name"]},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": EXPORTER_USER}]},
    ]


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def service_account_token(kubeconfig: Path, name: str, namespace: str = NAMESPACE, hours: int = 168) -> str:
    """A bearer token of ServiceAccount `namespace/name` (a TokenRequest, valid for `hours`)."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": hours * 3600}}
    with session(kubeconfig) as api:
        out = call(k8s.CoreV1Api(api).create_namespaced_service_account_token, name, namespace, body)
    if out.status is None or not out.status.token:
        raise KubeError(f"TokenRequest for {namespace}/{name} answered no token")
    return str(out.status.token)


def _has_default_service_account(api: Any) -> bool:
    try:
        call(k8s.CoreV1Api(api).read_namespaced_service_account, "default", "default")
    except KubeNotFound:
        return False
    return True
