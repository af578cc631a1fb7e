"""Reading QoS metrics from the real Prometheus over its HTTP API (aiohttp).

`PrometheusSource.snapshot()` gives the QoS metrics placement needs; `query()` runs any PromQL
(the SLA evaluator uses it).  When Prometheus is unreachable or has no data, `MetricsUnavailable`
is raised: callers must then change nothing.  When Prometheus answers that a query is wrong (its
parser's `bad_data`, an `execution` error, or a result that is no instant vector or scalar),
`QueryRejected` (a MetricsUnavailable) says so with Prometheus' own message.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from orchestrator.snapshot import QosMetrics


class MetricsUnavailable(RuntimeError):
    """Prometheus could not be queried, or the series needed are missing."""


class QueryRejected(MetricsUnavailable):
    """Prometheus answered, and refused the query: `error_type` is its errorType (`bad_data` when its
    parser rejects the expression), `message` its error."""

    def __init__(self, query: str, error_type: str, message: str) -> None:
        super().__init__(f"Prometheus rejected {query!r}: {error_type}: {message}")
        self.query, self.error_type, self.message = query, error_type, message

    @property
    def invalid(self) -> bool:
        """The expression itself is wrong (it will be wrong at every evaluation)."""
        return self.error_type in (BAD_DATA, WRONG_TYPE)


BAD_DATA = "bad_data"  # Prometheus' errorType for a query its parser rejects
EXECUTION = "execution"  # Prometheus' errorType for a query that parsed and failed on the data
WRONG_TYPE = "wrong_type"  # ours: a result that is no instant vector or scalar


Sample = tuple[dict[str, str], float]


class PrometheusSource:
    """A small async PromQL client with a short cache for the placement snapshot."""

    def __init__(self, url: str, *, timeout: float = 3.0, cache_s: float = 1.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.cache_s = cache_s
        self._session: aiohttp.ClientSession | None = None
        self._cached: tuple[float, QosMetrics] | None = None
        self._lock = asyncio.Lock()

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def query(self, promql: str) -> list[Sample]:
        """An instant vector query: (labels, value) per series."""
        try:
            session = await self._http()
            async with session.get(f"{self.url}/api/v1/query", params={"query": promql}) as resp:
                body: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MetricsUnavailable(f"Prometheus at {self.url} unreachable: {exc}") from exc
        if body.get("status") != "success":
            raise QueryRejected(promql, str(body.get("errorType") or "error"), str(body.get("error", body)))
        data = body["data"]
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        if data.get("resultType") != "vector":
            raise QueryRejected(promql, WRONG_TYPE, f"the result is a {data.get('resultType')}, "
                                "not an instant vector or a scalar")
        return [(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]

    async def snapshot(self) -> QosMetrics:
        """Latency and bandwidth per (cell, site), usage per node, site liveness (cached briefly)."""
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.cache_s:
                return self._cached[1]
            # Aggregated to the labels used (worst case if two targets report one series): the
            # answers stay small (job/instance labels dropped), which is most of their parse time.
            latency, bandwidth, cpu, memory, up = await asyncio.gather(
                self.query("max by (cell, site) (edgeorch_link_latency_seconds)"),
                self.query("min by (cell, site) (edgeorch_link_bandwidth_bytes)"),
                self.query("max by (node) (edgeorch_node_cpu_usage_cores)"),
                self.query("max by (node) (edgeorch_node_memory_usage_bytes)"),
                self.query("min by (site) (edgeorch_site_up)"),
            )
            if not latency:
                raise MetricsUnavailable("no edgeorch_link_latency_seconds series in Prometheus yet")
            metrics = QosMetrics(
                latency_ms=_matrix(latency, 1000.0),
                bandwidth_mbps=_matrix(bandwidth, 8 / 1e6),
                node_cpu_m={m["node"]: round(v * 1000) for m, v in cpu if "node" in m},
                node_memory_mb={m["node"]: round(v / 2**20) for m, v in memory if "node" in m},
                site_up={m["site"]: v >= 1 for m, v in up if "site" in m},
            )
            self._cached = (now, metrics)
            return metrics


def _matrix(samples: list[Sample], scale: float) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for labels, value in samples:
        if "cell" in labels and "site" in labels and value == value:  # drop NaN
            out.setdefault(labels["cell"], {})[labels["site"]] = value * scale
    return out
