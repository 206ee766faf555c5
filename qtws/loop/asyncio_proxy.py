"""An event-loop proxy on an asyncio loop: qtws inside ``asyncio.run()`` (and under qasync).

Readers, writers, timers and wake-ups map directly onto the loop's methods, each callback
wrapped in the exception barrier.  Resolution uses ``loop.getaddrinfo`` (the loop's executor).

The blocking API needs :meth:`AsyncioProxy.run_until`, which can only drive a loop that is not
running; inside a coroutine it raises :class:`~qtws.errors.InvalidState`: use the signals or
callbacks there instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from ..errors import InvalidState
from .base import AddrInfo, EventLoopProxy, Handle, ResolveCallback, Resolver, report_exception

__all__ = ["AsyncioProxy"]


class _IoHandle:
    __slots__ = ("_proxy", "callback", "cancelled", "fd", "kind")

    def __init__(
        self, proxy: AsyncioProxy, fd: int, kind: int, callback: Callable[[], None]
    ) -> None:
        self._proxy = proxy
        self.fd = fd
        self.kind = kind
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._proxy._remove_io(self)


class _ResolveHandle:
    __slots__ = ("cancelled", "future")

    def __init__(self) -> None:
        self.cancelled = False
        self.future: asyncio.Future[Any] | None = None

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            if self.future is not None:
                self.future.cancel()


class _Frame:
    __slots__ = ("future", "predicate", "start")

    def __init__(self, predicate: Callable[[], bool], future: asyncio.Future[None], start: int):
        self.predicate = predicate
        self.future = future
        self.start = start


class AsyncioProxy(EventLoopProxy):
    """An :class:`~qtws.loop.base.EventLoopProxy` on ``loop``.

    ``loop=None`` takes the running loop, or else creates a new one that this proxy owns (and
    closes in :meth:`close`).  ``resolver`` replaces ``loop.getaddrinfo`` (it then runs in the
    loop's default executor).  Like asyncio itself, everything but :meth:`call_soon_threadsafe`
    and :meth:`stop` must be called on the loop's thread.
    """

    defer_writes = True

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, resolver: Resolver | None = None
    ) -> None:
        self._owns_loop = False
        self._thread_id: int | None = None
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = asyncio.new_event_loop()
                self._owns_loop = True
        if loop.is_running():
            self._thread_id = threading.get_ident()
        self.loop = loop
        self._resolver = resolver
        self._io: dict[tuple[int, int], _IoHandle] = {}
        self._frames: list[_Frame] = []
        self._stop_count = 0
        self._signal_pair: tuple[socket.socket, socket.socket] | None = None

    # -- callbacks ------------------------------------------------------------------------

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception as exc:
            report_exception(repr(callback), exc)
        if self._frames:
            self._check_frames()

    def _call_io(self, handle: _IoHandle) -> None:
        if not handle.cancelled:
            self._call(handle.callback)

    def _check_frames(self) -> None:
        for frame in self._frames:
            if frame.future.done():
                continue
            try:
                if self._stop_count != frame.start or frame.predicate():
                    frame.future.set_result(None)
            except Exception as exc:  # the predicate's error surfaces from run_until
                frame.future.set_exception(exc)

    # -- registrations ---------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[[], None]) -> Handle:
        """``loop.add_reader``; replaces an earlier reader of ``fd``."""
        return self._add_io(fd, 0, callback)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> Handle:
        """``loop.add_writer``; replaces an earlier writer of ``fd``."""
        return self._add_io(fd, 1, callback)

    def _add_io(self, fd: int, kind: int, callback: Callable[[], None]) -> _IoHandle:
        handle = _IoHandle(self, fd, kind, callback)
        old = self._io.get((fd, kind))
        if old is not None:
            old.cancelled = True  # its cancel() must leave the new registration alone
        self._io[(fd, kind)] = handle
        if kind == 0:
            self.loop.add_reader(fd, self._call_io, handle)
        else:
            self.loop.add_writer(fd, self._call_io, handle)
        return handle

    def _remove_io(self, handle: _IoHandle) -> None:
        key = (handle.fd, handle.kind)
        if self._io.get(key) is not handle:
            return
        del self._io[key]
        if self.loop.is_closed():
            return
        if handle.kind == 0:
            self.loop.remove_reader(handle.fd)
        else:
            self.loop.remove_writer(handle.fd)

    def call_soon(self, callback: Callable[[], None]) -> Handle:
        """``loop.call_soon`` behind the exception barrier."""
        return self.loop.call_soon(self._call, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        """``loop.call_later`` behind the exception barrier."""
        return self.loop.call_later(delay, self._call, callback)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """``loop.call_soon_threadsafe``; ignored once the loop is closed."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._call, callback)

    def time(self) -> float:
        """``loop.time()``."""
        return self.loop.time()

    def stop(self) -> None:
        """Make a running :meth:`run_until` return; thread-safe and async-signal-safe (asyncio's
        ``call_soon_threadsafe`` appends to a deque and writes to the loop's self-pipe)."""
        self._stop_count += 1
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._check_frames)

    def resolve(self, host: str, port: int, callback: ResolveCallback) -> Handle:
        """``loop.getaddrinfo(host, port, type=SOCK_STREAM)`` (or the injected resolver in the
        default executor); the result reaches ``callback`` unless the handle was cancelled."""
        handle = _ResolveHandle()
        future: asyncio.Future[Any]
        if self._resolver is None:
            future = asyncio.ensure_future(
                self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), loop=self.loop
            )
        else:
            future = self.loop.run_in_executor(None, self._resolver, host, port)
        handle.future = future

        def done(fut: asyncio.Future[Any]) -> None:
            if handle.cancelled or fut.cancelled():
                return
            handle.cancelled = True
            exc = fut.exception()
            result: list[AddrInfo] | BaseException = exc if exc is not None else fut.result()
            self._call(lambda: callback(result))

        future.add_done_callback(done)
        return handle

    @property
    def thread_id(self) -> int | None:
        """The loop's thread if the loop was running when the proxy was made, else ``None``."""
        return self._thread_id

    def close(self) -> None:
        """Remove this proxy's readers and writers; close the loop if the proxy created it."""
        for handle in list(self._io.values()):
            handle.cancel()
        if self._signal_pair is not None:
            for sock in self._signal_pair:
                sock.close()
            self._signal_pair = None
        if self._owns_loop and not self.loop.is_closed():
            self.loop.close()

    # -- blocking --------------------------------------------------------------------------

    def can_block(self) -> bool:
        """False while the asyncio loop runs (a coroutine cannot block on its own loop)."""
        return not self.loop.is_running()

    def run_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run the (not yet running) loop until ``predicate()`` is true, :meth:`stop` or
        ``timeout``.  Raises :class:`~qtws.errors.InvalidState` if the loop is already running:
        a coroutine cannot block on it, so use the signals/callbacks (or await) instead."""
        if self.loop.is_running():
            raise InvalidState(
                "the asyncio loop is already running: the blocking API cannot be used from "
                "inside it; use the signals or callbacks instead"
            )
        if predicate():
            return True
        future: asyncio.Future[None] = self.loop.create_future()
        frame = _Frame(predicate, future, self._stop_count)
        self._frames.append(frame)
        timer = None
        if timeout is not None:

            def expire() -> None:
                if not future.done():
                    future.set_result(None)

            timer = self.loop.call_later(timeout, expire)
        restore = self._install_wakeup_fd()
        self._thread_id = threading.get_ident()
        try:
            self.loop.run_until_complete(future)
        finally:
            self._frames.remove(frame)
            if timer is not None:
                timer.cancel()
            if restore is not None:
                restore()
        return predicate()

    def _install_wakeup_fd(self) -> Callable[[], None] | None:
        """On the main thread, make a signal landing on another thread still wake the loop
        (asyncio only does so for ``add_signal_handler``)."""
        if threading.current_thread() is not threading.main_thread():
            return None
        if self._signal_pair is None:
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._signal_pair = (r, w)
        r, w = self._signal_pair
        try:
            old = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            return None
        if old != -1:
            signal.set_wakeup_fd(old)  # someone else's: leave it
            return None

        def drain() -> None:
            with contextlib.suppress(OSError):
                while r.recv(4096):
                    pass

        self.loop.add_reader(r.fileno(), drain)

        def restore() -> None:
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(-1)
            if not self.loop.is_closed():
                self.loop.remove_reader(r.fileno())

        return restore
