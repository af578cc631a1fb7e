"""anvil (a local Ethereum dev node) and cast (its command-line client): where they are and one process.

Both come from the npm packages @foundry-rs/anvil-linux-amd64 and @foundry-rs/cast-linux-amd64 that
scripts/setup.sh installs under .tools/npm; EDGEORCH_ANVIL / EDGEORCH_CAST override the paths.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from sla_contracts.errors import LedgerUnavailable, ToolMissing

REPO_ROOT = Path(__file__).resolve().parents[1]
NPM_ROOT = REPO_ROOT / ".tools" / "npm" / "node_modules" / "@foundry-rs"
SETUP_HINT = "run scripts/setup.sh (npm install of @foundry-rs/anvil-linux-amd64 and @foundry-rs/cast-linux-amd64)"


def _find(tool: str, env_var: str) -> Path:
    override = os.environ.get(env_var)
    path = Path(override) if override else NPM_ROOT / f"{tool}-linux-amd64" / "bin" / tool
    if not os.access(path, os.X_OK):
        where = f"{env_var}={override}" if override else str(path)
        raise ToolMissing(f"{tool} not found at {where}: {SETUP_HINT}")
    return path


def find_anvil() -> Path:
    """The anvil binary ($EDGEORCH_ANVIL, else the project-local npm install)."""
    return _find("anvil", "EDGEORCH_ANVIL")


def find_cast() -> Path:
    """The cast binary ($EDGEORCH_CAST, else the project-local npm install)."""
    return _find("cast", "EDGEORCH_CAST")


def free_port() -> int:
    """A TCP port on loopback that is free now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def rpc_chain_id(url: str, timeout: float = 2.0) -> int:
    """`eth_chainId` of the node at `url` (raises OSError or ValueError when it does not answer)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return int(json.loads(resp.read())["result"], 16)


def wait_for_rpc(url: str, timeout: float = 20.0) -> int:
    """Wait until the node at `url` answers `eth_chainId`; returns the chain id."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return rpc_chain_id(url)
        except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.05)
    raise LedgerUnavailable(f"no JSON-RPC answer from {url} within {timeout:.0f}s: {last}")


class AnvilProcess:
    """One anvil node. With `state_file` it loads and keeps (every second and at SIGTERM) its state."""

    def __init__(self, port: int, state_file: Path | None = None, log_file: Path | None = None,
                 chain_id: int = 31337, host: str = "127.0.0.1") -> None:
        self.port = port
        self.state_file = state_file
        self.log_file = log_file
        self.chain_id = chain_id
        self.host = host
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        cmd = [str(find_anvil()), f"--host={self.host}", f"--port={self.port}", f"--chain-id={self.chain_id}"]
        if self.state_file is not None:
            cmd += [f"--state={self.state_file}", "--state-interval=1"]
        return cmd

    def _log_tail(self, lines: int = 30) -> str:
        if self.log_file is None or not self.log_file.exists():
            return "(no log file)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = 20.0) -> AnvilProcess:
        """Spawn anvil in its own session and wait until it answers; raises with the log tail if it dies."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        cmd = self.command()
        if not _port_free(self.host, self.port):
            raise LedgerUnavailable(f"cannot start anvil: port {self.port} on {self.host} is in use")
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                self._close_log()
                raise LedgerUnavailable(f"anvil exited with {code} at start ({' '.join(cmd)}):\n{self._log_tail()}")
            try:
                rpc_chain_id(self.url, timeout=1.0)
                if self._proc.poll() is None:  # it is ours that answers
                    return self
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LedgerUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f}s:\n{self._log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (anvil writes its state), wait, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
