"""A TCP proxy on 127.0.0.1 that passes what the upstream server sends at a fixed rate.

It makes a copy through the S3 emulator last long enough to be interrupted in the middle.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class ThrottledProxy:
    """Listens on 127.0.0.1:`port`; each connection is piped to `upstream`, its replies paced."""

    def __init__(self, upstream_host: str, upstream_port: int, bytes_per_second: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rate = bytes_per_second
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self._lock = threading.Lock()
        self._next = time.monotonic()  # when the next byte may leave, across all connections
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _pace(self, n: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now)
            self._next = start + n / self.rate
            delay = start - now
        if delay > 0:
            time.sleep(delay)  # the pace itself, not a wait for an event

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, paced: bool) -> None:
        try:
            while data := src.recv(16 << 10):
                if paced:
                    self._pace(len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stops listening and ends every connection."""
        self._closed = True
        self.server.close()
        for s in self._sockets:
            s.close()
