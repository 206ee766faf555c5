"""Live data for GUIs: :class:`Conflator` keeps the latest message per key and paces updates.

How it works
------------
A :class:`Conflator` listens to a WebSocket's ``batch_received`` (one slot call per dispatch
slice), files each message under ``key(message)`` and keeps only the latest one per key: a
GUI that repaints 60 times a second needs the last price of each symbol, not every tick.  At
most once per ``interval`` it emits ``updated(dict)`` with the keys that changed since the
last emission (in the order they first changed) and their latest values; nothing is emitted
when nothing changed.  A message superseded before it was emitted counts in ``dropped``.

The timer is the event-loop proxy's (``call_later``), so the pacing follows whichever loop runs
the WebSocket (Qt, selectors, asyncio) and tests can drive it with a fake clock.  The first
change after a quiet period is emitted on the next loop turn; later ones wait until
``interval`` has passed since the previous emission.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from . import loop as _loop
from ._qt import QObject, Signal, is_deleted
from .loop.base import EventLoopProxy, Handle

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["Conflator"]

_log = logging.getLogger("qtws")


class Conflator(QObject):
    """Latest message per key, emitted as ``updated(dict)`` at most once per ``interval``.

    ``ws``: the WebSocket to listen to (its ``batch_received``), or ``None`` to :meth:`feed`
    messages yourself.  ``key``: a function of the (parsed) message giving its key, e.g. the
    ticker symbol; ``None`` keeps only the latest message, under the key ``None``.
    ``parse``: applied to each message first (e.g. ``json.loads``); the dict holds its results.
    ``interval``: seconds, at least 0.  ``loop``: the event-loop proxy whose timers pace the
    emissions (default: the WebSocket's, else the current thread's).  ``parent`` defaults to
    ``ws``, so the Conflator lives as long as the WebSocket.

    A message for which ``parse`` or ``key`` raises is logged with the exception and counted
    in ``errors`` (it never reaches Qt).
    """

    #: ``{key: latest value}`` of the keys that changed since the last emission.
    updated = Signal(object)

    def __init__(
        self,
        ws: WebSocket | None = None,
        *,
        key: Callable[[Any], Hashable] | None = None,
        interval: float = 1 / 60,
        parse: Callable[[str | bytes], Any] | None = None,
        loop: EventLoopProxy | None = None,
        parent: QObject | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"interval must be a number of seconds, not {type(interval).__name__}")
        if not (math.isfinite(interval) and interval >= 0):
            raise ValueError(f"interval must be a finite number of seconds >= 0, not {interval}")
        if key is not None and not callable(key):
            raise TypeError("key must be a function of the message, or None")
        if parse is not None and not callable(parse):
            raise TypeError("parse must be a function of the message, or None")
        super().__init__(parent if parent is not None else ws)
        self._key = key
        self._parse = parse
        self._interval = float(interval)
        self._loop = loop
        self._ws = weakref.ref(ws) if ws is not None else None
        self._pending: dict[Hashable, Any] = {}
        self._timer: Handle | None = None
        self._last: float | None = None  # loop time of the last emission
        self._paused = False
        self.dropped = 0  #: messages superseded by a newer one of their key before emission
        self.errors = 0  #: messages skipped because ``parse`` or ``key`` raised
        self.emitted = 0  #: ``updated`` emissions so far
        if ws is not None:
            ws.batch_received.connect(self.feed)

    @property
    def interval(self) -> float:
        """Minimum seconds between two ``updated`` emissions."""
        return self._interval

    @property
    def pending(self) -> int:
        """Keys changed since the last emission."""
        return len(self._pending)

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    def feed(self, messages: Iterable[str | bytes]) -> None:
        """Take messages (in order), as if they came in a batch of the WebSocket."""
        pending = self._pending
        key = self._key
        parse = self._parse
        before = len(pending)
        seen = 0
        for message in messages:
            try:
                value = parse(message) if parse is not None else message
                k = key(value) if key is not None else None
                hash(k)
            except Exception:
                self.errors += 1
                _log.exception("qtws.Conflator: parse/key failed for a message; skipped")
                continue
            seen += 1
            pending[k] = value
        # Every message that did not add a key replaced a pending one.
        self.dropped += seen - (len(pending) - before)
        self._arm()

    def flush(self) -> bool:
        """Emit what is pending now (paused or not); False when nothing was pending."""
        self._cancel()
        return self._emit()

    def pause(self) -> None:
        """Stop emitting (a hidden window); messages are still conflated meanwhile."""
        self._paused = True
        self._cancel()

    def resume(self) -> None:
        """Emit again; what changed while paused comes in one ``updated`` (paced as usual)."""
        self._paused = False
        self._arm()

    def clear(self) -> None:
        """Forget what is pending (e.g. after a resubscribe); counted as dropped."""
        self.dropped += len(self._pending)
        self._pending = {}
        self._cancel()

    # ------------------------------------------------------------------ internals
    def _arm(self) -> None:
        if self._timer is not None or self._paused or not self._pending:
            return
        loop = self._proxy()
        delay = 0.0
        if self._last is not None:
            delay = max(0.0, self._last + self._interval - loop.time())
        self._timer = loop.call_later(delay, self._on_timer)

    def _proxy(self) -> EventLoopProxy:
        if self._loop is not None:
            return self._loop
        ws = self._ws() if self._ws is not None else None
        # The WebSocket's own loop (bound at its open()), else this thread's.
        return ws._loop if ws is not None else _loop.get_event_loop_proxy()

    def _cancel(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _on_timer(self) -> None:
        self._timer = None
        self._emit()  # the proxy's barrier catches what a slot might raise

    def _emit(self) -> bool:
        if not self._pending or is_deleted(self):
            return False
        out, self._pending = self._pending, {}
        self._last = self._proxy().time()
        self.emitted += 1
        self.updated.emit(out)
        return True
