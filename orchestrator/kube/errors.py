"""Kubernetes API errors, classified once for every caller."""

from __future__ import annotations

import json
from typing import Any


class KubeError(RuntimeError):
    """An API call failed; `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeNotFound(KubeError):
    """404: the object (or its kind) does not exist."""


class KubeConflict(KubeError):
    """409: already exists, or a stale resourceVersion."""


class KubeInvalid(KubeError):
    """422 or 400: the API server rejected the object; the message names the field."""


class KubeForbidden(KubeError):
    """403: RBAC said no."""


class KubeUnavailable(KubeError):
    """The API server could not be reached, or answered 429/5xx: worth retrying."""


def _message(body: Any) -> tuple[str, str]:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            return body.strip(), ""
    else:
        data = body
    if isinstance(data, dict):
        return str(data.get("message", data)), str(data.get("reason", ""))
    return str(data), ""


def classify(exc: BaseException) -> KubeError:
    """Map an exception of `kubernetes` or `kubernetes_asyncio` (or a socket error) to a KubeError."""
    if isinstance(exc, KubeError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        message, reason = _message(getattr(exc, "body", None) or getattr(exc, "reason", "") or str(exc))
        kind: type[KubeError]
        if status == 404:
            kind = KubeNotFound
        elif status == 409:
            kind = KubeConflict
        elif status in (400, 422):
            kind = KubeInvalid
        elif status in (401, 403):
            kind = KubeForbidden
        elif status == 429 or status >= 500:
            kind = KubeUnavailable
        else:
            kind = KubeError
        return kind(message or f"HTTP {status}", status, reason)
    return KubeUnavailable(f"Kubernetes API unreachable: {exc}")
