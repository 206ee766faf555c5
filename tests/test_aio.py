"""async/await on qtws.WebSocket: asyncio.run (the asyncio proxy) and qasync (the Qt proxy),
against the websockets server: echo, async for, close codes, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from websockets.sync.server import ServerConnection

import qtws
from qtws.loop.asyncio_proxy import AsyncioProxy
from tests.servers import RawServer, accept_upgrade, echo_recording_close, ws_server


def cfg() -> qtws.Config:
    return qtws.Config(ping_interval=None, proxy=None)


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "qasync", "qtasyncio"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine to completion on plain asyncio, qasync's Qt-driven loop, or PySide6's
    QtAsyncio (``python3 .ci/dev.py test`` runs the suite under both bindings)."""
    if request.param == "asyncio":
        return asyncio.run
    if request.param == "qtasyncio":
        return on_qtasyncio(request)
    import qasync

    request.getfixturevalue("qapp")

    def on_qasync(coro: Coroutine[Any, Any, Any]) -> Any:
        loop = qasync.QEventLoop()
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.close()
            # qasync's close() leaves its timers registered (they die when they fire); the
            # loop is in reference cycles, and the GC on another thread (a server's) would
            # delete its QObjects there, under the timers: PySide6 then crashes in the next
            # test's event processing.  Collect it here, on its own thread.
            del loop
            gc.collect()

    return on_qasync


def on_qtasyncio(request: pytest.FixtureRequest) -> Runner:
    if qtws.QT_API != "pyside6":
        pytest.skip("QtAsyncio is PySide6's: this case runs in the suite's PySide6 run")
    import PySide6.QtAsyncio as QtAsyncio

    request.getfixturevalue("qapp")

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        # keep_running=False: asyncio.run() on QtAsyncio's loop, returning the result.
        # quit_qapp=True although the QApplication lives on: the loop runs app.exec() and
        # stops only by app.quit() (with quit_qapp=False, run() never returns: PySide 6.11).
        policy = asyncio.get_event_loop_policy()
        try:
            return QtAsyncio.run(coro, keep_running=False, quit_qapp=True)
        finally:
            # run() restores the policy only when the coroutine did not raise.
            asyncio.set_event_loop_policy(policy)
            gc.collect()  # its Qt objects on their own thread (see on_qasync)

    return run


def test_echo_async_for_and_wait_closed(run: Runner) -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(ws.recv())
        for i in range(3):
            ws.send(f"tick {i}")
        ws.send(b"\x00\x01")
        ws.close(1000, "done")

    async def main() -> tuple[list[object], qtws.CloseEvent, str]:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            proxy = type(ws._loop).__name__
            await ws.send_async("hello")
            got: list[object] = [await ws.recv(timeout=5)]
            async for msg in ws:
                got.append(msg)
            event = await ws.wait_closed()
        return got, event, proxy

    with ws_server(handler) as srv:
        got, event, proxy = run(main())
    assert got == ["hello", "tick 0", "tick 1", "tick 2", b"\x00\x01"]
    assert event == qtws.CloseEvent(1000, "done", True)
    # asyncio.run: the asyncio proxy is chosen automatically; qasync: the Qt proxy.
    assert proxy in ("AsyncioProxy", "QtProxy")


def test_leaving_async_with_normally_closes_1000_and_by_an_exception_1011(run: Runner) -> None:
    seen: list[tuple[int | None, str | None]] = []

    async def normal() -> qtws.CloseEvent:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            await ws.send_async("x")
            assert await ws.recv(timeout=5) == "x"
        assert ws.ready_state is qtws.ReadyState.CLOSED  # __aexit__ waited for the close
        return await ws.wait_closed()

    async def failing() -> None:
        async with qtws.WebSocket(srv.url, config=cfg()):
            raise KeyError("boom")

    with ws_server(echo_recording_close(seen)) as srv:
        assert run(normal()) == qtws.CloseEvent(1000, "", True)
        with pytest.raises(KeyError):
            run(failing())
        srv.stop()  # joins the handlers: `seen` is complete
    assert [code for code, _ in seen] == [1000, 1011]


def test_recv_timeout_is_timeout_error_and_loses_nothing(run: Runner) -> None:
    async def main() -> list[object]:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            with pytest.raises(TimeoutError, match="no message within"):
                await ws.recv(timeout=0.05)
            await ws.send_async("after")
            return [await ws.recv(timeout=5)]

    with ws_server() as srv:
        assert run(main()) == ["after"]


def test_cancelled_recv_loses_no_message(run: Runner) -> None:
    """The task is cancelled in the very slot that delivers the message (after recv()'s
    waiter was woken, before the task ran): the next recv() still gets it."""

    async def main() -> tuple[bool, object, object]:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            task = asyncio.ensure_future(ws.recv())
            while not ws._aio_receiving:  # the task waits in recv()
                await asyncio.sleep(0)
            ws.message.connect(lambda _m: task.cancel())
            ws.send("first")
            try:
                await task
                cancelled = False
            except asyncio.CancelledError:
                cancelled = True
            first = await ws.recv(timeout=5)
            # Cancelled while nothing arrived: later messages are not lost either.
            task = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await ws.send_async("second")
            return cancelled, first, await ws.recv(timeout=5)

    with ws_server() as srv:
        assert run(main()) == (True, "first", "second")


