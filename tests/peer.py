"""A crafted-frame WebSocket server for conformance tests: it sends exactly the bytes a test
specifies and records exactly what the client sent.

A :class:`Peer` listens on 127.0.0.1 in a thread.  For the first connection it reads the
upgrade request, answers it (a valid 101, optionally negotiating permessage-deflate, or any
raw response the test gives), then runs the test's *script* with a :class:`PeerConn`: helpers
to send raw bytes or frames built with :func:`frame` (any FIN/RSV/opcode/mask/length
encoding), to read and unmask the client's frames, and to wait for the client to close TCP.
Every client frame and the time of the client's EOF are recorded.  Exceptions raised by the
script are re-raised by :meth:`Peer.join` so a test fails loudly instead of hanging.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "Deflater",
    "Frame",
    "Inflater",
    "Peer",
    "PeerConn",
    "accept_key",
    "close_payload",
    "frame",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for ``key`` (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _xor(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
    form: int | None = None,
) -> bytes:
    """One frame's bytes (RFC 6455 5.2), with full control over the header.

    ``length`` overrides the length field (the payload is still appended as given);
    ``form`` forces the length encoding: 7, 16 or 64 bits (default: the shortest);
    ``mask`` masks the payload (a server must never do that: for negative tests).
    """
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    b0 |= (0x10 if rsv3 else 0) | (opcode & 0x0F)
    mbit = 0x80 if mask is not None else 0
    if form is None:
        form = 7 if n < 126 else 16 if n < 65536 else 64
    if form == 7:
        head = bytes((b0, mbit | n))
    elif form == 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is not None:
        return head + mask + _xor(payload, mask)
    return head + payload


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    """A close frame body: empty, or a 2-byte code and a reason (raw bytes allowed)."""
    if code is None:
        return b""
    raw = reason.encode() if isinstance(reason, str) else reason
    return struct.pack("!H", code) + raw


class Deflater:
    """The server side of permessage-deflate compression (RFC 7692 7.2.1)."""

    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None:
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self._obj = self._new()

    def _new(self) -> zlib._Compress:
        return zlib.compressobj(9, zlib.DEFLATED, -self.window_bits)

    def compress(self, data: bytes) -> bytes:
        """One whole message, without the trailing ``00 00 ff ff``."""
        if self.no_context_takeover:
            self._obj = self._new()
        out = self._obj.compress(data) + self._obj.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


class Inflater:
    """Decompresses the client's compressed messages (RFC 7692 7.2.2)."""

    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None:
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self._obj = zlib.decompressobj(-window_bits)

    def decompress(self, data: bytes) -> bytes:
        if self.no_context_takeover:
            self._obj = zlib.decompressobj(-self.window_bits)
        return self._obj.decompress(data + b"\x00\x00\xff\xff")


@dataclass
class Frame:
    """A frame the client sent, unmasked."""

    fin: bool
    rsv: int  # the three RSV bits, 0..7 (4 = RSV1)
    opcode: int
    payload: bytes
    masked: bool
    mask: bytes

    @property
    def close_code(self) -> int | None:
        """The code of a close frame, ``None`` when it has no body."""
        assert self.opcode == OP_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> bytes:
        assert self.opcode == OP_CLOSE
        return self.payload[2:]


@dataclass
class Request:
    """The client's upgrade request."""

    raw: bytes
    target: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeats joined


