"""edgeorch's Kopf handlers: thin glue from Kubernetes events to `orchestrator`.

Run with `kopf run operator/handlers.py --all-namespaces --standalone` (as many replicas as you like:
one leads, orchestrator.leader; the others wait in `configure`).  Every handler is a few
lines: it hands plain data to the domain (orchestrator.controller, orchestrator.service) and turns
the answer into a status patch, Events and Kopf's retry signals.  No placement or ledger logic here.
Handlers are `async` even where they do not await: Kopf runs sync handlers in a thread pool, which
costs more than the handler itself for the indices and watch events.
EdgeWorkloads go through raw watch events to the controller's work queue: Kopf keeps no
per-object state (no annotations, no finalizers) for them, so a wave costs one status write each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

import kopf

from orchestrator import telemetry
from orchestrator.health import replica_of
from orchestrator.kube.errors import KubeError
from orchestrator.leader import LeaderElector, LeaseConfig
from orchestrator.ledger import LedgerConnection
from orchestrator.probes import Probes
from orchestrator.rollout import pod_ready
from orchestrator.service import IndexView, OperatorService, Settings, holding_of, serve_metrics
from orchestrator.snapshot import pod_requests
from orchestrator.vocabulary import (
    ANNOTATION_PREFIX,
    API_GROUP,
    API_VERSION,
    EDGESITES,
    EDGEWORKLOADS,
    FINALIZER,
    NODE_LABEL,
    SITE_LABEL,
    SLA,
    SLAS,
    TEMPLATE_HASH_LABEL,
    WORKLOAD_LABEL,
    EventType,
    Phase,
    Reason,
)
from sla_contracts.errors import LedgerConfigError

GROUP, VERSION = API_GROUP, API_VERSION
CHANGE_HANDLED = {SLAS: SLA}  # plural -> kind, of every resource
# with on.create/update/resume/delete handlers (Kopf needs their diff base; the others get none)
SERVICE: OperatorService | None = None
ELECTOR: LeaderElector | None = None  # the Lease election (orchestrator.leader)
PROBES: Probes | None = None  # /healthz and /readyz (orchestrator.probes)
LOST_LEADERSHIP = 3  # the exit code of a leader that could not renew its Lease in time


class ChangedKindsDiffBase(kopf.AnnotationsDiffBaseStorage):
    """Kopf's diff base, built only for the kinds that have change handlers (SLAs).

    Kopf builds every watched object's "essence" (a deep copy of the body) on every watch event to
    detect changes, also for kinds that only feed indices or `on.event` (Pods, Nodes, EdgeSites,
    EdgeWorkloads), where nothing reads it: 8 % of the operator's CPU in a wave (py-spy,
    `bench.operator`).  For those kinds the essence is empty, so no change is ever detected; no
    handler of theirs asks for one."""

    def __init__(self, kinds: frozenset[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kinds = kinds

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        if body.get("kind") not in self.kinds:
            return kopf.BodyEssence()
        return super().build(body=body, extra_fields=extra_fields)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, node_idx: kopf.Index, site_idx: kopf.Index,
                    holding_idx: kopf.Index, replica_idx: kopf.Index, foreign_idx: kopf.Index, phase_idx: kopf.Index,
                    **_: Any) -> None:
    """All Kopf settings in one place, the leader election, then (once leading) the domain service.

    A standby waits here: Kopf starts no watch, no handler and no timer before its startup handlers
    return, so a standby reads and writes nothing but the Lease.  Once it leads, Kopf lists every
    watched object and hands each to the handlers and indices: a full level-triggered resync."""
    global SERVICE, ELECTOR, PROBES
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = ChangedKindsDiffBase(
        frozenset(CHANGE_HANDLED.values()), prefix=ANNOTATION_PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.WARNING
    # Kopf logs every handler call at INFO ("Handler ... succeeded"): one line per watch event of
    # every EdgeWorkload; edgeorch's own loggers say what was decided.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 300
    try:
        config = Settings.from_env()
        lease = LeaseConfig.from_env()
    except ValueError as exc:  # a setting that cannot work (LedgerConfigError is one): one line, exit 2
        _exit_misconfigured(exc)
    try:  # a ledger set-up that cannot work fails now, on a standby too (nothing written to find out)
        await LedgerConnection(config.ledger).preflight()
    except LedgerConfigError as exc:
        _exit_misconfigured(exc)
    telemetry.LEADER.set(0)
    serve_metrics(config)
    ELECTOR = LeaderElector.connect(lease, config.kubeconfig, on_lost=_leadership_lost)
    PROBES = Probes(ELECTOR, host=config.health_host, port=config.health_port,
                    started=lambda: SERVICE is not None and SERVICE.workloads is not None,
                    details=lambda: {"placementQueue": _queue_depth()})
    await PROBES.start()
    ELECTOR.start()
    await ELECTOR.wait_leading()
    telemetry.LEADER.set(1)
    SERVICE = OperatorService(config, IndexView(lambda: node_idx, lambda: site_idx, lambda: holding_idx,
                                                lambda: replica_idx, lambda: foreign_idx, phase_index=lambda: phase_idx),
                              user_agent=f"edgeorch@{lease.identity}")
    try:
        await SERVICE.start()
    except LedgerConfigError as exc:  # e.g. the chain is not the configured one
        _exit_misconfigured(exc)


def _leadership_lost(why: str) -> None:
    """Stop acting at once (called from the election's thread): exit, as client-go's users do; the
    Deployment starts the container again, as a standby."""
    telemetry.LEADER.set(0)
    logging.getLogger("edgeorch").error("edgeorch: leadership lost (%s): exiting", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(LOST_LEADERSHIP)


def _exit_misconfigured(exc: Exception) -> NoReturn:
    """One log line that names the setting, then exit code 2 (no traceback: nothing is broken but the
    configuration; a Deployment's Pod shows the line in its log and restarts)."""
    logging.getLogger("edgeorch").error("edgeorch: configuration error: %s", " ".join(str(exc).split()))
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited")  # Kopf's, as it stops
    raise SystemExit(2)


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    """Stop the loops, then give the Lease up (a standby takes over at its next read)."""
    if SERVICE:
        await SERVICE.stop()
    if ELECTOR:
        await asyncio.to_thread(ELECTOR.stop)
    if PROBES:
        await PROBES.stop()


def _queue_depth() -> int:
    depth = SERVICE.engine.queue_depth() if SERVICE and SERVICE.engine else 0
    depth += SERVICE.workloads.queue_depth() if SERVICE and SERVICE.workloads else 0
    return depth


# -- watch indices: the cluster as the placement engine sees it -------------------------------------
@kopf.index("", "v1", "nodes", labels={SITE_LABEL: kopf.PRESENT})
async def node_idx(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {name: {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}}


@kopf.index(GROUP, VERSION, EDGESITES)
async def site_idx(name: str, spec: kopf.Spec, **_: Any) -> dict[str, Any]:
    return {name: dict(spec)}


@kopf.index(GROUP, VERSION, EDGEWORKLOADS)
async def holding_idx(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any) -> dict[str, Any]:
    held = holding_of(spec, status)
    return {f"{namespace}/{name}": held} if held else {}


@kopf.index(GROUP, VERSION, EDGEWORKLOADS)
async def phase_idx(namespace: str | None, name: str, status: kopf.Status, **_: Any) -> dict[str, Any]:
    """Each EdgeWorkload's phase (the operator's metrics: workloads per phase, the Unplaceable ones)."""
    return {f"{namespace}/{name}": status.get("phase") or Phase.PENDING.value}


@kopf.index("", "v1", "pods", labels={WORKLOAD_LABEL: kopf.PRESENT})
async def replica_idx(namespace: str | None, name: str, labels: kopf.Labels, spec: kopf.Spec, meta: kopf.Meta,
                      status: kopf.Status, **_: Any) -> dict[str, Any] | None:
    """Replica Pods per workload: (namespace, workload) -> Replica (pod, node, whether it can run);
    terminating ones are marked so (they hold their room until they are gone)."""
    node = labels.get(NODE_LABEL) or spec.get("nodeName") or ""
    return {f"{namespace}/{labels[WORKLOAD_LABEL]}": replica_of(name, node, status, labels.get(TEMPLATE_HASH_LABEL, ""),
                                                             pod_requests(spec), bool(meta.get("deletionTimestamp")),
                                                             str(meta.get("uid") or ""))}


@kopf.index("", "v1", "pods", labels={WORKLOAD_LABEL: kopf.ABSENT})
async def foreign_idx(spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, **_: Any) -> dict[str, Any] | None:
    """Pods edgeorch does not manage, per node, with what they request (the kube-scheduler counts them,
    terminating ones too until they are gone)."""
    node = spec.get("nodeName")
    if not node or status.get("phase") in ("Succeeded", "Failed"):
        return None
    return {node: pod_requests(spec)}


@kopf.on.event("", "v1", "pods", labels={WORKLOAD_LABEL: kopf.PRESENT})
async def replica_event(type: str | None, namespace: str | None, name: str, labels: kopf.Labels, meta: kopf.Meta,
                        status: kopf.Status, **_: Any) -> None:
    """A replica Pod changed: a workload whose rollout waits for its Pods is woken when one turns
    Ready or goes (Kopf has updated the indices before this runs)."""
    if SERVICE and SERVICE.workloads:
        SERVICE.workloads.pod_changed(f"{namespace}/{labels[WORKLOAD_LABEL]}", f"{namespace}/{name}",
                                      ready=pod_ready(status), gone=type == "DELETED" or bool(meta.get("deletionTimestamp")))


# -- EdgeWorkloads ------------------------------------------------------------------------------------
@kopf.on.event(GROUP, VERSION, EDGEWORKLOADS)
async def workload_event(type: str | None, event: kopf.RawEvent, **_: Any) -> None:
    """Every watch event goes to the controller's work queue (level-triggered; Kopf writes nothing), the
    service loop and the app API (orchestrator.endpoints)."""
    if SERVICE:
        SERVICE.workload_event(type, event["object"])


@kopf.on.event("", "v1", "services", labels={WORKLOAD_LABEL: kopf.PRESENT})
async def service_event(type: str | None, event: kopf.RawEvent, **_: Any) -> None:
    """The EdgeWorkloads' Services, for their one writer (a Service deleted or edited by hand is put back)."""
    if SERVICE and SERVICE.services:
        SERVICE.services.observe_service(type, event["object"])


# -- EdgeSites ----------------------------------------------------------------------------------------
@kopf.on.event(GROUP, VERSION, EDGESITES)
async def site_event(type: str | None, event: kopf.RawEvent, **_: Any) -> None:
    """Every watch event goes to the site loop, the one writer of EdgeSite status (orchestrator.sites)."""
    if SERVICE and SERVICE.sites:
        SERVICE.sites.observe(type, event["object"])


# -- ServiceLevelAgreements ---------------------------------------------------------------------------
@kopf.on.resume(GROUP, VERSION, SLAS, backoff=2)
@kopf.on.create(GROUP, VERSION, SLAS, backoff=2)
@kopf.on.update(GROUP, VERSION, SLAS, field="spec", backoff=2)
async def record_sla(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Queue the agreement (or its new version) for the ledger and write what can be written now.

    The timer queues a generation this handler has not (while it retries), so a failure here delays
    nothing by more than a tick."""
    assert SERVICE and SERVICE.slas
    with _retry_on_kube_errors():
        result = await SERVICE.slas.record(body)
    _write(body, patch, result)


@kopf.timer(GROUP, VERSION, SLAS, interval=1.0, initial_delay=1.0)
async def evaluate_sla(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Every second: evaluate when due, flush the outbox, offload or fail back."""
    assert SERVICE and SERVICE.slas
    with _retry_on_kube_errors():
        result = await SERVICE.slas.tick(body)
    _write(body, patch, result)


@kopf.on.delete(GROUP, VERSION, SLAS, retries=5, backoff=2)
async def terminate_sla(body: kopf.Body, retry: int, **_: Any) -> None:
    """End the agreement on chain; after a few failed tries the SLA goes anyway (with a Warning)."""
    assert SERVICE and SERVICE.slas
    try:
        tx = await SERVICE.slas.terminate(body)
    except Exception as exc:
        if retry >= 4:
            SERVICE.post_events(body, [(EventType.WARNING, Reason.TERMINATION_NOT_RECORDED, str(exc)[:500])])
            return
        raise kopf.TemporaryError(f"chain: {exc}", delay=2) from exc
    if tx:
        SERVICE.post_events(body, [(EventType.NORMAL, Reason.TERMINATED, f"agreement terminated on chain, tx {tx}")])


@contextlib.contextmanager
def _retry_on_kube_errors() -> Iterator[None]:
    """A Kubernetes API error is counted and retried by Kopf in 2 s (not after its default 60 s)."""
    try:
        yield
    except KubeError as exc:
        telemetry.RECONCILE_ERRORS.labels("kubernetes").inc()
        raise kopf.TemporaryError(f"Kubernetes API: {exc}", delay=2) from exc


def _write(body: kopf.Body, patch: kopf.Patch, result: Any) -> None:
    """The status patch, and the Events (posted by the service: repeats make one Event whose count grows)."""
    assert SERVICE
    if result.status:
        patch.status.update(result.status)
    SERVICE.post_events(body, result.events)
    for target, event in result.workload_events:
        SERVICE.post_events(target, [event])
