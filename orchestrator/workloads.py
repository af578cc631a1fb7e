"""Reconciling one EdgeWorkload: validate, place (through the engine), roll its replica Pods towards
the placement (orchestrator.rollout: make before break), report.

Called by the workload controller with plain data; returns the status to write and the Events to
post.  Idempotent: when the status already records a decision for this generation, it is not solved
again, only rolled towards (nothing changes when the Pods match it, so an operator restart moves
nothing); a new generation, an offload intent or a repair solves again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from orchestrator import intents, replica_pods, resize, rollout
from orchestrator.decision import build_pod, decision_id, pod_name
from orchestrator.elasticity import millicores
from orchestrator.endpoints import serving
from orchestrator.engine import Outcome, PlacementEngine
from orchestrator.health import avoided_nodes
from orchestrator.kube.aio import AsyncKube
from orchestrator.reconciled import MIGRATION_LOG_S, Reconciled
from orchestrator.resources import EdgeWorkloadSpec, EdgeWorkloadStatus
from orchestrator.resources.common import ConditionStatus, set_condition, status_patch
from orchestrator.resources.workload_status import MoveAction
from orchestrator.rollout import PodState
from orchestrator.snapshot import Request, node_up
from orchestrator.vocabulary import WORKLOAD_LABEL, EventType, Phase, Reason
from orchestrator.vocabulary import WorkloadCondition as Cond
from orchestrator.watch_events import is_stale, needs_work


def _status(body: Mapping[str, Any]) -> EdgeWorkloadStatus:
    try:
        return EdgeWorkloadStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return EdgeWorkloadStatus.model_validate({})


def key_of(body: Mapping[str, Any]) -> str:
    return f"{body['metadata']['namespace']}/{body['metadata']['name']}"


def invalid(body: Mapping[str, Any], error: ValidationError) -> Reconciled:
    """The spec passed the API server but not our model: say which field, change nothing else."""
    first = error.errors()[0]
    where = "spec." + ".".join(str(p) for p in first["loc"])
    message = f"{where}: {first['msg']}"
    st = _status(body)
    gen = body["metadata"].get("generation")
    conds = set_condition(st.conditions, Cond.PLACED, ConditionStatus.FALSE, Reason.INVALID_SPEC, message, gen)
    return Reconciled(
        status_patch(EdgeWorkloadStatus(phase=Phase.UNPLACEABLE, observed_generation=gen, conditions=conds)),
        [(EventType.WARNING, Reason.INVALID_SPEC, message)],
    )


def metrics_unavailable(body: Mapping[str, Any], message: str) -> dict[str, Any]:
    """The status patch that says placement waits for metrics (nothing else changes)."""
    st = _status(body)
    conds = set_condition(st.conditions, Cond.METRICS_UNAVAILABLE, ConditionStatus.TRUE,
                          Reason.PROMETHEUS_UNREACHABLE, f"{message}; placement unchanged until metrics return"[:1000],
                          body["metadata"].get("generation"))
    return status_patch(EdgeWorkloadStatus(conditions=conds))


def decided(body: Mapping[str, Any]) -> bool:
    """Whether the status holds a placement decided for the current generation (the rollout towards
    it may still be going on).  A Degraded workload has none: its Pods are an older generation's,
    kept because no placement was found for this one, and nothing rolls onto them unsolved."""
    st = _status(body)
    return (st.decision_id is not None and st.observed_generation == body["metadata"].get("generation")
            and st.phase == Phase.PLACED)


INTENT_EVENTS = {  # the Event that says an intent's moves were made
    intents.OFFLOAD: (EventType.WARNING, Reason.OFFLOADED),
    intents.FAIL_BACK: (EventType.NORMAL, Reason.FAILED_BACK),
    MoveAction.REOPTIMISE.value: (EventType.NORMAL, Reason.REOPTIMISED),
}
UNPLACEABLE_RETRY_S = 30.0  # no feasible placement: capacity or metrics may change
TIMED_OUT_RETRY_S = 2.0  # the solver ran out of time before placing it
INVALID_RETRY_S = 300.0  # the solver could not take its request (a new generation is tried at once)


ROLLOUT_POLL_S = 5.0  # while replicas are replaced or moved, and no Pod of it changed: look again
STALLED_POLL_S = 10.0  # after the progress deadline passed


async def reconcile(
    body: Mapping[str, Any], engine: PlacementEngine, kube: AsyncKube, *, force: bool = False,
    migration_weight: float | None = None, pods: Mapping[str, PodState] | None = None, binding: str = "scheduler",
    avoid_nodes: frozenset[str] = frozenset(), wanted: Sequence[intents.Intent] = (),
    watched: Mapping[str, PodState] | None = None, users: Mapping[str, float] | None = None,
    preempted_by: tuple[str, ...] = (), wanted_size: resize.Wanted | None = None, frozen: bool = False,
) -> Reconciled:
    """Place (or re-place) the workload and roll its Pods towards the placement; see the module
    docstring.  `pods` are its replica Pods when the caller knows them; else they are listed.  Nodes
    in `avoid_nodes`, and those its avoid-nodes annotation still names, get none of its replicas.
    `wanted` are the offload intents its agreements hold (orchestrator.intents): the sites they
    leave get none either, and one not carried out yet forces a new solve, after which the status
    records the intent and the moves it made.  A placement already decided for this generation is
    not solved again: the Pods are rolled towards it (orchestrator.rollout), one step per call.
    `watched` are its Pods as the Pod watch sees them: enough to see that a rollout step has nothing
    to do (it waits for Pods to get Ready); a step that creates or deletes lists them first, since
    the watch may lag behind the Pods this operator just made or deleted.  `users`: where its users
    are, measured (orchestrator.mobility), for a solve instead of spec.users.cells.  `preempted_by`:
    workloads of a higher priority band took room it holds (orchestrator.preemption): it moves, said in
    a Preempted Event, or, with no other place, its Pods go (the room is theirs) and it is Unplaceable.
    `wanted_size`: an agreement's resize intent (orchestrator.resize): the size it runs at, carried
    out with a new solve.  `frozen`: a `suspend` breach is open: no intent is carried out."""
    try:
        given = EdgeWorkloadSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        return invalid(body, exc)
    sized = resize.size_of(body, given, wanted_size, frozen)
    spec = sized.spec
    meta = body["metadata"]
    ns = meta["namespace"]
    if pods is None and watched is not None and decided(body) and not force and not wanted \
            and not sized.pending and _nothing_to_do(body, spec, watched):
        pods = watched
    if pods is None:
        pods = {p["metadata"]["name"]: rollout.pod_state(p) for p in await kube.live_pods(ns, selector_of(body))}
    intent = intents.pending(body, wanted) if not frozen else None
    if spec.replicas == 0:
        if not force and intent is None and decided(body) and not pods:
            return Reconciled(None)
        return await scaled_to_zero(body, engine, kube, pods, intent)
    if not force and intent is None and not sized.pending and decided(body):
        return await _roll(body, spec, engine, kube, pods, binding)
    if intent is not None and intent.action == intents.FAIL_BACK:
        migration_weight = 0.0  # the what-if that asked for it counted no migration cost either
    avoid = avoid_nodes | frozenset(avoided_nodes(meta.get("annotations"), time.time()))
    if sized.cpu_changed:  # every Pod is replaced anyway: a move costs nothing more; where the new size
        migration_weight = 0.0  # cannot be made beside the old one, the replica moves
        avoid |= resize.crowded(engine.room, [p.node for p in pods.values()], millicores(spec.resources.cpu),
                                resize.running_cpu(body, given), rollout.limits(spec)[1])
    outcome = await engine.place(Request(key_of(body), spec, tuple(sorted(p.node for p in pods.values())),
                                         avoid_sites=intents.avoided_sites(wanted), avoid_nodes=avoid,
                                         migration_weight=migration_weight, users=users))
    st = _status(body)
    gen = meta.get("generation")
    if not outcome.placed and preempted_by and pods and not outcome.invalid:
        return await preempted_out(body, engine, kube, pods, outcome, preempted_by)
    if not outcome.placed:
        why = Reason.INVALID_SPEC if outcome.invalid else Reason.NO_FEASIBLE_PLACEMENT
        conds = set_condition(st.conditions, Cond.UNPLACEABLE, ConditionStatus.TRUE, why, outcome.reason or "", gen)
        conds = set_condition(conds, Cond.PLACED, ConditionStatus.FALSE if not pods else ConditionStatus.TRUE,
                              why if not pods else Reason.KEPT_PREVIOUS, outcome.reason or "", gen)
        failed = status_patch(EdgeWorkloadStatus.model_validate({
            "phase": Phase.DEGRADED if pods else Phase.UNPLACEABLE, "observedGeneration": gen,
            "solver": outcome.solver, "decisionId": outcome.decision_id, "conditions": conds,
            "replicas": len(pods), "selector": selector_of(body)}))
        # A solve that ran out of time is no verdict on the workload: try again soon.  One the solver
        # cannot take (outcome.invalid) fails the same way until its spec changes: try again rarely.
        retry = INVALID_RETRY_S if outcome.invalid else \
            TIMED_OUT_RETRY_S if outcome.solver.get("status") == "TIMEOUT" else UNPLACEABLE_RETRY_S
        if outcome.invalid:
            warning = (EventType.WARNING, Reason.INVALID_SPEC, outcome.reason or "the solver cannot take this workload")
        elif intent is not None and intent.action == intents.OFFLOAD:
            warning = (EventType.WARNING, Reason.OFFLOAD_IMPOSSIBLE,
                       f"{outcome.reason or 'no other site fits'}; {intent.reason}"[:1000])
        elif sized.pending and sized.wanted is not None:
            warning = (EventType.WARNING, Reason.RESIZE_IMPOSSIBLE, f"cpu {spec.resources.cpu} x {spec.replicas} fits "
                       f"nowhere ({outcome.reason or 'no room'}); the replicas keep their size"[:1000])
        else:
            warning = (EventType.WARNING, Reason.UNPLACEABLE, outcome.reason or "no feasible placement")
        return Reconciled(failed, [warning], retry_after=retry, outcome=outcome)
    before = [p.node for p in st.placements] if st.placements else [p.node for p in pods.values()]
    moved = rollout.moves(before, outcome.nodes) if pods else 0  # a scale-down moves nothing
    placements = [
        {"replica": i, "node": n, "site": s, "tier": t}
        for i, (n, s, t) in enumerate(zip(outcome.nodes, outcome.sites, outcome.tiers, strict=True))
    ]
    conds = set_condition(st.conditions, Cond.PLACED, ConditionStatus.TRUE, Reason.PLACED,
                          f"{len(placements)} replicas on {_summary(outcome)}", gen)
    conds = set_condition(conds, Cond.UNPLACEABLE, ConditionStatus.FALSE, Reason.PLACED, "", gen)
    conds = [c for c in conds if c.type != Cond.METRICS_UNAVAILABLE]
    now = datetime.now(UTC).replace(microsecond=0)
    status: dict[str, Any] = {
        "phase": Phase.PLACED, "observedGeneration": gen, "placements": placements,
        "sites": ",".join(dict.fromkeys(outcome.sites)),
        "predictedLatencyMs": round(outcome.predicted_latency_ms or 0.0, 3),
        "solver": outcome.solver, "decisionId": outcome.decision_id,
        "migrations": st.migrations + moved, "conditions": conds, "lastProgressTime": now,
    }
    if moved:
        status["lastMigrationTime"] = now
    events: list[tuple[str, str, str]] = []
    if intent is not None:  # carried out: said once, in the same write as the placement it made
        site_moves = intents.site_moves([p.site for p in st.placements], list(outcome.sites))
        status["offload"] = intents.record(intent, site_moves, now)
        t = int(now.timestamp())
        status["migrationLog"] = [x for x in st.migration_log if t - x < MIGRATION_LOG_S] + [t] * len(site_moves)
        if site_moves:
            type_, verb = INTENT_EVENTS.get(intent.action, (EventType.NORMAL, Reason.FAILED_BACK))
            events.append((type_, verb, f"{'; '.join(f'{a} -> {b}' for a, b in site_moves)} ({intent.reason})"[:1000]))
    if sized.pending:  # carried out: said once, in the same write as the placement it made
        site_moves = intents.site_moves([p.site for p in st.placements], list(outcome.sites))
        status["resize"] = resize.record(sized, site_moves, now)
        status["conditions"], said = resize.report(sized, given, status["conditions"], gen, site_moves)
        events.append(said)
    if Counter(before) != Counter(outcome.nodes) or not pods:
        verb = Reason.MOVED if moved else Reason.SCALED if pods and len(before) != len(placements) else Reason.PLACED
        events.append((EventType.NORMAL, verb, f"{len(placements)} replicas on {_summary(outcome)}; predicted latency "
                       f"{outcome.predicted_latency_ms or 0:.1f} ms; {outcome.solver.get('name')} "
                       f"{outcome.solver.get('status')} gap {outcome.solver.get('gap')} "
                       f"(batch of {outcome.batch_size})"))
    if preempted_by and moved:
        events.append((EventType.WARNING, Reason.PREEMPTED, f"room on {', '.join(sorted(set(before) - set(outcome.nodes)))}"
                       f" taken by higher-priority {', '.join(preempted_by)}; moving to {_summary(outcome)}"[:1000]))
    if outcome.preempts:
        events.append((EventType.NORMAL, Reason.PREEMPTING, f"takes the room of lower-priority "
                       f"{', '.join(outcome.preempts)} (they move first where they can)"[:1000]))
    placed = {**body, "status": {**(body.get("status") or {}), **status_patch(EdgeWorkloadStatus.model_validate(status))}}
    rolled = await _roll(placed, spec, engine, kube, pods, binding, outcome=outcome, decided_now=status)
    rolled.events[:0] = events
    return rolled


async def preempted_out(body: Mapping[str, Any], engine: PlacementEngine, kube: AsyncKube,
                        pods: Mapping[str, PodState], outcome: Outcome, by: tuple[str, ...]) -> Reconciled:
    """Preempted with no other place to go: its replica Pods are deleted (the workloads of a higher
    band that took the room wait for it) and it is Unplaceable until room returns."""
    meta = body["metadata"]
    await replica_pods.delete(kube, meta["namespace"], pods, pods)
    engine.release(key_of(body))
    message = f"room taken by higher-priority {', '.join(by)}; no other place: {outcome.reason or 'no room'}"[:1000]
    st = _status(body)
    gen = meta.get("generation")
    conds = set_condition(st.conditions, Cond.UNPLACEABLE, ConditionStatus.TRUE, Reason.PREEMPTED, message, gen)
    conds = set_condition(conds, Cond.PLACED, ConditionStatus.FALSE, Reason.PREEMPTED, message, gen)
    status: dict[str, Any] = {
        "phase": Phase.UNPLACEABLE, "observedGeneration": gen, "placements": [], "sites": None,
        "predictedLatencyMs": None, "solver": outcome.solver, "decisionId": outcome.decision_id, "conditions": conds,
        "replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "updatedReplicas": 0, "selector": selector_of(body)}
    return Reconciled(status_patch(EdgeWorkloadStatus.model_validate(status)),
                      [(EventType.WARNING, Reason.PREEMPTED, message)], retry_after=UNPLACEABLE_RETRY_S, outcome=outcome)


def _nothing_to_do(body: Mapping[str, Any], spec: EdgeWorkloadSpec, pods: Mapping[str, PodState]) -> bool:
    """Whether a rollout step from `pods` towards the status' placement creates and deletes nothing."""
    try:
        version = rollout.version_of(spec)
    except replica_pods.TEMPLATE_ERRORS:
        return False
    surge, unavailable = rollout.limits(spec)
    return rollout.step(pods, [p.node for p in _status(body).placements], version, surge, unavailable).empty


