"""The operator's domain side, wired once at start-up: placement engine, Kubernetes client,
Prometheus source and metrics server, and the loops and servers that hang off them (workload
controller, SLA loop, site loop, the EdgeWorkloads' service loop and the app API of
orchestrator.endpoints).  The Kopf handlers (operator/handlers.py) call into this with plain data
and turn the answers into status patches and Events; this module imports no Kopf.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, start_http_server

from orchestrator import qos_status, telemetry
from orchestrator.cells import CellLoop
from orchestrator.controller import WorkloadController
from orchestrator.decision import BINDINGS
from orchestrator.endpoints.book import EndpointBook
from orchestrator.endpoints.server import ApiSettings, AppServer
from orchestrator.endpoints.service_loop import ServiceLoop
from orchestrator.engine import Holding, PlacementEngine
from orchestrator.health import Repair, Replica, diagnose, node_state
from orchestrator.intents import Intent, IntentBook
from orchestrator.kube.aio import AsyncKube
from orchestrator.ledger import LedgerConnection
from orchestrator.mobility import MobilityLoop
from orchestrator.move_intents import MoveBook
from orchestrator.prometheus import PrometheusSource
from orchestrator.qos_guard import QosGuard
from orchestrator.reoptimiser import Reoptimiser
from orchestrator.rollout import PodState
from orchestrator.sites import SiteLoop
from orchestrator.sla_loop import SlaLoop
from orchestrator.snapshot import NOTHING_RESERVED, Reserved, add, cpu_m, memory_mb
from orchestrator.vocabulary import SITE_LABEL, SLAS
from orchestrator.workloads import Reconciled
from placement import SolverConfig, SolveResult, Weights
from sla_contracts import LedgerConfig

log = logging.getLogger("edgeorch.service")


@dataclass
class Settings:
    """The operator's configuration, from the environment (names in the README)."""

    prometheus_url: str = "http://127.0.0.1:9090"
    chain_url: str | None = None
    ledger_dir: Path | None = None
    metrics_port: int = 9090
    metrics_host: str = "127.0.0.1"
    health_port: int = 8080  # /healthz and /readyz (orchestrator.probes)
    health_host: str = "127.0.0.1"
    kubeconfig: Path | None = None
    batch_window_s: float = 0.1
    max_batch: int = 1000
    solve_time_limit_s: float = 1.0
    workers: int = 256  # concurrent reconciliations (so many can share one solve)
    solve_workers: int = 2  # CP-SAT search threads per solve
    binding: str = "scheduler"  # how replica Pods reach their node (orchestrator.decision.BINDINGS)
    qos_check_s: float = 2.0  # how often every placed workload's own QoS bound is checked (orchestrator.qos_guard)
    reoptimise_s: float = 30.0  # the re-optimiser's period (0: only its events; orchestrator.reoptimiser)
    max_concurrent_moves: int = 5  # re-optimiser moves under way at once, cluster-wide
    min_gain_ms: float = 2.0  # a re-optimiser move or a fail-back must gain this much predicted latency,
    min_gain_percent: float = 20.0  # and this share of it
    ledger: LedgerConfig = field(default_factory=LedgerConfig)  # chain, keys, contract (sla_contracts.config)
    api: ApiSettings = field(default_factory=ApiSettings)  # the app API (orchestrator.endpoints.api)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        kubeconfig = env.get("KUBECONFIG")
        return cls(
            prometheus_url=env.get("EDGEORCH_PROMETHEUS_URL", cls.prometheus_url),
            chain_url=env.get("EDGEORCH_CHAIN_URL") or None,
            ledger_dir=Path(env["EDGEORCH_STATE_DIR"]) if env.get("EDGEORCH_STATE_DIR") else None,
            metrics_port=int(env.get("EDGEORCH_OPERATOR_METRICS_PORT", cls.metrics_port)),
            metrics_host=env.get("EDGEORCH_OPERATOR_METRICS_HOST", cls.metrics_host),
            health_port=int(env.get("EDGEORCH_OPERATOR_HEALTH_PORT", cls.health_port)),
            health_host=env.get("EDGEORCH_OPERATOR_HEALTH_HOST", cls.health_host),
            kubeconfig=Path(kubeconfig) if kubeconfig else None,
            batch_window_s=float(env.get("EDGEORCH_BATCH_WINDOW_S", cls.batch_window_s)),
            max_batch=int(env.get("EDGEORCH_MAX_BATCH", cls.max_batch)),
            solve_time_limit_s=float(env.get("EDGEORCH_SOLVE_TIME_LIMIT_S", cls.solve_time_limit_s)),
            workers=int(env.get("EDGEORCH_WORKERS", cls.workers)),
            solve_workers=int(env.get("EDGEORCH_SOLVE_WORKERS", cls.solve_workers)),
            binding=_binding(env.get("EDGEORCH_BINDING", cls.binding)),
            qos_check_s=_number(env, "EDGEORCH_QOS_CHECK_S", cls.qos_check_s, positive=True),
            reoptimise_s=_number(env, "EDGEORCH_REOPTIMISE_S", cls.reoptimise_s),
            max_concurrent_moves=int(_number(env, "EDGEORCH_MAX_CONCURRENT_MOVES", cls.max_concurrent_moves,
                                             positive=True, integer=True)),
            min_gain_ms=_number(env, "EDGEORCH_MIN_GAIN_MS", cls.min_gain_ms),
            min_gain_percent=_number(env, "EDGEORCH_MIN_GAIN_PERCENT", cls.min_gain_percent),
            ledger=LedgerConfig.from_env(env),  # EDGEORCH_CHAIN_ID, EDGEORCH_LEDGER_*: docs/operations.md
            api=ApiSettings.from_env(env),  # EDGEORCH_API_*: docs/app-api.md
        )


