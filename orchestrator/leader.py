"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection package does it.

Several operator processes run; exactly one acts.  Each candidate reads the Lease every
`retry_period_s`.  A candidate takes the Lease when it does not exist, when its holder is empty
(released), or when the record has not changed for `lease_duration_s` *as measured on the
candidate's own clock since it last saw the record change* (no trust in other machines' clocks:
renewTime is informational, as in client-go).  Every write is an update at the resourceVersion just
read, so of two candidates racing for an expired Lease only one wins.

The leader renews every `retry_period_s`.  When no renewal has succeeded for `renew_deadline_s`,
counted from the moment the last successful renewal was *sent* (so never later than when the API
server stored it), the leader calls `on_lost` at once: the operator exits (client-go's users do the
same), and because `renew_deadline_s < lease_duration_s`, it has stopped before any standby may
take the Lease (a standby counts the lease duration from when it saw that renewal, which is after it
was stored).  A leader that sees another holder in the Lease stops at once too.

The elector is a thread with the blocking client (orchestrator.kube.leases), so a busy event loop
never delays a renewal; `wait_leading` lets async code wait for leadership.  This module holds no
operator logic: what to start once leading is the caller's (operator/handlers.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.kube.errors import KubeConflict, KubeError
from orchestrator.kube.leases import Leases, lease_client

log = logging.getLogger("edgeorch.leader")
JITTER = 1.2  # client-go's JitterFactor: retries wait retry_period_s .. retry_period_s * JITTER