async def _roll(body: Mapping[str, Any], spec: EdgeWorkloadSpec, engine: PlacementEngine, kube: AsyncKube,
                pods: Mapping[str, PodState], binding: str, *, outcome: Outcome | None = None,
                decided_now: Mapping[str, Any] | None = None) -> Reconciled:
    """One rollout step towards the placement the status holds (just decided: `decided_now`, the
    status fields to write with it), and the status that reports it."""
    st = _status(body)
    meta = body["metadata"]
    gen = meta.get("generation")
    target = [p.node for p in st.placements]
    site_of = {p.node: p.site for p in st.placements}
    try:
        version = rollout.version_of(spec)
    except replica_pods.TEMPLATE_ERRORS as exc:
        return template_rejected(body, pods, engine, Reason.INVALID_TEMPLATE,
                                 f"spec.template: no replica Pod can be made of it: {type(exc).__name__}: {exc}")
    surge, unavailable = rollout.limits(spec)
    # only a replica whose node is gone cannot wait; one on a NotReady node serves nobody, so it costs
    # no availability (whatever its own Ready condition still says) and goes at once when stale
    nodes = engine.view.nodes()
    known = {n["metadata"]["name"] for n in nodes}
    gone = frozenset(p.node for p in pods.values() if p.node not in known)
    down = frozenset(n["metadata"]["name"] for n in nodes if not node_up(n))
    plan = rollout.step(pods, target, version, surge, unavailable, gone, down)
    try:
        creates = [build_pod(body, spec, node, i, site_of[node], st.decision_id or "", binding=binding, version=version)
                   for node, i in plan.create]
    except replica_pods.TEMPLATE_ERRORS as exc:
        return template_rejected(body, pods, engine, Reason.INVALID_TEMPLATE,
                                 f"spec.template: no replica Pod can be made of it: {type(exc).__name__}: {exc}")
    # (a first placement was solved against the room left, unless it took a lower band's: orchestrator.preemption)
    taking = key_of(body) in engine.preemption.taking
    creates, crowded = replica_pods.with_room(engine, creates) if pods or taking else (creates, [])
    if taking and plan.done:
        engine.preemption.taking.discard(key_of(body))
    if creates:
        await kube.ensure_priority_class(spec.priority)
    refused = await replica_pods.create(kube, meta["namespace"], creates)
    if refused is not None:
        return template_rejected(body, pods, engine, *refused)
    await replica_pods.delete(kube, meta["namespace"], plan.delete, pods)
    now = datetime.now(UTC).replace(microsecond=0)
    progressed = decided_now is not None or st.template_hash != version or plan.ready > (st.ready_replicas or 0) \
        or plan.updated > (st.updated_replicas or 0)  # a new decision or version starts the clock
    last = now if progressed or st.last_progress_time is None else st.last_progress_time
    stalled = not plan.done and (now - last).total_seconds() > spec.strategy.progress_deadline_seconds
    events: list[tuple[str, str, str]] = []
    if decided_now is None and st.template_hash == version and plan.create \
            and sum(1 for p in pods.values() if p.version == version) < min(st.updated_replicas or 0, len(target)):
        # (a move of the same version counts its surge Pod as updated, then deletes an old one: no loss)
        where = ", ".join(sorted({node for node, _ in plan.create}))
        events.append((EventType.WARNING, Reason.REPLICA_LOST,
                       f"replica Pods missing on node(s) {where} (deleted or evicted): made again"))
    old = sum(1 for p in pods.values() if p.version != version)
    if old and st.template_hash != version:
        events.append((EventType.NORMAL, Reason.ROLLING_UPDATE,
                       f"replacing {old} replica(s) with version {version} (maxSurge {surge}, maxUnavailable "
                       f"{unavailable})"))
    conds = rollout.conditions(st, plan, len(target), unavailable, stalled, gen, events, rolling=old > 0,
                               crowded=crowded)
    status: dict[str, Any] = {
        **(decided_now or {}), "replicas": len(target), "updatedReplicas": plan.updated, "readyReplicas": plan.ready,
        "availableReplicas": plan.ready, "templateHash": version, "lastProgressTime": last,
        "selector": selector_of(body), "conditions": conds,
    }
    cells = await serving.for_status(engine, spec, st.placements, {n: p for n, p in pods.items() if n not in plan.delete},
                                     version, st.serving)
    if cells is not None:  # which replica serves each cell (the app API's endpoints)
        status["serving"] = cells
    patch = status_patch(EdgeWorkloadStatus.model_validate(status))
    unchanged = decided_now is None and plan.empty and all(
        (body.get("status") or {}).get(k) == v for k, v in patch.items() if k not in ("conditions", "lastProgressTime")) \
        and rollout.same_conditions(st.conditions, conds)
    retry = None if plan.done else STALLED_POLL_S if stalled else ROLLOUT_POLL_S
    return Reconciled(None if unchanged else patch, events, retry_after=retry, outcome=outcome, rolling=not plan.done,
                      refresh=decided_now is None and plan.empty and not events)


