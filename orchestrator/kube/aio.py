"""Async Kubernetes access for the operator (`kubernetes_asyncio`); errors classified in `errors`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from orchestrator.kube.errors import KubeConflict, KubeError, KubeNotFound, KubeUnavailable, classify
from orchestrator.vocabulary import API_GROUP, API_VERSION, priority_class

T = TypeVar("T")


async def call(fn: Callable[..., Awaitable[T]], *args: Any, retries: int = 3, **kwargs: Any) -> T:
    """Await one client call; transient failures are retried with back-off, others classified."""
    delay = 0.2
    for attempt in range(retries + 1):
        try:
            return await fn(*args, **kwargs)
        except KubeError:
            raise
        except Exception as exc:
            err = classify(exc)
            if isinstance(err, KubeUnavailable) and attempt < retries:
                await asyncio.sleep(delay)
                delay *= 2
                continue
            raise err from exc
    raise AssertionError("unreachable")


async def call_json(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """`call`, with the response body parsed as plain JSON instead of the client's model objects
    (those cost more CPU than the request itself on the operator's hot path)."""
    async def once() -> Any:
        resp = await fn(*args, _preload_content=False, **kwargs)
        try:
            data = await resp.read()
        finally:
            resp.release()
        if not 200 <= resp.status <= 299:
            err = ApiException(status=resp.status, reason=resp.reason)
            err.body = data
            raise err
        return json.loads(data) if data else None

    return await call(once)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AsyncKube:
    """The operator's client: replica Pods and Events."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self._event_counts: OrderedDict[tuple[str, str], int] = OrderedDict()  # (namespace, Event name) -> count
        self._priority_classes: set[str] = set()  # PriorityClasses known to exist
        self._event_locks: dict[tuple[str, str], asyncio.Lock] = {}  # Events being posted, one at a time each

    @classmethod
    async def connect(cls, kubeconfig: Path | None = None, *, user_agent: str = "edgeorch-operator") -> AsyncKube:
        cfg = k8s.Configuration()
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            await k8s_config.load_kube_config(
                config_file=str(kubeconfig) if kubeconfig else None, client_configuration=cfg
            )
        cfg.connection_pool_maxsize = 64
        api = k8s.ApiClient(cfg)
        api.user_agent = user_agent  # the API server names the writer in managedFields after it
        # kubernetes_asyncio's session trusts the environment, which costs a proxy-variable and
        # ~/.netrc lookup in a thread per request; the API server is reached directly or through
        # the kubeconfig's proxy-url (cfg.proxy), never through *_PROXY variables.
        session = getattr(getattr(api, "rest_client", None), "pool_manager", None)
        if session is not None and hasattr(session, "_trust_env"):
            session._trust_env = False
        return cls(api)

    async def close(self) -> None:
        await self.api.close()

    async def ensure_priority_class(self, priority: int) -> str:
        """The PriorityClass of workload priority `priority` (vocabulary.priority_class), created when
        missing: value `priority`, never preempting, never the default."""
        name = priority_class(priority)
        if name in self._priority_classes:
            return name
        body = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                "value": priority, "preemptionPolicy": "Never", "globalDefault": False,
                "description": f"Replica Pods of edgeorch EdgeWorkloads of priority {priority} (spec.priority)."}
        with contextlib.suppress(KubeConflict):  # made earlier, by this operator or another one
            await call_json(k8s.SchedulingV1Api(self.api).create_priority_class, body)
        self._priority_classes.add(name)
        return name

    async def live_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The Pods matching `selector` that are not terminating."""
        pods = await call_json(self.core.list_namespaced_pod, namespace, label_selector=selector)
        return [p for p in pods.get("items") or [] if not p["metadata"].get("deletionTimestamp")]

    async def create_pod(self, manifest: dict[str, Any]) -> bool:
        """Create a pod; False when it already exists (idempotent)."""
        try:
            await call_json(self.core.create_namespaced_pod, manifest["metadata"]["namespace"], manifest)
        except KubeConflict:
            return False
        return True

    async def delete_pod(self, namespace: str, name: str, uid: str = "") -> bool:
        """Delete a replica Pod; with `uid`, only that Pod (a precondition: a newer Pod that took the
        name since is left alone).  False when it was not there (or is another one now)."""
        # (with a body the API server reads the options from it alone, not from the query)
        body: dict[str, Any] = {"gracePeriodSeconds": 0, **({"preconditions": {"uid": uid}} if uid else {})}
        try:
            await call(self.core.delete_namespaced_pod, name, namespace, body=body)
        except (KubeNotFound, KubeConflict):
            return False
        return True

    async def namespace_terminating(self, name: str) -> bool:
        """Whether the namespace is being deleted (or already gone): nothing new may be created in it."""
        try:
            ns = await call_json(self.core.read_namespace, name)
        except KubeNotFound:
            return True
        return bool(ns["metadata"].get("deletionTimestamp")) or (ns.get("status") or {}).get("phase") == "Terminating"

    # -- Services (each EdgeWorkload's: orchestrator.endpoints.service_loop) -----------------------
    async def create_service(self, manifest: dict[str, Any]) -> dict[str, Any]:
        out: Any = await call_json(self.core.create_namespaced_service, manifest["metadata"]["namespace"], manifest)
        return dict(out)

    async def read_service(self, namespace: str, name: str) -> dict[str, Any]:
        out: Any = await call_json(self.core.read_namespaced_service, name, namespace)
        return dict(out)

    async def patch_service(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        out: Any = await call_json(self.core.patch_namespaced_service, name, namespace, patch,
                                   _content_type="application/merge-patch+json")
        return dict(out)

    async def delete_service(self, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete a Service (only the one with `uid`, when given); False when it was not there."""
        body = {"preconditions": {"uid": uid}} if uid else None
        try:
            await call(self.core.delete_namespaced_service, name, namespace, body=body)
        except KubeNotFound:
            return False
        return True

    async def autoscaled(self, namespace: str, kind: str, name: str) -> str | None:
        """The HorizontalPodAutoscaler in `namespace` that scales the object `kind`/`name`, or None."""
        hpas = await call_json(k8s.AutoscalingV2Api(self.api).list_namespaced_horizontal_pod_autoscaler, namespace)
        for hpa in hpas.get("items") or []:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == kind and ref.get("name") == name:
                return str(hpa["metadata"]["name"])
        return None

    # -- custom objects (EdgeWorkloads, ServiceLevelAgreements) ----------------------------------
    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        co = k8s.CustomObjectsApi(self.api)
        out: Any = await call_json(co.get_namespaced_custom_object, API_GROUP, API_VERSION, namespace, plural, name)
        return dict(out)

    async def list_custom(self, plural: str) -> list[dict[str, Any]]:
        """Every object of a custom resource, in all namespaces."""
        co = k8s.CustomObjectsApi(self.api)
        out: Any = await call_json(co.list_cluster_custom_object, API_GROUP, API_VERSION, plural)
        return [dict(o) for o in out.get("items") or []]

    async def patch_custom(self, plural: str, namespace: str, name: str, body: dict[str, Any],
                           *, status: bool = False) -> dict[str, Any]:
        """Merge-patch a custom object (or its /status)."""
        co = k8s.CustomObjectsApi(self.api)
        fn = co.patch_namespaced_custom_object_status if status else co.patch_namespaced_custom_object
        out: Any = await call_json(fn, API_GROUP, API_VERSION, namespace, plural, name, body,
                                   _content_type="application/merge-patch+json")
        return dict(out)

    async def patch_cluster_custom(self, plural: str, name: str, body: dict[str, Any], *,
                                   status: bool = False) -> dict[str, Any]:
        """Merge-patch a cluster-scoped custom object (an EdgeSite) or its /status."""
        co = k8s.CustomObjectsApi(self.api)
        fn = co.patch_cluster_custom_object_status if status else co.patch_cluster_custom_object
        out: Any = await call_json(fn, API_GROUP, API_VERSION, plural, name, body,
                                   _content_type="application/merge-patch+json")
        return dict(out)

    async def post_event(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `involved` (an object's body), from the component `edgeorch`.

        Repeats are aggregated as kubectl shows them (client-go's EventCorrelator does the same): the
        same object, type, reason and message make one Event whose `count` grows and whose
        `lastTimestamp` moves, not a new Event each time (a Warning every second while Prometheus was
        down made thousands, #25).  The Event's name is derived from what it says, so a restarted
        operator (or a second one) counts on the Event already there instead of starting another."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"  # a cluster-scoped object's Events go to default
        message = message[:1024]
        name = event_name(meta["name"], meta.get("uid") or "", type_, reason, message)
        key = (namespace, name)
        async with self._event_locks.setdefault(key, asyncio.Lock()):  # one Event's repeats in order:
            await self._post_event(involved, key, type_, reason, message)  # two PATCHes could land reversed

    async def _post_event(self, involved: Mapping[str, Any], key: tuple[str, str], type_: str, reason: str,
                          message: str) -> None:
        meta = involved["metadata"]
        namespace, name = key
        now = _now()
        count = self._event_counts.get(key)
        if count is not None:
            try:
                await self._count_event(namespace, name, count + 1, now)
                return
            except KubeNotFound:  # expired (the API server keeps Events for an hour) or deleted: start again
                pass
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"), "name": meta["name"],
                "namespace": meta.get("namespace") or "", "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_, "reason": reason, "message": message,
            "source": {"component": "edgeorch"}, "reportingComponent": "edgeorch",
            "reportingInstance": socket.gethostname()[:128], "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            await call_json(self.core.create_namespaced_event, namespace, event)
            self._remember_event(key, 1)
        except KubeConflict:  # said before, by this process before a restart or by another one
            existing = await call_json(self.core.read_namespaced_event, name, namespace)
            await self._count_event(namespace, name, int(existing.get("count") or 1) + 1, now)

    async def _count_event(self, namespace: str, name: str, count: int, now: str) -> None:
        self._remember_event((namespace, name), count)
        await call_json(self.core.patch_namespaced_event, name, namespace, {"count": count, "lastTimestamp": now},
                        _content_type="application/merge-patch+json")

    def _remember_event(self, key: tuple[str, str], count: int) -> None:
        self._event_counts[key] = count
        self._event_counts.move_to_end(key)
        while len(self._event_counts) > EVENTS_REMEMBERED:
            old, _ = self._event_counts.popitem(last=False)
            lock = self._event_locks.get(old)
            if lock is not None and not lock.locked():
                del self._event_locks[old]


EVENTS_REMEMBERED = 10_000  # Events whose count this process knows (the oldest are forgotten first)


def event_name(involved: str, uid: str, type_: str, reason: str, message: str) -> str:
    """The name of the one Event that says `type_ reason: message` about the object `involved` (with
    `uid`): `<object name>.<16 hex digits of a hash of the rest>`, at most 253 characters."""
    digest = hashlib.sha256("\0".join((uid, type_, reason, message)).encode()).hexdigest()[:16]
    return f"{involved[:236].rstrip('-.')}.{digest}"
