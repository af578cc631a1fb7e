"""Clients of the exporter's control API (see sim.exporter): inject faults, heal them, place workloads,
start moving user groups (sim.mobility: a bus along a route, a crowd) and move them.

    async with ExporterControl("http://127.0.0.1:9101") as ctl:
        fid = await ctl.inject_latency("mec-22at", 40)
        await ctl.heal(fid)

    ctl = ExporterControlSync("http://127.0.0.1:9101")   # blocking, standard library only
    fid = ctl.inject_latency("mec-22at", 40)

Both raise ControlError(status, message) when the exporter refuses a request; the message names the field.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp


class ControlError(RuntimeError):
    """The exporter answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"exporter answered {status}: {message}")
        self.status = status
        self.message = message


def _workload_path(namespace: str, name: str) -> str:
    return f"/workloads/{quote(namespace, safe='')}/{quote(name, safe='')}"


def _placement(site: str, cells: dict[str, float] | None) -> dict[str, Any]:
    return {"site": site, "cells": dict(cells or {})}


def _bus(app: str, route: str | None, stops: list[tuple[str, float]] | None, users: float, handover_s: float,
         loop: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "bus", "app": app, "users": users, "handover_s": handover_s}
    if route is not None:
        body["route"] = route
    if stops is not None:
        body.update(stops=[{"cell": c, "dwell_s": d} for c, d in stops], loop=loop)
    return body


def _crowd(app: str, cells: dict[str, float], users: float, ramp_s: float, hold_s: float | None) -> dict[str, Any]:
    return {"kind": "crowd", "app": app, "cells": dict(cells), "users": users, "ramp_s": ramp_s, "hold_s": hold_s}


def _group_path(group_id: str | None) -> str:
    return "/groups" if group_id is None else f"/groups/{quote(group_id, safe='')}"


def _error_message(status: int, text: str) -> ControlError:
    try:
        message = str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        message = text
    return ControlError(status, message)


class ExporterControl:
    """Async client (aiohttp). Use `async with`, or call `close()` when done."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ExporterControl:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.request(method, self.base_url + path, json=body) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _error_message(resp.status, text)
            return json.loads(text)

    async def healthz(self) -> dict[str, Any]:
        out: dict[str, Any] = await self._request("GET", "/healthz")
        return out

    async def inject(self, fault: dict[str, Any]) -> str:
        """Inject any fault body (see sim.faults); its id."""
        return str((await self._request("POST", "/faults", fault))["id"])

    async def inject_latency(self, site: str, add_ms: float, cell: str | None = None) -> str:
        body: dict[str, Any] = {"kind": "latency", "site": site, "add_ms": add_ms}
        if cell is not None:
            body["cell"] = cell
        return await self.inject(body)

    async def saturate_cpu(self, node: str, cores: float) -> str:
        return await self.inject({"kind": "cpu", "node": node, "usage_cores": cores})

    async def load_app(self, workload: str, cores: float) -> str:
        return await self.inject({"kind": "load", "workload": workload, "cpu_cores": cores})

    async def take_offline(self, site: str) -> str:
        return await self.inject({"kind": "offline", "site": site})

    async def heal(self, fault_id: str | None = None) -> list[str]:
        """Heal one fault, or all of them; the ids healed."""
        path = "/faults" if fault_id is None else f"/faults/{quote(fault_id, safe='')}"
        return [str(i) for i in (await self._request("DELETE", path))["healed"]]

    async def faults(self) -> list[dict[str, Any]]:
        return list((await self._request("GET", "/faults"))["faults"])

    async def set_workload_site(self, namespace: str, name: str, site: str,
                                cells: dict[str, float] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = await self._request("PUT", _workload_path(namespace, name), _placement(site, cells))
        return out

    async def remove_workload(self, namespace: str, name: str) -> None:
        await self._request("DELETE", _workload_path(namespace, name))

    async def workloads(self) -> dict[str, Any]:
        return dict((await self._request("GET", "/workloads"))["workloads"])

    async def start_bus(self, app: str, route: str | None = None, *, stops: list[tuple[str, float]] | None = None,
                        users: float = 40.0, handover_s: float = 0.0, loop: bool = True) -> dict[str, Any]:
        """A bus of `users` users of `app` along the city's `route` (or along `stops`: (cell, dwell s)); its group."""
        out: dict[str, Any] = await self._request("POST", "/groups", _bus(app, route, stops, users, handover_s, loop))
        return out

    async def start_crowd(self, app: str, cells: dict[str, float], *, users: float = 500.0, ramp_s: float = 60.0,
                          hold_s: float | None = None) -> dict[str, Any]:
        """A crowd of `app`'s users gathering in `cells` (weights); its group."""
        out: dict[str, Any] = await self._request("POST", "/groups", _crowd(app, cells, users, ramp_s, hold_s))
        return out

    async def move_bus(self, group_id: str, stop: int) -> dict[str, Any]:
        """Put the bus at its `stop` now."""
        out: dict[str, Any] = await self._request("PATCH", _group_path(group_id), {"stop": stop})
        return out

    async def groups(self) -> list[dict[str, Any]]:
        return list((await self._request("GET", "/groups"))["groups"])

    async def remove_groups(self, group_id: str | None = None) -> list[str]:
        """Remove one group, or all of them; the ids removed."""
        return [str(i) for i in (await self._request("DELETE", _group_path(group_id)))["removed"]]


