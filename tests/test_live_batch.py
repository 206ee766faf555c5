"""Batched delivery: ``batch_received``/``onbatch`` carry what one dispatch slice handed out.

Against real servers on 127.0.0.1: the child-process flood server (many reads, many slices),
a crafted peer writing every frame in one ``sendall`` (one read: few slices), and the driver
alone with a recording sink (a connection that ends inside a slice)."""

from __future__ import annotations

import socket
from typing import Any

from pytestqt.qtbot import QtBot

import qtws
from qtws.connection import Connection
from qtws.loop import get_event_loop_proxy
from tests.servers import ChildEchoServer, RawServer, accept_upgrade, drain, ws_server

FAST = qtws.Config(ping_interval=None, open_timeout=5, close_timeout=2, proxy=None)


def opened(qtbot: QtBot, url: str, config: qtws.Config = FAST) -> qtws.WebSocket:
    ws = qtws.WebSocket(url, config=config)
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    return ws


def close(qtbot: QtBot, ws: qtws.WebSocket) -> None:
    if ws.ready_state is not qtws.ReadyState.CLOSED:
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def frames(messages: list[str]) -> bytes:
    """Unmasked server text frames (payloads under 126 bytes)."""
    return b"".join(b"\x81" + bytes([len(m)]) + m.encode() for m in messages)


def one_write_peer(messages: list[str]) -> Any:
    """Accept the upgrade, wait for the client's first frame, then write every message in a
    single sendall (so the client reads them together) and keep the connection open."""

    def peer(conn: socket.socket) -> None:
        accept_upgrade(conn)
        conn.recv(64)
        conn.sendall(frames(messages))
        drain(conn, 5)

    return peer


def test_only_a_batch_listener_gets_every_message_in_order(qtbot: QtBot) -> None:
    n = 30_000  # more than the blocking inbox's high-water mark: nothing may be buffered
    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url)
        batches: list[list[object]] = []
        ws.batch_received.connect(batches.append)
        ws.send(f"flood:{n}")
        qtbot.waitUntil(lambda: sum(map(len, batches)) >= n, timeout=60000)
        got = [m for b in batches for m in b]
        assert got == [str(i) for i in range(n)]
        assert all(b for b in batches)  # never an empty batch
        assert len(batches) < n  # fewer slot calls than messages
        assert not ws.is_message_buffered()  # batch listeners count as listeners
        assert ws.stats.messages_in == n
        close(qtbot, ws)


def test_batches_are_the_slices_the_message_signals_saw(qtbot: QtBot) -> None:
    """Each batch is emitted after the per-message signals of its messages and holds exactly
    them: per-message and batch listeners see the same order, nothing lost or duplicated."""
    n = 20_000
    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url)
        log: list[tuple[str, Any]] = []
        ws.message.connect(lambda m: log.append(("m", m)))
        ws.onbatch = lambda b: log.append(("b", list(b)))
        ws.send(f"flood:{n}")
        qtbot.waitUntil(lambda: sum(len(v) for k, v in log if k == "b") >= n, timeout=60000)
        since_last: list[Any] = []
        for kind, value in log:
            if kind == "m":
                since_last.append(value)
            else:
                assert value == since_last
                since_last = []
        assert since_last == []
        assert [v for k, v in log if k == "m"] == [str(i) for i in range(n)]
        close(qtbot, ws)


def test_messages_read_together_arrive_in_few_batches(qtbot: QtBot) -> None:
    """One write of 1,000 messages: a dispatch slice looks at the clock only every 64
    events, so no batch but the last of a read holds fewer than 64 messages."""
    messages = [f"t{i}" for i in range(1000)]
    with RawServer(one_write_peer(messages)) as srv:
        ws = opened(qtbot, f"ws://127.0.0.1:{srv.port}/")
        batches: list[list[object]] = []
        ws.batch_received.connect(batches.append)
        ws.send("go")
        qtbot.waitUntil(lambda: sum(map(len, batches)) >= len(messages), timeout=10000)
        assert [m for b in batches for m in b] == messages
        assert all(len(b) >= 64 for b in batches[:-1]), [len(b) for b in batches]
        assert len(batches) <= len(messages) // 64 + 1
        ws.batch_received.disconnect()
        close(qtbot, ws)


