"""Session fixtures: the real local stack, brought up once per test run and always torn down.

`stack` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (the default
simulated city), Prometheus, the city's QoS exporter and anvil, in a temporary state directory.
When $KUBECONFIG points at a reachable cluster (kind), that cluster is used instead of a local one.
A missing program fails the tests with the message that says what to install; nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.localstack import Stack, StackState
from devstack.localstack.tools import k8s_binary

DEFAULT_SCENARIO = os.environ.get("EDGEORCH_TEST_SCENARIO", "barcelona")


@dataclass
class StackHandle:
    """What a test needs of the running stack."""

    stack: Stack
    state: StackState

    @property
    def kubeconfig(self) -> Path:
        return Path(self.state.kubeconfig)

    @property
    def prometheus_url(self) -> str:
        return self.state.prometheus_url

    @property
    def chain_url(self) -> str:
        return self.state.chain_url

    @property
    def exporter_url(self) -> str:
        return self.state.exporter_url

    @property
    def state_dir(self) -> Path:
        return self.stack.dir

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.state.env()}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against the stack; raises with stderr when `check` and it fails."""
        proc = subprocess.run(
            [str(k8s_binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """The real stack, up for the whole session (see the module docstring)."""
    st = Stack(tmp_path_factory.mktemp("stack"))
    try:
        state = st.up(DEFAULT_SCENARIO, log=print)
        yield StackHandle(st, state)
    finally:
        st.down(log=print)


@pytest.fixture(scope="session")
def operator(stack: StackHandle) -> Iterator[StackHandle]:
    """The operator as its own process (kopf run operator/handlers.py) against the stack."""
    stack.stack.start_operator()
    try:
        yield stack
    finally:
        stack.stack.stop_operator()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used the operator shows the operator's log tail (CI keeps nothing else)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    handle = getattr(item, "funcargs", {}).get("operator")
    if report.when != "call" or not report.failed or not isinstance(handle, StackHandle):
        return
    log = handle.state_dir / "logs" / "operator.log"
    if log.exists():
        tail = log.read_text(errors="replace").splitlines()[-80:]
        report.sections.append((f"operator log, last {len(tail)} lines ({log})", "\n".join(tail)))
