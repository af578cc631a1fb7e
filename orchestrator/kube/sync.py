"""Blocking Kubernetes access for the CLI and the local stack (official `kubernetes` client)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import dynamic

from orchestrator.kube.errors import KubeError, KubeNotFound, KubeUnavailable, classify

T = TypeVar("T")
FIELD_MANAGER = "edgeorch"


def api_client(kubeconfig: Path | None = None, *, pool: int = 32) -> Any:
    """An ApiClient for `kubeconfig` (None: $KUBECONFIG or ~/.kube/config)."""
    cfg = k8s.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None, client_configuration=cfg)
    except Exception as exc:  # the loader raises several unrelated types
        raise KubeError(f"cannot load kubeconfig {kubeconfig or '$KUBECONFIG'}: {exc}") from exc
    cfg.connection_pool_maxsize = pool
    cfg.retries = False
    api = k8s.ApiClient(cfg)
    api.user_agent = "edgeorch"
    return api


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one client call; every failure leaves as a classified KubeError."""
    try:
        return fn(*args, **kwargs)
    except KubeError:
        raise
    except Exception as exc:
        raise classify(exc) from exc


def readyz(api: Any, timeout: float = 2.0) -> bool:
    """True when the API server answers /readyz with ok."""
    try:
        method, url, headers, body, post = api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
        resp = api.call_api(method, url, header_params=headers, body=body, post_params=post,
                            _request_timeout=timeout)
        resp.read()
    except Exception:
        return False
    return int(resp.status) == 200 and bytes(resp.data or b"").strip() == b"ok"


def server_version(api: Any, timeout: float = 3.0) -> str:
    info = call(k8s.VersionApi(api).get_code, _request_timeout=timeout)
    return str(info.git_version)


def reachable(kubeconfig: Path | None, timeout: float = 3.0) -> bool:
    """Whether `kubeconfig` points at an API server that answers now."""
    try:
        api = api_client(kubeconfig)
    except KubeError:
        return False
    try:
        server_version(api, timeout)
        return True
    except KubeError:
        return False
    finally:
        api.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise KubeUnavailable(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def session(kubeconfig: Path | None) -> Iterator[Any]:
    api = api_client(kubeconfig)
    try:
        yield api
    finally:
        api.close()


class Applier:
    """Server-side apply of plain manifests, for any kind the server knows."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._dyn: Any = None

    @property
    def dyn(self) -> Any:
        if self._dyn is None:
            self._dyn = call(dynamic.DynamicClient, self.api)
        return self._dyn

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        res = call(self.dyn.resources.get, api_version=manifest["apiVersion"], kind=manifest["kind"])
        meta = manifest.get("metadata", {})
        out = call(
            self.dyn.server_side_apply, res, body=manifest, name=meta.get("name"),
            namespace=meta.get("namespace") or ("default" if res.namespaced else None), field_manager=FIELD_MANAGER, force_conflicts=True,
        )
        return dict(out.to_dict())

    def apply_all(self, manifests: Iterable[dict[str, Any]], parallel: int = 16) -> int:
        """Apply many manifests concurrently (kinds resolved first); returns how many."""
        items = list(manifests)
        for kind in {(m["apiVersion"], m["kind"]) for m in items}:
            call(self.dyn.resources.get, api_version=kind[0], kind=kind[1])
        if parallel <= 1 or len(items) < 4:
            for m in items:
                self.apply(m)
        else:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                list(pool.map(self.apply, items))
        return len(items)

    def invalidate(self) -> None:
        """Forget discovery (after new CRDs were registered)."""
        self._dyn = None


def crds_established(api: Any, names: Iterable[str]) -> bool:
    ext = k8s.ApiextensionsV1Api(api)
    for name in names:
        crd: Any = call(ext.read_custom_resource_definition, name)
        conds = {c.type: c.status for c in ((crd.status and crd.status.conditions) or [])}
        if conds.get("Established") != "True":
            return False
    return True


def nodes_by_readiness(api: Any, label_selector: str = "") -> tuple[list[str], list[str]]:
    """Names of (Ready, not Ready) nodes."""
    nodes: Any = call(k8s.CoreV1Api(api).list_node, label_selector=label_selector)
    ready: list[str] = []
    not_ready: list[str] = []
    for node in nodes.items:
        conds = {c.type: c.status for c in ((node.status and node.status.conditions) or [])}
        (ready if conds.get("Ready") == "True" else not_ready).append(node.metadata.name)
    return sorted(ready), sorted(not_ready)


def node_labels(api: Any, label_selector: str = "") -> dict[str, dict[str, str]]:
    """Node name -> labels."""
    nodes: Any = call(k8s.CoreV1Api(api).list_node, label_selector=label_selector)
    return {n.metadata.name: dict(n.metadata.labels or {}) for n in nodes.items}


def list_custom(api: Any, group: str, version: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """Custom objects as plain dicts (all namespaces when `namespace` is None)."""
    co = k8s.CustomObjectsApi(api)
    if namespace is None:
        out: Any = call(co.list_cluster_custom_object, group, version, plural)
    else:
        out = call(co.list_namespaced_custom_object, group, version, namespace, plural)
    return list(out.get("items", []))


def get_custom(api: Any, group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
    """One namespaced custom object as a plain dict (KubeNotFound when it does not exist)."""
    out: Any = call(k8s.CustomObjectsApi(api).get_namespaced_custom_object, group, version, namespace, plural, name)
    return dict(out)


def deployment_replicas(api: Any, namespace: str, name: str, timeout: float = 3.0) -> tuple[int, int] | None:
    """(ready, desired) replicas of a Deployment; None when it does not exist."""
    try:
        dep: Any = call(k8s.AppsV1Api(api).read_namespaced_deployment, name, namespace, _request_timeout=timeout)
    except KubeNotFound:
        return None
    return int(dep.status.ready_replicas or 0), int(dep.spec.replicas or 0)


def context_namespace(kubeconfig: Path | None) -> str:
    """The namespace of the kubeconfig's current context, as kubectl takes it (default: `default`)."""
    try:
        _, current = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None)
    except Exception:  # no kubeconfig: the lookup that follows says so
        return "default"
    return str((current or {}).get("context", {}).get("namespace") or "default")


def load_manifests(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every YAML document of `paths` (empty documents skipped)."""
    import yaml

    docs: list[dict[str, Any]] = []
    for path in paths:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def patch_node(api: Any, name: str, body: dict[str, Any], *, status: bool = False) -> None:
    """Strategic-merge-patch a Node (or its status)."""
    core = k8s.CoreV1Api(api)
    call(core.patch_node_status if status else core.patch_node, name, body)