class ExporterControlSync:
    """Blocking client with the same methods (standard library only: usable from any thread or script)."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raise _error_message(exc.code, exc.read().decode(errors="replace")) from exc

    def healthz(self) -> dict[str, Any]:
        out: dict[str, Any] = self._request("GET", "/healthz")
        return out

    def inject(self, fault: dict[str, Any]) -> str:
        return str(self._request("POST", "/faults", fault)["id"])

    def inject_latency(self, site: str, add_ms: float, cell: str | None = None) -> str:
        body: dict[str, Any] = {"kind": "latency", "site": site, "add_ms": add_ms}
        if cell is not None:
            body["cell"] = cell
        return self.inject(body)

    def saturate_cpu(self, node: str, cores: float) -> str:
        return self.inject({"kind": "cpu", "node": node, "usage_cores": cores})

    def load_app(self, workload: str, cores: float) -> str:
        return self.inject({"kind": "load", "workload": workload, "cpu_cores": cores})

    def take_offline(self, site: str) -> str:
        return self.inject({"kind": "offline", "site": site})

    def heal(self, fault_id: str | None = None) -> list[str]:
        path = "/faults" if fault_id is None else f"/faults/{quote(fault_id, safe='')}"
        return [str(i) for i in self._request("DELETE", path)["healed"]]

    def faults(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/faults")["faults"])

    def set_workload_site(self, namespace: str, name: str, site: str,
                          cells: dict[str, float] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self._request("PUT", _workload_path(namespace, name), _placement(site, cells))
        return out

    def remove_workload(self, namespace: str, name: str) -> None:
        self._request("DELETE", _workload_path(namespace, name))

    def workloads(self) -> dict[str, Any]:
        return dict(self._request("GET", "/workloads")["workloads"])

    def start_bus(self, app: str, route: str | None = None, *, stops: list[tuple[str, float]] | None = None,
                        users: float = 40.0, handover_s: float = 0.0, loop: bool = True) -> dict[str, Any]:
        """A bus of `users` users of `app` along the city's `route` (or along `stops`: (cell, dwell s)); its group."""
        out: dict[str, Any] = self._request("POST", "/groups", _bus(app, route, stops, users, handover_s, loop))
        return out

    def start_crowd(self, app: str, cells: dict[str, float], *, users: float = 500.0, ramp_s: float = 60.0,
                          hold_s: float | None = None) -> dict[str, Any]:
        """A crowd of `app`'s users gathering in `cells` (weights); its group."""
        out: dict[str, Any] = self._request("POST", "/groups", _crowd(app, cells, users, ramp_s, hold_s))
        return out

    def move_bus(self, group_id: str, stop: int) -> dict[str, Any]:
        """Put the bus at its `stop` now."""
        out: dict[str, Any] = self._request("PATCH", _group_path(group_id), {"stop": stop})
        return out

    def groups(self) -> list[dict[str, Any]]:
        return list((self._request("GET", "/groups"))["groups"])

    def remove_groups(self, group_id: str | None = None) -> list[str]:
        """Remove one group, or all of them; the ids removed."""
        return [str(i) for i in (self._request("DELETE", _group_path(group_id)))["removed"]]
