"""Fixtures of the demo tests: a real chat server and chat windows connected to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

import qtws
from demo_app.server import ChatServer
from demo_app.window import ChatWindow


def fast_config(reconnect: bool = True) -> qtws.Config:
    """Short keep-alive and reconnect delays so the tests stay quick."""
    policy = qtws.ReconnectPolicy(initial_delay=0.05, max_delay=0.3) if reconnect else None
    return qtws.Config(ping_interval=0.5, ping_timeout=5.0, proxy=None, reconnect=policy)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    srv.start()
    yield srv
    # Abrupt: the clients run on this thread and could not answer a graceful close here.
    srv.stop(abrupt=True)


WindowFactory = Callable[..., ChatWindow]


@pytest.fixture
def make_window(qtbot: QtBot, server: ChatServer) -> Iterator[WindowFactory]:
    windows: list[ChatWindow] = []

    def make(nick: str, url: str | None = None, *, reconnect: bool = True) -> ChatWindow:
        window = ChatWindow(url or server.url, nick, config=fast_config(reconnect), server=server)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    qtbot.waitUntil(
        lambda: all(w.ws.ready_state == qtws.ReadyState.CLOSED for w in windows), timeout=5000
    )


def joined(*windows: ChatWindow) -> Callable[[], bool]:
    """True once every window's presence list shows every window's nick."""
    nicks = sorted(w.nick for w in windows)
    return lambda: all(sorted(w.presence()) == nicks for w in windows)
