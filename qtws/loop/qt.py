"""The Qt event-loop proxy: QSocketNotifier for readers and writers, one QTimer for timers.

How it works
------------
* A proxy belongs to the thread that creates it (the GUI thread, a ``QThread``, or a plain
  Python thread, for which it makes sure Qt has an event dispatcher).  Its notifiers and its
  timer are children of a small helper ``QObject`` living in that thread.  Every method except
  :meth:`QtProxy.call_soon_threadsafe` and :meth:`QtProxy.stop` raises
  :class:`~qtws.errors.InvalidState` when called from another thread; ``Handle.cancel()`` may be
  called anywhere (the Qt clean-up is then marshalled).
* Notifiers are removed as qasync does it, ``setEnabled(False)`` -> disconnect ->
  ``deleteLater()``, so a callback may cancel or replace its own registration.  Unlike
  qasync, a notifier stays enabled while its callback runs, so a nested event loop started
  from the callback (a modal dialog in a slot) keeps serving the fd; callbacks are re-entrant.
* ``call_soon`` and ``call_later`` share a timer heap served by a single single-shot
  ``PreciseTimer`` armed for the earliest deadline (0 ms when ``call_soon`` work is waiting).
* Wake-ups use a non-blocking ``socketpair`` watched by a notifier:
  ``call_soon_threadsafe`` appends to a deque and writes a byte; ``stop()`` bumps a counter and
  writes a byte.  No lock and no Qt call, so both are safe from any thread and from a signal
  handler, and they work before the thread's event loop runs.
* Signals: Qt sleeps in C, where Python cannot run its signal handlers.  While
  :meth:`QtProxy.run_until` runs on the main thread (and nobody else owns it) the socketpair is
  the ``signal.set_wakeup_fd`` target, so a signal wakes Qt, the notifier runs Python code, and
  Python runs the handler (which may call ``exit_event_loop()``).
* :meth:`QtProxy.run_until` runs a ``QEventLoop`` (by hand with ``processEvents`` when Qt
  refuses to start one: after ``quit()``, before ``exec()`` returned); predicates are checked
  after every callback this proxy dispatches and whenever the thread's dispatcher is about to
  block (so state changed by the application's own slots is noticed too).
* Exception barrier: every slot Qt calls catches everything (an exception escaping a slot aborts
  a PyQt6 process).  Callback errors are logged; ``KeyboardInterrupt``/``SystemExit`` end the
  running ``run_until`` calls and are re-raised from them.

This module is over 400 lines because readers, writers, timers, the thread-safe wake-up
and nested run_until frames share one QTimer and one set of notifiers: split apart, each
piece would need the others' state.
"""

from __future__ import annotations

import contextlib
import math
import signal
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

from .._qt import (
    QAbstractEventDispatcher,
    QCoreApplication,
    QEventLoop,
    QObject,
    QSocketNotifier,
    Qt,
    QTimer,
    is_deleted,
)
from ..errors import InvalidState
from .base import (
    EventLoopProxy,
    Handle,
    ResolveCallback,
    Resolver,
    default_resolver,
    report_exception,
    resolve_in_thread,
)
from .selectors_proxy import TimerHeap, _Callback

__all__ = ["QtProxy"]

_MAX_TIMER_MS = 2**31 - 1


class _IoHandle:
    __slots__ = ("_proxy", "callback", "cancelled", "fd", "kind", "notifier")

    def __init__(self, proxy: QtProxy, fd: int, kind: int, callback: Callable[[], None]) -> None:
        self._proxy = proxy
        self.fd = fd
        self.kind = kind
        self.callback = callback
        self.cancelled = False
        self.notifier: QSocketNotifier | None = None

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._proxy._remove_io(self)


class _Frame:
    __slots__ = ("done", "error", "loop", "predicate", "start", "wake")

    def __init__(self, predicate: Callable[[], bool], loop: QEventLoop, start: int) -> None:
        self.predicate = predicate
        self.loop = loop
        self.start = start
        self.done = False
        self.error: BaseException | None = None
        self.wake: Callable[[], None] | None = None  # set while processEvents() runs it

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self.loop.quit()
            if self.wake is not None:
                self.wake()  # processEvents(WaitForMoreEvents) may be blocked in poll()