def test_a_second_concurrent_recv_is_rejected(run: Runner) -> None:
    async def main() -> str:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            first = asyncio.ensure_future(ws.recv())
            while not ws._aio_receiving:
                await asyncio.sleep(0)
            with pytest.raises(qtws.InvalidState, match="already waiting in recv"):
                await ws.recv()
            ws.send("one")
            return str(await first)

    with ws_server() as srv:
        assert run(main()) == "one"


def test_signals_and_recv_both_get_every_message_once_recv_was_used(run: Runner) -> None:
    async def main() -> tuple[list[object], list[object]]:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            by_signal: list[object] = []
            ws.message.connect(by_signal.append)
            with pytest.raises(TimeoutError):
                await ws.recv(timeout=0)  # from now on recv() sees every message
            for i in range(5):
                ws.send(str(i))
            by_recv = [await ws.recv(timeout=5) for _ in range(5)]
        return by_signal, by_recv

    with ws_server() as srv:
        by_signal, by_recv = run(main())
    assert by_signal == by_recv == ["0", "1", "2", "3", "4"]


def test_errors_and_close_are_exceptions(run: Runner) -> None:
    def closing(ws: ServerConnection) -> None:
        ws.send("last")
        ws.close(4001, "go away")

    async def peer_closes() -> tuple[object, qtws.ConnectionClosed]:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            last = await ws.recv(timeout=5)
            with pytest.raises(qtws.ConnectionClosed) as info:
                await ws.recv(timeout=5)
            with pytest.raises(qtws.InvalidState):
                await ws.send_async("too late")
        return last, info.value

    with ws_server(closing) as srv:
        last, closed = run(peer_closes())
    assert last == "last"
    assert (closed.code, closed.reason, closed.was_clean) == (4001, "go away", True)

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    async def refused() -> qtws.CloseEvent:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{port}/", config=cfg())
        with pytest.raises(ConnectionRefusedError):
            async with ws:
                pass  # pragma: no cover - never entered
        return await ws.wait_closed(timeout=5)

    assert run(refused()).code == 1006


def test_lost_connection_ends_recv_with_the_error_as_cause(run: Runner) -> None:
    def drop(conn: socket.socket) -> None:
        accept_upgrade(conn)
        conn.sendall(b"\x81\x02hi")  # one text frame, then TCP goes without a closing handshake
        conn.close()

    async def main() -> tuple[object, qtws.ConnectionClosed]:
        async with qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg()) as ws:
            first = await ws.recv(timeout=10)
            with pytest.raises(qtws.ConnectionClosed) as info:
                await ws.recv(timeout=10)
        return first, info.value

    with RawServer(drop) as srv:
        first, closed = run(main())
    assert first == "hi"
    assert closed.code == 1006 and not closed.was_clean
    assert isinstance(closed.__cause__, OSError)


def test_send_async_waits_until_written() -> None:
    big = b"\x07" * (4 * 2**20)

    async def main() -> tuple[int, int]:
        async with qtws.WebSocket(srv.url, config=cfg()) as ws:
            ws.send(big)
            queued = ws.buffered_amount  # the first write did not take 4 MiB at once
            await ws.send_async(b"end")
            assert ws.buffered_amount == 0
            assert await ws.recv(timeout=10) == big
            assert await ws.recv(timeout=10) == b"end"
            return queued, ws.buffered_amount

    with ws_server(max_size=None) as srv:
        queued, after = asyncio.run(main())
    assert queued > 0 and after == 0


def test_cancelling_async_with_while_connecting_abandons_the_attempt() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts TCP, never answers the upgrade
    port = listener.getsockname()[1]

    async def main() -> qtws.CloseEvent:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{port}/", config=cfg())

        async def enter() -> None:
            async with ws:
                pass  # pragma: no cover - never entered

        task = asyncio.ensure_future(enter())
        while ws.ready_state is not qtws.ReadyState.CONNECTING or not ws._aio_waiters:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await ws.wait_closed(timeout=5)

    try:
        event = asyncio.run(main())
    finally:
        listener.close()
    assert event.code == 1006 and not event.was_clean


def test_misuse_is_reported() -> None:
    async def main() -> qtws.CloseEvent:
        ws = qtws.WebSocket("ws://127.0.0.1:9/", config=cfg())
        with pytest.raises(qtws.InvalidState, match="before open"):
            await ws.recv()
        with pytest.raises(ValueError):
            await ws.recv(timeout=-1)
        return await ws.wait_closed()  # never opened: nothing to wait for

    assert asyncio.run(main()).code == 1006


def test_a_websocket_driven_by_another_loop_is_refused() -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=cfg())
        ws.connect(timeout=5)  # the selectors loop: nothing in asyncio drives it

        async def main() -> None:
            with pytest.raises(qtws.InvalidState, match="does not drive"):
                await ws.recv()

        asyncio.run(main())
        ws.close()
        for _ in ws:  # drain until closed
            pass


def test_asyncio_proxy_is_chosen_inside_a_running_loop() -> None:
    async def main() -> object:
        ws = qtws.WebSocket("ws://127.0.0.1:9/", config=cfg())
        ws.open()
        proxy = ws._loop
        ws.close()
        await ws.wait_closed(timeout=5)
        return proxy

    assert isinstance(asyncio.run(main()), AsyncioProxy)
