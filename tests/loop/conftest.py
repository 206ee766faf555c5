"""Fixtures for the event-loop proxy tests: one ``proxy`` fixture per implementation."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from qtws.loop import EventLoopProxy, SelectorsProxy, set_event_loop_proxy

KINDS = ["selectors", "qt", "asyncio"]


def make_proxy(kind: str, request: pytest.FixtureRequest) -> EventLoopProxy:
    if kind == "selectors":
        return SelectorsProxy()
    if kind == "qt":
        request.getfixturevalue("qapp")
        # qtbot makes pytest-qt fail the test if any exception reaches Qt.
        request.getfixturevalue("qtbot")
        from qtws.loop.qt import QtProxy

        return QtProxy()
    from qtws.loop.asyncio_proxy import AsyncioProxy

    return AsyncioProxy()


@pytest.fixture(params=KINDS)
def proxy(request: pytest.FixtureRequest) -> Iterator[EventLoopProxy]:
    p = make_proxy(request.param, request)
    yield p
    set_event_loop_proxy(None)
    p.close()


@pytest.fixture(params=["selectors", "qt"])
def nestable_proxy(request: pytest.FixtureRequest) -> Iterator[EventLoopProxy]:
    """The proxies whose ``run_until`` may be nested and may be called from any callback."""
    p = make_proxy(request.param, request)
    yield p
    set_event_loop_proxy(None)
    p.close()


@pytest.fixture
def sockpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()
