"""The built-in event loop: ``selectors`` + a timer heap + a ready queue, no Qt needed.

How it works
------------
* Readers and writers live in ``_fds`` (fd -> one reader handle, one writer handle); the selector
  registration is kept in sync with it.  Adding a second reader for an fd replaces the first
  (whose handle goes dead, so cancelling it later does not remove the new one).
* ``call_soon`` appends to the ready deque; ``call_later`` pushes onto a heap; both return
  handles whose ``cancel()`` only sets a flag (cancelled timers are dropped lazily, and the heap
  is compacted when they pile up).
* One iteration: ``select()`` until the next timer (or not at all if work is ready), gather the
  I/O callbacks whose handles are still current, move due timers to the ready deque, then run the
  I/O callbacks and the ready callbacks that were queued before the iteration began.  The
  ``run_until`` predicate and the stop counter are checked after each callback.
* Wake-ups: a non-blocking ``socketpair``.  ``call_soon_threadsafe`` appends to the ready deque
  (atomic under the GIL) and writes a byte; ``stop()`` bumps a counter and writes a byte.  Neither
  takes a lock, so both are async-signal-safe.  While ``run_until`` runs on the main thread and
  nobody else owns it, the pair is also the ``signal.set_wakeup_fd`` target: a signal delivered to
  another thread (``os.kill`` from a thread usually lands there) still wakes ``select()``, and
  Python then runs the handler on the main thread.
"""

from __future__ import annotations

import contextlib
import heapq
import selectors
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from .base import (
    EventLoopProxy,
    Handle,
    ResolveCallback,
    Resolver,
    default_resolver,
    report_exception,
    resolve_in_thread,
)

__all__ = ["SelectorsProxy"]


class _Callback:
    """A registration: a callback plus a ``cancelled`` flag (the proxy drops dead ones)."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.callback!r}{' cancelled' if self.cancelled else ''}>"


class _IoHandle(_Callback):
    __slots__ = ("_proxy", "fd", "kind")

    def __init__(
        self, proxy: SelectorsProxy, fd: int, kind: int, callback: Callable[[], None]
    ) -> None:
        super().__init__(callback)
        self._proxy = proxy
        self.fd = fd
        self.kind = kind

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._proxy._remove_io(self)


class TimerHeap:
    """Timers ordered by deadline (FIFO among equal deadlines); cancelled ones dropped lazily.

    Shared by the selectors and Qt proxies.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = 0
        self.cancelled_count = 0

    def push(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self, when, callback)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, timer))
        return timer

    def _note_cancel(self) -> None:
        self.cancelled_count += 1
        # Compact when dead entries dominate: a connection re-arming a long inactivity timer
        # on every message would otherwise grow the heap without bound.
        if self.cancelled_count > 64 and self.cancelled_count * 2 > len(self._heap):
            self._heap = [e for e in self._heap if not e[2].cancelled]
            heapq.heapify(self._heap)
            self.cancelled_count = 0

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or ``None``."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self.cancelled_count = max(0, self.cancelled_count - 1)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[_Timer]:
        """Remove and return the live timers due at ``now``, in order."""
        due: list[_Timer] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            if timer.cancelled:
                self.cancelled_count = max(0, self.cancelled_count - 1)
            else:
                timer.popped = True
                due.append(timer)
        return due

    def __len__(self) -> int:
        return len(self._heap) - self.cancelled_count


class _Timer(_Callback):
    __slots__ = ("_heap", "popped", "when")

    def __init__(self, heap: TimerHeap, when: float, callback: Callable[[], None]) -> None:
        super().__init__(callback)
        self._heap = heap
        self.when = when
        self.popped = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            if not self.popped:
                self._heap._note_cancel()


