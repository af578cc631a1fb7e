"""The placement engine: requests that arrive close together are solved together.

Callers `await engine.place(request)`; a single batch loop collects requests for a short window
(or up to `max_batch`), takes one snapshot (nodes, sites, capacity held by workloads already placed,
QoS metrics), solves the batch off the event loop, and answers every caller.  Batches are FIFO and
bounded, so a wave of thousands is worked through in order and nobody starves.

Capacity already promised to workloads outside the batch is counted by `orchestrator.capacity`:
from the cluster, merged with this engine's own recent decisions until the cluster shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator import preemption
from orchestrator.capacity import ClusterView as ClusterView
from orchestrator.capacity import Holding as Holding
from orchestrator.capacity import Holdings, holding_of
from orchestrator.decision import decision_id
from orchestrator.snapshot import QosMetrics, Request, Reserved, build_instance, cordoned_sites
from orchestrator.vocabulary import SITE_LABEL
from placement import InvalidInstance, SolverConfig, SolveResult, Status, Weights, solve

log = logging.getLogger("edgeorch.engine")


ONLINE_S_PER_WORKLOAD = 0.004  # an online batch's solver budget: this much per workload in it,
ONLINE_MIN_S = 0.15  # at least this, at most the configured limit


def online_limit(batch: int, cap: float) -> float:
    """The solver's time limit for a batch: small batches must not wait out a limit sized for big
    ones (the next batch queues behind this one), so the budget grows with the batch, up to `cap`."""
    return min(cap, max(ONLINE_MIN_S, ONLINE_S_PER_WORKLOAD * batch))


@dataclass(frozen=True)
class Outcome:
    """The engine's answer for one request."""

    key: str
    nodes: tuple[str, ...]  # one per replica; empty when not placed
    sites: tuple[str, ...]
    tiers: tuple[str, ...]
    predicted_latency_ms: float | None
    reason: str | None  # why not placed
    solver: dict[str, Any]
    decision_id: str
    batch_size: int
    displaced: tuple[str, ...] = ()
    invalid: bool = False  # the request itself cannot be solved (its reason says why): the same spec fails again
    preempts: tuple[str, ...] = ()  # lower-priority workloads whose room it takes ("ns/name (priority P)")

    @property
    def placed(self) -> bool:
        return bool(self.nodes)


@dataclass
class _Pending:
    request: Request
    future: asyncio.Future[Outcome]
    queued_at: float = field(default_factory=time.monotonic)


