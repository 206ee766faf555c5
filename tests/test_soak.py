"""Long-running suites (``python3 .ci/dev.py slow``): many connections, many messages,
reconnect churn.  Excluded from the default run by the ``slow`` marker."""

from __future__ import annotations

import contextlib
import threading

import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.server import ServerConnection

import qtws
from tests.servers import ChildEchoServer, WsServer, ws_server

pytestmark = pytest.mark.slow

CFG = qtws.Config(ping_interval=None, proxy=None, open_timeout=20, close_timeout=5)


def test_200_concurrent_websockets(qtbot: QtBot) -> None:
    with ChildEchoServer() as srv:
        socks = [qtws.WebSocket(srv.url, config=CFG) for _ in range(200)]
        got: dict[int, list[object]] = {i: [] for i in range(200)}
        for i, ws in enumerate(socks):
            ws.opened.connect(lambda ws=ws, i=i: ws.send(f"hello {i}"))
            ws.message.connect(lambda m, i=i: got[i].append(m))
            ws.open()
        qtbot.waitUntil(lambda: all(len(v) == 1 for v in got.values()), timeout=60000)
        assert all(got[i] == [f"hello {i}"] for i in range(200))
        for ws in socks:
            ws.close()
        qtbot.waitUntil(
            lambda: all(ws.ready_state is qtws.ReadyState.CLOSED for ws in socks), timeout=30000
        )
        assert all(ws.close_event == qtws.CloseEvent(1000, "", True) for ws in socks)


def test_one_million_small_messages_in_order(qtbot: QtBot) -> None:
    n = 1_000_000
    with ChildEchoServer() as srv:
        ws = qtws.WebSocket(srv.url, config=CFG)
        with qtbot.waitSignal(ws.opened, timeout=10000):
            ws.open()
        count = [0]
        bad: list[object] = []

        def on_message(m: object) -> None:
            if m != f"{count[0]}":
                bad.append(m)
            count[0] += 1

        ws.message.connect(on_message)
        sent = 0

        def pump() -> None:
            nonlocal sent
            while sent < n and sent - count[0] < 5000 and ws.buffered_amount < 2**20:
                ws.send(f"{sent}")
                sent += 1

        from qtws._qt import QTimer

        timer = QTimer()
        timer.timeout.connect(pump)
        timer.start(0)
        qtbot.waitUntil(lambda: count[0] == n, timeout=600000)
        timer.stop()
        assert bad == []
        assert ws.stats.messages_in == n
        with qtbot.waitSignal(ws.closed, timeout=10000):
            ws.close()


def test_reconnect_churn_loses_nothing(qtbot: QtBot) -> None:
    got: list[str] = []
    lock = threading.Lock()

    def handler(conn: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for m in conn:
                with lock:
                    got.append(str(m))

    srv = WsServer(handler).start()
    policy = qtws.ReconnectPolicy(initial_delay=0.02, max_delay=0.1, jitter=0.5)
    ws = qtws.WebSocket(
        srv.url, config=qtws.Config(ping_interval=None, proxy=None, reconnect=policy)
    )
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    sent = 0
    for _ in range(20):
        # stop() waits for the server's connections to close, which needs this thread's
        # loop to answer the close: run it from another thread.
        stopper = threading.Thread(target=srv.stop)
        with qtbot.waitSignal(ws.reconnecting, timeout=5000):
            stopper.start()
        stopper.join(10)
        for _ in range(10):
            ws.send(f"m{sent}")
            sent += 1
        with qtbot.waitSignal(ws.opened, timeout=10000):
            srv.start()
        # Let the server read what the outbox sent before stopping it again: TCP cannot
        # deliver what a stopping server never reads.
        qtbot.waitUntil(lambda n=sent: len(got) == n, timeout=10000)
    assert len(got) == sent
    assert got == [f"m{i}" for i in range(sent)]
    assert ws.stats.reconnects >= 20
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.close()
    srv.stop()


def test_large_messages_both_directions_with_compression(qtbot: QtBot) -> None:
    with ws_server(max_size=None) as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        assert "permessage-deflate" in ws.extensions
        for size in (2**20, 8 * 2**20, 16 * 2**20 - 1):
            text = ("qtws ✓ " * (size // 9 + 1))[: size // 3]
            with qtbot.waitSignal(ws.text_message, timeout=60000) as blocker:
                ws.send(text)
            assert blocker.args[0] == text
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
