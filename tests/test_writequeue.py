"""The write queue's corking under a loop that runs on (Qt): the first write of a loop turn
goes out at once and costs no loop callback; later writes of the same turn go out together,
in one ``send``, when the turn ends."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from qtws._qt import QCoreApplication
from qtws.loop.base import Handle
from qtws.loop.qt import QtProxy
from qtws.writequeue import WriteQueue


class CountingProxy(QtProxy):
    """The real Qt proxy, counting the callbacks it is asked to schedule."""

    scheduled = 0

    def call_soon(self, callback: Callable[[], None]) -> Handle:
        self.scheduled += 1
        return super().call_soon(callback)


@pytest.fixture
def queue(qapp: QCoreApplication, qtbot: QtBot) -> Iterator[tuple[WriteQueue, socket.socket]]:
    proxy = CountingProxy()
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    errors: list[OSError] = []

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def wrapper() -> None:  # as Connection.guard: each loop callback is a new turn
            wq.turn += 1
            fn()

        return wrapper

    wq = WriteQueue(proxy, guard, errors.append, lambda: None)
    wq.sock = a
    yield wq, b
    assert not errors
    proxy.close()
    a.close()
    b.close()


def _received(peer: socket.socket) -> list[bytes]:
    chunks = []
    while True:
        try:
            chunks.append(peer.recv(65536))
        except BlockingIOError:
            return chunks


def test_a_lone_write_per_turn_goes_out_at_once_without_a_callback(
    queue: tuple[WriteQueue, socket.socket],
) -> None:
    wq, peer = queue
    proxy = wq._loop
    assert isinstance(proxy, CountingProxy)
    for i in range(5):  # a request/response pattern: one write per loop callback
        wq.turn += 1
        wq.write(b"reply %d" % i, f"reply {i}")
        assert _received(peer) == [b"reply %d" % i]
    assert proxy.scheduled == 0 and wq.size == 0 and wq.unsent() == []


def test_writes_of_one_turn_after_the_first_go_out_in_one_send(
    queue: tuple[WriteQueue, socket.socket], qtbot: QtBot
) -> None:
    wq, peer = queue
    proxy = wq._loop
    assert isinstance(proxy, CountingProxy)
    wq.turn += 1
    for i in range(100):
        wq.write(b"%03d" % i)
    assert _received(peer) == [b"000"]  # the first at once, the rest corked
    assert proxy.scheduled == 1 and wq.size == 99 * 3
    qtbot.waitUntil(lambda: wq.size == 0)
    assert _received(peer) == [b"".join(b"%03d" % i for i in range(1, 100))]
    # The uncork callback was a turn of its own: the next write goes out at once.
    wq.write(b"next")
    assert _received(peer) == [b"next"] and proxy.scheduled == 1