class PlacementEngine:
    def __init__(
        self,
        view: ClusterView,
        metrics: Callable[[], Awaitable[QosMetrics]],
        *,
        weights: Weights | None = None,
        config: SolverConfig | None = None,
        window_s: float = 0.1,
        max_batch: int = 1000,
        on_batch: Callable[[int, SolveResult], None] | None = None,
    ) -> None:
        self.view = view
        self.metrics = metrics
        self.weights = weights or Weights()
        self.config = config or SolverConfig(time_limit_s=1.0)
        self.window_s = window_s
        self.max_batch = max_batch
        self.on_batch = on_batch
        self.excluded_sites: frozenset[str] = frozenset()
        self.site_penalty_ms: dict[str, float] = {}
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.holdings = Holdings(view)  # what placed workloads hold, with this engine's recent decisions
        self._task: asyncio.Task[None] | None = None
        self._waiting = 0  # callers of place() without an answer yet (queued or being solved)
        self.last_metrics: QosMetrics | None = None  # what the latest solve read (orchestrator.endpoints.serving)
        self._metrics_retry_at = 0.0
        # which placed workloads may yield room to a higher band, and who hears of those that must
        self.preemption = preemption.Preemption(self.config.priority_band)

    # -- public ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="edgeorch-placement")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def place(self, request: Request) -> Outcome:
        self.start()
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting += 1
        try:
            await self._queue.put(_Pending(request, fut))
            return await fut
        finally:
            self._waiting -= 1

    def release(self, key: str) -> None:
        """The workload is gone: its capacity is free again (also from a solve of it under way)."""
        self.holdings.release(key)
        self.preemption.taking.discard(key)

    def forget(self, key: str) -> None:
        """This process's last decision for `key` was not carried out: what the cluster shows of the
        workload (its status) counts again."""
        self.holdings.forget(key)

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def room(self, node: str) -> Reserved | None:
        """What `node` has left for one more Pod now, as the kube-scheduler counts it: its allocatable
        less the requests of every Pod bound there (edgeorch's, terminating ones too, and others).
        None without a Pod watch or for a node the view does not know."""
        return self.holdings.room(node)

    async def latency_ms(self) -> Mapping[str, Mapping[str, float]] | None:
        """Cell -> site latency of the metrics the latest solve read (read now, at most every 10 s, when
        none has yet); None while they are unavailable."""
        if self.last_metrics is None and time.monotonic() >= self._metrics_retry_at:
            self._metrics_retry_at = time.monotonic() + 10.0
            with contextlib.suppress(Exception):  # Prometheus down: the caller keeps what it has
                self.last_metrics = await self.metrics()
        return self.last_metrics.latency_ms if self.last_metrics else None

    def waiting(self) -> int:
        """Workloads waiting for a placement: queued or in the batch being solved."""
        return self._waiting

    # -- the batch loop -------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.max_batch:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except TimeoutError:
                    break
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [p for p in batch if not p.future.done()]
            if not live:
                continue
            for part in ([p for p in live if not p.request.dry_run], [p for p in live if p.request.dry_run]):
                if part:
                    await self._answer(part)

    async def _answer(self, pending: list[_Pending]) -> None:
        try:
            outcomes = await self._solve_batch([p.request for p in pending])
        except Exception as exc:  # metrics missing, solver crash: every caller hears it
            for p in pending:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        for p in pending:  # deleted while it waited or was solved: its decision holds no room
            if self.holdings.released_since(p.request.key, p.queued_at) and not p.request.dry_run:
                self.holdings.decide(p.request.key, None)
        for p in pending:
            if not p.future.done():
                p.future.set_result(outcomes[p.request.key])

    async def _solve_batch(self, requests: list[Request]) -> dict[str, Outcome]:
        metrics = self.last_metrics = await self.metrics()
        # the latest request per key wins (a workload updated twice inside one window)
        by_key = {r.key: r for r in requests}
        reqs = list(by_key.values())
        nodes, sites, foreign = self.view.nodes(), self.view.sites(), self.view.foreign()
        known_cells = set(metrics.latency_ms)
        outcomes: dict[str, Outcome] = {}
        ok: list[Request] = []
        for r in reqs:
            where = "spec.users.cells" if r.users is None else "spec.users.fromMetric"
            missing = [c for c in r.cells if c not in known_cells]
            if not r.cells:
                outcomes[r.key] = self._unplaced(r.key, f"{where}: no users measured yet", len(reqs))
            elif missing:
                outcomes[r.key] = self._unplaced(r.key, f"{where}: no latency metrics for cell(s) "
                                                        f"{', '.join(missing)} (unknown cell?)", len(reqs))
            else:
                ok.append(r)
        # Requests that avoid different sites, or weigh migrations differently, are solved apart.
        groups: dict[tuple[frozenset[str], float | None], list[Request]] = {}
        for r in ok:
            groups.setdefault((r.avoid_sites, r.migration_weight), []).append(r)
        for (avoid, migration_weight), group in groups.items():
            outcomes.update(await self._solve_group(group, nodes, sites, foreign, metrics, avoid, migration_weight))
        return outcomes

    async def _solve_group(
        self, group: list[Request], nodes: list[Mapping[str, Any]], sites: Mapping[str, Mapping[str, Any]],
        foreign: Mapping[str, Reserved], metrics: QosMetrics, avoid: frozenset[str], migration_weight: float | None,
        preempt: bool = True,
    ) -> dict[str, Outcome]:
        # the lower-band workloads holding room the group could need (none for sites to avoid or a
        # migration cost of its own: they would have to leave those sites, or move for nothing)
        extra = [] if avoid or migration_weight is not None or not preempt else self.preemption.contenders(
            group, nodes, sites, metrics.latency_ms, self.excluded_sites | cordoned_sites(sites),
            self.holdings.decided_nodes())
        reserved = self.holdings.reserved({r.key for r in group} | {c.key for c in extra})
        weights = self.weights if migration_weight is None else dataclasses.replace(
            self.weights, migration=migration_weight)

        config = dataclasses.replace(self.config, time_limit_s=online_limit(len(group) + len(extra),
                                                                            self.config.time_limit_s))

        def run() -> SolveResult:
            inst = build_instance(nodes, sites, [*group, *extra], metrics, reserved, foreign=foreign,
                                  excluded_sites=self.excluded_sites | avoid, site_penalty_ms=self.site_penalty_ms)
            return solve(inst, weights, config)

        try:
            result = await asyncio.to_thread(run)
        except Exception as exc:  # InvalidInstance naming a request's field, or a solver bug one request trips
            if extra:  # (not the group's fault, maybe: try it without the others first)
                log.warning("batch of %d with %d lower-priority failed (%s); solving it alone", len(group), len(extra), exc)
                return await self._solve_group(group, nodes, sites, foreign, metrics, avoid, migration_weight, False)
            return await self._isolate(group, exc, nodes, sites, foreign, metrics, avoid, migration_weight)
        if self.on_batch:
            self.on_batch(len(group), result)
        log.info("batch of %d (+%d lower-priority): %d placed, %d not; %s gap %.4f in %.3f s (limit %.2f s)",
                 len(group), len(extra), len(result.assignment), len(group) + len(extra) - len(result.assignment),
                 result.status.value, result.gap, result.wall_s, config.time_limit_s)
        outcomes = self._outcomes(group, result, nodes, sites)
        for key, victims in self.preemption.apply(group, extra, result.assignment).items():
            outcomes[key] = dataclasses.replace(outcomes[key], preempts=victims)
        return outcomes

    async def _isolate(
        self, group: list[Request], exc: Exception, nodes: list[Mapping[str, Any]],
        sites: Mapping[str, Mapping[str, Any]], foreign: Mapping[str, Reserved], metrics: QosMetrics,
        avoid: frozenset[str], migration_weight: float | None,
    ) -> dict[str, Outcome]:
        """A solve of `group` raised `exc`: one tenant's bad request must not stop the others, so the
        group is solved again in halves (bisection: k culprits among n cost about 2k log2 n solves,
        most of them failing fast in validation) until every culprit stands alone; a culprit's outcome
        is not placed, `invalid`, with the error as its reason."""
        if len(group) > 1:
            log.warning("batch of %d failed (%s: %s); solving it in halves to find the request(s) at fault",
                        len(group), type(exc).__name__, exc)
            half = len(group) // 2
            out: dict[str, Outcome] = {}
            for part in (group[:half], group[half:]):
                out.update(await self._solve_group(part, nodes, sites, foreign, metrics, avoid, migration_weight))
            return out
        r = group[0]
        if isinstance(exc, InvalidInstance):
            reason = str(exc)
            log.warning("%s: not placed: %s", r.key, reason)
        else:  # not the tenant's mistake as far as we know: keep the traceback for us
            reason = f"placement failed: {type(exc).__name__}: {exc}"
            log.error("%s: %s", r.key, reason, exc_info=exc)
        if not r.dry_run:
            self.holdings.decide(r.key, None)
        return {r.key: self._unplaced(r.key, reason[:1000], 1, invalid=True)}

    def _outcomes(
        self, reqs: list[Request], result: SolveResult, nodes: list[Mapping[str, Any]],
        sites: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Outcome]:
        site_of = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(SITE_LABEL, "")
                   for n in nodes}
        # The batch's status is INFEASIBLE when some workload of it could not be placed; for the ones
        # that were, report how good their solve was.
        placed_status = result.status
        if placed_status == Status.INFEASIBLE:
            placed_status = Status.OPTIMAL if result.gap <= 1e-6 else Status.FEASIBLE
        report = {
            "name": result.solver, "status": placed_status.value.upper(), "objective": result.objective,
            "bound": result.bound, "gap": round(result.gap, 6), "wallSeconds": round(result.wall_s, 4),
        }
        out: dict[str, Outcome] = {}
        for r in reqs:
            assigned = tuple(result.assignment.get(r.key, ()))
            if assigned:
                site_names = tuple(site_of.get(n, "") for n in assigned)
                tiers = tuple(str(sites.get(s, {}).get("tier", "")) for s in site_names)
                if not r.dry_run:
                    self.holdings.decide(r.key, holding_of(r, assigned))
                out[r.key] = Outcome(
                    r.key, assigned, site_names, tiers, result.predicted_latency_ms.get(r.key), None, report,
                    decision_id(r.key, assigned), len(reqs), tuple(result.displaced),
                )
            else:
                reason = result.unplaced.get(r.key) or (
                    "no feasible placement" if result.status != Status.TIMEOUT else "solver timed out"
                )
                if not r.dry_run:
                    self.holdings.decide(r.key, None)
                failed = {**report, "status": result.status.value.upper()}
                out[r.key] = Outcome(r.key, (), (), (), None, reason, failed, decision_id(r.key, ()), len(reqs))
        return out

    def _unplaced(self, key: str, reason: str, batch: int, *, invalid: bool = False) -> Outcome:
        return Outcome(key, (), (), (), None, reason, {"name": "validation", "status": "INVALID"},
                       decision_id(key, ()), batch, invalid=invalid)
