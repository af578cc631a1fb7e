"""Authentication and authorisation of the app API: Kubernetes bearer tokens (TokenReview) and the
caller's rights on EdgeWorkloads in the namespace (SubjectAccessReview), as the API server itself
would decide them.  Answers are cached briefly (a token for TOKEN_TTL_S, a decision for
DECISION_TTL_S) so that a busy app costs the API server no review per request."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from orchestrator.endpoints.errors import ApiError
from orchestrator.kube.access import Access, Caller
from orchestrator.kube.errors import KubeError
from orchestrator.vocabulary import EDGEWORKLOADS

TOKEN_TTL_S = 10.0
DECISION_TTL_S = 10.0
CACHED = 10_000  # entries per cache (the oldest go first)
MAX_TOKEN = 16_384

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl_s: float, size: int = CACHED) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: K, value: V) -> None:
        self._items[key] = (time.monotonic() + self.ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class Authenticator:
    def __init__(self, access: Access) -> None:
        self.access = access
        self._tokens: TtlCache[str, Caller | None] = TtlCache(TOKEN_TTL_S)
        self._decisions: TtlCache[tuple[str, str, str, str], tuple[bool, str]] = TtlCache(DECISION_TTL_S)

    async def caller(self, authorization: str | None) -> tuple[Caller, str]:
        """The caller of a request from its Authorization header, and its token; 401 otherwise."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "a Kubernetes bearer token is required: Authorization: Bearer <token>",
                           "Authorization")
        if len(token) > MAX_TOKEN or not token.isascii() or not token.isprintable() or " " in token:
            raise ApiError(401, "the bearer token is malformed", "Authorization")
        digest = hashlib.sha256(token.encode()).hexdigest()
        known, who = self._tokens.get(digest)
        if not known:
            try:
                who = await self.access.review_token(token)
            except KubeError as exc:
                raise ApiError(503, f"the token could not be reviewed: Kubernetes API: {exc}", "Authorization") from exc
            self._tokens.put(digest, who)
        if who is None:
            raise ApiError(401, "the Kubernetes API server does not accept this token", "Authorization")
        return who, token

    async def authorize(self, caller: Caller, verb: str, namespace: str, name: str) -> None:
        """403 unless `caller` may `verb` the EdgeWorkload `name` in `namespace`."""
        key = (f"{caller.username}\0{caller.uid}\0{','.join(caller.groups)}", verb, namespace, name)
        known, decision = self._decisions.get(key)
        if not known or decision is None:
            try:
                decision = await self.access.allowed(caller, verb, EDGEWORKLOADS, namespace, name)
            except KubeError as exc:
                raise ApiError(503, f"access could not be reviewed: Kubernetes API: {exc}", "namespace") from exc
            self._decisions.put(key, decision)
        allowed, reason = decision
        if not allowed:
            why = f" ({reason})" if reason else ""
            raise ApiError(403, f"{caller.username} may not {verb} edgeworkloads.edgeorch.io {name!r} in namespace "
                                f"{namespace!r}{why}", "namespace")
