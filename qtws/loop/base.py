"""The event-loop proxy protocol: what qtws needs from whichever loop the application runs.

The counterpart of arsd's ``setEventLoopProxy``: the connection driver never talks to Qt,
selectors or asyncio directly, only to an :class:`EventLoopProxy`.  Registrations return a
:class:`Handle` you ``cancel()``; cancelling twice, or after the callback ran, is harmless.

Every callback is invoked on the proxy's own thread.  A proxy never lets an exception out of a
callback into the underlying loop (that aborts a PyQt6 process): it reports it through
:func:`report_exception` and carries on.  Callers that need to fail a connection on an
exception catch it themselves.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, cast

__all__ = [
    "AddrInfo",
    "EventLoopProxy",
    "Handle",
    "ResolveCallback",
    "Resolver",
    "default_resolver",
    "report_exception",
    "resolve_in_thread",
]

_log = logging.getLogger("qtws.loop")

# One result of socket.getaddrinfo(): (family, type, proto, canonname, sockaddr).
AddrInfo = tuple[
    socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int] | tuple[str, int, int, int]
]
# Called on the proxy's thread with the resolved addresses, or the exception (socket.gaierror...).
ResolveCallback = Callable[[list[AddrInfo] | BaseException], None]
# A blocking name resolver, run off the loop's thread: (host, port) -> addresses, or raises.
Resolver = Callable[[str, int], list[AddrInfo]]


class Handle(Protocol):
    """A registration (reader, writer, timer, resolution) that can be cancelled."""

    def cancel(self) -> None:
        """Stop the registration; idempotent."""


def report_exception(where: str, exc: BaseException) -> None:
    """Log an exception that a proxy caught at its barrier (it must not reach the loop).

    Never raises: it is the last line before Qt, and logging itself can fail (a
    RecursionError at the stack's limit, a broken handler)."""
    with contextlib.suppress(BaseException):  # nothing may escape into the event loop
        _log.error("exception in %s", where, exc_info=exc)


def default_resolver(host: str, port: int) -> list[AddrInfo]:
    """``socket.getaddrinfo(host, port, type=SOCK_STREAM)``: every address, IPv6 and IPv4."""
    return cast(list[AddrInfo], socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


class _ResolveHandle:
    """A pending resolution; ``cancel()`` drops the result (the lookup itself cannot stop)."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _ResolverPool:
    """A few daemon threads running blocking lookups.

    Daemon threads, unlike ``ThreadPoolExecutor``'s, never delay interpreter exit when a DNS
    query hangs.  Threads are started on demand up to ``max_workers`` and then reused.
    """

    def __init__(self, max_workers: int = 8) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._workers = 0
        self._max = max_workers

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.put(job)
            if self._idle > 0 or self._workers >= self._max:
                return
            self._workers += 1
        threading.Thread(target=self._work, name="qtws-resolver", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
            try:
                job()
            except BaseException as exc:  # a job never kills its worker
                report_exception("resolver thread", exc)


_pool = _ResolverPool()


def resolve_in_thread(
    proxy: EventLoopProxy,
    host: str,
    port: int,
    callback: ResolveCallback,
    resolver: Resolver = default_resolver,
) -> Handle:
    """Run ``resolver(host, port)`` on a daemon thread and deliver the addresses (or the
    exception) to ``callback`` on ``proxy``'s thread through ``call_soon_threadsafe``.

    Cancelling the handle before delivery drops the result; the check happens on the proxy's
    thread, so a cancelled callback never runs.
    """
    handle = _ResolveHandle()

    def deliver(result: list[AddrInfo] | BaseException) -> None:
        if not handle.cancelled:
            handle.cancelled = True  # one delivery, and cancel() afterwards stays harmless
            callback(result)

    def job() -> None:
        if handle.cancelled:
            return
        result: list[AddrInfo] | BaseException
        try:
            result = resolver(host, port)
        except Exception as exc:
            result = exc
        proxy.call_soon_threadsafe(lambda: deliver(result))

    _pool.submit(job)
    return handle


class EventLoopProxy(ABC):
    """Readers, writers, timers, thread-safe wake-ups and name resolution for one thread."""

    #: True when the loop keeps running after the application's code returns (Qt, asyncio):
    #: the driver may then batch the writes of one loop turn into a single ``send``.  False
    #: for loops that run only inside blocking calls (selectors), where data must go out at once.
    defer_writes: bool = False

    @abstractmethod
    def add_reader(self, fd: int, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` whenever ``fd`` is readable, until the handle is cancelled.

        One reader per fd: a new one replaces the old, whose handle then does nothing.
        Cancel before closing the fd.  The callback may cancel or replace its own registration.
        """

    @abstractmethod
    def add_writer(self, fd: int, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` whenever ``fd`` is writable, until the handle is cancelled.

        One writer per fd (independent of its reader); a new one replaces the old.
        """

    @abstractmethod
    def call_soon(self, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` once, from the loop, as soon as possible (never re-entrantly)."""

    @abstractmethod
    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` once after ``delay`` seconds."""

    @abstractmethod
    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """From any thread (or a signal handler): run ``callback()`` on the loop's thread soon,
        waking the loop at once if it is blocked."""

    @abstractmethod
    def time(self) -> float:
        """Monotonic clock of this loop, in seconds."""

    @abstractmethod
    def run_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run the loop (re-entrantly if needed) until ``predicate()`` is true, :meth:`stop` is
        called or ``timeout`` seconds pass.  Returns ``predicate()`` at the end.  The predicate
        is checked before blocking and after every dispatched callback."""

    @abstractmethod
    def stop(self) -> None:
        """Make every running :meth:`run_until` of this proxy return promptly.
        Thread-safe and async-signal-safe; with nothing running it has no effect."""

    @abstractmethod
    def resolve(self, host: str, port: int, callback: ResolveCallback) -> Handle:
        """Resolve ``host:port`` (``getaddrinfo`` with ``SOCK_STREAM``) without blocking the
        loop; ``callback`` runs on the loop's thread unless the handle was cancelled."""

    def can_block(self) -> bool:
        """Whether :meth:`run_until` may be called now (False inside a running asyncio loop)."""
        return True

    @property
    def thread_id(self) -> int | None:
        """``threading.get_ident()`` of the thread this proxy serves, if bound."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (wake-up pipes, threads); the default does nothing."""