def template_rejected(body: Mapping[str, Any], pods: Mapping[str, PodState], engine: PlacementEngine, reason: str,
                      message: str, retry_after: float | None = None) -> Reconciled:
    """No replica Pod of this generation could be made: say why (phase, conditions, a Warning) and
    give the capacity the solve promised back to the engine.  Pods of an earlier generation (`pods`)
    are kept, and so is what the status says of them."""
    key = key_of(body)
    if pods:
        engine.forget(key)  # the status' placements (the Pods that run) count again
    else:
        engine.release(key)
    message = message if len(message) <= 1000 else message[:997] + "..."
    st = _status(body)
    gen = body["metadata"].get("generation")
    conds = set_condition(st.conditions, Cond.UNPLACEABLE, ConditionStatus.TRUE, reason, message, gen)
    conds = set_condition(conds, Cond.PLACED, ConditionStatus.TRUE if pods else ConditionStatus.FALSE,
                          Reason.KEPT_PREVIOUS if pods else reason, message, gen)
    status: dict[str, Any] = {"phase": Phase.DEGRADED if pods else Phase.UNPLACEABLE, "observedGeneration": gen,
                              "conditions": conds, "replicas": len(pods), "selector": selector_of(body)}
    if not pods:
        status.update(placements=[], sites=None, predictedLatencyMs=None, serving=[])
    return Reconciled(status_patch(EdgeWorkloadStatus.model_validate(status)), [(EventType.WARNING, reason, message)],
                      retry_after=retry_after)