_SERVING: set[tuple[str, int]] = set()


def serve_metrics(settings: Settings) -> None:
    """The operator's /metrics (once per process): a standby serves it too (edgeorch_leader 0)."""
    where = (settings.metrics_host, settings.metrics_port)
    if where not in _SERVING:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
        _SERVING.add(where)


def _binding(value: str) -> str:
    if value not in BINDINGS:
        raise ValueError(f"EDGEORCH_BINDING: expected one of {', '.join(BINDINGS)}, got {value!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: float, *, positive: bool = False,
            integer: bool = False) -> float:
    """A numeric setting: `default` when unset; a ValueError naming it when it is no number, or below 0
    (or not above 0 when `positive`)."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = float(int(text)) if integer else float(text)
    except ValueError:
        raise ValueError(f"{name}: expected {'an integer' if integer else 'a number'}, got {text!r}") from None
    if not (value > 0 if positive else value >= 0) or value != value:
        raise ValueError(f"{name}: must be {'> 0' if positive else '>= 0'}, got {text!r}")
    return value


def _values(index: Mapping[Any, Iterable[Any]]) -> Iterable[Any]:
    for store in index.values():
        yield from store


@dataclass
class IndexView:
    """The engine's ClusterView over the operator's live watch indices (callables return mappings
    key -> collection of values, as Kopf's indices are)."""

    node_index: Callable[[], Mapping[Any, Iterable[Any]]]
    site_index: Callable[[], Mapping[Any, Iterable[Any]]]
    holding_index: Callable[[], Mapping[Any, Iterable[Any]]]
    replica_index: Callable[[], Mapping[Any, Iterable[Any]]] | None = None
    foreign_index: Callable[[], Mapping[Any, Iterable[Any]]] | None = None  # node -> Reserved per other Pod
    phase_index: Callable[[], Mapping[Any, Iterable[Any]]] | None = None  # "ns/name" -> phase of each EdgeWorkload

    def nodes(self) -> list[Mapping[str, Any]]:
        return list(_values(self.node_index()))

    def sites(self) -> dict[str, Mapping[str, Any]]:
        return {name: spec for name, specs in self.site_index().items() for spec in specs}

    def placed(self) -> dict[str, Holding]:
        return {key: h for key, hs in self.holding_index().items() for h in hs}

    def phases(self) -> dict[str, str]:
        """Every EdgeWorkload's phase, by "namespace/name" (empty without the phase index)."""
        if self.phase_index is None:
            return {}
        return {key: phase for key, phases in self.phase_index().items() for phase in phases}

    def replicas_by_site(self) -> dict[tuple[str, str], int]:
        """Replicas placed per (site, tier), from the workloads' status.placements and the nodes' sites."""
        site_of = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(SITE_LABEL, "")
                   for n in self.nodes()}
        tier_of = {name: str(spec.get("tier", "")) for name, spec in self.sites().items()}
        out: dict[tuple[str, str], int] = {}
        for held in self.placed().values():
            for node in held.nodes:
                site = site_of.get(node, "")
                key = (site, tier_of.get(site, ""))
                out[key] = out.get(key, 0) + 1
        return out

    def foreign(self) -> dict[str, Reserved]:
        if self.foreign_index is None:
            return {}
        out: dict[str, Reserved] = {}
        for node, pods in self.foreign_index().items():
            total = NOTHING_RESERVED
            for pod in pods:
                total = add(total, pod)
            out[node] = total
        return out

    def replicas(self, key: str) -> dict[str, PodState] | None:
        """The watched replica Pods of workload `key` (pod -> state); None without a pod watch."""
        if self.replica_index is None:
            return None
        return {r.pod: PodState(r.node, r.version, r.ready, r.ip, r.uid)
                for r in self.replica_index().get(key, ()) if not r.terminating}

    def replica_pods(self) -> dict[str, list[Replica]] | None:
        """Every workload's replica Pods as the Pod watch sees them (what they request now, terminating
        ones too: they hold their room until they are gone), by key; None without a Pod watch."""
        if self.replica_index is None:
            return None
        return {key: list(replicas) for key, replicas in self.replica_index().items()}

    def repairs(self, now: float | None = None) -> dict[str, Repair]:
        """Workloads whose replicas need a new home (orchestrator.health), by key."""
        if self.replica_index is None:
            return {}
        now = time.time() if now is None else now
        states = {n["metadata"]["name"]: node_state(n) for n in self.nodes()}
        index = self.replica_index()
        out: dict[str, Repair] = {}
        for key, held in self.placed().items():
            repair = diagnose(held.nodes, [r for r in index.get(key, ()) if not r.terminating], states, now)
            if repair is not None:
                out[key] = repair
        return out


