"""The operator's health endpoints, served from the moment the process starts (a standby too).

- `GET /healthz` (liveness): 200 while the process and its event loop answer; the JSON says the role
  (`leader` | `standby`), this candidate's identity, the Lease holder it last read, and the queue depth.
- `GET /readyz` (readiness): 200 only on the leader once its loops run; 503 on a standby.  A Service
  (the app API's) therefore sends traffic to the leader only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from orchestrator.leader import LeaderElector

log = logging.getLogger("edgeorch.probes")


class Probes:
    def __init__(self, elector: LeaderElector, *, host: str, port: int, started: Callable[[], bool],
                 details: Callable[[], dict[str, Any]] = dict) -> None:
        self.elector = elector
        self.host, self.port = host, port
        self.started = started  # whether the leader's loops run
        self.details = details
        self._runner: web.AppRunner | None = None

    def state(self) -> dict[str, Any]:
        leading = self.elector.is_leader
        return {"status": "ok", "role": "leader" if leading else "standby", "identity": self.elector.config.identity,
                "holder": self.elector.holder(), "started": leading and self.started(), **self.details()}

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def readyz(self, _: web.Request) -> web.Response:
        state = self.state()
        return web.json_response(state, status=200 if state["started"] else 503)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("health on http://%s:%d/healthz and /readyz", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
