"""Prometheus exporter of the simulated city's QoS, with an HTTP control API for fault injection.

    python -m sim.exporter --scenario barcelona --port 9101 [--host 127.0.0.1] [--control-port 9102]

Metrics of the city (GET /metrics; gauges are computed at scrape time):
  edgeorch_link_latency_seconds{cell, site}            round-trip latency cell -> site (+ latency faults)
  edgeorch_link_bandwidth_bytes{cell, site}            link bandwidth in bytes per second
  edgeorch_node_cpu_usage_cores{node, site}            CPU in use (baseline or cpu fault); absent while the
  edgeorch_node_memory_usage_bytes{node, site}         memory in use;                     site is offline
  edgeorch_site_up{site}                               1 when the site is up, 0 when taken offline
  edgeorch_sim_cell_users{cell, app}                   users of an app in a cell (moving groups: sim.mobility)
Metrics of the simulated apps (GET /metrics/apps: a scrape target of its own, so that thousands of
workloads' histograms never delay or time out the scrape of the city's links and nodes):
  edgeorch_app_request_latency_seconds{workload, site} histogram of synthetic requests of registered workloads
                                                       (workload = "<namespace>/<name>")
  edgeorch_app_requests_failed_total{workload, site}   requests that failed because the site was offline
  edgeorch_app_cpu_usage_cores{workload, site}         CPU one replica uses, in cores: the app's need (a load
                                                       fault, else idle) shared by its replicas

Control API (same port unless --control-port; JSON in and out; errors are 400 {"error": "<field>: ..."}):
  GET    /healthz                  {"status": "ok", "scenario": name}
  GET    /faults                   {"faults": [{"id", "kind", ...}]}
  POST   /faults                   body: a fault (see sim.faults) -> 201 {"id", "kind", ...}
  DELETE /faults                   heal all -> {"healed": [ids]}
  DELETE /faults/{id}              heal one -> {"healed": [id]}; 404 when unknown
  GET    /workloads                {"workloads": {"ns/name": {"site", "cells"}}}
  PUT    /workloads/{ns}/{name}    body: {"site": S, "cells": {cell: weight}} -> 200 placement
  DELETE /workloads/{ns}/{name}    stop simulating the workload; 404 when unknown
  GET    /groups                   {"groups": [{"id", "kind", "app", ..., "cells_now"}]} (sim.mobility)
  POST   /groups                   body: a bus or a crowd -> 201 {"id", ...}
  PATCH  /groups/{id}              body: {"stop": k}: the bus is at stop k now
  DELETE /groups[/{id}]            remove all groups, or one -> {"removed": [ids]}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import click
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from sim.faults import CityState, FaultError
from sim.follower import Follower
from sim.mobility import Groups
from sim.qos import QoSModel
from sim.scenario import DEFAULT_SCENARIO, ScenarioError, list_scenarios, load_scenario

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
                   0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
TICK_S = 0.1


class CityCollector(Collector):
    """Gauges of the city computed from the QoS model (and its moving user groups) at every scrape."""

    def __init__(self, model: QoSModel, groups: Groups | None = None) -> None:
        self.model = model
        self.groups = groups

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        m = self.model
        latency = GaugeMetricFamily("edgeorch_link_latency_seconds",
                                    "Round-trip latency from a radio cell to a site, in seconds.",
                                    labels=["cell", "site"])
        bandwidth = GaugeMetricFamily("edgeorch_link_bandwidth_bytes",
                                      "Bandwidth from a radio cell to a site, in bytes per second.",
                                      labels=["cell", "site"])
        for cell in m.cells():
            for site in m.sites():
                latency.add_metric([cell, site], round(m.link_latency_ms(cell, site) / 1000, 7))
                bandwidth.add_metric([cell, site], m.link_bandwidth_bytes(cell, site))
        up = GaugeMetricFamily("edgeorch_site_up", "1 when the site is reachable, 0 when it is offline.",
                               labels=["site"])
        for site in m.sites():
            up.add_metric([site], 1.0 if m.site_up(site) else 0.0)
        cpu = GaugeMetricFamily("edgeorch_node_cpu_usage_cores", "CPU in use on the node, in cores.",
                                labels=["node", "site"])
        mem = GaugeMetricFamily("edgeorch_node_memory_usage_bytes", "Memory in use on the node, in bytes.",
                                labels=["node", "site"])
        for node, site in m.nodes().items():
            if m.site_up(site):
                cpu.add_metric([node, site], m.node_cpu_cores(node))
                mem.add_metric([node, site], m.node_memory_bytes(node))
        users = GaugeMetricFamily("edgeorch_sim_cell_users", "Users of an app in a radio cell (moving groups).",
                                  labels=["cell", "app"])
        for (cell, app), n in sorted((self.groups.cell_users() if self.groups else {}).items()):
            users.add_metric([cell, app], round(n, 3))
        return [latency, bandwidth, up, cpu, mem, users]


class AppCpuCollector(Collector):
    """The CPU use of one replica of every simulated app, computed at every scrape."""

    def __init__(self, state: CityState) -> None:
        self.state = state

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        cpu = GaugeMetricFamily("edgeorch_app_cpu_usage_cores", "CPU one replica of the app uses, in cores.",
                                labels=["workload", "site"])
        for workload, placement in sorted(self.state.workloads.items()):
            cpu.add_metric([workload, placement.site], round(self.state.app_cpu_cores(workload), 6))
        return [cpu]


class Exporter:
    """The city's state, its metrics registry and the synthetic request sampler."""

    def __init__(self, model: QoSModel, samples_per_second: float = 20.0) -> None:
        if samples_per_second < 0:
            raise ValueError(f"samples_per_second: must be >= 0, got {samples_per_second}")
        self.model = model
        self.state: CityState = model.state
        self.groups = Groups(model.state.city)  # users on the move (sim.mobility)
        self.samples_per_second = samples_per_second
        self.registry = CollectorRegistry()  # the city: links, sites, nodes, users on the move
        self.registry.register(CityCollector(model, self.groups))
        self.app_registry = CollectorRegistry()  # the simulated apps' requests and CPU use
        self.app_registry.register(AppCpuCollector(model.state))
        self.requests = Histogram("edgeorch_app_request_latency_seconds",
                                  "Latency of the synthetic requests of a workload, in seconds.",
                                  ["workload", "site"], buckets=LATENCY_BUCKETS, registry=self.app_registry)
        self.failures = Counter("edgeorch_app_requests_failed",
                                "Synthetic requests of a workload that failed (site offline).",
                                ["workload", "site"], registry=self.app_registry)
        self._owed: dict[str, float] = {}

    def observe(self, workload: str, n: int) -> None:
        """Send `n` synthetic requests of a registered workload."""
        if n <= 0:
            return
        placement = self.state.workloads[workload]
        series = self.requests.labels(workload, placement.site)
        latencies = self.model.request_latencies_s(placement, n)
        if latencies is None:  # the site is offline: every request fails and times out
            self.failures.labels(workload, placement.site).inc(n)
            latencies = [self.model.timeout_s] * n
        for latency in latencies:
            series.observe(latency)

    def tick(self, seconds: float) -> None:
        """Advance the sampler by `seconds`: each workload gets samples_per_second * seconds requests."""
        for workload in list(self.state.workloads):
            owed = self._owed.get(workload, 0.0) + self.samples_per_second * seconds
            whole = int(owed)
            self._owed[workload] = owed - whole
            self.observe(workload, whole)

    def metrics_text(self, part: str = "all") -> bytes:
        """The exposition of the city ("city", /metrics), the apps ("apps", /metrics/apps) or both."""
        if part not in ("all", "city", "apps"):
            raise ValueError(f"part: must be all, city or apps, got {part!r}")
        city = generate_latest(self.registry) if part != "apps" else b""
        return city + (generate_latest(self.app_registry) if part != "city" else b"")

    async def run_sampler(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            self.tick(now - last)
            last = now


# -- HTTP ------------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text())
    except json.JSONDecodeError as exc:
        raise FaultError(f"body: invalid JSON: {exc}") from exc


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FaultError as exc:
        return _error(400, str(exc))


def metrics_routes(exporter: Exporter) -> list[web.RouteDef]:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=exporter.metrics_text("city"), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def app_metrics(_: web.Request) -> web.Response:
        return web.Response(body=exporter.metrics_text("apps"), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "scenario": exporter.model.city_name})

    return [web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/metrics/apps", app_metrics)]


def control_routes(exporter: Exporter) -> list[web.RouteDef]:
    state = exporter.state

    async def list_faults(_: web.Request) -> web.Response:
        return web.json_response({"faults": [f.to_json() for f in state.faults.values()]})

    async def add_fault(request: web.Request) -> web.Response:
        active = state.add_fault(await _json_body(request))
        return web.json_response(active.to_json(), status=201)

    async def heal_all(_: web.Request) -> web.Response:
        return web.json_response({"healed": state.heal()})

    async def heal_one(request: web.Request) -> web.Response:
        fault_id = request.match_info["fault_id"]
        try:
            return web.json_response({"healed": state.heal(fault_id)})
        except KeyError:
            return _error(404, f"id: no active fault {fault_id!r}")

    async def list_workloads(_: web.Request) -> web.Response:
        return web.json_response({"workloads": {k: p.model_dump() for k, p in state.workloads.items()}})

    async def put_workload(request: web.Request) -> web.Response:
        key = f"{request.match_info['ns']}/{request.match_info['name']}"
        placement = state.set_workload(key, await _json_body(request))
        return web.json_response({"workload": key, **placement.model_dump()})

    async def delete_workload(request: web.Request) -> web.Response:
        key = f"{request.match_info['ns']}/{request.match_info['name']}"
        try:
            state.remove_workload(key)
        except KeyError:
            return _error(404, f"workload: no workload {key!r}")
        return web.json_response({"deleted": key})

    return [
        *group_routes(exporter.groups),
        web.get("/faults", list_faults),
        web.post("/faults", add_fault),
        web.delete("/faults", heal_all),
        web.delete("/faults/{fault_id}", heal_one),
        web.get("/workloads", list_workloads),
        web.put("/workloads/{ns}/{name}", put_workload),
        web.delete("/workloads/{ns}/{name}", delete_workload),
    ]


def group_routes(groups: Groups) -> list[web.RouteDef]:
    """GET/POST/DELETE /groups, PATCH and DELETE /groups/{id}: moving user groups (sim.mobility)."""
    async def list_groups(_: web.Request) -> web.Response:
        return web.json_response({"groups": groups.to_json()})

    async def add_group(request: web.Request) -> web.Response:
        active = groups.add(await _json_body(request))
        return web.json_response(active.to_json(groups.clock()), status=201)

    async def change_group(request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) != {"stop"} or not isinstance(body["stop"], int):
            raise FaultError('body: expected {"stop": <index of a stop of the bus>}')
        try:
            return web.json_response(groups.move(request.match_info["id"], body["stop"]).to_json(groups.clock()))
        except KeyError:
            return _error(404, f"id: no group {request.match_info['id']!r}")

    async def remove(request: web.Request) -> web.Response:
        try:
            return web.json_response({"removed": groups.remove(request.match_info.get("id"))})
        except KeyError:
            return _error(404, f"id: no group {request.match_info['id']!r}")

    return [web.get("/groups", list_groups), web.post("/groups", add_group), web.delete("/groups", remove),
            web.patch("/groups/{id}", change_group), web.delete("/groups/{id}", remove)]


def build_app(exporter: Exporter, *, metrics: bool = True, control: bool = True) -> web.Application:
    """The aiohttp application serving the metrics and/or the control API of `exporter`."""
    app = web.Application(middlewares=[_errors])
    routes = (metrics_routes(exporter) if metrics else []) + (control_routes(exporter) if control else [])
    if control and not metrics:
        routes.append(metrics_routes(exporter)[1])  # /healthz on both ports
    app.add_routes(routes)
    return app


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    addr = runner.addresses[0]
    return runner, f"http://{addr[0] if ':' not in addr[0] else f'[{addr[0]}]'}:{addr[1]}"


async def serve(exporter: Exporter, host: str, port: int, control_port: int | None,
                kubeconfig: Path | None = None) -> None:
    """Serve until SIGINT/SIGTERM; prints one line naming the metrics and control URLs once listening.
    With `kubeconfig`, the workloads under an agreement are followed in that cluster (sim.follower)."""
    runners: list[web.AppRunner] = []
    if control_port is None:
        runner, url = await _start(build_app(exporter), host, port)
        runners.append(runner)
        control_url = url
    else:
        runner, url = await _start(build_app(exporter, control=False), host, port)
        crunner, control_url = await _start(build_app(exporter, metrics=False), host, control_port)
        runners += [runner, crunner]
    sampler = asyncio.create_task(exporter.run_sampler())
    follower = Follower(exporter.state, kubeconfig) if kubeconfig else None
    following = asyncio.create_task(follower.run()) if follower else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"edgeorch-sim-exporter scenario={exporter.model.city_name} metrics={url}/metrics "
          f"control={control_url}", flush=True)
    try:
        await stop.wait()
    finally:
        for task in (sampler, following):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if follower is not None:
            await follower.close()
        for r in runners:
            await r.cleanup()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--scenario", default=DEFAULT_SCENARIO, show_default=True,
              help=f"Built-in scenario ({', '.join(list_scenarios())}) or path to a scenario YAML file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9101, show_default=True, type=click.IntRange(0, 65535),
              help="Port of /metrics (and of the control API unless --control-port); 0 picks a free one.")
