"""Start, find and stop the stack's processes by pid file.

Each component runs in its own session (so `down` from another shell can stop it and a killed
CLI leaves it running on purpose), logs to its own file and is recognised again by pid *and*
program *and* start time, so a recycled pid is never mistaken for ours: nothing here signals a process
it did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class ComponentDied(RuntimeError):
    """A component exited while starting; the message carries the tail of its log."""


@dataclass(frozen=True)
class ProcessSpec:
    """What to run for one component; a pure description."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file ('' when there is none)."""
    try:
        data = path.read_bytes()[-16384:]
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that are free right now on `host`."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class Supervisor:
    """Owns the `pids/` and `logs/` folders of one stack state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.pid_dir = state_dir / "pids"
        self.log_dir = state_dir / "logs"
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"

    def has_pid_file(self, name: str) -> bool:
        """Whether `start` recorded `name` and nothing has stopped it since (it may have exited)."""
        return self._pid_file(name).exists()

    def pid(self, name: str) -> int | None:
        """The pid of the running component, or None when it is not running (stale files go).

        The pid file holds the pid, the program and the process' start time (in clock ticks since
        boot): a pid the kernel gave to another process since is never taken for ours."""
        path = self._pid_file(name)
        try:
            pid_text, exe, started = [*path.read_text().split("\n"), "", ""][:3]
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            path.unlink(missing_ok=True)
            return None
        fields = stat.rsplit(")", 1)[-1].split()
        zombie = fields[0] == "Z"
        # An empty command line is a process caught in the middle of exec(): still ours.
        recycled = bool(cmdline and exe.strip()) and os.path.basename(cmdline) != os.path.basename(exe.strip())
        if started.strip() and len(fields) > 19 and fields[19] != started.strip():
            recycled = True  # same pid, another process (start time is field 22 of /proc/PID/stat)
        if zombie or recycled:
            path.unlink(missing_ok=True)
            return None
        return pid

    def start(self, spec: ProcessSpec) -> int:
        """Start `spec` unless it already runs; return its pid."""
        running = self.pid(spec.name)
        if running is not None:
            return running
        log = self.log_file(spec.name)
        env = {**os.environ, **spec.env}
        with log.open("ab") as out:
            out.write(f"\n--- edgeorch: starting {spec.name} at {time.ctime()}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
            )
        self._pid_file(spec.name).write_text(f"{proc.pid}\n{spec.argv[0]}\n{_start_time(proc.pid)}\n")
        return proc.pid

    def check_alive(self, name: str) -> None:
        """Raise ComponentDied (with the log's tail) when `name` is not running."""
        if self.pid(name) is None:
            raise ComponentDied(
                f"{name} is not running; last lines of {self.log_file(name)}:\n{tail(self.log_file(name))}"
            )

    def stop(self, name: str, timeout: float = 10.0) -> bool:
        """Stop a component by pid (SIGTERM, then SIGKILL); True when something was stopped."""
        pid = self.pid(name)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid(name) is not None:
            time.sleep(0.05)
        if self.pid(name) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            time.sleep(0.1)
        _reap(pid)
        self._pid_file(name).unlink(missing_ok=True)
        return True

    def kill(self, name: str, timeout: float = 10.0) -> bool:
        """SIGKILL a component, as a crash would (no clean shutdown); True when it was running."""
        pid = self.pid(name)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid(name) is not None:
            time.sleep(0.05)
        _reap(pid)
        self._pid_file(name).unlink(missing_ok=True)
        return True

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.pid_dir.glob("*.pid"))


def _start_time(pid: int) -> str:
    """The start time of process `pid` (clock ticks after boot, field 22 of /proc/PID/stat); '' if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return ""
    return fields[19] if len(fields) > 19 else ""


def _reap(pid: int, timeout: float = 5.0) -> None:
    """Collect our own exited child so it does not linger as a zombie (no-op for others' children).

    A multi-threaded program shows as a zombie before its last thread is gone; keep asking until
    the kernel hands over its exit status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            return
        if done == pid or time.monotonic() > deadline:
            return
        time.sleep(0.02)
