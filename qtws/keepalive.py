"""Liveness of an open connection: keep-alive pings, their timeout, the inactivity timeout.

How it works
------------
:class:`KeepAlive` belongs to one :class:`~qtws.connection.Connection`.  Once the connection is
OPEN, ``start()`` arms a ping every ``ping_interval`` seconds; a ping with no pong within
``ping_timeout`` fails the connection (1006), and so does ``inactivity_timeout`` seconds with
nothing received.  Before a liveness timer decides, the connection reads what already waits
(after a slot kept the thread busy, the pong may be waiting unread).  While the connection
stops reading on purpose (backpressure, a flood dispatched in slices, a slot's nested loop)
silence proves nothing, so no verdict is taken then.

Every ping sent (by the keep-alive or by ``WebSocket.ping()``) is remembered, oldest first, so
its pong's round trip can be reported; pings with equal payloads are each matched once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .loop.base import Handle

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["KeepAlive"]

_MAX_TRACKED_PINGS = 64


class KeepAlive:
    """The ping, ping-timeout and inactivity timers of one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._config = conn.config
        self._loop = conn.loop
        self._timers: dict[str, Handle] = {}
        self._pings: list[tuple[bytes, float]] = []  # unanswered pings, oldest first
        self._awaiting_pong = False
        self.last_receive = 0.0

    def start(self) -> None:
        """The connection is OPEN: arm the keep-alive and the inactivity timers."""
        self.last_receive = self._loop.time()
        self._arm_ping()
        limit = self._config.inactivity_timeout
        if limit is not None:
            self._set("inactivity", limit, self._check_inactivity)

    def stop(self) -> None:
        """Cancel every timer (closing, or closed)."""
        for name in list(self._timers):
            self._cancel(name)

    def closing(self) -> None:
        """The closing handshake began: no more keep-alive pings or pong deadlines."""
        self._cancel("ping")
        self._cancel("ping_timeout")

    def reading_paused(self) -> None:
        """Pongs cannot be read while reading is paused: suspend the pong deadline."""
        self._cancel("ping_timeout")

    def ping_sent(self, payload: bytes) -> None:
        """Remember a ping so its pong's round trip can be measured."""
        if len(self._pings) >= _MAX_TRACKED_PINGS:
            del self._pings[0]
        self._pings.append((payload, self._loop.time()))

    def pong_received(self, payload: bytes) -> float | None:
        """The round trip of the oldest unanswered ping with this payload, or None."""
        for i, (p, t) in enumerate(self._pings):
            if p == payload:
                del self._pings[i]
                self._awaiting_pong = False
                self._cancel("ping_timeout")
                return self._loop.time() - t
        return None

    # ------------------------------------------------------------------ timers
    def _set(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel(name)
        self._timers[name] = self._loop.call_later(delay, self._conn.guard(callback))

    def _cancel(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _arm_ping(self) -> None:
        interval = self._config.ping_interval
        if interval is not None:
            self._set("ping", interval, self._send_keepalive)

    def _send_keepalive(self) -> None:
        self._timers.pop("ping", None)
        conn = self._conn
        if not conn.is_open():
            return
        if conn.reading_suspended():
            # The application is not consuming: a pong could not be read, so do not
            # measure liveness now.
            self._arm_ping()
            return
        conn.send_ping(conn.mask_source(4))
        timeout = self._config.ping_timeout
        if timeout is not None and "ping_timeout" not in self._timers:
            self._awaiting_pong = True
            self._set("ping_timeout", timeout, self._on_ping_timeout)
        self._arm_ping()

    def _on_ping_timeout(self) -> None:
        self._timers.pop("ping_timeout", None)
        conn = self._conn
        conn.poll_input()
        if conn.finished or not self._awaiting_pong or conn.reading_suspended():
            return  # the pong was waiting (or reading is suspended on purpose)
        conn.fail(
            TimeoutError(
                f"no pong within ping_timeout ({self._config.ping_timeout} s): connection lost"
            ),
            1006,
        )

    def _check_inactivity(self) -> None:
        self._timers.pop("inactivity", None)
        limit = self._config.inactivity_timeout
        if limit is None or self._conn.finished:
            return
        self._conn.poll_input()  # may end the connection
        conn = self._conn
        if conn.finished:
            return
        if conn.reading_suspended():
            self.last_receive = self._loop.time()  # not reading is our choice, not idleness
        idle = self._loop.time() - self.last_receive
        if idle >= limit:
            conn.fail(TimeoutError(f"nothing received for inactivity_timeout ({limit} s)"))
        else:
            self._set("inactivity", limit - idle, self._check_inactivity)
