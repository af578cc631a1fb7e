"""The Lease election (orchestrator.leader) against the real API server: one candidate leads and writes
the Lease as client-go does; a standby takes over only after the lease duration when the leader dies
(and at once when it releases); a leader cut off from the API server stops before the standby may
take the Lease.  Two electors in this process with short timings; the cut is a TCP relay on loopback
that this test owns."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.kube.leases import Leases
from orchestrator.kube.sync import api_client
from orchestrator.leader import LeaderElector, LeaseConfig
from tests.conftest import StackHandle
from tests.operator.conftest import wait_for

pytestmark = [pytest.mark.cluster]
TIMING = {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5}


class Candidate:
    def __init__(self, stack: StackHandle, lease: str, identity: str, host: str | None = None) -> None:
        api = api_client(stack.kubeconfig, pool=2)
        if host:
            api.configuration.host = host
        self.lost_at: float | None = None
        self.led_at: float | None = None
        self.elector = LeaderElector(LeaseConfig(name=lease, namespace="default", identity=identity, **TIMING),
                                     Leases(api, "default"), on_started=self._started, on_lost=self._lost)

    def _started(self) -> None:
        self.led_at = time.monotonic()

    def _lost(self, _why: str) -> None:
        self.lost_at = time.monotonic()

    def kill(self) -> None:
        """Stop renewing without releasing (as kill -9 would)."""
        self.elector.stop(release=False)


@contextlib.contextmanager
def candidates(stack: StackHandle, *hosts: str | None) -> Iterator[tuple[str, list[Candidate]]]:
    lease = f"test-{uuid.uuid4().hex[:8]}"
    made = [Candidate(stack, lease, f"cand-{i}", host) for i, host in enumerate(hosts)]
    try:
        yield lease, made
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                c.elector.stop(release=False)


def lease_spec(stack: StackHandle, name: str) -> dict[str, Any]:
    api = api_client(stack.kubeconfig)
    try:
        out = Leases(api, "default").read(name, 5)
    finally:
        api.close()
    assert out is not None
    spec: dict[str, Any] = out["spec"]
    return spec


def test_one_leads_and_the_standby_takes_over_only_after_the_lease_duration(stack: StackHandle) -> None:
    with candidates(stack, None, None) as (lease, (a, b)):
        a.elector.start()
        wait_for(lambda: a.elector.is_leader, 10, "the first candidate to lead")
        b.elector.start()
        time.sleep(2 * TIMING["lease_duration_s"])  # renewals keep the standby out
        assert a.elector.is_leader and not b.elector.is_leader
        first = lease_spec(stack, lease)
        assert first["holderIdentity"] == "cand-0" and first["leaseDurationSeconds"] == 3
        assert first["leaseTransitions"] == 0 and first["acquireTime"] and first["renewTime"]
        assert b.elector.holder() == "cand-0"
        killed = time.monotonic()
        a.kill()
        wait_for(lambda: b.elector.is_leader, 15, "the standby to take over")
        assert b.led_at is not None
        waited = b.led_at - killed
        # not before the lease could have expired (its last renewal was at most one retry before the kill)
        assert TIMING["lease_duration_s"] - TIMING["retry_period_s"] * 1.2 <= waited \
            <= TIMING["lease_duration_s"] + 3 * TIMING["retry_period_s"], waited
        second = lease_spec(stack, lease)
        assert second["holderIdentity"] == "cand-1" and second["leaseTransitions"] == 1
        assert second["acquireTime"] != first["acquireTime"]
        assert a.lost_at is None  # stopped on purpose: it never thought it lost


def test_a_released_lease_is_taken_at_the_next_read(stack: StackHandle) -> None:
    with candidates(stack, None, None) as (lease, (a, b)):
        a.elector.start()
        wait_for(lambda: a.elector.is_leader, 10, "the first candidate to lead")
        b.elector.start()
        time.sleep(1)
        released = time.monotonic()
        a.elector.stop(release=True)
        wait_for(lambda: b.elector.is_leader, 10, "the standby to take the released Lease")
        assert b.led_at is not None and b.led_at - released <= 2 * TIMING["retry_period_s"] * 1.2 + 0.5
        assert lease_spec(stack, lease)["holderIdentity"] == "cand-1"


class Relay:
    """A TCP relay on loopback to the API server; `cut()` drops every connection and refuses new ones
    (the leader has lost the API server; the standby still reaches it directly)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open: list[socket.socket] = []
        self.cut_flag = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_flag.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while not self.cut_flag.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)

    def cut(self) -> None:
        self.cut_flag.set()
        self.server.close()
        for s in self.open:
            with contextlib.suppress(OSError):
                s.close()


def test_a_leader_cut_off_from_the_api_server_stops_before_the_lease_can_be_taken(stack: StackHandle) -> None:
    relay = Relay(stack.state.ports.apiserver)
    with candidates(stack, f"https://127.0.0.1:{relay.port}", None) as (_lease, (a, b)):
        a.elector.start()
        wait_for(lambda: a.elector.is_leader, 10, "the relayed candidate to lead")
        b.elector.start()
        time.sleep(1.5)
        cut = time.monotonic()
        relay.cut()
        wait_for(lambda: b.elector.is_leader, 15, "the standby to take over")
        assert a.lost_at is not None, "the cut-off leader never stopped"
        assert b.led_at is not None
        assert a.lost_at - cut <= TIMING["renew_deadline_s"] + 0.5, a.lost_at - cut
        assert a.lost_at < b.led_at, (a.lost_at - cut, b.led_at - cut)
        assert not a.elector.is_leader
