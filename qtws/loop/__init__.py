"""Event-loop proxies and the per-thread loop functions (arsd's ``setEventLoopProxy``,
``eventLoop`` and ``exitEventLoop``).

Each thread has one current proxy: the one given to :func:`set_event_loop_proxy`, else a
default that follows the environment (see :func:`get_event_loop_proxy`).  The façade registers
each open websocket with :func:`register_active`, so :func:`run_event_loop` knows when the
thread's websockets are all closed.

``QtProxy`` and ``AsyncioProxy`` are imported lazily: the Qt binding loads only when a Qt
proxy is used.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import EventLoopProxy, Handle, report_exception
from .selectors_proxy import SelectorsProxy

if TYPE_CHECKING:
    from .asyncio_proxy import AsyncioProxy
    from .qt import QtProxy

__all__ = [
    "AsyncioProxy",
    "EventLoopProxy",
    "Handle",
    "QtProxy",
    "SelectorsProxy",
    "active_count",
    "exit_event_loop",
    "get_event_loop_proxy",
    "register_active",
    "run_event_loop",
    "set_event_loop_proxy",
    "unregister_active",
]

_LAZY = {"QtProxy": ".qt", "AsyncioProxy": ".asyncio_proxy"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.explicit: EventLoopProxy | None = None
        self.default: EventLoopProxy | None = None


_state = _ThreadState()
_UNTIL_POLL = 0.05  # seconds between re-checks of run_event_loop's until()

# thread ident -> {id(obj): obj}.  Strong references: a fire-and-forget websocket keeps
# running until it has closed.
_active: dict[int, dict[int, object]] = {}
_active_lock = threading.Lock()

# token -> (thread ident, proxy) for every run_event_loop in progress.  Mutated only with
# single dict operations (atomic under the GIL), so exit_event_loop() can read it from a signal
# handler without taking a lock the interrupted code may hold.
_running: dict[object, tuple[int, EventLoopProxy]] = {}


def set_event_loop_proxy(proxy: EventLoopProxy | None) -> None:
    """Use ``proxy`` for the websockets created from now on in the current thread.

    ``None`` returns to the default (see :func:`get_event_loop_proxy`).  Call it before
    creating websockets: existing ones keep the proxy they started with.
    """
    _state.explicit = proxy


def _qt_app_exists() -> bool:
    # Only look when the application already imported Qt: plain scripts never load a binding.
    if not any(f"{pkg}.QtCore" in sys.modules for pkg in ("PyQt6", "PySide6")):
        return False
    from .._qt import QCoreApplication

    return QCoreApplication.instance() is not None


def drives_qt(loop: object) -> bool:
    """Whether the asyncio ``loop`` runs Qt's event loop (qasync's, PySide6's QtAsyncio)."""
    return type(loop).__module__.split(".")[0] in ("qasync", "PySide6")


def _running_asyncio_loop() -> Any:
    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio._get_running_loop()


def get_event_loop_proxy() -> EventLoopProxy:
    """The current thread's proxy, created on first use.

    The proxy given to :func:`set_event_loop_proxy` if any; otherwise, in this order:
    a :class:`QtProxy` when a ``QCoreApplication`` exists, unless a plain asyncio loop runs in
    this thread (under qasync or QtAsyncio, whose loop runs Qt's, the Qt proxy: it keeps the
    blocking API usable there); an :class:`AsyncioProxy` on the asyncio loop running in
    this thread; else a :class:`SelectorsProxy`.  The default is re-chosen when the environment
    changes (an application created later, an asyncio loop started or closed).
    """
    if _state.explicit is not None:
        return _state.explicit
    current = _state.default
    loop = _running_asyncio_loop()
    # A plain asyncio loop never runs Qt's events, even when a QApplication exists.
    if _qt_app_exists() and (loop is None or drives_qt(loop)):
        if type(current).__name__ == "QtProxy" and not getattr(current, "closed", True):
            assert current is not None
            return current
        from .qt import QtProxy

        current = QtProxy()
    else:
        if loop is not None:
            if current is not None and getattr(current, "loop", None) is loop:
                return current
            from .asyncio_proxy import AsyncioProxy

            current = AsyncioProxy(loop)
        elif isinstance(current, SelectorsProxy) and not current.closed:
            return current
        else:
            current = SelectorsProxy()
    _state.default = current
    return current


def register_active(obj: object) -> None:
    """Count ``obj`` (a websocket) as live in the current thread until
    :func:`unregister_active`; :func:`run_event_loop` runs while any is registered.

    Registering the same object twice counts it once.  A strong reference is kept.
    """
    with _active_lock:
        _active.setdefault(threading.get_ident(), {})[id(obj)] = obj


def unregister_active(obj: object) -> None:
    """Stop counting ``obj``; unknown objects are ignored.

    Normally called on the registering thread; from another thread it still finds the object
    and wakes that thread's :func:`run_event_loop` so it notices.
    """
    me = threading.get_ident()
    with _active_lock:
        owner = me if id(obj) in _active.get(me, {}) else None
        if owner is None:
            owner = next((t for t, objs in _active.items() if objs.get(id(obj)) is obj), None)
            if owner is None:
                return
        objs = _active[owner]
        del objs[id(obj)]
        if not objs:
            del _active[owner]
    if owner != me:
        for thread, proxy in list(_running.values()):
            if thread == owner:
                proxy.call_soon_threadsafe(lambda: None)  # re-check the predicate


def active_count() -> int:
    """How many objects are registered as live in the current thread."""
    return len(_active.get(threading.get_ident(), {}))


def run_event_loop(until: Callable[[], bool] | None = None) -> None:
    """Run the current thread's proxy until every websocket registered in this thread has
    closed, :func:`exit_event_loop` is called, or ``until()`` turns true (checked after
    every event and at least every 50 ms).

    Returns at once if nothing is registered.  With a Qt proxy this
    runs a nested ``QEventLoop``; with an asyncio proxy the loop must not be running already.
    """
    proxy = get_event_loop_proxy()
    token = object()

    def done() -> bool:
        return active_count() == 0 or (until is not None and until())

    handle: Handle | None = None
    if until is not None:
        # until() may watch state that no loop event changes (a flag set by another thread):
        # wake up regularly so it is re-checked (run_until checks after every callback).
        def tick() -> None:
            nonlocal handle
            handle = proxy.call_later(_UNTIL_POLL, tick)

        handle = proxy.call_later(_UNTIL_POLL, tick)
    _running[token] = (threading.get_ident(), proxy)
    try:
        proxy.run_until(done)
    finally:
        _running.pop(token, None)
        if handle is not None:
            handle.cancel()


def exit_event_loop() -> None:
    """Make every :func:`run_event_loop` in progress, in any thread, return promptly.

    Safe from another thread and from a signal handler: it only calls each running proxy's
    async-signal-safe ``stop()``, which wakes the loop at once.  Calls made while no
    ``run_event_loop`` is running have no effect.
    """
    for _thread, proxy in list(_running.values()):
        try:
            proxy.stop()
        except Exception as exc:  # one broken proxy must not keep the others running
            report_exception("exit_event_loop", exc)