class SelectorsProxy(EventLoopProxy):
    """An :class:`~qtws.loop.base.EventLoopProxy` on :mod:`selectors`; needs no QApplication.

    Bound to the thread that creates it: every method except :meth:`call_soon_threadsafe`,
    :meth:`stop` and ``Handle.cancel`` of a resolution must be called on that thread.
    ``resolver`` replaces :func:`~qtws.loop.base.default_resolver` (tests inject slow ones).
    """

    def __init__(self, resolver: Resolver | None = None) -> None:
        self._selector = selectors.DefaultSelector()
        self._fds: dict[int, list[_IoHandle | None]] = {}  # fd -> [reader, writer]
        self._ready: deque[_Callback] = deque()
        self._timers = TimerHeap()
        self._resolver = resolver or default_resolver
        self._thread_id = threading.get_ident()
        self._stop_count = 0
        self._depth = 0
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_handle = self.add_reader(self._wake_r.fileno(), self._drain_wake)

    # -- registrations ---------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` whenever ``fd`` is readable; replaces an earlier reader of ``fd``."""
        return self._add_io(fd, 0, callback)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` whenever ``fd`` is writable; replaces an earlier writer of ``fd``."""
        return self._add_io(fd, 1, callback)

    def _add_io(self, fd: int, kind: int, callback: Callable[[], None]) -> _IoHandle:
        if self._closed:
            raise RuntimeError("the event-loop proxy is closed")
        handle = _IoHandle(self, fd, kind, callback)
        slots = self._fds.setdefault(fd, [None, None])
        old = slots[kind]
        if old is not None:
            old.cancelled = True  # replaced: its cancel() must not touch the new registration
        slots[kind] = handle
        self._sync(fd)
        return handle

    def _remove_io(self, handle: _IoHandle) -> None:
        slots = self._fds.get(handle.fd)
        if slots is None or slots[handle.kind] is not handle:
            return  # already replaced or removed
        slots[handle.kind] = None
        self._sync(handle.fd)

    def _sync(self, fd: int) -> None:
        """Make the selector's interest in ``fd`` match ``_fds``."""
        slots = self._fds.get(fd)
        events = 0
        if slots is not None:
            if slots[0] is not None:
                events |= selectors.EVENT_READ
            if slots[1] is not None:
                events |= selectors.EVENT_WRITE
            if not events:
                del self._fds[fd]
        if self._closed:
            return
        try:
            registered = fd in self._selector.get_map()
            if not events:
                if registered:
                    self._selector.unregister(fd)
            elif registered:
                self._selector.modify(fd, events)
            else:
                self._selector.register(fd, events)
        except (OSError, ValueError, KeyError):
            # The fd was closed (and maybe reused) without cancelling its handles first:
            # epoll forgot it, so start afresh.
            with contextlib.suppress(OSError, ValueError, KeyError):
                self._selector.unregister(fd)
            if events:
                self._selector.register(fd, events)

    def call_soon(self, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` once from the loop, after the work already queued."""
        handle = _Callback(callback)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` once, ``delay`` seconds from now (timers fire in deadline order)."""
        return self._timers.push(self.time() + max(0.0, delay), callback)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` from any thread or a signal handler and wake the loop (no lock)."""
        self._ready.append(_Callback(callback))
        self._wake()

    def time(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def stop(self) -> None:
        """Make every running :meth:`run_until` return; async-signal-safe (no lock taken)."""
        self._stop_count += 1
        self._wake()

    def resolve(self, host: str, port: int, callback: ResolveCallback) -> Handle:
        """Resolve on a daemon thread; the result comes back through the ready queue."""
        return resolve_in_thread(self, host, port, callback, self._resolver)

    @property
    def thread_id(self) -> int | None:
        """The thread that created this proxy and runs its callbacks."""
        return self._thread_id

    def close(self) -> None:
        """Close the selector and the wake-up pair; registrations are dropped."""
        if self._closed:
            return
        self._closed = True
        self._selector.close()
        self._fds.clear()
        self._ready.clear()
        self._wake_r.close()
        self._wake_w.close()

    def __del__(self) -> None:
        # A thread's default proxy dies with the thread: release its fds quietly.
        try:  # noqa: SIM105 - not contextlib.suppress: module globals may be gone at interpreter exit
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- running ---------------------------------------------------------------------------

    def _wake(self) -> None:
        # OSError: the buffer is full (a wake-up is already pending) or the pair is closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def run_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run until ``predicate()`` is true, :meth:`stop` is called or ``timeout`` passes.

        Nested calls (from a callback) work: each returns when its own predicate holds, and
        ``stop()`` ends all of them.  Returns ``predicate()``.
        """
        if self._closed:
            raise RuntimeError("the event-loop proxy is closed")
        start = self._stop_count
        deadline = None if timeout is None else self.time() + timeout

        def done() -> bool:
            return self._stop_count != start or predicate()

        self._depth += 1
        old_wakeup = self._install_wakeup_fd()
        try:
            while not done():
                if deadline is not None and self.time() >= deadline:
                    break
                self._run_once(deadline, done)
        finally:
            self._depth -= 1
            self._restore_wakeup_fd(old_wakeup)
        return predicate()

    def _install_wakeup_fd(self) -> int | None:
        """Make a signal wake ``select()`` even when it lands on another thread."""
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            old = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            return None
        if old != -1 and old != self._wake_w.fileno():
            # Somebody else (asyncio, a Qt app) owns it: give it back and rely on them.
            signal.set_wakeup_fd(old)
            return None
        return old

    def _restore_wakeup_fd(self, old: int | None) -> None:
        if old is not None and self._depth == 0:
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(old)

    def _run_once(self, deadline: float | None, done: Callable[[], bool]) -> None:
        if self._ready:
            timeout: float | None = 0.0
        else:
            nxt = self._timers.next_deadline()
            if deadline is not None:
                nxt = deadline if nxt is None else min(nxt, deadline)
            timeout = None if nxt is None else max(0.0, nxt - self.time())
        events = self._selector.select(timeout)

        io: list[_IoHandle] = []
        for key, mask in events:
            slots = self._fds.get(key.fd)
            if slots is None:
                continue
            reader, writer = slots
            if reader is not None and mask & selectors.EVENT_READ:
                io.append(reader)
            if writer is not None and mask & selectors.EVENT_WRITE:
                io.append(writer)
        self._ready.extend(self._timers.pop_due(self.time()))

        for handle in io:
            # A callback earlier in this batch may have cancelled or replaced this one.
            if not handle.cancelled:
                self._invoke(handle)
                if done():
                    return  # level-triggered: unserved fds are reported again
        # Only what was queued before this point: callbacks queued now run next iteration.
        for _ in range(len(self._ready)):
            if not self._ready:
                break
            handle2 = self._ready.popleft()
            if not handle2.cancelled:
                if not isinstance(handle2, _IoHandle):
                    handle2.cancelled = True  # ran: a late cancel() is a no-op
                self._invoke(handle2)
                if done():
                    return

    def _invoke(self, handle: _Callback) -> None:
        try:
            handle.callback()
        except Exception as exc:
            # KeyboardInterrupt/SystemExit pass through: a script's Ctrl-C ends run_until.
            report_exception(repr(handle.callback), exc)
