"""Life cycle of separate stacks: down leaves nothing behind, an existing cluster is reused,
500 simulated nodes come up, missing tools and busy ports are handled."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from devstack.localstack import MissingTool, Stack
from devstack.localstack import components as comp
from devstack.localstack.procs import port_open
from devstack.localstack.tools import k8s_bin_dir
from tests.conftest import StackHandle


def _ports(state: object) -> list[int]:
    ports = state.ports  # type: ignore[attr-defined]
    return [getattr(ports, f) for f in comp.Ports.__dataclass_fields__ if f != "operator_metrics"]


@pytest.mark.cluster
def test_down_stops_every_process_and_leaves_nothing_listening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    st = Stack(tmp_path / "s")
    try:
        state = st.up("mini")
        pids = [s.pid for s in st.status() if s.name != "operator"]
        assert len(pids) == 8 and all(pids), st.status()
        assert {s.name: s.state for s in st.status()}["operator"] == "stopped"
        assert all(port_open(p) for p in (state.ports.apiserver, state.ports.prometheus, state.ports.anvil))
    finally:
        stopped = st.down()
    assert set(stopped) == {*comp.KUBE_COMPONENTS, *comp.SIDE_COMPONENTS}
    for pid in pids:
        assert pid is not None and not Path(f"/proc/{pid}").exists(), Path(f"/proc/{pid}/stat").read_text()
    still = [p for p in _ports(state) if port_open(p)]
    assert not still, f"still listening on {still}"
    assert st.status() == []


@pytest.mark.cluster
def test_an_existing_cluster_from_kubeconfig_is_used(
    stack: StackHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(stack.kubeconfig))
    other = Stack(tmp_path / "other")
    try:
        state = other.up(stack.state.scenario, chain=False)
        assert state.mode == "external"
        assert state.kubeconfig == str(stack.kubeconfig)
        running = {s.name for s in other.status() if s.state == "running"}
        assert running == {"exporter", "prometheus"}, other.status()
        assert {s.name for s in other.status() if s.state == "external"} == set(comp.KUBE_COMPONENTS)
    finally:
        other.down()


@pytest.mark.cluster
@pytest.mark.slow
def test_a_city_of_500_nodes_comes_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    st = Stack(tmp_path / "big")
    try:
        t0 = time.monotonic()
        state = st.up("city-500", chain=False)
        elapsed = time.monotonic() - t0
        from orchestrator.kube.sync import nodes_by_readiness, session

        with session(Path(state.kubeconfig)) as api:
            ready, not_ready = nodes_by_readiness(api, "type=kwok")
        assert len(ready) == 500 and not not_ready
        print(f"city-500 up in {elapsed:.1f} s ({state.timings})")
    finally:
        st.down()


def test_a_missing_binary_names_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGEORCH_BIN_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MissingTool, match=r"kube-apiserver.*scripts/setup\.sh"):
        k8s_bin_dir()


def test_a_busy_port_from_a_previous_run_is_replaced(tmp_path: Path) -> None:
    st = Stack(tmp_path / "ports")
    first = st._ports(None, st.supervisor)
    busy = socket.socket()
    busy.bind(("127.0.0.1", first.prometheus))
    busy.listen()
    try:
        st.state_file.parent.mkdir(parents=True, exist_ok=True)
        st.state_file.write_text(json.dumps({
            "mode": "local", "kubeconfig": "", "scenario": "mini", "ports": first.__dict__, "components": [],
        }))
        again = st._ports(st.load(), st.supervisor)
    finally:
        busy.close()
    assert again.prometheus != first.prometheus
    assert again.apiserver == first.apiserver