class QtProxy(EventLoopProxy):
    """An :class:`~qtws.loop.base.EventLoopProxy` for the calling thread's Qt event loop.

    Needs a ``QCoreApplication``.  ``resolver`` replaces
    :func:`~qtws.loop.base.default_resolver` (it runs on a daemon thread, never the GUI thread).
    """

    defer_writes = True

    def __init__(self, resolver: Resolver | None = None) -> None:
        if QCoreApplication.instance() is None:
            raise InvalidState("QtProxy needs a QCoreApplication (create the application first)")
        if QAbstractEventDispatcher.instance() is None:
            # A plain Python thread: constructing a QEventLoop gives it a dispatcher, without
            # which notifiers and timers do nothing.
            QEventLoop()
        _reap_orphans()
        self._thread_id = threading.get_ident()
        self._resolver = resolver or default_resolver
        self._helper = QObject()
        self._io: dict[tuple[int, int], _IoHandle] = {}
        # Notifier callbacks on the stack, and the notifiers removed meanwhile: a notifier
        # must not be deleted while its `activated` emission is on the stack (a slot may run a
        # nested event loop, which would process the deferred delete: PyQt then crashes).
        self._io_depth = 0
        self._graveyard: list[QSocketNotifier] = []
        self._timers = TimerHeap()
        self._soon: deque[_Callback] = deque()
        self._threadsafe: deque[_Callback] = deque()
        self._frames: list[_Frame] = []
        self._stop_count = 0
        self._pending: BaseException | None = None
        self._block_conn: Any = None
        self._wakeup_restore: int | None = None
        self._sigint_installed = False
        self._closed = False

        self._timer = QTimer(self._helper)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer)
        self._timer_target: float | None = None

        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_notifier = QSocketNotifier(
            self._wake_r.fileno(),  # type: ignore[call-overload]  # stubs say voidptr; int works
            QSocketNotifier.Type.Read,
            self._helper,
        )
        self._wake_notifier.activated.connect(self._on_wake)
        _held[id(self)] = (self._helper, self._wake_r, self._wake_w)

    # -- helpers ---------------------------------------------------------------------------

    def _check_thread(self, what: str) -> None:
        if threading.get_ident() != self._thread_id:
            raise InvalidState(
                f"QtProxy.{what}() called from thread {threading.get_ident()}, but this proxy "
                f"belongs to thread {self._thread_id}; use call_soon_threadsafe() to get there"
            )
        if self._closed:
            raise InvalidState("the event-loop proxy is closed")

    def _barrier(self, exc: BaseException, where: str) -> None:
        """The last line of every slot: nothing may reach Qt."""
        if isinstance(exc, Exception) or not self._frames:
            report_exception(where, exc)
            return
        # KeyboardInterrupt/SystemExit: end the running run_until calls, which re-raise it.
        self._pending = exc
        for frame in self._frames:
            frame.finish()

    def _invoke(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception as exc:
            report_exception(repr(callback), exc)

    def _check_frames(self) -> bool:
        """Finish the run_until frames whose predicate holds; True if one finished now."""
        finished = False
        for frame in list(self._frames):
            if frame.done:
                continue
            try:
                ok = self._stop_count != frame.start or frame.predicate()
            except Exception as exc:  # surfaces from that run_until
                frame.error = exc
                ok = True
            if ok:
                frame.finish()
                finished = True
        return finished

    # -- readers and writers ---------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[[], None]) -> Handle:
        """Watch ``fd`` for reading with a ``QSocketNotifier``; replaces an earlier reader."""
        return self._add_io(fd, 0, callback)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> Handle:
        """Watch ``fd`` for writing with a ``QSocketNotifier``; replaces an earlier writer."""
        return self._add_io(fd, 1, callback)

    def _add_io(self, fd: int, kind: int, callback: Callable[[], None]) -> _IoHandle:
        self._check_thread("add_reader" if kind == 0 else "add_writer")
        old = self._io.get((fd, kind))
        if old is not None:
            # Qt allows one notifier per (fd, type): the old one goes before the new one exists.
            old.cancelled = True
            self._remove_io_now(old)
        handle = _IoHandle(self, fd, kind, callback)
        qtype = QSocketNotifier.Type.Read if kind == 0 else QSocketNotifier.Type.Write
        notifier = QSocketNotifier(fd, qtype, self._helper)  # type: ignore[call-overload]
        notifier.activated.connect(lambda *_: self._on_io(handle))
        handle.notifier = notifier
        self._io[(fd, kind)] = handle
        return handle

    def _remove_io(self, handle: _IoHandle) -> None:
        if threading.get_ident() == self._thread_id:
            self._remove_io_now(handle)
        else:
            # Qt objects are touched on their own thread only; the flag already stops callbacks.
            self.call_soon_threadsafe(lambda: self._remove_io_now(handle))

    def _remove_io_now(self, handle: _IoHandle) -> None:
        key = (handle.fd, handle.kind)
        if self._io.get(key) is handle:
            del self._io[key]
        notifier, handle.notifier = handle.notifier, None
        if notifier is None or is_deleted(notifier):
            return
        notifier.setEnabled(False)  # Qt stops watching the fd at once
        if self._io_depth:
            self._graveyard.append(notifier)  # deleted once no notifier callback runs
        else:
            _delete_notifier(notifier)

    def _on_io(self, handle: _IoHandle) -> None:
        try:
            if handle.cancelled or handle.notifier is None:
                return  # an activation queued before the registration went away
            # The notifier stays enabled while its callback runs: if the callback runs a
            # nested event loop (a slot opening a modal dialog), the fd is served from inside
            # it, as Qt's own sockets are.  Callbacks must therefore be re-entrant.
            self._io_depth += 1
            try:
                self._invoke(handle.callback)
            finally:
                self._io_depth -= 1
                if not self._io_depth and self._graveyard:
                    dead, self._graveyard = self._graveyard, []
                    for notifier in dead:
                        _delete_notifier(notifier)
            self._check_frames()
        except BaseException as exc:
            self._barrier(exc, "socket notifier")

    # -- timers ----------------------------------------------------------------------------

    def call_soon(self, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` from the Qt loop as soon as possible (never re-entrantly)."""
        self._check_thread("call_soon")
        handle = _Callback(callback)
        self._soon.append(handle)
        self._schedule()
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` once after ``delay`` seconds."""
        self._check_thread("call_later")
        handle = self._timers.push(self.time() + max(0.0, delay), callback)
        self._schedule()
        return handle

    def _schedule(self) -> None:
        """Arm the QTimer for the earliest work (restarting it only if that is sooner)."""
        if self._closed:
            return
        if is_deleted(self._timer):
            # Qt deleted our objects (application exit): behave as closed from now on.
            self._closed = True
            return
        now = self.time()
        target = now if self._soon else self._timers.next_deadline()
        if target is None:
            return
        armed = self._timer_target
        if armed is not None and armed <= target and self._timer.isActive():
            return
        ms = min(_MAX_TIMER_MS, max(0, math.ceil((target - now) * 1000)))
        self._timer_target = target
        self._timer.start(ms)

    def _on_timer(self) -> None:
        try:
            self._timer_target = None
            self._soon.extend(self._timers.pop_due(self.time()))
            # Only what is queued now: callbacks queued by these run on the next round.
            for _ in range(len(self._soon)):
                if not self._soon:
                    break
                handle = self._soon.popleft()
                if handle.cancelled:
                    continue
                handle.cancelled = True  # ran: a late cancel() is a no-op
                self._invoke(handle.callback)
                if self._frames and self._check_frames():
                    break  # let the finished run_until return; the rest runs afterwards
        except BaseException as exc:
            self._barrier(exc, "timer")
        finally:
            with contextlib.suppress(BaseException):
                self._schedule()

    def time(self) -> float:
        """``time.monotonic()`` (Qt's timers use the same monotonic clock)."""
        return time.monotonic()

    # -- thread-safe entry points ----------------------------------------------------------

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` from any thread or a signal handler; wakes the loop (no lock)."""
        self._threadsafe.append(_Callback(callback))
        self._wake()

    def stop(self) -> None:
        """Make every running :meth:`run_until` return; any thread, async-signal-safe."""
        self._stop_count += 1
        self._wake()

    def _wake(self) -> None:
        # OSError: buffer full (a wake-up is already pending) or closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _on_wake(self, *_: object) -> None:
        try:
            with contextlib.suppress(OSError):
                while self._wake_r.recv(4096):
                    pass
            for _i in range(len(self._threadsafe)):
                if not self._threadsafe:
                    break
                handle = self._threadsafe.popleft()
                self._invoke(handle.callback)
                if self._frames and self._check_frames():
                    if self._threadsafe:
                        self._wake()  # the rest runs after the finished run_until returns
                    return
            self._check_frames()
        except BaseException as exc:
            self._barrier(exc, "wake-up notifier")

    def resolve(self, host: str, port: int, callback: ResolveCallback) -> Handle:
        """Resolve on a daemon thread (never the GUI thread); the result comes back through
        :meth:`call_soon_threadsafe`."""
        self._check_thread("resolve")
        return resolve_in_thread(self, host, port, callback, self._resolver)

    @property
    def thread_id(self) -> int | None:
        """The thread that created this proxy and runs its callbacks."""
        return self._thread_id

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- running ---------------------------------------------------------------------------

    def run_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run a ``QEventLoop`` until ``predicate()`` is true, :meth:`stop` is called or
        ``timeout`` passes; nested calls work.  Returns ``predicate()``."""
        self._check_thread("run_until")
        if predicate():
            return True
        loop = QEventLoop()
        frame = _Frame(predicate, loop, self._stop_count)
        self._frames.append(frame)
        if len(self._frames) == 1:
            self._enter_running()
        timer = self.call_later(timeout, frame.finish) if timeout is not None else None
        # Called from one of our callbacks, the rest of that batch must run in this loop.
        self._schedule()
        if self._threadsafe:
            self._wake()
        try:
            if loop.exec() == -1 and not frame.done:
                self._process_events_until(frame)
        finally:
            self._frames.remove(frame)
            if timer is not None:
                timer.cancel()
            if not self._frames:
                self._leave_running()
        pending, self._pending = self._pending, None
        if pending is not None:
            raise pending
        if frame.error is not None:
            raise frame.error
        return predicate()

    def _process_events_until(self, frame: _Frame) -> None:
        """Run ``frame`` by hand: ``QEventLoop.exec()`` returned -1 at once.

        Qt refuses to start an event loop in a thread between ``QCoreApplication.quit()``
        and the return of the ``exec()`` it ended (the rest of the slot that quit, the
        slots and events still handled before it returns): ``exec()`` returns -1 and
        processes nothing. A blocking call there (closing a WebSocket on the way out, a
        thread's ``call_soon_threadsafe`` waiting to be served) would spin without ever
        serving a notifier or a timer. Events are still processed one batch at a time,
        until the frame finishes (its predicate, ``stop()``, its timeout: ``finish`` wakes
        the blocked ``processEvents``)."""
        frame.wake = self._wake
        while not frame.done:
            frame.loop.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)

    def _enter_running(self) -> None:
        dispatcher = QAbstractEventDispatcher.instance()
        if dispatcher is not None:
            self._block_conn = dispatcher.aboutToBlock.connect(self._on_about_to_block)
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                old = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
                if old == -1:
                    self._wakeup_restore = old
                else:
                    signal.set_wakeup_fd(old)  # somebody else's: leave it to them
            # Python's default SIGINT handler raises KeyboardInterrupt in whatever Python code
            # runs next: a slot Qt called (before any try of ours), where PyQt aborts the
            # process.  While a blocking call runs, Ctrl-C instead ends it, and run_until
            # raises the KeyboardInterrupt in the caller, outside Qt.  An application's own
            # handler is left alone.
            with contextlib.suppress(ValueError, OSError, TypeError):
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._on_sigint)
                    self._sigint_installed = True

    def _leave_running(self) -> None:
        if self._block_conn is not None:
            dispatcher = QAbstractEventDispatcher.instance()
            if dispatcher is not None:
                with contextlib.suppress(TypeError, RuntimeError):
                    dispatcher.aboutToBlock.disconnect(self._block_conn)
            self._block_conn = None
        if self._wakeup_restore is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(self._wakeup_restore)
            self._wakeup_restore = None
        if self._sigint_installed:
            self._sigint_installed = False
            with contextlib.suppress(ValueError, OSError, TypeError):
                if signal.getsignal(signal.SIGINT) == self._on_sigint:
                    signal.signal(signal.SIGINT, signal.default_int_handler)

    def _on_sigint(self, signum: int, frame: object) -> None:
        """SIGINT during a blocking call: end the running run_until calls, which raise it."""
        self._pending = KeyboardInterrupt()
        for running in self._frames:
            running.finish()

    def _on_about_to_block(self) -> None:
        try:
            self._check_frames()
        except BaseException as exc:
            self._barrier(exc, "aboutToBlock")

    def close(self) -> None:
        """Delete the notifiers and the timer and close the wake-up pair (on the proxy's
        thread).  Pending callbacks are dropped."""
        self._check_thread("close")
        _reap_orphans()
        for handle in list(self._io.values()):
            handle.cancelled = True
            self._remove_io_now(handle)
        self._closed = True
        self._timer.stop()
        _delete_notifier(self._wake_notifier)
        self._helper.deleteLater()
        self._soon.clear()
        self._threadsafe.clear()
        self._wake_r.close()
        self._wake_w.close()
        _held.pop(id(self), None)

    def __del__(self) -> None:
        # A thread's default proxy dies with the thread: release its fds quietly.  Qt objects
        # may only be touched on their own thread, but the cyclic GC may collect a proxy on
        # any thread (a resolver's, qasync's executor's): then the helper is handed to its
        # own thread to delete (see _orphan).
        try:  # not contextlib.suppress: module globals may be gone at interpreter exit
            if self._closed:
                return
            if threading.get_ident() == self._thread_id:
                self.close()
            else:
                self._orphan()
        except Exception:
            pass

    def _orphan(self) -> None:
        """Retire this proxy from a thread that does not own it (its finalizer on a GC run).

        Dropping the helper here would delete it, its notifiers and its timer on this thread:
        Qt cannot unregister them from their own thread's dispatcher from here ("Timers cannot
        be stopped from another thread"), which then calls into freed objects (PySide6 deletes
        at once: a segfault; PyQt6 defers).  So the slots are disconnected (thread-safe in Qt),
        the helper is kept alive in ``_orphans`` and ``deleteLater()`` (thread-safe) lets its
        thread delete it; the wake-up sockets stay open until then, so no notifier watches a
        closed (or reused) fd.  A thread that never runs its loop again keeps them (a leak,
        never a crash)."""
        self._closed = True
        notifiers = [h.notifier for h in self._io.values() if h.notifier is not None]
        for notifier in [*notifiers, *self._graveyard, self._wake_notifier]:
            _disconnect(notifier.activated)
        _disconnect(self._timer.timeout)
        entry = _held.pop(id(self), None)
        if entry is not None:
            _orphans[id(entry[0])] = entry
        self._helper.deleteLater()


# id(proxy) -> (helper, wake sockets): held here too, so that a GC run collecting a proxy
# leaves them alive for _orphan (the GC finalizes every object of a dead cycle before
# __del__ can resurrect anything, and a socket's finalizer closes it).
_held: dict[int, tuple[QObject, socket.socket, socket.socket]] = {}
# id(helper) -> (helper, wake sockets) of proxies retired off their thread (QtProxy._orphan),
# until the helper's thread has deleted it.  Single dict operations only (atomic under the
# GIL): a finalizer may run on any thread, even inside _reap_orphans.
_orphans: dict[int, tuple[QObject, socket.socket, socket.socket]] = {}


def _reap_orphans() -> None:
    """Close the wake-up sockets of the orphaned helpers that their threads deleted."""
    for key, (helper, wake_r, wake_w) in list(_orphans.items()):
        if is_deleted(helper):
            _orphans.pop(key, None)
            wake_r.close()
            wake_w.close()


def _disconnect(signal: Any) -> None:
    with contextlib.suppress(TypeError, RuntimeError, SystemError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # PySide6: "Failed to disconnect"
        signal.disconnect()


def _delete_notifier(notifier: QSocketNotifier) -> None:
    """qasync's order: disable first (Qt stops watching the fd at once), then disconnect, then
    delete later (the notifier may be the one whose signal is being delivered)."""
    if is_deleted(notifier):
        return  # Qt already deleted it (its parent went away, e.g. at application exit)
    notifier.setEnabled(False)
    _disconnect(notifier.activated)
    notifier.deleteLater()
