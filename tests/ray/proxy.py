"""A TCP relay on 127.0.0.1 in front of the test cluster's dashboard (in its network namespace), which a
test can cut and restore: a real dropped connection between the launcher and the cluster, caused on
purpose."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable


class Relay:
    def __init__(self, target_host: str, target_port: int, refuse: Callable[[str], bool] | None = None,
                 hold: Callable[[str], bool] | None = None) -> None:
        """refuse: given an HTTP request's path, whether to answer it with a 500 here instead of passing
        it on (a fault injected on purpose: a cluster that fails one kind of request). hold: whether to
        keep a connection whose first request has that path waiting until release() (a slow upload)."""
        self.target_host = target_host
        self.target_port = target_port
        self.refuse = refuse
        self.hold = hold
        #: Set when a held request has arrived.
        self.holding = threading.Event()
        self._released = threading.Event()
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen, on the same port as before after a cut. The port comes from below the kernel's
        ephemeral range, so no outgoing connection on this machine can take it while the relay is cut."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.port:
            listener.bind(("127.0.0.1", self.port))
        else:
            self.port = _bind_below_ephemeral(listener)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and break every open connection (as a cluster that went away would)."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            # close() alone does not wake the thread blocked in accept(), and the socket would go on
            # listening until the next connection; shutdown() wakes it, so the port is free at once.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def release(self) -> None:
        self._released.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.refuse is not None and self._refused(client):
                continue
            if self.hold is not None and self.hold(self._path(client)):
                self.holding.set()
                threading.Thread(target=self._connect_when_released, args=(listener, client), daemon=True).start()
                continue
            self._connect(listener, client)

    def _connect_when_released(self, listener: socket.socket, client: socket.socket) -> None:
        self._released.wait(600)
        self._connect(listener, client)

    def _path(self, client: socket.socket) -> str:
        try:
            client.settimeout(10)
            head = client.recv(65536, socket.MSG_PEEK)
            client.settimeout(None)
        except OSError:
            return ""
        parts = head.split(b"\r\n", 1)[0].split()
        return parts[1].decode("latin-1") if len(parts) >= 2 else ""

    def _connect(self, listener: socket.socket, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.target_host, self.target_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            if self._listener is not listener:
                client.close()
                upstream.close()
                return
            self._connections += [client, upstream]
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _refused(self, client: socket.socket) -> bool:
        try:
            client.settimeout(10)
            head = client.recv(65536, socket.MSG_PEEK)
            client.settimeout(None)
        except OSError:
            client.close()
            return True
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) < 2 or not self.refuse(parts[1].decode("latin-1")):
            return False
        body = b"refused by the test relay"
        try:
            client.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        client.close()
        return True

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


def _bind_below_ephemeral(listener: socket.socket) -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    candidates = random.sample(range(max(1024, low - 8000), low), 200)
    for port in candidates:
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise OSError(f"no free port between {candidates[0]} and {low} for the relay")
