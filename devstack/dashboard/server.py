"""The city map's web server (aiohttp): `/` the page (page.html, self-contained: no CDN, no map tiles),
`/api/state` the JSON it polls (devstack.dashboard.state), `/healthz`.

States are built on request and shared for `cache_s`, so several open pages cost one read of the
sources per interval, and an idle server reads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from devstack.dashboard.collect import Collector, LedgerFeed
from devstack.dashboard.state import build_state
from orchestrator.kube.aio import AsyncKube
from orchestrator.prometheus import PrometheusSource

POLL_MS = 2000  # how often the page asks for /api/state


def page() -> str:
    """The page, with its poll interval filled in."""
    text = resources.files("devstack.dashboard").joinpath("page.html").read_text(encoding="utf-8")
    return text.replace("__POLL_MS__", str(POLL_MS))


class StateCache:
    """The newest state, rebuilt when older than `cache_s` (one rebuild at a time)."""

    def __init__(self, collector: Collector, cache_s: float = 1.0) -> None:
        self.collector, self.cache_s = collector, cache_s
        self._state: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            if self._state is None or time.monotonic() - self._at >= self.cache_s:
                self._state = build_state(await self.collector.read())
                self._at = time.monotonic()
            return self._state


def build_app(cache: StateCache) -> web.Application:
    html = page()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def state(_: web.Request) -> web.Response:
        return web.json_response(await cache.get(), headers={"Cache-Control": "no-store"})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.add_routes([web.get("/", index), web.get("/api/state", state), web.get("/healthz", healthz)])
    return app


async def serve(*, host: str, port: int, kubeconfig: Path | None, prometheus_url: str, chain_url: str | None,
                state_dir: Path | None, exporter_url: str | None) -> None:
    """Serve until SIGINT/SIGTERM; prints one line with the page's URL once listening."""
    kube = await AsyncKube.connect(kubeconfig)
    prometheus = PrometheusSource(prometheus_url)
    ledger = LedgerFeed(chain_url, state_dir)
    control = None
    if exporter_url:
        from sim.control import ExporterControl

        control = ExporterControl(exporter_url, timeout_s=3.0)
    collector = Collector(kube, prometheus, ledger, control.faults if control else None)
    runner = web.AppRunner(build_app(StateCache(collector)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    addr = runner.addresses[0]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    shown = addr[0] if ":" not in addr[0] else f"[{addr[0]}]"
    print(f"edgeorch dashboard: http://{shown}:{addr[1]}/", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await ledger.close()
        if control is not None:
            await control.close()
        await prometheus.close()
        await kube.close()
