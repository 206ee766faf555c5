"""async/await on :class:`~qtws.WebSocket`: ``async with``, ``recv``, ``async for``,
``send_async`` and ``wait_closed``, next to the signals, on the same object.

How it works
------------
The awaitables are asyncio futures of the loop running in the WebSocket's thread; the event
loop that drives the socket is the WebSocket's proxy: an :class:`~qtws.loop.AsyncioProxy`
under ``asyncio.run()`` (chosen by ``open()`` inside a running loop), the Qt proxy under
qasync or PySide6's QtAsyncio (their asyncio loop *is* the Qt loop, so both run together).

The façade calls :meth:`AsyncAPI._aio_notify` whenever something an awaitable may wait for
changed (a message buffered, OPEN, CLOSED, bytes written).  That only wakes the waiting
coroutines, which then look at the state themselves and take a message from the inbox only
once they run.  So a task cancelled while it waits in ``recv()`` loses nothing: the message
stays in the inbox for the next ``recv()``.

Which consumer gets a message: the signals and ``onmessage`` get every message, always.
``recv()``/``async for`` share the blocking API's inbox (and its byte budget): from the first
``recv()`` on, every message goes there as well; before it, only those that arrived while
nothing listened to the message signals.  Only one coroutine may wait in ``recv()`` at a
time (a second one raises :class:`~qtws.InvalidState`, as in the ``websockets`` library):
with two readers, which one gets which message would be a race.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import loop as _loop
from .blocking import _check_timeout
from .errors import ConnectionClosed, InvalidState
from .state import CloseEvent, ReadyState

if TYPE_CHECKING:
    import asyncio

    from .connection import Connection
    from .loop.base import EventLoopProxy

__all__ = ["AsyncAPI"]

# Close code for leaving `async with` by an exception (RFC 6455 7.4.1: "internal error").
_CLOSE_ON_ERROR = 1011


class AsyncAPI:
    """The coroutine methods of :class:`~qtws.WebSocket` (a mixin: the façade owns the state)."""

    # Provided by the façade.
    _loop: EventLoopProxy
    _state: ReadyState
    _conn: Connection | None
    _started: bool
    _opens: int
    _last_error: BaseException | None
    _close_event: CloseEvent | None
    _inbox: collections.deque[str | bytes]

    if TYPE_CHECKING:

        def open(self) -> None: ...
        def send(self, data: str | bytes | bytearray | memoryview) -> None: ...
        def close(self, code: int = 1000, reason: str = "") -> None: ...
        def _check_thread(self, what: str) -> None: ...
        def _current_state(self) -> ReadyState: ...
        def _take_message(self) -> str | bytes: ...
        def _closed_exc(self) -> ConnectionClosed: ...
        def _update_progress_reports(self) -> None: ...

        @property
        def buffered_amount(self) -> int: ...

    # Set by the façade's __init__ through _aio_init (a mixin has no __init__ of its own:
    # PySide6 and PyQt6 both call QObject.__init__ through the façade).
    _aio_waiters: list[asyncio.Future[None]]
    _aio_reader: bool  # recv() was used: buffer every message for it
    _aio_receiving: bool  # a coroutine waits in recv()
    _aio_senders: int  # coroutines waiting in send_async() (they need write reports)

    def _aio_init(self) -> None:
        self._aio_waiters = []
        self._aio_reader = False
        self._aio_receiving = False
        self._aio_senders = 0

    # ------------------------------------------------------------------ public coroutines
    async def __aenter__(self) -> AsyncAPI:
        """Open (unless already open) and wait until OPEN; raises like ``connect()``: the
        connection's ``OSError``/``TimeoutError``/:class:`~qtws.HandshakeError`.  Cancelling
        the waiting task abandons the connection attempt."""
        self._aio_check("async with")
        if self._state is ReadyState.OPEN:
            return self
        if not self._started or self._state is ReadyState.CLOSED:
            self.open()
            try:
                self._aio_check("async with")  # the loop open() picked
            except InvalidState:
                self.close()
                raise
        opens = self._opens
        try:
            await self._aio_wait(
                lambda: self._state is not ReadyState.CONNECTING or self._opens != opens
            )
        except BaseException:
            self.close()  # before OPEN: abandons the attempt (closed(1006), no error)
            raise
        if self._current_state() is ReadyState.OPEN or self._opens != opens:
            return self
        if self._last_error is not None:
            raise self._last_error
        raise self._closed_exc()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close (1000, or 1011 when the block raised) and wait until CLOSED."""
        if self._state is not ReadyState.CLOSED:
            self.close(1000 if exc is None else _CLOSE_ON_ERROR)
        await self.wait_closed()

    async def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message (``str`` or ``bytes``), waiting up to ``timeout`` seconds.

        Raises ``TimeoutError`` on timeout, :class:`~qtws.ConnectionClosed` once the
        connection is closed and every received message was returned (its ``__cause__`` is
        the error, if the connection failed), :class:`~qtws.InvalidState` when another
        coroutine already waits in ``recv()`` or the WebSocket was never opened."""
        _check_timeout(timeout)
        self._aio_check("recv")
        if not self._started:
            raise InvalidState("recv() before open(): use `async with` or call open() first")
        if self._aio_receiving:
            raise InvalidState("another coroutine is already waiting in recv()")
        self._aio_reader = True
        if not self._inbox and self._state is not ReadyState.CLOSED:
            self._aio_receiving = True
            try:
                await self._aio_wait(
                    lambda: bool(self._inbox) or self._state is ReadyState.CLOSED,
                    timeout,
                    f"no message within {timeout} s",
                )
            finally:
                self._aio_receiving = False
        if self._inbox:
            return self._take_message()
        exc = self._closed_exc()
        exc.__cause__ = self._last_error
        raise exc

    def __aiter__(self) -> AsyncAPI:
        """``async for message in ws``: messages until the connection is closed (as the
        blocking iteration: how it ended is in ``close_event``/``wait_closed()``)."""
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send_async(self, data: str | bytes | bytearray | memoryview) -> None:
        """``send(data)``, then wait until nothing waits to be written any more
        (``buffered_amount == 0``): the message, and those before it, went to the socket.
        Raises like ``send()``, and :class:`~qtws.ConnectionClosed` if the connection ends
        before that."""
        self._aio_check("send_async")
        self.send(data)
        if self.buffered_amount == 0:
            return
        self._aio_senders += 1
        self._update_progress_reports()
        try:
            await self._aio_wait(
                lambda: self.buffered_amount == 0 or self._state is not ReadyState.OPEN
            )
        finally:
            self._aio_senders -= 1
            self._update_progress_reports()
        if self.buffered_amount and self._state is not ReadyState.OPEN:
            exc = self._closed_exc()
            exc.__cause__ = self._last_error
            raise exc

    async def wait_closed(self, timeout: float | None = None) -> CloseEvent:
        """Wait until the WebSocket is CLOSED for good (reconnects included) and return the
        :class:`~qtws.CloseEvent`; ``TimeoutError`` after ``timeout`` seconds."""
        _check_timeout(timeout)
        self._aio_check("wait_closed")
        await self._aio_wait(
            lambda: self._state is ReadyState.CLOSED or not self._started,
            timeout,
            f"not closed within {timeout} s",
        )
        return self._close_event or CloseEvent(1006, "never opened", False)

    # ------------------------------------------------------------------ internals
    def _aio_notify(self) -> None:
        """Something changed: wake every waiting coroutine (each re-checks its condition)."""
        waiters, self._aio_waiters = self._aio_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _aio_check(self, what: str) -> None:
        """Awaitables need the running asyncio loop to be the one driving this WebSocket."""
        self._check_thread(what)
        running = _asyncio().get_running_loop()
        if not self._started or self._state is ReadyState.CLOSED:
            return  # open() will pick the proxy of the running loop
        if getattr(self._loop, "loop", None) is running:
            return  # an AsyncioProxy on this loop
        # The Qt proxy: only a loop that runs Qt's event loop drives it.
        if type(self._loop).__name__ == "QtProxy" and _loop.drives_qt(running):
            return
        raise InvalidState(
            f"{what}(): this WebSocket runs on a {type(self._loop).__name__}, which the running "
            f"{type(running).__name__} does not drive (open it inside the coroutine; with a "
            "QApplication, run the coroutines on qasync or QtAsyncio)"
        )

    async def _aio_wait(
        self, predicate: Callable[[], bool], timeout: float | None = None, what: str = ""
    ) -> None:
        aio = _asyncio()
        loop = aio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            fut: asyncio.Future[None] = loop.create_future()
            self._aio_waiters.append(fut)
            try:
                if deadline is None:
                    await fut
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError(what)
                    await aio.wait_for(fut, remaining)
            except aio.TimeoutError:  # not the builtin before Python 3.11
                raise TimeoutError(what) from None
            finally:
                if fut in self._aio_waiters:
                    self._aio_waiters.remove(fut)


def _asyncio() -> Any:
    """The asyncio module: a coroutine is running, so it is imported (``import qtws`` and
    Qt-only apps never pay for importing it)."""
    return sys.modules["asyncio"]
