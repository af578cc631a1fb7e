"""The EdgeWorkload controller's work queue: which events call for work, one reconciliation per key
at a time, changes during a reconciliation are not lost, retries are timers, deletion releases.

Pure queue logic, so `workloads.reconcile` is replaced by a recording stand-in; the real path
(watch, solve, Pods, status) is proven by test_operator_e2e.py against the local stack.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator import controller as ctl
from orchestrator.watch_events import is_stale, needs_work
from orchestrator.workloads import Reconciled


def body(name: str = "cam", generation: int = 1, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "city", "uid": "u-" + name, "generation": generation, **extra}
    return {"apiVersion": "edgeorch.io/v1alpha1", "kind": "EdgeWorkload", "metadata": meta, "spec": {}}


@pytest.mark.parametrize(("event", "now", "seen", "expected"), [
    ("ADDED", body(), None, True),
    (None, body(), body(), True),  # the initial listing after a restart: check what is there
    ("MODIFIED", body(generation=2), body(generation=1), True),  # the spec changed
    ("MODIFIED", body(generation=1), body(generation=1), False),  # status or annotations only
    ("MODIFIED", body(), None, True),  # never seen (missed the ADDED)
    ("MODIFIED", body(generation=2, deletionTimestamp="2026-12-01T00:00:00Z"), body(), False),
])
def test_which_events_call_for_work(event: str | None, now: dict[str, Any], seen: dict[str, Any] | None,
                                    expected: bool) -> None:
    assert needs_work(event, now, seen) is expected


@pytest.mark.parametrize(("now", "seen", "stale"), [
    (body(generation=1, resourceVersion="90"), body(generation=2, resourceVersion="80"), True),  # older spec
    (body(generation=2, resourceVersion="90"), body(generation=2, resourceVersion="95"), True),  # older status
    (body(generation=2, resourceVersion="95"), body(generation=2, resourceVersion="95"), False),  # the same
    (body(generation=3, resourceVersion="96"), body(generation=2, resourceVersion="95"), False),  # newer
    (body(generation=1, resourceVersion="90"), None, False),  # nothing held
    ({**body(generation=1), "metadata": {**body(generation=1)["metadata"], "uid": "u-new"}},
     body(generation=2), False),  # deleted and made again under the same name: a new object
    (body(generation=2, resourceVersion="a1"), body(generation=2, resourceVersion="b2"), False),  # not numbers
])
def test_a_watch_event_older_than_what_is_held_is_stale(now: dict[str, Any], seen: dict[str, Any] | None,
                                                       stale: bool) -> None:
    assert is_stale(now, seen) is stale


LISTED: list[tuple[str, bool]] = []  # (workload, whether reconcile had to LIST its Pods)


class FakeEngine:
    def __init__(self) -> None:
        self.released: list[str] = []
        self.queued = 0  # workloads waiting for a solve

    def release(self, key: str) -> None:
        self.released.append(key)

    def waiting(self) -> int:
        return self.queued


class FakeKube:
    def __init__(self) -> None:
        self.status: list[dict[str, Any]] = []
        self.generation: dict[str, int] = {}  # name -> generation get_custom answered

    async def patch_custom(self, plural: str, ns: str, name: str, patch: dict[str, Any], *,
                           status: bool = False) -> dict[str, Any]:
        self.status.append(patch["status"])
        return {**body(name, self.generation.get(name, patch["status"].get("observedGeneration", 1))),
                "status": patch["status"]}

    async def post_event(self, *_: Any) -> None:
        return None

    async def get_custom(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        self.generation[name] = 7
        return body(name, generation=7)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Reconciliations seen (name, generation); each takes 50 ms and checks it runs alone."""
    seen: list[tuple[str, int]] = []
    active: set[str] = set()
    listed = LISTED
    listed.clear()

    async def reconcile(b: dict[str, Any], *_: Any, pods: dict[str, str] | None = None, **__: Any) -> Reconciled:
        name = b["metadata"]["name"]
        listed.append((name, pods is None))
        assert name not in active, f"{name} reconciled twice at the same time"
        active.add(name)
        seen.append((name, b["metadata"]["generation"]))
        await asyncio.sleep(0.05)
        active.discard(name)
        retry = 0.1 if name.startswith("retry") else 60.0 if name.startswith("roll") else None
        return Reconciled({"phase": "Placed", "observedGeneration": b["metadata"]["generation"]}, retry_after=retry,
                          rolling=name.startswith("roll"), refresh=name.startswith("ready"))

    monkeypatch.setattr(ctl.workloads, "reconcile", reconcile)
    return seen


async def _run(steps: Any, wait: float = 0.3, engine: FakeEngine | None = None) -> tuple[FakeEngine, FakeKube]:
    engine, kube = engine or FakeEngine(), FakeKube()
    c = ctl.WorkloadController(engine, kube, workers=8, replicas=lambda key: {})  # type: ignore[arg-type]
    c.start()
    try:
        await steps(c)
        await asyncio.sleep(wait)
    finally:
        await c.stop()
    return engine, kube


def test_a_status_only_event_does_no_work_and_a_new_generation_during_work_is_not_lost(
        calls: list[tuple[str, int]]) -> None:
    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body())
        c.observe("ADDED", body())  # duplicate while queued: once
        await asyncio.sleep(0.02)  # now running
        c.observe("MODIFIED", body(generation=2))  # arrives while running: after it, not beside it
        c.observe("MODIFIED", body(generation=2))  # same generation again: nothing more

    _, kube = asyncio.run(_run(steps))
    assert calls == [("cam", 1), ("cam", 2)]
    assert [s["observedGeneration"] for s in kube.status] == [1, 2]
    # the first placement trusts the pod watch; once this process has made Pods, it lists them
    assert LISTED == [("cam", False), ("cam", True)]


