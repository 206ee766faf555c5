"""Behaviour every event-loop proxy shares, run against selectors, Qt and asyncio."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import pytest

from qtws.loop import EventLoopProxy, Handle, SelectorsProxy
from qtws.loop.base import AddrInfo
from tests.loop.helpers import after, send_sigusr1

WAIT = 20.0  # a generous safety net; the tests never rely on it being reached


def run(proxy: EventLoopProxy, predicate: Callable[[], bool]) -> None:
    assert proxy.run_until(predicate, timeout=WAIT), "the loop did not get there"


@pytest.fixture
def sigusr1() -> Iterator[list[Callable[[], None]]]:
    """Install a SIGUSR1 handler calling the functions in the returned list."""
    actions: list[Callable[[], None]] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        for action in actions:
            action()

    old = signal.signal(signal.SIGUSR1, handler)
    yield actions
    signal.signal(signal.SIGUSR1, old)


def test_reader_and_writer_on_a_socketpair(
    proxy: EventLoopProxy, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    received: list[bytes] = []
    writer: Handle | None = None

    def on_writable() -> None:
        a.send(b"hello")
        assert writer is not None
        writer.cancel()  # write notifier only while data waits

    def on_readable() -> None:
        received.append(b.recv(100))

    writer = proxy.add_writer(a.fileno(), on_writable)
    reader = proxy.add_reader(b.fileno(), on_readable)
    run(proxy, lambda: bool(received))
    reader.cancel()
    assert received == [b"hello"]


def test_one_reader_and_one_writer_on_the_same_fd(
    proxy: EventLoopProxy, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    events: list[str] = []
    handles: list[Handle] = []

    def on_writable() -> None:
        events.append("w")
        handles[0].cancel()
        b.send(b"ping")  # makes ``a`` readable

    def on_readable() -> None:
        events.append("r:" + a.recv(100).decode())

    handles.append(proxy.add_writer(a.fileno(), on_writable))
    handles.append(proxy.add_reader(a.fileno(), on_readable))
    run(proxy, lambda: "r:ping" in events)
    handles[1].cancel()
    assert events == ["w", "r:ping"]


def test_timers_fire_in_deadline_order_after_call_soon(proxy: EventLoopProxy) -> None:
    order: list[object] = []
    proxy.call_later(0.06, lambda: order.append(3))
    proxy.call_later(0.02, lambda: order.append(1))
    proxy.call_later(0.04, lambda: order.append(2))
    proxy.call_later(0.0, lambda: order.append("zero"))
    proxy.call_soon(lambda: order.append("soon"))
    run(proxy, lambda: len(order) == 5)
    assert order[2:] == [1, 2, 3]
    assert set(order[:2]) == {"soon", "zero"}


def test_call_soon_is_fifo_and_never_reentrant(proxy: EventLoopProxy) -> None:
    order: list[str] = []

    def first() -> None:
        order.append("first")
        proxy.call_soon(lambda: order.append("nested"))
        order.append("first-end")

    proxy.call_soon(first)
    proxy.call_soon(lambda: order.append("second"))
    run(proxy, lambda: len(order) == 4)
    assert order == ["first", "first-end", "second", "nested"]


def test_cancelled_timer_and_call_soon_never_run(proxy: EventLoopProxy) -> None:
    ran: list[str] = []
    proxy.call_later(0.01, lambda: ran.append("timer")).cancel()
    proxy.call_soon(lambda: ran.append("soon")).cancel()
    proxy.call_later(0.05, lambda: ran.append("last"))
    run(proxy, lambda: "last" in ran)
    assert ran == ["last"]


def test_cancel_after_run_and_twice_is_harmless(proxy: EventLoopProxy) -> None:
    ran: list[int] = []
    h = proxy.call_soon(lambda: ran.append(1))
    run(proxy, lambda: bool(ran))
    h.cancel()
    h.cancel()
    assert ran == [1]


def test_call_soon_threadsafe_wakes_a_blocked_run_until(proxy: EventLoopProxy) -> None:
    done: list[int] = []
    in_loop = threading.Event()

    def poster() -> None:
        in_loop.wait()
        proxy.call_soon_threadsafe(lambda: done.append(threading.get_ident()))

    t = threading.Thread(target=poster)
    t.start()
    proxy.call_soon(in_loop.set)
    rescued: list[int] = []
    proxy.call_later(WAIT, lambda: rescued.append(1))
    # Nothing else is due before the rescue: only a real wake-up ends this early.
    assert proxy.run_until(lambda: bool(done or rescued))
    t.join()
    assert done == [threading.get_ident()]
    assert not rescued


def test_call_soon_threadsafe_before_the_loop_runs(proxy: EventLoopProxy) -> None:
    done: list[int] = []
    t = threading.Thread(target=lambda: proxy.call_soon_threadsafe(lambda: done.append(1)))
    t.start()
    t.join()
    run(proxy, lambda: bool(done))


def test_callback_cancels_its_own_reader(
    proxy: EventLoopProxy, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    calls: list[int] = []
    handles: list[Handle] = []

    def on_readable() -> None:
        calls.append(1)
        handles[0].cancel()  # data stays unread: a live registration would fire again

    a.send(b"x")
    handles.append(proxy.add_reader(b.fileno(), on_readable))
    run(proxy, lambda: bool(calls))
    ticks: list[int] = []
    for _ in range(3):
        proxy.call_soon(lambda: ticks.append(1))
        proxy.call_later(0.01, lambda: ticks.append(2))
    run(proxy, lambda: len(ticks) == 6)
    assert calls == [1]


def test_callback_replaces_its_own_reader(
    proxy: EventLoopProxy, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    seen: list[str] = []
    handles: dict[str, Handle] = {}

    def second() -> None:
        seen.append("second:" + b.recv(100).decode())

    def first() -> None:
        seen.append("first")
        handles["second"] = proxy.add_reader(b.fileno(), second)
        handles["first"].cancel()  # stale handle: must not remove the new registration

    a.send(b"data")
    handles["first"] = proxy.add_reader(b.fileno(), first)
    run(proxy, lambda: any(s.startswith("second") for s in seen))
    a.send(b"more")
    run(proxy, lambda: "second:more" in seen)
    handles["second"].cancel()
    assert seen == ["first", "second:data", "second:more"]


def test_callback_cancels_another_registration_during_dispatch(
    proxy: EventLoopProxy, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    a.send(b"x")
    b.send(b"y")  # both ends readable in the same round
    calls: list[str] = []
    handles: dict[str, Handle] = {}

    def on_a() -> None:
        calls.append("a")
        handles["b"].cancel()
        handles["a"].cancel()

    def on_b() -> None:
        calls.append("b")
        handles["a"].cancel()
        handles["b"].cancel()

    handles["a"] = proxy.add_reader(a.fileno(), on_a)
    handles["b"] = proxy.add_reader(b.fileno(), on_b)
    ticks: list[int] = []
    proxy.call_later(0.05, lambda: ticks.append(1))
    run(proxy, lambda: bool(ticks))
    assert calls in (["a"], ["b"])


def test_exceptions_in_callbacks_do_not_escape(
    proxy: EventLoopProxy,
    sockpair: tuple[socket.socket, socket.socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = sockpair
    survived: list[str] = []
    handles: list[Handle] = []

    def boom(where: str) -> Callable[[], None]:
        def callback() -> None:
            survived.append(where)
            raise RuntimeError(f"boom in {where}")

        return callback

    def reader() -> None:
        handles[0].cancel()
        boom("reader")()

    a.send(b"x")
    handles.append(proxy.add_reader(b.fileno(), reader))
    proxy.call_soon(boom("soon"))
    proxy.call_later(0.01, boom("later"))
    proxy.call_soon_threadsafe(boom("threadsafe"))
    proxy.resolve("localhost", 80, lambda result: boom("resolve")())
    with caplog.at_level(logging.ERROR, logger="qtws.loop"):
        run(proxy, lambda: len(survived) == 5)
        after: list[int] = []
        proxy.call_later(0.01, lambda: after.append(1))
        run(proxy, lambda: bool(after))
    assert sorted(survived) == ["later", "reader", "resolve", "soon", "threadsafe"]
    messages = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert sorted(messages) == sorted(f"boom in {w}" for w in survived)


def test_resolve_localhost(proxy: EventLoopProxy) -> None:
    results: list[list[AddrInfo] | BaseException] = []
    proxy.resolve("localhost", 8765, results.append)
    run(proxy, lambda: bool(results))
    infos = results[0]
    assert isinstance(infos, list) and infos
    for family, kind, _proto, _canon, sockaddr in infos:
        assert family in (socket.AF_INET, socket.AF_INET6)
        assert kind == socket.SOCK_STREAM
        assert sockaddr[1] == 8765


def test_resolve_failure_is_delivered(proxy: EventLoopProxy) -> None:
    results: list[list[AddrInfo] | BaseException] = []
    proxy.resolve("nonexistent.invalid", 80, results.append)
    run(proxy, lambda: bool(results))
    assert isinstance(results[0], socket.gaierror)


def test_cancelled_resolution_is_never_delivered(proxy: EventLoopProxy) -> None:
    results: list[object] = []
    h = proxy.resolve("localhost", 80, lambda r: results.append("cancelled one"))
    h.cancel()
    proxy.resolve("localhost", 81, lambda r: results.append("second"))
    run(proxy, lambda: "second" in results)
    # The first lookup was submitted first; give its delivery a round trip to show up.
    marker: list[int] = []
    proxy.call_later(0.05, lambda: marker.append(1))
    run(proxy, lambda: bool(marker))
    assert results == ["second"]


@pytest.mark.parametrize("kind", ["selectors", "qt"])
def test_resolution_cancelled_while_running_is_dropped(
    kind: str, request: pytest.FixtureRequest
) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_resolver(host: str, port: int) -> list[AddrInfo]:
        started.set()
        release.wait(WAIT)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    proxy: EventLoopProxy
    if kind == "selectors":
        proxy = SelectorsProxy(resolver=slow_resolver)
    else:
        request.getfixturevalue("qtbot")
        from qtws.loop.qt import QtProxy

        proxy = QtProxy(resolver=slow_resolver)
    posted: list[int] = []
    original = proxy.call_soon_threadsafe

    def counting(callback: Callable[[], None]) -> None:
        original(callback)
        posted.append(1)

    proxy.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        results: list[object] = []
        handle = proxy.resolve("example.org", 443, results.append)
        assert started.wait(WAIT)
        handle.cancel()  # the lookup is under way: its result must be dropped
        release.set()
        run(proxy, lambda: bool(posted))
        ticks: list[int] = []
        proxy.call_soon_threadsafe(lambda: ticks.append(1))  # queued after the delivery
        run(proxy, lambda: bool(ticks))
        assert results == []
        proxy.resolve("example.org", 80, results.append)  # not cancelled: delivered
        run(proxy, lambda: bool(results))
        assert results == [[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]]
    finally:
        proxy.close()


def test_run_until_timeout_returns_false(proxy: EventLoopProxy) -> None:
    assert proxy.run_until(lambda: False, timeout=0.02) is False


def test_run_until_returns_true_at_once_if_predicate_holds(proxy: EventLoopProxy) -> None:
    assert proxy.run_until(lambda: True, timeout=None) is True


def test_stop_from_another_thread(proxy: EventLoopProxy) -> None:
    in_loop = threading.Event()
    safety: list[int] = []
    proxy.call_soon(in_loop.set)
    proxy.call_later(WAIT, lambda: safety.append(1))
    t = after(in_loop, lambda: proxy.stop())
    assert proxy.run_until(lambda: bool(safety)) is False
    t.join()
    assert not safety


@pytest.mark.parametrize("target", ["process", "thread"])
def test_stop_from_a_signal_handler(
    proxy: EventLoopProxy, sigusr1: list[Callable[[], None]], target: str
) -> None:
    in_loop = threading.Event()
    handled: list[int] = []
    safety: list[int] = []

    def on_signal() -> None:
        handled.append(1)
        proxy.stop()

    sigusr1.append(on_signal)
    proxy.call_soon(in_loop.set)
    proxy.call_later(WAIT, lambda: safety.append(1))
    # Sent from a thread, the signal usually lands on that thread: only a wake-up fd gets
    # the main thread out of select()/Qt's poll to run the Python handler.
    t = after(in_loop, lambda: send_sigusr1(target))
    assert proxy.run_until(lambda: bool(safety)) is False
    t.join()
    assert handled == [1]
    assert not safety


def test_stop_only_affects_running_calls(proxy: EventLoopProxy) -> None:
    proxy.stop()  # nobody is running: no effect on the next run
    ran: list[int] = []
    proxy.call_later(0.01, lambda: ran.append(1))
    assert proxy.run_until(lambda: bool(ran), timeout=WAIT)


def test_time_is_monotonic(proxy: EventLoopProxy) -> None:
    t1 = proxy.time()
    assert proxy.run_until(lambda: False, timeout=0.01) is False
    assert proxy.time() >= t1 + 0.009


def test_nested_run_until(nestable_proxy: EventLoopProxy) -> None:
    proxy = nestable_proxy
    order: list[str] = []

    def outer_callback() -> None:
        order.append("outer-start")
        proxy.call_later(0.01, lambda: order.append("inner-done"))
        assert proxy.run_until(lambda: "inner-done" in order, timeout=WAIT)
        order.append("outer-end")

    proxy.call_soon(outer_callback)
    run(proxy, lambda: "outer-end" in order)
    assert order == ["outer-start", "inner-done", "outer-end"]


def test_nested_run_until_runs_the_rest_of_the_current_batch(
    nestable_proxy: EventLoopProxy,
) -> None:
    """A callback waiting for a callback queued right behind it (same batch) gets it."""
    proxy = nestable_proxy
    order: list[str] = []

    def first() -> None:
        # No timeout and no timer: nothing but the batch itself may wake this loop.
        order.append("ok" if proxy.run_until(lambda: "second" in order) else "stopped")
        order.append("first")

    rescue = threading.Timer(WAIT, proxy.stop)
    rescue.start()
    proxy.call_soon(first)
    proxy.call_soon(lambda: order.append("second"))
    try:
        assert proxy.run_until(lambda: "first" in order)
    finally:
        rescue.cancel()
    assert order == ["second", "ok", "first"]


def test_stop_ends_nested_run_until_calls(nestable_proxy: EventLoopProxy) -> None:
    proxy = nestable_proxy
    results: list[bool] = []

    def outer_callback() -> None:
        proxy.call_soon(proxy.stop)
        results.append(proxy.run_until(lambda: False))

    proxy.call_soon(outer_callback)
    assert proxy.run_until(lambda: False) is False
    assert results == [False]


def test_predicate_error_surfaces_from_run_until(proxy: EventLoopProxy) -> None:
    calls: list[int] = []

    def predicate() -> bool:
        calls.append(1)
        if len(calls) > 1:
            raise ValueError("bad predicate")
        return False

    proxy.call_soon(lambda: None)
    with pytest.raises(ValueError, match="bad predicate"):
        proxy.run_until(predicate, timeout=WAIT)
