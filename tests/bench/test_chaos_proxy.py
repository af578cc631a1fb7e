"""The loopback proxy bench.chaos cuts the operator off with (bench/chaos_proxy.py): bytes pass both ways,
a partition holds them (and new connections) until it ends, then they arrive.  No stack: an echo server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

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
