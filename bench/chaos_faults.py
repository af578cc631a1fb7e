"""The faults bench.chaos injects, and what it runs them against: two operator processes (deploy/'s two
replicas, one Lease), each reaching the API server through a loopback proxy of its own (bench.chaos_proxy),
and the city's site faults (a site offline, latency at the sites of the workloads under an agreement)
that cause the breaches and the moves a round checks.

Every kind is a crash, SIGKILL to the process group (no clean shutdown): the operator (the leader), the
API server, etcd, Prometheus, anvil, the exporter; then, after the round's down time, the component is
started again as it was (devstack.localstack.respawn: same ports, data, state file), as a supervisor
would.  `partition` cuts the leading operator from the API server (its proxy holds all traffic) for the
down time; the standby keeps its link, so it is the split-brain case the Lease timings must prevent.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos_proxy import LoopbackProxy
from devstack.faults import Faults
from devstack.localstack import Stack, StackState
from devstack.localstack.components import operator_name
from devstack.localstack.respawn import ready_check, respawn

KINDS = ("operator-kill9", "apiserver-restart", "etcd-restart", "prometheus-kill", "anvil-kill", "exporter-kill",
         "partition")
COMPONENT = {"apiserver-restart": "kube-apiserver", "etcd-restart": "etcd", "prometheus-kill": "prometheus",
             "anvil-kill": "anvil", "exporter-kill": "exporter"}
INSTANCES = (1, 2)
ANVIL_STATE = "anvil-state.json"  # in the stack's directory (devstack.localstack.respawn)


def probe(state: StackState, instance: int, path: str) -> int:
    """The HTTP status of operator process `instance`'s /healthz or /readyz (0: no answer)."""
    try:
        with urllib.request.urlopen(Stack.operator_url(state, instance, path), timeout=2) as resp:
            json.loads(resp.read() or b"{}")
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return 0


class Operators:
    """Operator processes 1 and 2, each behind its own LoopbackProxy to the API server."""

    def __init__(self, stack: Stack, state: StackState, env: dict[str, str]) -> None:
        self.stack, self.state, self.env = stack, state, env
        self.proxies = {i: LoopbackProxy(state.ports.apiserver) for i in INSTANCES}
        self.restarts = 0  # processes found exited (a leader that lost its Lease exits) and started again

    def start(self, instance: int, wait: str = "healthy") -> None:
        self.stack.start_operator(self.env, instance=instance, wait=wait, api_server=self.proxies[instance].url,
                                  timeout=90)

    def running(self, instance: int) -> bool:
        return self.stack.supervisor.pid(operator_name(instance)) is not None

    def leader(self, timeout: float = 60) -> int:
        """The process that leads and is ready (0 when none does within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in INSTANCES:
                if probe(self.state, i, "readyz") == 200:
                    return i
            time.sleep(0.2)
        return 0

    def keep_running(self, *, but: int = 0) -> list[int]:
        """Start again every process that exited (except `but`, down on purpose): the kubelet's part."""
        out = []
        for i in INSTANCES:
            if i != but and not self.running(i):
                self.start(i)
                self.restarts += 1
                out.append(i)
        return out

    def close(self) -> None:
        for p in self.proxies.values():
            p.close()


@dataclass
class SiteFaults:
    """The city faults of one round: latency at some sites, one site offline; applied again after the
    exporter restarts (it keeps them in memory only)."""

    faults: Faults
    latency_sites: list[str] = field(default_factory=list)
    offline_site: str = ""
    add_ms: float = 40.0
    ids: list[str] = field(default_factory=list)

    def apply(self) -> None:
        self.ids = [self.faults.latency(s, self.add_ms) for s in self.latency_sites]
        if self.offline_site:
            self.ids.append(self.faults.offline(self.offline_site))

    def heal(self) -> None:
        if self.offline_site:
            self.faults.online(self.offline_site)
        self.faults.heal()
        self.ids = []


@dataclass
class Injected:
    kind: str
    target: str  # the process (or the proxy) hit
    instance: int = 0  # the operator process, for operator-kill9 and partition
    chain_dump: bytes = b""  # anvil-kill: anvil's state file as it was, complete, just before the kill
    notes: list[str] = field(default_factory=list)


def _state_dump(path: Path, attempts: int = 20) -> bytes:
    """anvil's state file, once it reads as complete JSON (anvil rewrites it every second, in place)."""
    for _ in range(attempts):
        data = path.read_bytes() if path.exists() else b""
        try:
            json.loads(data)
            return data
        except ValueError:
            time.sleep(0.05)
    return b""


def begin(kind: str, stack: Stack, ops: Operators) -> Injected:
    """Inject fault `kind` now."""
    if kind in ("operator-kill9", "partition"):
        leader = ops.leader()
        if not leader:
            raise RuntimeError("no operator process leads: nothing to kill or cut off")
        if kind == "partition":
            ops.proxies[leader].partition()
            return Injected(kind, f"{operator_name(leader)}'s link to the API server", leader)
        stack.supervisor.kill(operator_name(leader))
        return Injected(kind, operator_name(leader), leader)
    name = COMPONENT[kind]
    dump = _state_dump(stack.dir / ANVIL_STATE) if name == "anvil" else b""
    stack.supervisor.kill(name)
    return Injected(kind, name, chain_dump=dump)


def end(fault: Injected, stack: Stack, ops: Operators, sites: SiteFaults) -> None:
    """End the fault: the link back, the process started again as it was (and waited for)."""
    if fault.kind == "partition":
        ops.proxies[fault.instance].heal()
        return
    if fault.kind == "operator-kill9":
        ops.start(fault.instance)  # back, as a standby (or the leader, if the other has not taken over yet)
        return
    if fault.target == "anvil" and not _state_dump(stack.dir / ANVIL_STATE, attempts=1) and fault.chain_dump:
        # anvil writes its state file in place: a kill during the write leaves it cut short, and anvil then
        # refuses to start (the whole chain gone).  A real node keeps its chain through a crash; so that the
        # round measures the operator, not that, the last complete dump goes back (said in the row)
        (stack.dir / ANVIL_STATE).write_bytes(fault.chain_dump)
        fault.notes.append("anvil's state file was cut short by the kill (a dump in progress): the complete "
                           "dump read just before the kill was put back")
    respawn(stack, fault.target)
    if fault.target == "etcd":  # the API server answers again once it reaches etcd
        state = stack.load()
        assert state is not None
        _wait(ready_check(state, "kube-apiserver"), 90)
    if fault.target == "exporter":
        sites.apply()


def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"not ready after {timeout} s")


__all__ = ["COMPONENT", "INSTANCES", "KINDS", "Injected", "Operators", "SiteFaults", "begin", "end"]
