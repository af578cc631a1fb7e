"""The app API's settings (from the environment) and its life in the operator: started with the
operator's domain service, on its event loop, stopped with it.

    EDGEORCH_API_PORT        8443 (0: no app API)
    EDGEORCH_API_HOST        127.0.0.1 (0.0.0.0 in the Deployment)
    EDGEORCH_API_TLS_CERT    a PEM certificate (chain) file: serve HTTPS (the Deployment mounts the
    EDGEORCH_API_TLS_KEY     Secret edgeorch-api-tls); unset: plain HTTP (the local stack, on loopback)

Bearer tokens must not cross a network in clear: when TLS files are configured but missing, the API
stays off (one warning) and the operator goes on placing workloads; so it does when its port is taken.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.endpoints.api import AppApi
from orchestrator.endpoints.book import EndpointBook
from orchestrator.kube.access import Access
from orchestrator.kube.aio import AsyncKube

log = logging.getLogger("edgeorch.api")


@dataclass(frozen=True)
class ApiSettings:
    port: int = 8443
    host: str = "127.0.0.1"
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiSettings:
        raw = env.get("EDGEORCH_API_PORT", str(cls.port))
        if not raw.isdigit() or int(raw) > 65535:
            raise ValueError(f"EDGEORCH_API_PORT: expected a port number (0: no app API), got {raw!r}")
        cert, key = env.get("EDGEORCH_API_TLS_CERT") or None, env.get("EDGEORCH_API_TLS_KEY") or None
        if bool(cert) != bool(key):
            raise ValueError("EDGEORCH_API_TLS_CERT and EDGEORCH_API_TLS_KEY: set both (HTTPS) or neither (HTTP)")
        return cls(int(raw), env.get("EDGEORCH_API_HOST", cls.host), Path(cert) if cert else None,
                   Path(key) if key else None)


class AppServer:
    def __init__(self, settings: ApiSettings, book: EndpointBook, kube: AsyncKube) -> None:
        self.settings, self.book, self.kube = settings, book, kube
        self.access: Access | None = None
        self.api: AppApi | None = None

    async def start(self) -> None:
        s = self.settings
        if not s.port:
            log.info("app API off (EDGEORCH_API_PORT=0)")
            return
        context = None
        if s.tls_cert and s.tls_key:
            if not (s.tls_cert.is_file() and s.tls_key.is_file()):
                log.warning("app API off: no TLS certificate at %s and key at %s (the Secret edgeorch-api-tls: "
                            "docs/app-api.md)", s.tls_cert, s.tls_key)
                return
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(s.tls_cert, s.tls_key)
        self.access = Access(self.kube)
        api = AppApi(self.book, self.access, host=s.host, port=s.port, ssl_context=context)
        try:
            await api.start()
        except OSError as exc:  # the port is taken: placement goes on, the log says why the API is off
            log.error("app API off: cannot listen on %s:%d: %s (EDGEORCH_API_PORT)", s.host, s.port, exc)
            await api.stop()
            return
        self.api = api

    async def stop(self) -> None:
        if self.api:
            await self.api.stop()
        if self.access:
            await self.access.close()
