"""Who is calling, and may they: Kubernetes TokenReview and SubjectAccessReview for the operator's
app API (orchestrator.endpoints), and the writes that API makes with the caller's own token.

The reviews are made with the operator's identity (RBAC: `tokenreviews` and `subjectaccessreviews`
create).  A write on behalf of a caller (`as_caller`) goes to the API server with the caller's bearer
token and no operator credentials, so the API server authenticates, authorises, validates and
audits it as the caller's own (as with kubectl); the operator gains no right by it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client as k8s

from orchestrator.kube.aio import AsyncKube, call_json
from orchestrator.vocabulary import API_GROUP, API_VERSION


@dataclass(frozen=True)
class Caller:
    """An authenticated user, as a TokenReview says."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


class Access:
    def __init__(self, kube: AsyncKube) -> None:
        self.kube = kube
        own = kube.api.configuration
        cfg = k8s.Configuration(host=own.host)  # the same API server, with no credentials of the operator
        for attr in ("ssl_ca_cert", "verify_ssl", "proxy", "tls_server_name", "assert_hostname"):
            if hasattr(own, attr):
                setattr(cfg, attr, copy.copy(getattr(own, attr)))
        self._callers = k8s.ApiClient(cfg)

    async def close(self) -> None:
        await self._callers.close()

    async def review_token(self, token: str) -> Caller | None:
        """The user the token authenticates (None: the API server does not accept it)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        out = await call_json(k8s.AuthenticationV1Api(self.kube.api).create_token_review, body)
        status = (out or {}).get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return None
        return Caller(user["username"], user.get("uid") or "", tuple(user.get("groups") or ()),
                      {k: list(v) for k, v in (user.get("extra") or {}).items()})

    async def allowed(self, caller: Caller, verb: str, plural: str, namespace: str, name: str) -> tuple[bool, str]:
        """Whether `caller` may `verb` the custom object (SubjectAccessReview), and the authoriser's reason."""
        body = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": caller.username, "uid": caller.uid, "groups": list(caller.groups), "extra": caller.extra,
                     "resourceAttributes": {"group": API_GROUP, "version": API_VERSION, "resource": plural,
                                            "verb": verb, "namespace": namespace, "name": name}},
        }
        out = await call_json(k8s.AuthorizationV1Api(self.kube.api).create_subject_access_review, body)
        status = (out or {}).get("status") or {}
        return bool(status.get("allowed")) and not status.get("denied"), str(status.get("reason") or "")

    async def get_as_caller(self, token: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """Read a custom object with the caller's token."""
        co = k8s.CustomObjectsApi(self._callers)
        out: Any = await call_json(co.get_namespaced_custom_object, API_GROUP, API_VERSION, namespace, plural, name,
                                   _headers=_bearer(token))
        return dict(out)

    async def replace_as_caller(self, token: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """Update (PUT) a custom object with the caller's token; its resourceVersion guards against
        lost updates (KubeConflict: read it again)."""
        meta = body["metadata"]
        co = k8s.CustomObjectsApi(self._callers)
        out: Any = await call_json(co.replace_namespaced_custom_object, API_GROUP, API_VERSION, meta["namespace"],
                                   plural, meta["name"], body, _headers=_bearer(token))
        return dict(out)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