def test_retries_are_timers_and_deletion_releases_and_stops_them(calls: list[tuple[str, int]]) -> None:
    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body("retry-a"))
        await asyncio.sleep(0.28)  # first try at 0, retries 0.1 s after each 50 ms try: >= 2 more
        c.observe("DELETED", body("retry-a"))

    engine, _ = asyncio.run(_run(steps, wait=0.4))
    tries = [c for c in calls if c[0] == "retry-a"]
    assert 2 <= len(tries) <= 4
    assert engine.released == ["city/retry-a"]
    assert len(calls) == len(tries)


def test_many_workloads_are_reconciled_concurrently(calls: list[tuple[str, int]]) -> None:
    async def steps(c: ctl.WorkloadController) -> None:
        for i in range(40):
            c.observe("ADDED", body(f"w{i}"))

    asyncio.run(_run(steps, wait=0.4))  # one after another would take 2 s; 8 workers: 0.25 s
    assert sorted(n for n, _ in calls) == sorted(f"w{i}" for i in range(40))


def test_a_request_reconciles_what_the_api_server_has_not_what_the_watch_had(calls: list[tuple[str, int]]) -> None:
    """The SLA loop records an offload intent and asks for the workload: the controller reads it from
    the API server first (the watch may not have delivered the intent yet), and a request for a
    workload it does not know is ignored."""
    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body())
        await asyncio.sleep(0.1)
        c.request("city/cam")
        c.request("city/unknown")

    asyncio.run(_run(steps, wait=0.2))
    assert calls == [("cam", 1), ("cam", 7)]  # FakeKube.get_custom answers generation 7


def test_a_rolling_workload_is_woken_when_its_pods_turn_ready_or_go_and_not_otherwise(
        calls: list[tuple[str, int]]) -> None:
    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body("roll-a"))
        c.observe("ADDED", body("still"))
        await asyncio.sleep(0.1)  # both reconciled once; roll-a waits for its Pods (timer at 60 s)
        c.pod_changed("city/roll-a", "city/roll-a-1", ready=False, gone=False)  # created: nothing to do yet
        c.pod_changed("city/still", "city/still-0", ready=True, gone=False)  # not rolling: nobody woken
        await asyncio.sleep(0.1)
        assert calls == [("roll-a", 1), ("still", 1)] or calls == [("still", 1), ("roll-a", 1)]
        c.pod_changed("city/roll-a", "city/roll-a-1", ready=True, gone=False)  # Ready: the next step
        await asyncio.sleep(0.1)
        c.pod_changed("city/roll-a", "city/roll-a-1", ready=True, gone=False)  # no change: nothing
        await asyncio.sleep(0.1)
        c.pod_changed("city/roll-a", "city/roll-a-0", ready=True, gone=True)  # an old one went
        await asyncio.sleep(0.1)

    asyncio.run(_run(steps, wait=0.05))
    assert sorted(calls) == [("roll-a", 1)] * 3 + [("still", 1)], calls


def test_a_status_that_only_reports_ready_counts_waits_while_placements_are_queued(
        calls: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctl, "STATUS_DEFER_S", 0.05)  # the flush loop's period
    engine = FakeEngine()
    engine.queued = 5  # a wave: workloads wait for the solver
    written: list[int] = []

    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body("ready-a"))
        await asyncio.sleep(0.4)
        written.extend((len(c.kube.status), len(calls)))  # type: ignore[attr-defined]
        engine.queued = 0  # the wave is placed: the refresh goes out

    _, kube = asyncio.run(_run(steps, wait=0.3, engine=engine))
    assert written == [0, 1], (written, calls)  # parked (not polled), never written while placements wait
    assert len(kube.status) == 1 and len(calls) == 2  # written once the wave is placed


def test_a_workload_deleted_while_reconciled_is_released_again_afterwards(calls: list[tuple[str, int]]) -> None:
    """Its solve may come back after the DELETED event released it (found by test_priority_e2e: a
    namespace went while its workloads were solved again, and one decision held a far-edge node)."""
    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body())
        await asyncio.sleep(0.02)  # now running (each reconciliation takes 50 ms)
        c.observe("DELETED", body())

    engine, _ = asyncio.run(_run(steps))
    assert calls == [("cam", 1)]
    assert engine.released == ["city/cam", "city/cam"]  # at the DELETED event, and once its reconciliation ended


def test_a_lagging_watch_event_does_not_set_back_the_spec_a_fresh_read_gave(calls: list[tuple[str, int]]) -> None:
    """#19: the watch delivered the previous generation's status event after a fresh read had the new
    spec; reconciling that event's body rolled the workload back toward the old version (new-version
    Pods deleted mid-rollout).  The newer body is kept."""
    async def steps(c: ctl.WorkloadController) -> None:
        c.observe("ADDED", body(resourceVersion="10"))
        await asyncio.sleep(0.1)
        c.request("city/cam")  # reads generation 7
        await asyncio.sleep(0.1)
        c.observe("MODIFIED", body(generation=1, resourceVersion="11"))  # lagging: before generation 7
        assert c.latest()["city/cam"]["metadata"]["generation"] == 7
        c.enqueue("city/cam")  # a timer or a Pod event: reconciles what is held

    asyncio.run(_run(steps, wait=0.2))
    assert calls == [("cam", 1), ("cam", 7), ("cam", 7)]