@click.option("--control-port", default=None, type=click.IntRange(0, 65535),
              help="Serve the control API (/faults, /workloads) on this port instead.")
@click.option("--seed", default=0, show_default=True, help="Seed of every random draw (jitter, requests).")
@click.option("--jitter-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Add uniform jitter in [0, JITTER_MS) ms to link latency at each scrape.")
@click.option("--baseline-cpu", default=0.10, show_default=True, type=click.FloatRange(0, 1),
              help="Fraction of each node's CPU in use without faults.")
@click.option("--baseline-memory", default=0.10, show_default=True, type=click.FloatRange(0, 1),
              help="Fraction of each node's memory in use.")
@click.option("--samples-per-second", default=20.0, show_default=True, type=click.FloatRange(min=0),
              help="Synthetic requests observed per second for each registered workload.")
@click.option("--service-ms", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Processing time of a request on an idle site, in ms (grows with the site's CPU load).")
@click.option("--kubeconfig", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Follow the workloads under a ServiceLevelAgreement in this cluster: their requests go "
                   "to where they run (the file may appear later; the cluster is read every 0.5 s).")
@click.option("--timeout-s", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="Latency recorded for a request to an offline site (which also counts as failed).")
def main(scenario: str, host: str, port: int, control_port: int | None, seed: int, jitter_ms: float,
         baseline_cpu: float, baseline_memory: float, samples_per_second: float, service_ms: float,
         timeout_s: float, kubeconfig: Path | None) -> None:
    """Serve the simulated city's QoS metrics for Prometheus, and a control API to inject faults.

    Prints one line once listening:
    "edgeorch-sim-exporter scenario=NAME metrics=URL/metrics control=URL".

    \b
    Metrics (GET /metrics):
      edgeorch_link_latency_seconds{cell,site}             gauge
      edgeorch_link_bandwidth_bytes{cell,site}             gauge, bytes/s
      edgeorch_node_cpu_usage_cores{node,site}             gauge
      edgeorch_node_memory_usage_bytes{node,site}          gauge
      edgeorch_site_up{site}                               gauge, 1 or 0
      edgeorch_sim_cell_users{cell,app}                    gauge, users of moving groups
      edgeorch_app_request_latency_seconds{workload,site}  histogram
      edgeorch_app_requests_failed_total{workload,site}    counter

    \b
    Control API (JSON; bad input -> 400 {"error": "<field>: ..."}):
      POST   /faults   {"kind": "latency", "site": S, "add_ms": X [, "cell": C]}
                       {"kind": "cpu", "node": N, "usage_cores": X}
                       {"kind": "offline", "site": S}          -> {"id": ...}
      GET    /faults   DELETE /faults (heal all)   DELETE /faults/ID
      PUT    /workloads/NS/NAME  {"site": S, "cells": {CELL: WEIGHT}}   (or --kubeconfig: followed)
      GET    /workloads   DELETE /workloads/NS/NAME   GET /healthz
      POST   /groups   {"kind": "bus", "app": A, "route": R}   {"kind": "crowd", "app": A, "cells": {CELL: W}}
      GET    /groups   PATCH /groups/ID {"stop": K}   DELETE /groups[/ID]
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        city = load_scenario(scenario)
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from exc
    model = QoSModel(CityState(city), baseline_cpu=baseline_cpu, baseline_memory=baseline_memory,
                     jitter_ms=jitter_ms, service_ms=service_ms, timeout_s=timeout_s, seed=seed)
    exporter = Exporter(model, samples_per_second=samples_per_second)
    try:
        asyncio.run(serve(exporter, host, port, control_port, kubeconfig))
    except OSError as exc:
        click.echo(f"edgeorch-sim-exporter: cannot listen: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
