"""Real peers for the tests: the `websockets` server, TLS certificates, raw TCP servers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import trustme
from websockets.sync.server import Server, ServerConnection, serve


def echo(ws: ServerConnection) -> None:
    """Echo every message back."""
    with contextlib.suppress(Exception):
        for msg in ws:
            ws.send(msg)


def echo_recording_close(
    seen: list[tuple[int | None, str | None]],
) -> Callable[[ServerConnection], None]:
    """An echo handler that appends the client's close code and reason to ``seen``."""

    def handler(ws: ServerConnection) -> None:
        echo(ws)
        seen.append((ws.close_code, ws.close_reason))

    return handler


def silent_peer(conn: socket.socket) -> None:
    """RawServer behaviour: accept the upgrade, then read and never answer."""
    accept_upgrade(conn)
    drain(conn, 5)


class WsServer:
    """A `websockets` sync server in a thread; restartable on the same port."""

    def __init__(
        self,
        handler: Callable[[ServerConnection], None] = echo,
        *,
        ssl_context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.kwargs = kwargs
        self.port = 0
        self.server: Server | None = None
        self.thread: threading.Thread | None = None
        self.requests: list[Any] = []

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        host = "localhost" if self.ssl_context else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}/"

    def _process_request(self, conn: ServerConnection, request: Any) -> None:
        self.requests.append(request)

    def start(self) -> WsServer:
        kwargs = dict(self.kwargs)
        kwargs.setdefault("process_request", self._process_request)
        self.server = serve(self.handler, "127.0.0.1", self.port, ssl=self.ssl_context, **kwargs)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            assert self.thread is not None
            self.thread.join(5)
            self.server = None

    def __enter__(self) -> WsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Tls:
    """A trustme CA with a server certificate for localhost and 127.0.0.1."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("localhost", "127.0.0.1", "::1")
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.server)
        self.client = ssl.create_default_context()
        self.ca.configure_trust(self.client)


class RawServer:
    """A TCP server on 127.0.0.1 whose per-connection behaviour is a function."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.behaviour = behaviour
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.behaviour(conn)

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_request(conn: socket.socket) -> bytes:
    """Read an HTTP request head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def ws_server(
    handler: Callable[[ServerConnection], None] = echo, **kwargs: Any
) -> Iterator[WsServer]:
    """Context manager form of :class:`WsServer`."""
    server = WsServer(handler, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def accept_upgrade(conn: socket.socket) -> bytes:
    """Answer a client's upgrade with a valid 101 (no extensions); return the request."""
    import base64
    import hashlib

    request = read_request(conn)
    key = ""
    for line in request.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = value.strip()
    guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    accept = base64.b64encode(hashlib.sha1((key + guid).encode()).digest()).decode()
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    return request


def drain(conn: socket.socket, seconds: float = 10.0) -> None:
    """Read and discard until the peer closes or ``seconds`` pass (a peer that never answers)."""
    conn.settimeout(seconds)
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


class HttpProxy:
    """proxy.py (a maintained HTTP proxy from PyPI) in a child process on 127.0.0.1."""

    def __init__(self, basic_auth: str | None = None) -> None:
        import subprocess
        import sys
        import time

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        cmd = [
            sys.executable,
            "-m",
            "proxy",
            "--hostname",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--num-workers",
            "1",
            "--num-acceptors",
            "1",
            "--log-level",
            "WARNING",
        ]
        if basic_auth:
            cmd += ["--basic-auth", basic_auth]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("proxy.py did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class ChildEchoServer:
    """A `websockets` echo server in a child process, so its CPU work (unmasking 16 MiB...)
    never holds this process's GIL: used where the test measures the GUI thread's latency.
    The text message ``flood:N`` makes it send ``"0"`` ... ``"N-1"`` instead of an echo."""

    SCRIPT = (
        "import sys\n"
        "from websockets.sync.server import serve\n"
        "def echo(ws):\n"
        "    try:\n"
        "        for m in ws:\n"
        "            if isinstance(m, str) and m.startswith('flood:'):\n"
        "                for i in range(int(m[6:])): ws.send(str(i))\n"
        "            else: ws.send(m)\n"
        "    except Exception: pass\n"
        "with serve(echo, '127.0.0.1', 0, max_size=None, compression=None) as s:\n"
        "    print(s.socket.getsockname()[1], flush=True)\n"
        "    s.serve_forever()\n"
    )

    def __init__(self) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"ws://127.0.0.1:{self.port}/"

    def __enter__(self) -> ChildEchoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait(5)