def holding_of(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Holding | None:
    """Capacity an EdgeWorkload holds according to its status (None when it holds none)."""
    placements = status.get("placements") or []
    if not placements:
        return None
    res = spec.get("resources") or {}
    try:
        return Holding(tuple(p["node"] for p in placements), cpu_m(res.get("cpu", 0)), memory_mb(res.get("memory", 0)),
                       int(res.get("gpu") or 0))
    except (KeyError, ValueError, TypeError):
        return None


@dataclass
class OperatorService:
    settings: Settings
    view: IndexView
    kube: AsyncKube | None = None
    prometheus: PrometheusSource | None = None
    engine: PlacementEngine | None = None
    workloads: WorkloadController | None = None
    ledger: LedgerConnection | None = None
    slas: SlaLoop | None = None
    sites: SiteLoop | None = None  # the EdgeSites' status, and the drain of cordoned sites
    cells: CellLoop | None = None
    services: ServiceLoop | None = None  # each EdgeWorkload's Service (orchestrator.endpoints)
    book: EndpointBook = field(default_factory=EndpointBook)  # what the app API serves
    app_api: AppServer | None = None
    mobility: MobilityLoop | None = None  # workloads whose users move (spec.users.fromMetric)
    intents: IntentBook = field(default_factory=IntentBook)  # the agreements' offload intents, per workload
    moves: MoveBook = field(default_factory=MoveBook)  # the QoS guard's and the re-optimiser's intents
    qos: QosGuard | None = None  # every workload's own QoS bound, all the time
    reoptimiser: Reoptimiser | None = None  # moves that gain enough when better places open
    user_agent: str = "edgeorch-operator"  # (its first segment names the writer in managedFields)
    _metrics_started: bool = field(default=False, repr=False)
    _posting: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def start(self) -> None:
        """Wire everything; a ledger configuration that cannot work raises LedgerConfigError first, before
        anything else starts."""
        s = self.settings
        self.ledger = LedgerConnection(s.ledger)
        await self.ledger.check()
        self.kube = await AsyncKube.connect(s.kubeconfig, user_agent=self.user_agent)
        self.prometheus = PrometheusSource(s.prometheus_url)
        self.engine = PlacementEngine(
            self.view, self.prometheus.snapshot, weights=Weights(),
            config=SolverConfig(time_limit_s=s.solve_time_limit_s, workers=s.solve_workers), window_s=s.batch_window_s,
            max_batch=s.max_batch, on_batch=self._observe_batch,
        )
        self.engine.start()
        self.workloads = WorkloadController(self.engine, self.kube, workers=s.workers,
                                            replicas=self.view.replicas, binding=s.binding,
                                            health=self.view.repairs, intents=self._wanted, annotate=self._annotate,
                                            band_width=self.engine.config.priority_band,
                                            resizes=self.intents.resize_of, frozen=self.intents.frozen)
        weights = self.engine.weights
        self.mobility = MobilityLoop(self.prometheus.query, self.prometheus.snapshot, self.workloads.resolve,
                                     self.workloads.enqueue, sites=self.view.sites,
                                     min_gain_ms=weights.migration / weights.latency if weights.latency else math.inf)
        self.workloads.users = self.mobility.reading
        self.engine.preemption.placed = self.workloads.placed_requests  # (orchestrator.preemption)
        self.engine.preemption.on_preempt = self.workloads.preempted
        self.intents.seed(await self.kube.list_custom(SLAS))  # before the first reconciliation
        self.workloads.start()
        self.mobility.start()
        self.slas = SlaLoop(self.kube, self.engine, self.prometheus, self.ledger, self.workloads.request,
                            self.intents)
        self.sites = SiteLoop(self.kube, self.view, self.prometheus.snapshot, self.workloads.resolve)
        self.sites.start()
        self.cells = CellLoop(self.kube, self.prometheus)
        self.cells.start()
        self.services = ServiceLoop(self.kube)
        self.services.start()
        self.app_api = AppServer(s.api, self.book, self.kube)
        await self.app_api.start()
        gain = {"min_gain_ms": s.min_gain_ms, "min_gain": s.min_gain_percent / 100}
        self.qos = QosGuard(self.engine, self.view.sites, self.workloads.latest, self.prometheus.snapshot, self.intents,
                            self.moves, self.workloads.request, self.workloads.enqueue, self.post_events,
                            interval_s=s.qos_check_s, **gain)
        self.qos.start()
        self.reoptimiser = Reoptimiser(self.engine, self.view, self.workloads.latest, self.prometheus.snapshot,
                                       self.intents, self.moves, self.qos.degraded, self.workloads.request,
                                       self.workloads.enqueue, period_s=s.reoptimise_s,
                                       max_moves=s.max_concurrent_moves, **gain)
        self.reoptimiser.start()
        if not self._metrics_started:
            engine, workloads = self.engine, self.workloads
            telemetry.QUEUE_DEPTH.set_function(lambda: engine.queue_depth() + workloads.queue_depth())
            REGISTRY.register(telemetry.ClusterCollector(self.view.replicas_by_site, self.view.phases))
            serve_metrics(s)
            self._metrics_started = True
        log.info("edgeorch operator started: prometheus %s, metrics on :%d", s.prometheus_url, s.metrics_port)

    def workload_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One EdgeWorkload watch event, for the loop that follows the users of those that measure them
        (orchestrator.mobility), the controller, the service loop and the app API's book."""
        if self.mobility:
            self.mobility.observe(event_type, body)
        if self.workloads:
            self.workloads.observe(event_type, body)
        if self.services:
            self.services.observe_workload(event_type, body)
        self.book.observe(event_type, body)

    def _wanted(self, key: str) -> Sequence[Intent]:
        """The intents the controller honours for a workload: its agreements', or the operator's own."""
        return self.moves.wanted(key, self.intents.of(key))

    def _annotate(self, key: str, body: Mapping[str, Any], result: Reconciled) -> Reconciled:
        """The QoS guard's verdict, in the status the controller writes anyway (orchestrator.qos_status)."""
        return qos_status.merge(body, result, self.qos.verdict(key) if self.qos is not None else None)

    def post_events(self, involved: Mapping[str, Any], events: Iterable[tuple[str, str, str]]) -> None:
        """Post (type, reason, message) Events about `involved` in the background, in order, through
        AsyncKube.post_event (which aggregates repeats into one Event whose count grows); a failure is
        logged, never raised into the handler that said it."""
        events = list(events)
        if self.kube is None or not events:
            return
        kube = self.kube

        async def post() -> None:
            for type_, reason, message in events:
                try:
                    await kube.post_event(involved, type_, reason, message)
                except Exception as exc:  # an Event is best effort
                    log.warning("could not post Event %s about %s: %s", reason, involved["metadata"].get("name"), exc)

        task = asyncio.get_running_loop().create_task(post())
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def stop(self) -> None:
        for task in list(self._posting):
            task.cancel()
        for loop in (self.reoptimiser, self.qos):
            if loop is not None:
                await loop.stop()
        if self.sites:
            await self.sites.stop()
        if self.cells:
            await self.cells.stop()
        if self.app_api:
            await self.app_api.stop()
        if self.services:
            await self.services.stop()
        if self.mobility:
            await self.mobility.stop()
        if self.ledger:
            await self.ledger.close()
        if self.workloads:
            await self.workloads.stop()
        if self.engine:
            await self.engine.stop()
        if self.prometheus:
            await self.prometheus.close()
        if self.kube:
            await self.kube.close()

    @staticmethod
    def _observe_batch(size: int, result: SolveResult) -> None:
        telemetry.SOLVE_SECONDS.observe(result.wall_s)
        telemetry.SOLVE_GAP.set(result.gap)
        telemetry.BATCH_SIZE.observe(size)
