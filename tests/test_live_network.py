"""Network awareness: reconnect_now(), and reachability (QNetworkInformation) cutting a
backoff short / holding attempts while offline.

The machine's network cannot be switched off in a test, so reachability comes from a
stand-in source with QNetworkInformation's shape (``qtws.network.use_source``); the servers
are real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws import network
from qtws._qt import QNetworkInformation, QObject, Signal
from tests.servers import WsServer

Reach = QNetworkInformation.Reachability


class FakeReachability(QObject):
    """QNetworkInformation's reachability API, switched by the test."""

    reachabilityChanged = Signal(object)

    def __init__(self, value: Any = Reach.Online) -> None:
        super().__init__()
        self.value = value

    def reachability(self) -> Any:
        return self.value

    def set(self, value: Any) -> None:
        self.value = value
        self.reachabilityChanged.emit(value)


@pytest.fixture
def source(qapp: Any) -> Iterator[FakeReachability]:
    fake = FakeReachability()
    network.use_source(fake)
    yield fake
    network.use_source(None)


def config(delay: float, **kw: Any) -> qtws.Config:
    policy = qtws.ReconnectPolicy(initial_delay=delay, max_delay=delay, jitter=0, **kw)
    return qtws.Config(ping_interval=None, open_timeout=5, close_timeout=1, proxy=None,
                       reconnect=policy)  # fmt: skip


def opened(qtbot: QtBot, server: WsServer, cfg: qtws.Config) -> qtws.WebSocket:
    ws = qtws.WebSocket(server.url, config=cfg)
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    return ws


def drop(qtbot: QtBot, ws: qtws.WebSocket, server: WsServer) -> list[int]:
    """Stop the server: the WebSocket waits to reconnect.  Returns the attempts signalled."""
    attempts: list[int] = []
    ws.reconnecting.connect(lambda attempt, delay: attempts.append(attempt))
    with qtbot.waitSignal(ws.reconnecting, timeout=5000):
        server.stop()
    return attempts


def finish(qtbot: QtBot, ws: qtws.WebSocket) -> None:
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.close()


def test_reachability_coming_back_cuts_the_backoff_short(
    qtbot: QtBot, source: FakeReachability
) -> None:
    server = WsServer().start()
    try:
        ws = opened(qtbot, server, config(delay=300))  # the backoff alone: five minutes
        drop(qtbot, ws, server)
        server.start()
        source.set(Reach.Disconnected)
        with qtbot.waitSignal(ws.opened, timeout=10000):
            source.set(Reach.Online)
        assert ws.stats.reconnects == 1
        source.set(Reach.Site)  # no change from online to online: nothing to do
        assert ws.ready_state is qtws.ReadyState.OPEN
        finish(qtbot, ws)
    finally:
        server.stop()


def test_attempts_are_held_while_offline(qtbot: QtBot, source: FakeReachability) -> None:
    server = WsServer().start()
    try:
        ws = opened(qtbot, server, config(delay=0.01, max_attempts=2))
        source.set(Reach.Disconnected)
        attempts = drop(qtbot, ws, server)
        # The backoff timer fires and the attempt is held: no connection, nothing counted.
        qtbot.waitUntil(lambda: not ws._retry.pending, timeout=5000)
        qtbot.wait(100)
        assert ws._conn is None and ws.stats.reconnects == 0 and attempts == [1]
        assert ws.ready_state is qtws.ReadyState.CONNECTING
        server.start()
        with qtbot.waitSignal(ws.opened, timeout=10000):
            source.set(Reach.Online)
        assert ws.stats.reconnects == 1 and attempts == [1]  # max_attempts was not used up
        finish(qtbot, ws)
    finally:
        server.stop()


def test_reconnect_now_on_the_apps_own_signal(qtbot: QtBot) -> None:
    server = WsServer().start()
    try:
        ws = opened(qtbot, server, config(delay=300))
        assert ws.reconnect_now() is False  # OPEN: nothing waits
        drop(qtbot, ws, server)
        server.start()
        with qtbot.waitSignal(ws.opened, timeout=10000):
            assert ws.reconnect_now() is True
        assert ws.stats.reconnects == 1
        finish(qtbot, ws)
        assert ws.reconnect_now() is False  # CLOSED
    finally:
        server.stop()
    assert qtws.WebSocket("ws://127.0.0.1:9/").reconnect_now() is False  # never opened


def test_reconnect_now_from_another_thread_raises(qtbot: QtBot) -> None:
    import threading

    ws = qtws.WebSocket("ws://127.0.0.1:9/")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            ws.reconnect_now()
        except qtws.InvalidState as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    t.join()
    assert len(errors) == 1


def test_qts_default_backend_or_plain_backoff(qapp: Any) -> None:
    """Whatever this machine has: a watcher reading a real QNetworkInformation backend, or
    none (plain backoff); a WebSocket on another thread is never watched."""
    network.use_source(None)
    watcher = network._current()
    assert network._current() is watcher  # loaded once
    if watcher is not None:
        assert isinstance(watcher.source, QNetworkInformation)
        assert watcher.offline == (watcher.source.reachability() == Reach.Disconnected)
    network.use_source(None)


def test_a_failing_wake_up_is_logged_not_raised(
    qtbot: QtBot, source: FakeReachability, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def reconnect_now(self) -> bool:
            raise RuntimeError("boom")

    broken = Broken()
    watcher = network._watcher
    assert watcher is not None
    watcher.waiting.add(broken)  # type: ignore[arg-type]
    source.set(Reach.Disconnected)
    source.set(Reach.Online)
    assert "reachability change failed" in caplog.text


def test_other_threads_and_broken_backends_mean_plain_backoff(
    qapp: Any, source: FakeReachability, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    source.set(Reach.Disconnected)
    ws = qtws.WebSocket("ws://127.0.0.1:9/")
    seen: list[bool] = []

    def worker() -> None:
        network.watch(ws)  # not the app's thread: not watched, never held
        seen.append(network.offline(ws))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [False] and ws not in network._watcher.waiting  # type: ignore[union-attr]

    class Broken:
        @staticmethod
        def loadDefaultBackend() -> bool:
            raise RuntimeError("no backend plugin")

    network.use_source(None)
    monkeypatch.setattr(qtws._qt, "QNetworkInformation", Broken, raising=False)
    network.watch(ws)
    assert network._watcher is None and not network.offline(ws)
