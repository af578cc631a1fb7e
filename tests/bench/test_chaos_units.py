"""bench.chaos without a stack: the loopback proxy it cuts the operator off with (bench/chaos_proxy.py:
bytes pass both ways, a partition holds them and new connections until it ends, then they arrive; an
echo server behind it), and how a kind's rounds become its row and targets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from bench.chaos import COUNTS, summarise
from bench.chaos_proxy import LoopbackProxy


@pytest.fixture()
def echo() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_bytes_pass_and_a_partition_holds_them_until_it_ends(echo: int) -> None:
    proxy = LoopbackProxy(echo)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as c:
            c.sendall(b"hello")
            assert c.recv(100) == b"hello"
            proxy.partition()
            c.sendall(b"cut")
            c.settimeout(0.5)
            with pytest.raises(TimeoutError):
                c.recv(100)  # nothing comes back while partitioned
            late = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            late.sendall(b"new")
            late.settimeout(0.5)
            with pytest.raises(TimeoutError):
                late.recv(100)
            proxy.heal()
            c.settimeout(5)
            late.settimeout(5)
            assert c.recv(100) == b"cut"  # held, then delivered, as TCP would after a short cut
            assert late.recv(100) == b"new"
            late.close()
        assert proxy.connections == 2
    finally:
        proxy.close()


def _run(converge: float | None, **counts: int) -> dict[str, object]:
    return {"converge_s": converge, "operator_restarts": 0, "breaches": 3, "moves": 2, "pods_not_running": 0,
            **dict.fromkeys(COUNTS, 0), **counts}


def test_a_kind_meets_its_targets_only_with_every_count_zero_and_every_round_converged_in_time() -> None:
    ok = summarise("etcd-restart", [_run(4.0), _run(12.5)])
    assert ok["met"] and ok["converged"] == 2 and ok["converge_p95_s"] == 12.5 and ok["breaches"] == 6
    slow = summarise("etcd-restart", [_run(4.0), _run(31.0)])
    assert not slow["met"] and slow["targets"] == {**{f"{k}==0": True for k in COUNTS}, "converge_p95<=30s": False}
    stuck = summarise("etcd-restart", [_run(4.0), _run(None)])  # a round that never converged misses it too
    assert not stuck["met"] and stuck["converged"] == 1 and stuck["converge_p95_s"] == 4.0
    lost = summarise("anvil-kill", [_run(2.0, chain_lost=1), _run(3.0)])
    assert lost["chain_lost"] == 1 and not lost["targets"]["chain_lost==0"] and not lost["met"]
    unread = summarise("anvil-kill", [{"converge_s": 2.0, "error": "no read of the namespace"}])
    assert all(unread[k] == 1 for k in COUNTS) and not unread["met"]  # a round not read counts as failing
