"""The blocking API of :class:`~qtws.WebSocket` (arsd's names), for scripts, workers and tests.

How it works
------------
Each call runs the WebSocket's event-loop proxy (``run_until``) until its answer is there:
the selectors loop in a plain script, a nested Qt loop in a Qt application.  Messages that
arrive while a blocking call waits go to the inbox (``_inbox``) instead of the signals; the
façade also buffers there whenever nothing listens to the message signals or ``onmessage``.
Past ``_INBOX_HIGH_WATER`` unread messages the connection stops reading (TCP makes the server
wait); reading resumes when the inbox drains to half.

The mixin only reads and drives the façade's state; it owns none of it.
"""

from __future__ import annotations

import collections
import select
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .errors import ConnectionClosed, InvalidState
from .state import CloseEvent, ReadyState

if TYPE_CHECKING:
    from .config import Config
    from .connection import Connection
    from .loop.base import EventLoopProxy

__all__ = ["BlockingAPI", "FacadeState"]

# Messages buffered for the blocking API before reading pauses (backpressure).
_INBOX_HIGH_WATER = 4096


def _check_timeout(timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not timeout >= 0:  # also rejects NaN
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")


class FacadeState:
    """The façade's state that the API mixins (this one, :mod:`qtws.aio`) read and drive:
    declarations for the type checker only; :class:`~qtws.WebSocket` sets them."""

    _loop: EventLoopProxy
    _state: ReadyState
    _conn: Connection | None
    _started: bool
    _opens: int
    _last_error: BaseException | None
    _close_event: CloseEvent | None
    _inbox: collections.deque[str | bytes]


class BlockingAPI(FacadeState):
    """``connect``, ``wait_for_next_message``, iteration and the low-level calls."""

    # Provided by the façade, beyond FacadeState.
    _inbox_size: list[int]  # [payload bytes in _inbox]: no attribute set per message
    _config: Config
    _waiting: int

    if TYPE_CHECKING:

        def open(self) -> None: ...
        def _abort(self, exc: BaseException | None) -> None: ...
        def _check_blocking(self, what: str) -> None: ...

    def connect(self, timeout: float | None = None) -> None:
        """Open (if not yet started) and wait until OPEN.

        Returns at once when already OPEN (``open()`` instead raises: it starts a
        connection, ``connect()`` makes sure there is one).  A negative ``timeout`` is a
        ``ValueError``.  Without ``timeout`` the wait is bounded by ``open_timeout`` per
        attempt; with a
        :class:`~qtws.ReconnectPolicy` it goes on through the reconnect attempts.  Raises
        ``TimeoutError`` when ``timeout`` expires (the attempt is then abandoned) and the
        connection's error (``OSError``, :class:`~qtws.HandshakeError`...) if it fails."""
        _check_timeout(timeout)
        self._check_blocking("connect")
        if not self._loop.can_block():
            raise InvalidState(
                "connect() cannot block inside the running event loop of this proxy; "
                "use open() and the signals/callbacks"
            )
        if self._state is ReadyState.OPEN:
            return
        if not self._started or self._state is ReadyState.CLOSED:
            self.open()
        opens = self._opens
        self._run_waiting(
            lambda: self._state is not ReadyState.CONNECTING or self._opens != opens, timeout
        )
        state = self._current_state()  # running the loop changed it
        if state is ReadyState.OPEN or self._opens != opens:
            # Opened (even if it closed again within the same read: the messages it got are
            # buffered for wait_for_next_message, which then raises ConnectionClosed).
            return
        if state is ReadyState.CONNECTING:
            exc = TimeoutError(f"connect() timed out after {timeout} s")
            if self._last_error is not None:
                exc.__cause__ = self._last_error
            self._abort(exc)
            raise exc
        if self._last_error is not None:
            raise self._last_error
        raise self._closed_exc()

    def wait_for_next_message(self, timeout: float | None = None) -> str | bytes:
        """Return the next message (``str`` or ``bytes``), waiting up to ``timeout`` seconds.

        Raises ``TimeoutError`` on timeout and :class:`~qtws.ConnectionClosed` once the
        connection is closed and every received message was returned.  Messages are buffered
        for this call while it waits, and at all times when nothing listens to the message
        signals or ``onmessage``."""
        _check_timeout(timeout)
        self._check_blocking("wait_for_next_message")
        if not self._inbox and self._state is not ReadyState.CLOSED:
            self._run_waiting(
                lambda: bool(self._inbox) or self._state is ReadyState.CLOSED, timeout
            )
        if self._inbox:
            return self._take_message()
        if self._state is ReadyState.CLOSED:
            raise self._closed_exc()
        raise TimeoutError(f"no message within {timeout} s")

    def wait_for_next_message_would_block(self) -> bool:
        """True when :meth:`wait_for_next_message` would have to wait."""
        return not self._inbox and self._state is not ReadyState.CLOSED

    def is_message_buffered(self) -> bool:
        """True when a received message waits: :meth:`wait_for_next_message` returns at once."""
        return bool(self._inbox)

    def is_data_pending(self, timeout: float = 0.0) -> bool:
        """True when bytes wait on the socket (or in TLS), waiting up to ``timeout`` seconds
        (a blocking call when ``timeout`` > 0)."""
        if timeout > 0:
            self._check_blocking("is_data_pending")
        conn = self._conn
        if conn is None or conn.finished:
            return False
        if conn.data_pending():
            return True
        fd = conn.fileno()
        if fd < 0:
            return False
        readable, _, _ = select.select([fd], [], [], max(0.0, timeout))
        return bool(readable)

    def low_level_receive(self, timeout: float | None = None) -> bool:
        """Wait for more bytes from the socket and process them (messages go to the buffer).
        Returns False when the connection is closed or nothing arrived within ``timeout``."""
        _check_timeout(timeout)
        self._check_blocking("low_level_receive")
        conn = self._conn
        if conn is None or self._state is ReadyState.CLOSED:
            return False
        conn.resume_reading()
        before = conn.bytes_in
        # Done once new bytes arrived *and* the messages in them reached the buffer.
        self._run_waiting(
            lambda: conn.finished or (conn.bytes_in != before and not conn.pending_events),
            timeout,
        )
        return conn.bytes_in != before

    def __iter__(self) -> Iterator[str | bytes]:
        """Yield messages until the connection is closed."""
        while True:
            try:
                yield self.wait_for_next_message()
            except ConnectionClosed:
                return

    def _current_state(self) -> ReadyState:
        return self._state

    def _take_message(self) -> str | bytes:
        """Pop the oldest buffered message; resume reading once the inbox is half drained."""
        msg = self._inbox.popleft()
        size = self._inbox_size
        size[0] -= len(msg)
        conn = self._conn
        if (
            conn is not None
            and len(self._inbox) < _INBOX_HIGH_WATER // 2
            and size[0] < self._config.queue_budget // 2
        ):
            conn.resume_reading()
        return msg

    def _run_waiting(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        """Run the loop for a blocking call; messages arriving meanwhile are buffered."""
        self._waiting += 1
        try:
            self._loop.run_until(predicate, timeout)
        finally:
            self._waiting -= 1

    def _closed_exc(self) -> ConnectionClosed:
        ev = self._close_event or CloseEvent(1006, "", False)
        return ConnectionClosed(ev.code, ev.reason, ev.was_clean)
