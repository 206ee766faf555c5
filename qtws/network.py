"""Network awareness for reconnects: Qt's ``QNetworkInformation`` when it has a backend.

How it works
------------
The first WebSocket that waits to reconnect on the thread of the ``QCoreApplication`` loads
Qt's default ``QNetworkInformation`` backend (once per process; NetworkManager, glib,
Windows, macOS... whichever Qt has).  From then on:

* while reachability is ``Disconnected``, a reconnect whose backoff delay ends is held: no
  attempt is made and none is counted, so ``max_attempts`` is not used up offline;
* when reachability comes back (``Disconnected`` -> anything else), every WebSocket waiting to
  reconnect (on backoff or held) tries at once, through ``WebSocket.reconnect_now()``.

Without a backend that reports reachability, without a ``QCoreApplication``, or for a
WebSocket on another thread, nothing changes: plain backoff.  ``Unknown`` counts as online.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from . import _qt
from ._qt import QCoreApplication, QObject

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["offline", "use_source", "watch"]

_log = logging.getLogger("qtws")


class _Watcher(QObject):
    """Follows one reachability source and wakes the WebSockets waiting to reconnect."""

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source
        self.waiting: weakref.WeakSet[WebSocket] = weakref.WeakSet()
        self.offline = _is_disconnected(source.reachability())
        source.reachabilityChanged.connect(self._on_change)

    def _on_change(self, reachability: Any) -> None:
        try:
            was_offline, self.offline = self.offline, _is_disconnected(reachability)
            if was_offline and not self.offline:
                for ws in list(self.waiting):
                    ws.reconnect_now()
        except Exception:  # a Qt slot: nothing may escape
            with contextlib.suppress(Exception):
                _log.exception("qtws: reacting to a reachability change failed")

    def detach(self) -> None:
        with contextlib.suppress(TypeError, RuntimeError):
            self.source.reachabilityChanged.disconnect(self._on_change)


_watcher: _Watcher | None = None
_loaded = False  # the default backend was tried (once per process)


def _is_disconnected(reachability: Any) -> bool:
    return bool(reachability == _qt.QNetworkInformation.Reachability.Disconnected)


def _on_app_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and threading.current_thread() is threading.main_thread()


def _current() -> _Watcher | None:
    """The watcher, loading Qt's default backend the first time (on the app's thread)."""
    global _watcher, _loaded
    if _watcher is not None or _loaded or not _on_app_thread():
        return _watcher
    _loaded = True
    try:
        info_class = _qt.QNetworkInformation
        info = info_class.instance() if info_class.loadDefaultBackend() else None
        if info is not None and info.supports(info_class.Feature.Reachability):
            _watcher = _Watcher(info)
        else:
            _log.debug("qtws: no QNetworkInformation backend reports reachability")
    except Exception:  # an old Qt, a broken backend: plain backoff
        _log.debug("qtws: QNetworkInformation unavailable", exc_info=True)
    return _watcher


def use_source(source: Any | None) -> None:
    """Take reachability from ``source`` instead of Qt's backend: any object with
    ``reachability()`` and a ``reachabilityChanged(Reachability)`` signal (a
    ``QNetworkInformation``, or an application's own notion of connectivity).  ``None`` goes
    back to Qt's default backend."""
    global _watcher, _loaded
    if _watcher is not None:
        _watcher.detach()
    _watcher = _Watcher(source) if source is not None else None
    _loaded = source is not None


def watch(ws: WebSocket) -> None:
    """``ws`` waits to reconnect: wake it when reachability comes back."""
    if not _on_app_thread():
        return
    watcher = _current()
    if watcher is not None:
        watcher.waiting.add(ws)


def offline(ws: WebSocket) -> bool:
    """Whether a due reconnect of ``ws`` should wait for the network (known to be down)."""
    watcher = _watcher if _on_app_thread() else None
    if watcher is None or not watcher.offline:
        return False
    watcher.waiting.add(ws)
    return True
