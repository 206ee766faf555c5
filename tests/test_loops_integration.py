"""A WebSocket inside a QThread (that thread's Qt loop) and inside a running asyncio loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws._qt import QObject, QThread, Signal, Slot
from tests.servers import ws_server


class _Worker(QObject):
    """Lives in a QThread; owns a WebSocket created there."""

    done = Signal(object)

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.result: dict[str, Any] = {}

    @Slot()
    def run(self) -> None:
        self.result["thread"] = threading.get_ident()
        ws = qtws.WebSocket(self.url, config=qtws.Config(ping_interval=None, proxy=None))
        self.ws = ws
        self.result["proxy"] = type(qtws.get_event_loop_proxy()).__name__
        ws.opened.connect(lambda: ws.send("from worker thread"))

        def on_message(m: object) -> None:
            self.result["message"] = m
            self.result["slot_thread"] = threading.get_ident()
            ws.close()

        ws.message.connect(on_message)
        ws.closed.connect(lambda ev: self.done.emit(ev))
        ws.open()


def test_websocket_in_a_qthread_uses_that_threads_loop(qtbot: QtBot) -> None:
    with ws_server() as srv:
        thread = QThread()
        worker = _Worker(srv.url)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        with qtbot.waitSignal(worker.done, timeout=8000) as blocker:
            thread.start()
        thread.quit()
        thread.wait(5000)
    assert blocker.args[0] == qtws.CloseEvent(1000, "", True)
    r = worker.result
    assert r["proxy"] == "QtProxy"
    assert r["message"] == "from worker thread"
    assert r["slot_thread"] == r["thread"] != threading.get_ident()


def test_send_from_wrong_thread_is_marshalled_but_open_raises(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        errors: list[BaseException] = []

        def other() -> None:
            try:
                ws.open()
            except qtws.InvalidState as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        with qtbot.waitSignal(ws.message, timeout=5000) as blocker:
            threading.Thread(target=ws.send, args=("marshalled",)).start()
        assert blocker.args == ["marshalled"]
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_websocket_in_running_asyncio_loop() -> None:
    with ws_server() as srv:

        async def main() -> list[Any]:
            proxy = qtws.loop.AsyncioProxy()
            ws = qtws.WebSocket(
                srv.url, config=qtws.Config(ping_interval=None, proxy=None), loop=proxy
            )
            got: list[Any] = []
            loop = asyncio.get_running_loop()
            opened, done = loop.create_future(), loop.create_future()
            ws.onopen = lambda: opened.set_result(True)
            ws.onmessage = lambda m: (got.append(m), ws.close())
            ws.onclose = lambda ev: done.set_result(ev)
            ws.open()
            await asyncio.wait_for(opened, 5)
            with pytest.raises(qtws.InvalidState, match="cannot block"):
                ws.connect(timeout=1)  # refused before doing anything
            # The blocking API cannot nest inside a running asyncio loop: a clear error.
            with pytest.raises(qtws.InvalidState):
                ws.wait_for_next_message(timeout=0.1)
            ws.send("via asyncio")
            got.append(await asyncio.wait_for(done, 5))
            return got

        got = asyncio.run(main())
    assert got == ["via asyncio", qtws.CloseEvent(1000, "", True)]


def test_ipv6_loopback_when_available(qtbot: QtBot) -> None:
    if not socket.has_ipv6:
        pytest.fail("this Python has no IPv6 support")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        return  # no ::1 on this machine; nothing to test (the IPv4 paths are tested above)
    from websockets.sync.server import serve

    from tests.servers import echo

    sock = socket.create_server(("::1", 0), family=socket.AF_INET6)
    server = serve(echo, sock=sock)
    port = server.socket.getsockname()[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        ws = qtws.WebSocket(
            f"ws://[::1]:{port}/", config=qtws.Config(ping_interval=None, proxy=None)
        )
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        with qtbot.waitSignal(ws.message, timeout=5000) as blocker:
            ws.send("v6")
        assert blocker.args == ["v6"]
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    finally:
        server.shutdown()


class _Opener(QObject):
    """Created on the GUI thread, moved to a worker thread, opened there by a queued signal."""

    go = Signal()
    done = Signal(object)

    def __init__(self, ws: qtws.WebSocket) -> None:
        super().__init__()
        self.ws = ws
        self.seen: dict[str, Any] = {}
        self.go.connect(self.start)

    @Slot()
    def start(self) -> None:
        ws = self.ws
        self.seen["thread"] = threading.get_ident()
        ws.opened.connect(lambda: ws.send("moved"))
        ws.message.connect(lambda m: (self.seen.__setitem__("message", m), ws.close()))
        ws.closed.connect(self.done.emit)
        ws.open()


def test_websocket_moved_to_a_qthread_before_open(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        opener = _Opener(ws)
        thread = QThread()
        ws.moveToThread(thread)
        opener.moveToThread(thread)
        thread.start()
        with qtbot.waitSignal(opener.done, timeout=8000) as blocker:
            opener.go.emit()  # queued: start() and ws.open() run in the worker thread
        thread.quit()
        thread.wait(5000)
    assert blocker.args[0] == qtws.CloseEvent(1000, "", True)
    assert opener.seen["message"] == "moved"
    assert opener.seen["thread"] != threading.get_ident()
