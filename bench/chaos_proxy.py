"""A TCP proxy on loopback that the chaos benchmark puts between an operator process and the API server,
so that it can cut them apart for a while (a network partition) without touching anything else.

Bytes pass through unchanged (TLS end to end: the API server's certificate names 127.0.0.1, which the
proxy listens on too).  While partitioned nothing moves in either direction and a new connection is
held unanswered (as packets dropped on a cut link: the client's own timeouts decide what happens);
when the partition ends, the held data and connections go on, as TCP would deliver them after a short
cut.  Threads, bounded by the connections the operator opens; `close()` ends them all.
"""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"
CHUNK = 65536
TICK_S = 0.1


class LoopbackProxy:
    """Listens on 127.0.0.1:<free port> and forwards every connection to 127.0.0.1:`upstream`."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._open = threading.Event()  # set: traffic flows; clear: partitioned
        self._open.set()
        self._closed = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(TICK_S)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def partitioned(self) -> bool:
        return not self._open.is_set()

    def partition(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed.set()
        self._open.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()
            self._sockets.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _wait_open(self) -> bool:
        """Block while partitioned; False once the proxy is closed."""
        while not self._open.wait(TICK_S):
            if self._closed.is_set():
                return False
        return not self._closed.is_set()

    def _connect(self, client: socket.socket) -> None:
        self._track(client)
        if not self._wait_open():  # a connection opened during a partition waits for its end
            return
        try:
            upstream = socket.create_connection((HOST, self.upstream), timeout=10)
        except OSError:
            self._drop(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        other = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
        other.start()
        self._pump(upstream, client)
        other.join()
        self._drop(client)
        self._drop(upstream)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                if not self._wait_open():  # a partition holds what was read until it ends
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.add(s)

    def _drop(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(s)
        with contextlib.suppress(OSError):
            s.close()
