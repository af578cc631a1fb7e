"""The operator's HTTP API for apps (aiohttp, in the operator's event loop), in the spirit of ETSI
MEC 011 (which instance of a service to talk to) and MEC 021 (users move; the app relocates):

    GET /apis/v1/namespaces/{ns}/edgeworkloads/{name}/endpoints[?cell=C]   the replica serving C (or all)
    GET .../endpoints?watch=true[&cell=C][&timeoutSeconds=S]               Server-Sent Events of changes
    PUT /apis/v1/namespaces/{ns}/edgeworkloads/{name}/users                 spec.users, written as the caller
    GET /openapi.json                                                       the OpenAPI 3.2 document

Every request but /openapi.json carries a Kubernetes bearer token (`auth`); every error is a JSON
body `{"error": ..., "field": ...}` naming the field of the request it concerns, with a 4xx status
for anything wrong with the request (a 5xx only when the Kubernetes API cannot be reached, or for a
bug).  Reads come from `book` (the EdgeWorkload watch); the one write, spec.users, goes to the API
server with the caller's own token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from orchestrator.endpoints.auth import Authenticator
from orchestrator.endpoints.book import EndpointBook, Notice, Workload, dump_list, notice
from orchestrator.endpoints.errors import ApiError
from orchestrator.endpoints.models import UsersResult
from orchestrator.endpoints.openapi import BASE, MAX_TIMEOUT_S, document
from orchestrator.kube.access import Access
from orchestrator.kube.errors import KubeConflict, KubeError, KubeForbidden, KubeInvalid, KubeNotFound
from orchestrator.resources import UserDistribution
from orchestrator.resources.common import DNS_LABEL, DNS_SUBDOMAIN
from orchestrator.vocabulary import EDGEWORKLOADS

log = logging.getLogger("edgeorch.api")
MAX_BODY = 64 * 1024
HEARTBEAT_S = 15.0  # a comment line on an idle watch stream, so proxies keep it open
UPDATE_TRIES = 3
TRUE, FALSE = ("true", "1"), ("false", "0")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str, field: str | None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as `{"error", "field"}`: ours, aiohttp's own (no such path, method, body too large), a bug."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.field, exc.headers)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return error_response(405, f"method {request.method} is not allowed here (allowed: {allowed})", "method",
                              {"Allow": allowed})
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, f"the body is larger than {MAX_BODY} bytes", "body")
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(404, f"no such path: {request.path} (see /openapi.json)", "path")
        return error_response(exc.status, exc.reason, "request")
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("app API: %s %s failed", request.method, request.path)
        return error_response(500, "internal error (the operator's log has it)", None)


def _check(value: str, pattern: str, longest: int, field: str, what: str) -> str:
    if not value or len(value) > longest or not re.fullmatch(pattern, value):
        raise ApiError(400, f"{field}: {value[:100]!r} is not {what} (at most {longest} characters)", field)
    return value


def _target(request: web.Request) -> tuple[str, str]:
    ns = _check(request.match_info["namespace"], DNS_LABEL, 63, "namespace", "a namespace name (a DNS label)")
    name = _check(request.match_info["name"], DNS_SUBDOMAIN, 253, "name", "an EdgeWorkload name (a DNS subdomain)")
    return ns, name


def _query(request: web.Request, known: tuple[str, ...]) -> None:
    """400 for a query parameter the operation does not have, or one given twice (a typo such as
    `?cel=` must not quietly answer for every cell)."""
    for key in request.query:
        if key not in known:
            raise ApiError(400, f"{key[:100] or '(empty)'}: no such query parameter (known: {', '.join(known)})",
                           key[:100] or "query")
        if len(request.query.getall(key)) > 1:
            raise ApiError(400, f"{key}: given more than once", key)


def _flag(request: web.Request, field: str) -> bool:
    raw = request.query.get(field)
    if raw is None or raw.lower() in FALSE:
        return False
    if raw.lower() in TRUE:
        return True
    raise ApiError(400, f"{field}: must be true or false, got {raw[:100]!r}", field)


def _timeout(request: web.Request) -> int:
    raw = request.query.get("timeoutSeconds")
    if raw is None:
        return MAX_TIMEOUT_S
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_TIMEOUT_S:
        raise ApiError(400, f"timeoutSeconds: must be a whole number of seconds from 1 to {MAX_TIMEOUT_S}, "
                            f"got {raw[:100]!r}", "timeoutSeconds")
    return int(raw)


class AppApi:
    def __init__(self, book: EndpointBook, access: Access, *, host: str = "127.0.0.1", port: int = 8443,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.book, self.access = book, access
        self.auth = Authenticator(access)
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self._runner: web.AppRunner | None = None
        self._document = document()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY)
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_get(f"{BASE}/endpoints", self.endpoints)
        app.router.add_put(f"{BASE}/users", self.put_users)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context).start()
        log.info("app API on %s://%s:%d", "https" if self.ssl_context else "http", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ---------------------------------------------------------------------------------
    async def openapi(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._document)

    async def endpoints(self, request: web.Request) -> web.StreamResponse:
        caller, _ = await self.auth.caller(request.headers.get("Authorization"))
        ns, name = _target(request)
        _query(request, ("cell", "watch", "timeoutSeconds"))
        cell = request.query.get("cell")
        if cell is not None:
            _check(cell, DNS_LABEL, 63, "cell", "a radio cell name (a DNS label)")
        watch = _flag(request, "watch")
        timeout = _timeout(request)
        await self.auth.authorize(caller, "watch" if watch else "get", ns, name)
        workload = self._workload(ns, name)
        if cell is not None and cell not in workload.cells:
            raise ApiError(404, f"cell: {cell!r} is not a cell of {ns}/{name}'s users (spec.users.cells: "
                                f"{', '.join(workload.cells)}); PUT its users first", "cell")
        if watch:
            return await self._stream(request, ns, name, cell, timeout)
        if cell is None:
            return web.json_response(dump_list(workload))
        endpoint = workload.endpoint(cell)
        if endpoint is None:
            raise ApiError(404, f"cell: no replica of {ns}/{name} serves {cell!r} yet (not placed)", "cell")
        return web.json_response(endpoint.model_dump(mode="json", by_alias=True))

    def _workload(self, ns: str, name: str) -> Workload:
        workload = self.book.get(ns, name)
        if workload is None:
            raise ApiError(404, f"name: no EdgeWorkload {name!r} in namespace {ns!r}", "name")
        return workload

    async def _stream(self, request: web.Request, ns: str, name: str, cell: str | None,
                      timeout: int) -> web.StreamResponse:
        workload = self._workload(ns, name)
        watcher = self.book.watch(ns, name, cell)  # with the state sent first: nothing falls between
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        try:
            await resp.prepare(request)
            for e in workload.endpoints():
                if cell is None or e.cell == cell:
                    await resp.write(_event(notice(e, workload.resource_version)))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    queued = await asyncio.wait_for(watcher.queue.get(), min(left, HEARTBEAT_S))
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                await resp.write(_event(queued))
                if queued.event == "deleted":
                    break
            return resp
        except ConnectionResetError:  # the watcher went away
            return resp
        finally:
            self.book.unwatch(watcher)

    async def put_users(self, request: web.Request) -> web.StreamResponse:
        caller, token = await self.auth.caller(request.headers.get("Authorization"))
        ns, name = _target(request)
        _query(request, ())
        await self.auth.authorize(caller, "update", ns, name)
        users = _users(await _json_body(request))
        for _ in range(UPDATE_TRIES):
            try:
                current = await self.access.get_as_caller(token, EDGEWORKLOADS, ns, name)
                current.setdefault("spec", {})["users"] = users.model_dump(mode="json", by_alias=True, exclude_none=True)
                written = await self.access.replace_as_caller(token, EDGEWORKLOADS, current)
            except KubeConflict:
                continue  # changed meanwhile: read it again
            except KubeNotFound as exc:
                raise ApiError(404, f"name: no EdgeWorkload {name!r} in namespace {ns!r}", "name") from exc
            except KubeForbidden as exc:
                raise ApiError(403, f"the API server refused the update: {exc}", "namespace") from exc
            except KubeInvalid as exc:
                raise ApiError(422, f"the API server refused the users: {exc}", "cells") from exc
            except KubeError as exc:
                raise ApiError(503, f"Kubernetes API: {exc}", None) from exc
            meta = written["metadata"]
            result = UsersResult(namespace=ns, workload=name, generation=meta.get("generation"),
                                 users=UserDistribution.model_validate(written["spec"]["users"]))
            return web.json_response(result.model_dump(mode="json", by_alias=True, exclude_none=True))
        raise ApiError(409, f"name: {ns}/{name} kept changing while its users were written; try again", "name")


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, f"Content-Type: must be application/json, got {request.content_type!r}", "Content-Type")
    raw = await request.read()
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"body: not JSON: {str(exc)[:200]}", "body") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _users(data: Any) -> UserDistribution:
    """The body as a user distribution; 422 naming the first wrong field (e.g. cells[0].share)."""
    if not isinstance(data, dict):
        raise ApiError(422, f"body: must be an object {{\"cells\": [{{\"cell\", \"share\"}}]}}, got "
                            f"{type(data).__name__}", "body")
    try:
        return UserDistribution.model_validate(data)
    except (ValidationError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            raise ApiError(422, "body: nested too deeply", "body") from exc
        first = exc.errors()[0]
        where = _path(first["loc"]) or "cells"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ApiError(422, message.removeprefix("spec.users.") if message.startswith("spec.users.") else
                       f"{where}: {message}", where) from exc


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _event(notice: Notice) -> bytes:
    lines = [f"event: {notice.event}"]
    if notice.id:
        lines.append(f"id: {notice.id}")
    lines.append("data: " + json.dumps(notice.data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()