def test_the_last_batch_comes_before_closed(qtbot: QtBot) -> None:
    def peer(conn: socket.socket) -> None:
        accept_upgrade(conn)
        conn.recv(64)
        conn.sendall(frames(["a", "b", "c"]) + b"\x88\x02\x03\xe8")  # then close 1000
        drain(conn, 5)

    with RawServer(peer) as srv:
        ws = opened(qtbot, f"ws://127.0.0.1:{srv.port}/")
        log: list[Any] = []
        ws.batch_received.connect(lambda b: log.append(b))
        ws.closed.connect(lambda e: log.append(e.code))
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.send("go")
    assert log == [["a", "b", "c"], 1000]


def test_batches_follow_listeners_connecting_and_leaving(qtbot: QtBot) -> None:
    """Nobody listening: the driver collects nothing (no batch work on the hot path)."""
    with ws_server() as srv:
        ws = opened(qtbot, srv.url)
        conn = ws._conn
        assert conn is not None and conn._batch is None
        seen: list[list[object]] = []
        ws.batch_received.connect(seen.append)
        assert conn._batch == []
        ws.onbatch = seen.append
        ws.batch_received.disconnect(seen.append)
        assert conn._batch == []  # the callback still listens
        with qtbot.waitSignal(ws.message, timeout=5000):
            ws.send("x")
        assert seen == [["x"]]
        ws.onbatch = None
        assert conn._batch is None
        close(qtbot, ws)


def test_reconnected_connection_reports_batches_too(qtbot: QtBot) -> None:
    cfg = qtws.Config(
        ping_interval=None,
        open_timeout=5,
        close_timeout=2,
        proxy=None,
        reconnect=qtws.ReconnectPolicy(initial_delay=0.01, jitter=0),
    )
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=cfg)
        seen: list[list[object]] = []
        ws.onbatch = seen.append  # set before open(): applies to every connection
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        conn = ws._conn
        assert conn is not None
        with qtbot.waitSignal(ws.opened, timeout=5000):
            conn.abort(ConnectionResetError("test drop"))
        assert ws._conn is not conn and ws._conn is not None and ws._conn._batch == []
        qtbot.waitUntil(lambda: ws._conn is not None and ws._conn.is_open(), timeout=5000)
        ws.send("again")
        qtbot.waitUntil(lambda: seen == [["again"]], timeout=5000)
        close(qtbot, ws)


class _Sink:
    """A driver sink recording every report; aborts the connection at the k-th message."""

    def __init__(self, abort_at: int) -> None:
        self.log: list[tuple[str, Any]] = []
        self.abort_at = abort_at
        self.conn: Connection | None = None

    def on_open(self, subprotocol: str | None, extensions: tuple[str, ...]) -> None:
        self.log.append(("open", None))

    def on_message(self, data: str | bytes) -> None:
        self.log.append(("message", data))
        if len(self.log) - 1 == self.abort_at and self.conn is not None:
            self.conn.abort(None)

    def on_batch(self, messages: list[str | bytes]) -> None:
        self.log.append(("batch", messages))

    def on_ping(self, payload: bytes) -> None:
        pass

    def on_pong(self, payload: bytes, rtt: float | None) -> None:
        pass

    def on_written(self, nbytes: int, drained: bool) -> None:
        pass

    def wants_certificate_decision(self) -> bool:
        return False

    def on_certificate_error(self, cert: object) -> None:
        pass

    def on_close(self, code: int, reason: str, was_clean: bool, exc: BaseException | None) -> None:
        self.log.append(("close", code))


def test_connection_ending_inside_a_slice_reports_its_batch_first(qtbot: QtBot) -> None:
    """A slot that ends the connection mid-slice: the batch of the messages already handed
    out comes before on_close, and none after it."""
    messages = [f"m{i}" for i in range(10)]
    with RawServer(one_write_peer(messages)) as srv:
        sink = _Sink(abort_at=3)
        conn = Connection(get_event_loop_proxy(), f"ws://127.0.0.1:{srv.port}/", FAST, sink)
        sink.conn = conn
        conn.report_batches(True)
        conn.start()
        qtbot.waitUntil(lambda: conn.is_open(), timeout=5000)
        conn.send_text("go")
        qtbot.waitUntil(lambda: conn.finished, timeout=5000)
        qtbot.wait(50)  # anything late would show up now
    assert sink.log == [
        ("open", None),
        ("message", "m0"),
        ("message", "m1"),
        ("message", "m2"),
        ("batch", ["m0", "m1", "m2"]),
        ("close", 1006),
    ]
