"""Reconnecting: the outbox of messages waiting for a connection, and the backoff schedule.

How it works
------------
:class:`Outbox` holds what ``send()`` accepted while no connection is OPEN (connecting, or
waiting to reconnect), bounded by ``Config.outbox_limit``; the façade drains it, in order,
right after the ``opened`` slots ran.  What it still holds when the WebSocket stops for good
is counted as unsent and logged once.

:class:`Reconnector` decides, when a connection ends without ``close()``, whether to try again
(:func:`is_permanent` errors never are) and schedules the attempt after the policy's delay on
the event-loop proxy.  A successful open resets the attempt count.
"""

from __future__ import annotations

import collections
import logging
import ssl
from collections.abc import Callable, Iterable

from .config import ReconnectPolicy
from .errors import BufferFull, InvalidStatus, InvalidURI, NegotiationError
from .loop.base import EventLoopProxy, Handle

__all__ = ["Outbox", "Reconnector", "is_permanent"]

_log = logging.getLogger("qtws")

Message = str | bytes


def is_permanent(exc: BaseException | None) -> bool:
    """Errors where reconnecting cannot help."""
    if isinstance(exc, (InvalidURI, NegotiationError, ssl.SSLCertVerificationError)):
        return True
    return (
        isinstance(exc, InvalidStatus) and 400 <= exc.status < 500 and exc.status not in (408, 429)
    )


def _size(msg: Message) -> int:
    return len(msg.encode()) if isinstance(msg, str) else len(msg)


class Outbox:
    """Messages accepted by ``send()`` that wait for an OPEN connection, oldest first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._queue: collections.deque[Message] = collections.deque()
        self._nbytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        return bool(self._queue)

    @property
    def nbytes(self) -> int:
        """The payload bytes waiting (text as UTF-8)."""
        return self._nbytes

    def check_room(self, extra: int = 0) -> None:
        """Raise :class:`~qtws.BufferFull` unless one more message (after ``extra`` already
        promised ones) fits."""
        if len(self._queue) + extra >= self.limit:
            raise BufferFull(f"outbox full ({self.limit} messages waiting for the connection)")

    def put(self, msg: Message, *, accepted: bool = False) -> None:
        """Queue ``msg``; :class:`~qtws.BufferFull` when the outbox is full, unless ``send()``
        already ``accepted`` it (from another thread, checked when it was called)."""
        if not accepted:
            self.check_room()
        self._queue.append(msg)
        self._nbytes += _size(msg)

    def put_front(self, msgs: Iterable[Message]) -> None:
        """Put ``msgs`` (in order) ahead of everything queued: they were accepted earlier."""
        msgs = list(msgs)
        self._queue.extendleft(reversed(msgs))
        self._nbytes += sum(map(_size, msgs))

    def popleft(self) -> Message:
        """The oldest message."""
        msg = self._queue.popleft()
        self._nbytes -= _size(msg)
        return msg

    def drop_all(self, why: str) -> int:
        """Forget every message (logged once); returns how many there were."""
        n = len(self._queue)
        if n:
            _log.warning("%d queued message(s) were never sent: %s", n, why)
            self._queue.clear()
            self._nbytes = 0
        return n


class Reconnector:
    """The backoff schedule of one WebSocket: attempt numbers, delays, the pending timer."""

    def __init__(self, loop: EventLoopProxy, policy: ReconnectPolicy | None) -> None:
        self.loop = loop
        self.policy = policy
        self.attempt = 0
        self._handle: Handle | None = None

    @property
    def pending(self) -> bool:
        """True while an attempt is scheduled."""
        return self._handle is not None

    def next_delay(self, exc: BaseException | None) -> float | None:
        """Count the next attempt and return its delay, or ``None`` when no attempt is due
        (no policy, a permanent error, ``max_attempts`` exhausted)."""
        policy = self.policy
        if policy is None or is_permanent(exc):
            return None
        attempt = self.attempt + 1
        if policy.max_attempts is not None and attempt > policy.max_attempts:
            return None
        self.attempt = attempt
        return policy.delay(attempt)

    def schedule(self, delay: float, attempt_now: Callable[[], None]) -> None:
        """Run ``attempt_now`` after ``delay`` seconds (replacing a pending attempt)."""
        self.cancel()

        def fire() -> None:
            self._handle = None
            attempt_now()

        self._handle = self.loop.call_later(delay, fire)

    def cancel(self) -> None:
        """Drop the pending attempt."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reset(self) -> None:
        """A connection opened: the next failure starts from attempt 1."""
        self.attempt = 0