class PeerConn:
    """One accepted connection, as seen by a script."""

    def __init__(self, sock: socket.socket, request: Request) -> None:
        self.sock = sock
        self.request = request
        self.frames: list[Frame] = []  # every frame read from the client, in order
        self.eof = False  # the client closed (or reset) TCP
        self.eof_at: float | None = None
        self.closed_by_peer_at: float | None = None
        self._buf = bytearray()

    # -- sending ------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Send raw bytes."""
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **kw: object) -> None:
        """Send one frame built by :func:`frame`."""
        self.sock.sendall(frame(opcode, payload, **kw))  # type: ignore[arg-type]

    def trickle(self, data: bytes, chunk: int = 1, delay: float = 0.0) -> None:
        """Send ``data`` in ``chunk``-byte pieces, pausing ``delay`` s between them."""
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i : i + chunk])
            if delay:
                time.sleep(delay)

    def send_close(self, code: int | None = 1000, reason: bytes | str = b"") -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def close_tcp(self) -> None:
        """Close our side of TCP (the server closes first, RFC 6455 7.1.1)."""
        if self.closed_by_peer_at is not None:
            return
        self.closed_by_peer_at = time.monotonic()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    # -- receiving ----------------------------------------------------------------------------
    def _fill(self, n: int, deadline: float) -> bool:
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                return False
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                return False
            except OSError:  # reset: the client dropped TCP
                data = b""
            if not data:
                self.eof = True
                self.eof_at = time.monotonic()
                return False
            self._buf += data
        return True

    def recv_frame(self, timeout: float = 5.0) -> Frame | None:
        """The client's next frame, unmasked; ``None`` at EOF or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self._fill(2, deadline):
            return None
        b0, b1 = self._buf[0], self._buf[1]
        n = b1 & 0x7F
        hlen = 2
        if n == 126:
            hlen = 4
        elif n == 127:
            hlen = 10
        masked = bool(b1 & 0x80)
        if not self._fill(hlen + (4 if masked else 0), deadline):
            return None
        if n == 126:
            n = struct.unpack_from("!H", self._buf, 2)[0]
        elif n == 127:
            n = struct.unpack_from("!Q", self._buf, 2)[0]
        mask = bytes(self._buf[hlen : hlen + 4]) if masked else b""
        start = hlen + len(mask)
        if not self._fill(start + n, deadline):
            return None
        payload = bytes(self._buf[start : start + n])
        del self._buf[: start + n]
        if masked:
            payload = _xor(payload, mask)
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload, masked, mask)
        self.frames.append(f)
        return f

    def recv_message(self, timeout: float = 5.0) -> tuple[int, bytes] | None:
        """The client's next data message (opcode, payload), answering nothing; control frames
        are recorded and skipped.  ``None`` at EOF or timeout."""
        opcode = 0
        parts: list[bytes] = []
        while True:
            f = self.recv_frame(timeout)
            if f is None:
                return None
            if f.opcode >= 8:
                continue
            if f.opcode:
                opcode = f.opcode
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def expect_close(self, timeout: float = 5.0) -> Frame | None:
        """Read frames until the client's close frame (``None`` if EOF or timeout first)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f is None or f.opcode == OP_CLOSE:
                return f

    def wait_eof(self, timeout: float = 5.0) -> bool:
        """Read (and record) until the client closes TCP; True if it did within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if self.recv_frame(max(0.0, deadline - time.monotonic())) is None and not self.eof:
                return False
        return True

    @property
    def close_frames(self) -> list[Frame]:
        return [f for f in self.frames if f.opcode == OP_CLOSE]

    def finish(self, code: int | None = 1000, reason: bytes | str = b"") -> Frame | None:
        """The usual end of a case: send a close frame, read the client's close, then close
        TCP.  Returns the client's close frame."""
        self.send_close(code, reason)
        f = self.expect_close()
        self.close_tcp()
        return f


Script = Callable[[PeerConn], None]


def _read_request(sock: socket.socket, timeout: float) -> Request:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("client closed before sending its request")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return Request(data, lines[0].split(" ")[1], headers)


class Peer:
    """A crafted-frame WebSocket server for one connection (see the module docstring).

    ``extensions``: the ``Sec-WebSocket-Extensions`` value of the 101 (e.g.
    ``"permessage-deflate; server_max_window_bits=10"``), or None.
    ``subprotocol``: the ``Sec-WebSocket-Protocol`` value of the 101, or None.
    ``response``: replaces the whole 101; called with the request, returns the raw bytes.
    ``after_response``: bytes sent in the same ``sendall`` as the response.
    ``split_response``: send the response one byte at a time.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        extensions: str | None = None,
        subprotocol: str | None = None,
        response: Callable[[Request], bytes] | None = None,
        after_response: bytes = b"",
        split_response: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.script = script
        self.extensions = extensions
        self.subprotocol = subprotocol
        self.response = response
        self.after_response = after_response
        self.split_response = split_response
        self.timeout = timeout
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.conn: PeerConn | None = None
        self.request: Request | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/case"

    def start(self) -> Peer:
        self._thread.start()
        return self

    def response_for(self, request: Request) -> bytes:
        """The valid 101 for ``request`` with this peer's extensions/subprotocol."""
        key = request.headers.get("sec-websocket-key", "")
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(key)}",
        ]
        if self.extensions is not None:
            lines.append(f"Sec-WebSocket-Extensions: {self.extensions}")
        if self.subprotocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {self.subprotocol}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _run(self) -> None:
        sock: socket.socket | None = None
        try:
            self.listener.settimeout(self.timeout)
            sock, _ = self.listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = _read_request(sock, self.timeout)
            self.request = request
            conn = PeerConn(sock, request)
            self.conn = conn
            resp = self.response(request) if self.response else self.response_for(request)
            if self.split_response:
                conn.trickle(resp, 1, 0.001)
                if self.after_response:
                    sock.sendall(self.after_response)
            else:
                sock.sendall(resp + self.after_response)
            if self.script is not None:
                self.script(conn)
        except BaseException as exc:
            self.error = exc
        finally:
            # The script is over: the server closes TCP, so a client never waits in vain.
            if self.conn is not None:
                self.conn.close_tcp()
            elif sock is not None:
                sock.close()
            self._done.set()

    def join(self, timeout: float = 15.0) -> PeerConn:
        """Wait for the script to end; re-raise its exception; return the connection."""
        assert self._done.wait(timeout), "peer script did not finish"
        if self.error is not None:
            raise self.error
        assert self.conn is not None
        return self.conn

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.sock.close()

    def __enter__(self) -> Peer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
