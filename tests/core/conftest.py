"""Test helpers for the sans-IO core: a minimal server side (101 answer, unmasked frames, parser
of the client's masked frames, permessage-deflate with zlib) exposed as the ``peer`` fixture."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from qtws.core import ClientConnection, ConnectionFailed, Event, HandshakeComplete, State
from qtws.core.handshake import accept_value

URL = "ws://example.com/chat"


@dataclass(frozen=True)
class ClientFrame:
    fin: bool
    rsv1: bool
    opcode: int
    payload: bytes


class Peer:
    """The server's half of a test connection, written independently of qtws' own encoder."""

    url = URL

    def client(self, **kw: Any) -> ClientConnection:
        kw.setdefault("compression", False)
        return ClientConnection(URL, **kw)

    def response(
        self,
        client: ClientConnection,
        *,
        extensions: str | None = None,
        subprotocol: str | None = None,
    ) -> bytes:
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_value(client.key)}",
        ]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def open(self, *, deflate: str | None = None, **kw: Any) -> ClientConnection:
        """A client in state OPEN; ``deflate`` is the server's extension answer, if any."""
        if deflate is not None:
            kw["compression"] = True
        client = self.client(**kw)
        request = client.data_to_send()
        assert request.startswith(b"GET /chat HTTP/1.1\r\n")
        client.receive_data(self.response(client, extensions=deflate))
        events = client.events_received()
        assert len(events) == 1 and isinstance(events[0], HandshakeComplete), events
        assert client.state is State.OPEN
        return client

    @staticmethod
    def frame(
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        mask: bytes | None = None,
    ) -> bytes:
        """A server frame with arbitrary bits (``rsv`` is the 3-bit RSV field)."""
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        mbit = 0x80 if mask is not None else 0
        n = len(payload)
        if n < 126:
            head = bytes((b0, mbit | n))
        elif n < 65536:
            head = bytes((b0, mbit | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((b0, mbit | 127)) + n.to_bytes(8, "big")
        if mask is not None:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            head += mask
        return head + payload

    @staticmethod
    def parse(data: bytes) -> list[ClientFrame]:
        """Parse the client's frames; every one must be masked (RFC 6455 5.3)."""
        frames = []
        pos = 0
        while pos < len(data):
            b0, b1 = data[pos], data[pos + 1]
            assert b1 & 0x80, "client frame not masked"
            assert not b0 & 0x30
            n = b1 & 0x7F
            pos += 2
            if n == 126:
                n = int.from_bytes(data[pos : pos + 2], "big")
                pos += 2
            elif n == 127:
                n = int.from_bytes(data[pos : pos + 8], "big")
                pos += 8
            key = data[pos : pos + 4]
            pos += 4
            raw = data[pos : pos + n]
            assert len(raw) == n, "truncated client frame"
            pos += n
            payload = int.from_bytes(raw, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")
            frames.append(
                ClientFrame(bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, payload.to_bytes(n, "big"))
            )
        return frames

    @staticmethod
    def chunks(data: bytes, mode: str) -> Iterator[bytes]:
        if mode == "whole":
            yield data
        elif mode == "bytes":
            for i in range(len(data)):
                yield data[i : i + 1]
        else:  # "bytearray": the same bytes in bytearray/memoryview pieces of 7
            for i in range(0, len(data), 7):
                piece = data[i : i + 7]
                yield bytearray(piece) if i % 2 else memoryview(piece)  # type: ignore[misc]

    def feed(
        self,
        client: ClientConnection,
        data: bytes,
        mode: str = "whole",
        max_inflate: int | None = None,
    ) -> list[Event]:
        """Feed ``data`` as a driver does: collect the events after every call and go on
        while the client has input pending."""
        events: list[Event] = []
        for piece in self.chunks(data, mode):
            client.receive_data(piece, max_inflate)
            events += client.events_received()
            while client.has_pending_input():
                client.receive_data(b"", max_inflate)
                events += client.events_received()
        return events

    @staticmethod
    def failure(events: Iterable[Event]) -> ConnectionFailed:
        failed = [e for e in events if isinstance(e, ConnectionFailed)]
        assert len(failed) == 1, events
        return failed[0]


class ServerDeflate:
    """The server's permessage-deflate (RFC 7692 7.2) with zlib, context takeover on both sides."""

    def __init__(self, wbits: int = 15) -> None:
        self._c = zlib.compressobj(wbits=-wbits)
        self._d = zlib.decompressobj(wbits=-wbits)

    def compress(self, data: bytes) -> bytes:
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def decompress(self, data: bytes) -> bytes:
        return self._d.decompress(data + b"\x00\x00\xff\xff")


@pytest.fixture(scope="session")
def peer() -> Peer:
    return Peer()


@pytest.fixture(params=["whole", "bytes", "bytearray"])
def mode(request: pytest.FixtureRequest) -> str:
    """How received bytes are fed: in one piece, one byte at a time, or as buffer objects."""
    return str(request.param)
