"""Start one component of a running local stack again, as it was (same ports, data, state file), after it
died or was killed: what a process supervisor (systemd, the kubelet) would do.  For fault tests and
bench.chaos; `Stack.up` brings up a whole stack, this brings back one process without touching the rest
(no re-population of the cluster, no new Prometheus data directory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devstack.localstack import components as comp
from devstack.localstack import probes
from devstack.localstack.procs import ProcessSpec
from devstack.localstack.stack import Stack, StackError, StackState
from orchestrator.kube.sync import api_client, readyz, wait_until

RESPAWNABLE = ("etcd", "kube-apiserver", "prometheus", "anvil", "exporter")


def spec(stack: Stack, state: StackState, name: str) -> ProcessSpec:
    """The process of component `name` exactly as `Stack.up` started it."""
    if name not in RESPAWNABLE:
        raise StackError(f"cannot respawn {name!r}: one of {', '.join(RESPAWNABLE)}")
    return stack.spec(state, name)


def ready_check(state: StackState, name: str) -> Callable[[], bool]:
    """Whether component `name` answers again."""
    if name == "etcd":
        return lambda: probes.http_ok(f"http://{comp.HOST}:{state.ports.etcd}/health")
    if name == "kube-apiserver":
        def api_ready() -> bool:
            api = api_client(Path(state.kubeconfig))
            try:
                return readyz(api)
            finally:
                api.close()
        return api_ready
    if name == "prometheus":
        return lambda: probes.http_ok(state.prometheus_url + "/-/ready")
    if name == "anvil":
        return lambda: probes.chain_id(state.chain_url) is not None
    return lambda: probes.http_ok(state.exporter_url + "/metrics")


def respawn(stack: Stack, name: str, timeout: float = 90) -> int:
    """Start component `name` again (a no-op when it runs) and wait until it answers; its pid."""
    state = stack.load()
    if state is None:
        raise StackError(f"no stack in {stack.dir}")
    sup = stack.supervisor
    pid = sup.start(spec(stack, state, name))
    ready = ready_check(state, name)

    def check() -> bool:
        sup.check_alive(name)
        return ready()

    wait_until(check, timeout, f"{name} to answer again (log: {sup.log_file(name)})")
    return pid
