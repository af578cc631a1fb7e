"""The `edgeorch` command's manners, run as a user runs it (a subprocess): a mistake prints one line that
says what to do, never a traceback (only `--debug` shows one); `cluster status` names the operator; the
stack never signals a process it did not start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.localstack.procs import ProcessSpec, Supervisor, free_ports
from tests.conftest import StackHandle

ROOT = Path(__file__).resolve().parents[2]


def edgeorch(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`edgeorch ARGS` from this checkout (python -m devstack.cli is the entry point's module)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("EDGEORCH_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "devstack.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edgeorch: error: "), lines[0]
    return lines[0]


def test_errors_without_a_stack_are_one_line_with_the_fix(tmp_path: Path) -> None:
    empty = str(tmp_path / "no-stack")
    line = one_error_line(edgeorch("sim", "latency", "--site", "fe-gracia", "--add-ms", "5", "--state-dir", empty))
    assert "no stack" in line and "edgeorch cluster up" in line
    line = one_error_line(edgeorch("cluster", "up", "--scenario", "atlantis", "--state-dir", empty))
    assert "atlantis" in line and "barcelona" in line
    assert not Path(empty).exists(), "a bad scenario starts nothing"
    line = one_error_line(edgeorch("sla", "show", "0x" + "ab" * 32, env={"EDGEORCH_CHAIN_URL": ""}))
    assert "EDGEORCH_CHAIN_URL" in line and "--rpc-url" in line
    line = one_error_line(edgeorch("sim", "latency", "--site", "fe-gracia", "--state-dir", empty))
    assert "Missing option '--add-ms'" in line and "`edgeorch sim latency --help`" in line
    line = one_error_line(edgeorch("sim", "cpu", "--node", "n1", "--cores", "many"))
    assert "'many' is not a valid float" in line, line
    assert edgeorch("--help").returncode == 0 and edgeorch("sim", "--help").stdout.startswith("Usage: edgeorch sim")


@pytest.mark.cluster
def test_errors_against_the_stack_are_one_line_and_debug_shows_the_traceback(stack: StackHandle,
                                                                           tmp_path: Path) -> None:
    state_dir = str(stack.state_dir)
    line = one_error_line(edgeorch("sim", "offline", "--site", "atlantis", "--state-dir", state_dir))
    assert "unknown site 'atlantis'" in line and "fe-eixample" in line  # the known sites are named
    line = one_error_line(edgeorch("sim", "heal", "no-such-fault", "--state-dir", state_dir))
    assert "no-such-fault" in line and "edgeorch sim faults" in line

    # a stack whose exporter does not answer (a copy of the state file with the exporter's port free)
    broken = tmp_path / "broken"
    broken.mkdir()
    state = json.loads((stack.state_dir / "stack.json").read_text())
    state["ports"]["exporter"] = free_ports(1)[0]
    (broken / "stack.json").write_text(json.dumps(state))
    line = one_error_line(edgeorch("sim", "faults", "--state-dir", str(broken)))
    assert f"127.0.0.1:{state['ports']['exporter']}" in line and "edgeorch cluster status" in line

    debug = edgeorch("--debug", "sim", "offline", "--site", "atlantis", "--state-dir", state_dir)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ControlError" in debug.stderr


@pytest.mark.cluster
def test_cluster_status_names_the_operator_where_and_how_it_runs(operator: StackHandle) -> None:
    out = edgeorch("cluster", "status", "--state-dir", str(operator.state_dir))
    assert out.returncode == 0, out.stderr
    (row,) = [line for line in out.stdout.splitlines() if line.split()[:1] == ["operator"]]
    pid = operator.stack.supervisor.pid("operator")
    assert re.search(rf"operator\s+running\s+pid {pid}\s+http://127\.0\.0\.1:\d+/healthz", row), row
    detail = out.stdout.splitlines()[out.stdout.splitlines().index(row) + 1]
    assert "local process on 127.0.0.1, healthy" in detail and "/metrics" in detail, detail


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    """A pid file whose pid now belongs to another process (same program, another start time) is stale:
    `pid` says not running and `stop` signals nothing."""
    sup = Supervisor(tmp_path)
    ours = sup.start(ProcessSpec("sleeper", ["sleep", "60"]))
    time.sleep(0.05)  # start times count in clock ticks (10 ms)
    foreign = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        recorded = (tmp_path / "pids" / "sleeper.pid").read_text().split("\n")
        assert recorded[0] == str(ours) and recorded[2], recorded
        # the kernel hands `ours`'s pid to someone else: simulate with the foreign process's pid
        (tmp_path / "pids" / "sleeper.pid").write_text(f"{foreign.pid}\n{recorded[1]}\n{recorded[2]}\n")
        assert sup.pid("sleeper") is None
        assert sup.stop("sleeper") is False
        assert foreign.poll() is None, "a process the stack did not start was signalled"
    finally:
        foreign.terminate()
        foreign.wait(10)
        os.killpg(ours, 15)


def test_setup_and_devstack_kill_nothing_by_name() -> None:
    """No `pkill`/`killall` anywhere in the set-up or the harness: processes are stopped by the pid the
    stack recorded when it started them (devstack/localstack/procs.py), nothing else."""
    texts = {p: p.read_text() for p in [ROOT / "scripts" / "setup.sh", ROOT / "deploy" / "local" / "build-binaries.sh",
                                        ROOT / "Makefile", *sorted((ROOT / "devstack").rglob("*.py"))]}
    for path, text in texts.items():
        assert not re.search(r"\b(pkill|killall|fuser\s+-k)\b", text), path
        if path.name != "procs.py":
            assert not re.search(r"\bos\.kill(pg)?\(|\.send_signal\(", text), f"{path} signals a process"


@pytest.mark.cluster
def test_a_bus_is_started_moved_listed_and_removed_from_the_command_line(stack: StackHandle) -> None:
    state_dir = str(stack.state_dir)
    started = edgeorch("sim", "bus", "--app", "cli-bus", "--route", "v15", "--users", "12", "--state-dir", state_dir)
    assert started.returncode == 0, started.stderr
    group = started.stdout.strip()
    try:
        assert re.fullmatch(r"g\d+", group), started.stdout
        moved = edgeorch("sim", "move-bus", group, "4", "--state-dir", state_dir)
        assert moved.stdout.strip() == f"{group}: stop 4, cell-poblenou-1 12", moved.stdout + moved.stderr
        listed = edgeorch("sim", "groups", "--state-dir", state_dir).stdout
        assert f"{group}: bus of cli-bus on route v15: cell-poblenou-1 12" in listed, listed
        line = one_error_line(edgeorch("sim", "bus", "--app", "cli-bus", "--route", "v99", "--state-dir", state_dir))
        assert "route: unknown route 'v99'" in line and "v15" in line, line
    finally:
        removed = edgeorch("sim", "groups", "--remove", group, "--state-dir", state_dir)
    assert removed.stdout.strip() == group, removed.stdout + removed.stderr
