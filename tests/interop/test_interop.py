"""qtws.WebSocket (the Qt API, through pytest-qt) against other projects' WebSocket servers.

Each test runs once per server that offers its feature (``servers.py`` declares what each
offers; ``routes.py`` says what each path does). The README's results table comes from the same
declarations and from these tests' outcomes: ``python -m tests.interop.table``.
"""

from __future__ import annotations

import collections
import random
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
import qtws.traffic
from tests.interop.routes import LIMIT, PING_PAYLOAD
from tests.interop.servers import ServerProcess

SIZES = (0, 1, 125, 126, 65535, 65536, 2**20)
WAIT = 30_000  # ms; hang guards only, never a measure


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {"ping_interval": None, "proxy": None, "close_timeout": 5}
    base.update(kw)
    return qtws.Config(**base)


def text_of(size: int) -> str:
    """Non-ASCII text of at most ``size`` UTF-8 bytes (cut at a character boundary)."""
    unit = "héllo wörld ✓ ".encode()
    return (unit * (size // len(unit) + 1))[:size].decode("utf-8", "ignore")


def bytes_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


class Client:
    """A qtws.WebSocket with everything it emitted recorded."""

    def __init__(self, qtbot: QtBot, url: str, config: qtws.Config) -> None:
        self.qtbot = qtbot
        self.ws = qtws.WebSocket(url, config=config)
        self.messages: list[str | bytes] = []
        self.errors: list[object] = []
        self.closes: list[qtws.CloseEvent] = []
        self.ws.message.connect(self.messages.append)
        self.ws.error.connect(self.errors.append)
        self.ws.closed.connect(self.closes.append)
        with qtbot.waitSignal(self.ws.opened, timeout=WAIT):
            self.ws.open()

    def wait_messages(self, n: int) -> list[str | bytes]:
        self.qtbot.waitUntil(lambda: len(self.messages) >= n or bool(self.closes), timeout=WAIT)
        assert not self.closes, (self.closes, self.errors)
        return self.messages

    def wait_closed(self) -> qtws.CloseEvent:
        self.qtbot.waitUntil(lambda: bool(self.closes), timeout=WAIT)
        assert len(self.closes) == 1
        return self.closes[0]

    def close(self, code: int = 1000, reason: str = "") -> qtws.CloseEvent:
        self.ws.close(code, reason)
        ev = self.wait_closed()
        assert ev.was_clean and not self.errors, (ev, self.errors)
        return ev


def echo_all(client: Client, payloads: list[str | bytes]) -> None:
    for p in payloads:
        client.ws.send(p)
    got = client.wait_messages(len(payloads))
    assert [type(m) for m in got] == [type(p) for p in payloads]
    assert got == payloads


@pytest.mark.interop("text echo")
def test_text_echo(qtbot: QtBot, server: ServerProcess) -> None:
    client = Client(qtbot, server.url("/echo"), cfg(compression=False))
    assert client.ws.extensions == ""
    echo_all(client, [text_of(n) for n in SIZES])
    client.close()


@pytest.mark.interop("binary echo")
def test_binary_echo(qtbot: QtBot, server: ServerProcess) -> None:
    client = Client(qtbot, server.url("/echo"), cfg(compression=False))
    echo_all(client, [bytes_of(n) for n in SIZES])
    client.close()


@pytest.mark.interop("permessage-deflate")
def test_deflate_echo(qtbot: QtBot, server: ServerProcess) -> None:
    client = Client(qtbot, server.url("/echo"), cfg(compression=True))
    assert client.ws.extensions.startswith("permessage-deflate")
    texts: list[str | bytes] = [text_of(n) for n in SIZES]
    echo_all(client, [*texts, *(bytes_of(n) for n in SIZES)])
    # The server compressed what it sent: far fewer bytes came in than the text it echoed.
    text_bytes = sum(len(str(t).encode()) for t in texts)
    random_bytes = sum(SIZES)
    assert client.ws.stats.bytes_in < random_bytes + text_bytes // 4
    client.close()


@pytest.mark.interop("permessage-deflate, server-imposed parameters")
def test_deflate_server_imposed_parameters(qtbot: QtBot, server: ServerProcess) -> None:
    """The server's answer limits qtws's compressor (no context takeover, a 9-bit window) and,
    where the server can say so, announces its own (no context takeover, a 10-bit window)."""
    client = Client(qtbot, server.url("/echo-tight"), cfg(compression=True))
    assert client.ws.extensions == "permessage-deflate"
    answered = str(client.wait_messages(1).pop(0)).removeprefix("extensions:")
    params = [p.strip() for p in answered.split(";")]
    assert params[0] == "permessage-deflate"
    assert sorted(params[1:]) == sorted(server.server.imposed)
    # Repeated messages: had qtws kept its compression context or used more than 9 window bits,
    # the server's inflater (reset per message, 512-byte window) would fail the connection.
    texts: list[str | bytes] = [text_of(n) for n in (*SIZES, *SIZES)]
    # Random blocks repeated at a 4000-byte distance: matches a 9-bit window must not use.
    blocks = [bytes_of(4000) * 16, bytes_of(4000) * 16]
    echo_all(client, [*texts, *(bytes_of(n) for n in SIZES), *blocks])
    text_bytes = sum(len(str(t).encode()) for t in texts)
    assert client.ws.stats.bytes_in < sum(SIZES) + text_bytes // 4 + 2 * len(blocks[0])
    client.close()


@pytest.mark.interop("permessage-deflate", declined=True)
def test_deflate_declined(qtbot: QtBot, server: ServerProcess) -> None:
    """A server without permessage-deflate declines qtws's offer; messages still flow."""
    client = Client(qtbot, server.url("/echo"), cfg(compression=True))
    assert client.ws.extensions == ""
    echo_all(client, [text_of(70_000), bytes_of(70_000)])
    client.close()


@pytest.mark.interop("server-fragmented messages")
def test_server_fragmented_messages(qtbot: QtBot, server: ServerProcess) -> None:
    """Messages that come back in 1000-byte fragments (text cut inside UTF-8 characters),
    compressed across fragments where permessage-deflate is negotiated."""
    client = Client(qtbot, server.url("/fragments"), cfg(compression=True))
    frames = qtws.traffic.TrafficModel(max_rows=100_000)
    frames.attach(client.ws)
    sizes = (1, 999, 1000, 1001, 65536, 2**20)
    echo_all(client, [*(text_of(n) for n in sizes), *(bytes_of(n) for n in sizes)])
    frames.flush()
    received = [r for r in frames.records if r.direction == "in"]
    kinds = collections.Counter(r.kind for r in received)
    # The server did fragment: a 1 MiB message alone is over 1000 fragments.
    assert kinds["continuation"] >= 2000, kinds
    assert any(r.compressed for r in received) == server.server.deflate
    frames.detach_all()
    client.close()


@pytest.mark.interop("server close 1009 (message over its limit)")
def test_over_limit_message(qtbot: QtBot, server: ServerProcess) -> None:
    """The server closes with 1009 while qtws is still writing the message.

    Whatever the server does after its close frame (wait for the echo, drop TCP, reset it
    while qtws writes), the close frame is read before a write error is reported: the
    application hears 1009, never a bare 1006."""
    client = Client(qtbot, server.url("/limited"), cfg(compression=False))
    client.ws.send(bytes_of(100))
    client.ws.send(bytes_of(LIMIT + 2**20))
    ev = client.wait_closed()
    assert client.messages == [bytes_of(100)]
    assert ev.code == 1009, (ev, client.errors)
    if ev.was_clean:
        assert not client.errors, (ev, client.errors)
    else:  # the server reset TCP before our close echo was written
        assert len(client.errors) == 1, client.errors


def close_case(qtbot: QtBot, server: ServerProcess, code: int, reason: str) -> None:
    client = Client(qtbot, server.url(f"/close?code={code}&reason={reason}"), cfg())
    ev = client.wait_closed()
    assert client.messages == ["closing"]
    assert ev == qtws.CloseEvent(code, reason, True)
    assert not client.errors


@pytest.mark.interop("server close 1000")
def test_server_close_1000(qtbot: QtBot, server: ServerProcess) -> None:
    close_case(qtbot, server, 1000, "")


@pytest.mark.interop("server close 1001")
def test_server_close_1001(qtbot: QtBot, server: ServerProcess) -> None:
    close_case(qtbot, server, 1001, "going away")


@pytest.mark.interop("server close 4000 + reason")
def test_server_close_4000(qtbot: QtBot, server: ServerProcess) -> None:
    close_case(qtbot, server, 4000, "bye")


@pytest.mark.interop("client close")
def test_client_close(qtbot: QtBot, server: ServerProcess) -> None:
    """The server answers qtws's close frame (aiohttp answers 1000 rather than echoing 4001:
    RFC 6455 section 5.5.1 only says an endpoint "typically" echoes the code)."""
    client = Client(qtbot, server.url("/echo"), cfg())
    ev = client.close(4001, "done")
    assert ev.code in (4001, 1000)


@pytest.mark.interop("server ping")
def test_server_ping_answered(qtbot: QtBot, server: ServerProcess) -> None:
    client = Client(qtbot, server.url("/ping"), cfg())
    assert client.wait_messages(1) == ["pong:" + PING_PAYLOAD.decode()]
    client.close()


@pytest.mark.interop("client ping")
def test_client_ping_gets_pong(qtbot: QtBot, server: ServerProcess) -> None:
    client = Client(qtbot, server.url("/echo"), cfg())
    with qtbot.waitSignal(client.ws.pong_received, timeout=WAIT) as blocker:
        client.ws.ping(b"cli-ping")
    assert blocker.args[0] == b"cli-ping"
    assert client.ws.latency is not None
    client.close()


def drop_case(qtbot: QtBot, url: str) -> None:
    client = Client(qtbot, url, cfg())
    ev = client.wait_closed()
    assert client.messages == ["before"]
    assert ev.code == 1006 and not ev.was_clean
    assert len(client.errors) == 1
    assert isinstance(client.errors[0], ConnectionResetError), client.errors


@pytest.mark.interop("TCP drop mid-frame")
def test_drop_mid_frame(qtbot: QtBot, server: ServerProcess) -> None:
    """TCP closed after half a frame: closed 1006 with an error; the partial is never delivered."""
    drop_case(qtbot, server.url("/drop"))


@pytest.mark.interop("TCP drop mid-fragmented-message")
def test_drop_mid_fragmented_message(qtbot: QtBot, server: ServerProcess) -> None:
    """TCP closed after a message's first fragment: as above, the fragment is never delivered."""
    drop_case(qtbot, server.url("/drop-fragment"))