@dataclass(frozen=True)
class LeaseConfig:
    """Where the Lease is, who we are, and the election's timing (client-go's names)."""

    name: str = "edgeorch-operator"
    namespace: str = "default"
    identity: str = ""
    lease_duration_s: float = 12.0  # a standby takes over this long after the record last changed
    renew_deadline_s: float = 10.0  # the leader stops when it could not renew for this long (5 s was too
    # short on a loaded 2-core machine: the API server answered no renewal for 5 s and the leader exited)
    retry_period_s: float = 1.0  # how often candidates read and the leader renews

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("the leader election needs an identity (EDGEORCH_LEASE_IDENTITY or POD_NAME)")
        if not self.lease_duration_s > self.renew_deadline_s:
            raise ValueError(f"EDGEORCH_LEASE_DURATION_S ({self.lease_duration_s}) must be greater than "
                             f"EDGEORCH_LEASE_RENEW_DEADLINE_S ({self.renew_deadline_s})")
        if not self.renew_deadline_s > JITTER * self.retry_period_s > 0:
            raise ValueError(f"EDGEORCH_LEASE_RENEW_DEADLINE_S ({self.renew_deadline_s}) must be greater than "
                             f"{JITTER} x EDGEORCH_LEASE_RETRY_S ({self.retry_period_s}), which must be > 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LeaseConfig:
        """EDGEORCH_LEASE_{NAME,NAMESPACE,IDENTITY,DURATION_S,RENEW_DEADLINE_S,RETRY_S}; the namespace
        defaults to POD_NAMESPACE, the identity to POD_NAME (a restarted container keeps its Pod's
        name, so it takes its own Lease back at once), else hostname_uuid as client-go's users do."""
        env = os.environ if env is None else env
        identity = env.get("EDGEORCH_LEASE_IDENTITY") or env.get("POD_NAME") or \
            f"{socket.gethostname()}_{uuid.uuid4()}"

        def seconds(name: str, default: float) -> float:
            text = env.get(name)
            try:
                return float(text) if text else default
            except ValueError:
                raise ValueError(f"{name}: expected a number of seconds, got {text!r}") from None

        return cls(name=env.get("EDGEORCH_LEASE_NAME") or cls.name,
                   namespace=env.get("EDGEORCH_LEASE_NAMESPACE") or env.get("POD_NAMESPACE") or cls.namespace,
                   identity=identity,
                   lease_duration_s=seconds("EDGEORCH_LEASE_DURATION_S", cls.lease_duration_s),
                   renew_deadline_s=seconds("EDGEORCH_LEASE_RENEW_DEADLINE_S", cls.renew_deadline_s),
                   retry_period_s=seconds("EDGEORCH_LEASE_RETRY_S", cls.retry_period_s))


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease's spec, as the election reads and writes it."""

    holder: str = ""
    duration_s: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(str(spec.get("holderIdentity") or ""), int(spec.get("leaseDurationSeconds") or 0),
                   str(spec.get("acquireTime") or ""), str(spec.get("renewTime") or ""),
                   int(spec.get("leaseTransitions") or 0))

    def spec(self) -> dict[str, Any]:
        return {"holderIdentity": self.holder, "leaseDurationSeconds": self.duration_s,
                "acquireTime": self.acquire_time or None, "renewTime": self.renew_time or None,
                "leaseTransitions": self.transitions}


def micro_time(now: float | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate.  `start()` runs the election in a daemon thread; `on_started` is called (in that
    thread) when this candidate becomes the leader, `on_lost` when it stops being one (it must stop
    acting at once: the operator exits)."""

    def __init__(self, config: LeaseConfig, leases: Leases, *, on_started: Callable[[], None] = lambda: None,
                 on_lost: Callable[[str], None] = lambda _why: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.leases = leases
        self.on_started = on_started
        self.on_lost = on_lost
        self.clock = clock
        self._observed: LeaseRecord | None = None  # the record last read
        self._observed_at = 0.0  # our clock when it last changed
        self._leading = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeorch-leader-election", daemon=True)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, config: LeaseConfig, kubeconfig: Path | None, **kwargs: Any) -> LeaderElector:
        api = lease_client(kubeconfig, f"edgeorch-leader-election/{config.identity}")
        return cls(config, Leases(api, config.namespace), **kwargs)

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def holder(self) -> str:
        """The holder as last read ('' when none, or not read yet)."""
        return self._observed.holder if self._observed else ""

    def start(self) -> None:
        self._thread.start()

    async def wait_leading(self) -> None:
        """Return once this candidate leads (at once when it does)."""
        event = asyncio.Event()
        with self._lock:
            if self._leading.is_set():
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()

    def stop(self, *, release: bool = True) -> None:
        """End the election; a leader gives the Lease up (an empty holder: a standby takes it at its next
        read instead of after the lease duration), as client-go's ReleaseOnCancel does."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.config.retry_period_s * JITTER + self.config.renew_deadline_s)
        if release and self._leading.is_set():
            self._leading.clear()
            self.release()
        self.leases.close()

    def release(self) -> bool:
        try:
            lease = self.leases.read(self.config.name, self.config.retry_period_s)
            if lease is None or LeaseRecord.of(lease).holder != self.config.identity:
                return False
            now = micro_time()
            old = LeaseRecord.of(lease)
            self.leases.update(self.config.name, lease["metadata"]["resourceVersion"],
                               LeaseRecord("", 1, now, now, old.transitions).spec(), self.config.retry_period_s)
        except KubeError as exc:
            log.warning("could not release the Lease: %s", exc)
            return False
        log.info("released the Lease %s/%s", self.config.namespace, self.config.name)
        return True

    # -- the election --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._acquire()
            if not self._stop.is_set():
                self._renew()
        except Exception as exc:  # a bug here must not leave a leader that no longer renews
            log.exception("leader election failed")
            if self._leading.is_set():
                self._lose(f"the election failed: {exc}")

    def _sleep(self) -> None:
        self._stop.wait(self.config.retry_period_s * random.uniform(1.0, JITTER))

    def _acquire(self) -> None:
        while not self._stop.is_set():
            if self.try_acquire_or_renew(self.config.retry_period_s):
                self._became_leader()
                return
            self._sleep()

    def _became_leader(self) -> None:
        self._leading.set()
        log.info("%s leads (Lease %s/%s)", self.config.identity, self.config.namespace, self.config.name)
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)
        self.on_started()

    def _renew(self) -> None:
        cfg = self.config
        last = self._last_sent
        while not self._stop.is_set():
            self._sleep()
            if self._stop.is_set():
                return
            while True:
                left = last + cfg.renew_deadline_s - self.clock()
                if left <= 0:
                    self._lose(f"no renewal for {cfg.renew_deadline_s} s")
                    return
                sent = self.clock()
                try:
                    renewed = self.try_acquire_or_renew(min(left, cfg.retry_period_s))
                except _Taken as taken:
                    self._lose(str(taken))
                    return
                if renewed:
                    last = sent
                    break
                if self._stop.is_set():
                    return
                self._stop.wait(min(cfg.retry_period_s / 4, max(0.0, last + cfg.renew_deadline_s - self.clock())))

    def _lose(self, why: str) -> None:
        self._leading.clear()
        log.error("%s lost the leadership: %s", self.config.identity, why)
        self.on_lost(why)

    _last_sent = 0.0

    def try_acquire_or_renew(self, timeout: float) -> bool:
        """One round of client-go's tryAcquireOrRenew: True when we hold the Lease afterwards.  A leader
        that finds another holder raises _Taken; API errors and lost races answer False."""
        cfg = self.config
        sent = self.clock()
        now = micro_time()
        want = LeaseRecord(cfg.identity, max(1, round(cfg.lease_duration_s)), now, now, 0)
        try:
            lease = self.leases.read(cfg.name, timeout)
            if lease is None:
                self.leases.create(cfg.name, want.spec(), timeout)
                self._observe(want, sent)
                self._last_sent = sent
                return True
            old = LeaseRecord.of(lease)
            if old != self._observed:
                self._observe(old, self.clock())
            if old.holder and old.holder != cfg.identity:
                if self._leading.is_set():
                    raise _Taken(f"the Lease is held by {old.holder}")
                if self._observed_at + cfg.lease_duration_s > self.clock():
                    return False  # held, and not expired by our own clock
            if old.holder == cfg.identity:
                want = replace(want, acquire_time=old.acquire_time, transitions=old.transitions)
            else:
                want = replace(want, transitions=old.transitions + 1)
            self.leases.update(cfg.name, lease["metadata"]["resourceVersion"], want.spec(),
                               max(0.05, timeout - (self.clock() - sent)))
        except KubeConflict:
            return False  # another candidate wrote first: read again next round
        except KubeError as exc:
            log.warning("Lease %s/%s: %s", cfg.namespace, cfg.name, exc)
            return False
        self._observe(want, sent)
        self._last_sent = sent
        return True

    def _observe(self, record: LeaseRecord, at: float) -> None:
        self._observed, self._observed_at = record, at


class _Taken(Exception):
    """Another candidate holds the Lease we led with."""