def selector_of(body: Mapping[str, Any]) -> str:
    """The label selector of the workload's replica Pods (status.selector, for the scale subresource)."""
    return f"{WORKLOAD_LABEL}={body['metadata']['name']}"


async def scaled_to_zero(body: Mapping[str, Any], engine: PlacementEngine, kube: AsyncKube,
                         pods: Mapping[str, PodState], intent: intents.Intent | None) -> Reconciled:
    """`spec.replicas: 0`: no replica runs (the workload, its SLAs and its history stay); an intent
    is carried out with nothing to move."""
    meta = body["metadata"]
    await replica_pods.delete(kube, meta["namespace"], pods, pods)
    engine.release(key_of(body))
    st = _status(body)
    gen = meta.get("generation")
    conds = set_condition(st.conditions, Cond.PLACED, ConditionStatus.TRUE, Reason.SCALED_TO_ZERO,
                          "spec.replicas is 0: no replica runs", gen)
    conds = set_condition(conds, Cond.UNPLACEABLE, ConditionStatus.FALSE, Reason.SCALED_TO_ZERO, "", gen)
    status: dict[str, Any] = {
        "phase": Phase.PLACED, "observedGeneration": gen, "placements": [], "sites": None, "predictedLatencyMs": None,
        "serving": [],
        "decisionId": decision_id(key_of(body), []), "replicas": 0, "selector": selector_of(body), "conditions": conds,
    }
    if intent is not None:
        status["offload"] = intents.record(intent, [], datetime.now(UTC).replace(microsecond=0))
    events: list[tuple[str, str, str]] = [(EventType.NORMAL, Reason.SCALED, f"scaled to 0 replicas ({len(pods)} deleted)")] \
        if pods else []
    return Reconciled(status_patch(EdgeWorkloadStatus.model_validate(status)), events)


def _summary(outcome: Outcome) -> str:
    counts = Counter(outcome.sites)
    return ", ".join(f"{site} ({n})" for site, n in sorted(counts.items()))


__all__ = [
    "Reconciled",
    "decided",
    "invalid",
    "is_stale",
    "key_of",
    "needs_work",
    "pod_name",
    "reconcile",
    "template_rejected",
]
