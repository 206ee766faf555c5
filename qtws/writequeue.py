"""The one write path of an open connection: a queue of bytes, written without blocking.

How it works
------------
:meth:`WriteQueue.write` appends bytes (no copy) and tries to send at once.  What the kernel
does not take waits, and the writer notifier is enabled only while something waits.  Under
proxies that run continuously (Qt, asyncio: ``EventLoopProxy.defer_writes``) the first write
of a loop turn goes out at once and later ones are *corked* into one ``send`` at the end of
the turn (a turn: one loop callback of the connection, counted in ``turn``), so a lone reply
costs no extra callback; the selectors proxy (blocking scripts) writes every message at once.
Small queued pieces are coalesced into one ``send``; a partial write keeps the rest as a
memoryview (TLS retries need the same buffer).

Each application message written is tagged with the offset of its last byte, so when a
connection drops, :meth:`WriteQueue.unsent` names the messages whose bytes never (or only
partly) left the process: they can be sent again on the next connection without duplicates.
"""

from __future__ import annotations

import collections
import socket
import ssl
from collections.abc import Callable

from .loop.base import EventLoopProxy, Handle

__all__ = ["WriteQueue"]

# Queued pieces smaller than this are joined into one send; larger ones are sent as they are.
_COALESCE_LIMIT = 64 * 1024

Guard = Callable[[Callable[[], None]], Callable[[], None]]


class WriteQueue:
    """Bytes waiting for ``sock``; reports a write error or a drained queue to its owner."""

    def __init__(
        self,
        loop: EventLoopProxy,
        guard: Guard,
        on_error: Callable[[OSError], None],
        on_drained: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._guard = guard
        self._on_error = on_error
        self._on_drained = on_drained
        self._out: collections.deque[bytes | memoryview] = collections.deque()
        self.size = 0  # bytes waiting
        self.written = 0  # bytes handed to the kernel
        self._corked = False
        self._writer: Handle | None = None
        self.sock: socket.socket | None = None
        self._queued_total = 0  # bytes ever queued
        # (offset just past the message's last byte, message), oldest first.
        self._tags: collections.deque[tuple[int, str | bytes]] = collections.deque()
        self.on_progress: Callable[[], None] | None = None  # after bytes were written
        # Loop callbacks of the owner so far (its guard counts them), and the one in which a
        # write last went out at once: only a second write in the same callback corks.
        self.turn = 0
        self._flushed_turn = -1

    def __bool__(self) -> bool:
        return bool(self._out)

    def write(self, data: bytes, message: str | bytes | None = None) -> None:
        """Queue ``data`` (ending with the frames of ``message``, if given) and send what the
        socket takes now."""
        if not data:
            return
        self._out.append(data)
        self.size += len(data)
        self._queued_total += len(data)
        if message is not None:
            self._tags.append((self._queued_total, message))
        if self._writer is not None or self._corked or self.sock is None:
            return  # the writer notifier, the pending uncork or the socket's arrival sends it
        if self._loop.defer_writes and self._flushed_turn == self.turn:
            # A write already went out at once in this turn of the loop: batch this one and
            # what follows into one system call at the end of the turn.  A lone message (a
            # request, a reply) goes out at once and costs no extra loop callback.
            self._corked = True
            self._loop.call_soon(self._guard(self._uncork))
            return
        self.flush()
        self._flushed_turn = self.turn

    def unsent(self) -> list[str | bytes]:
        """The tagged messages whose last byte was not written yet, oldest first."""
        return [msg for end, msg in self._tags if end > self.written]

    def clear(self) -> None:
        """Drop everything queued and stop writing."""
        self._out.clear()
        self._tags.clear()
        self.size = 0
        self._queued_total = self.written  # offsets stay comparable with `written`
        self.stop()

    def stop(self) -> None:
        """Disable the writer notifier (the socket is going away)."""
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def _uncork(self) -> None:
        self._corked = False
        if self._writer is None and self._out:
            self.flush()
            if not self._out:
                self._on_drained()

    def _next_chunk(self) -> bytes | memoryview:
        """The head of the queue, small pieces coalesced (one send for a burst)."""
        out = self._out
        head = out[0]
        if len(out) == 1 or len(head) >= _COALESCE_LIMIT:
            return head
        parts = [out.popleft()]
        size = len(head)
        while out and size < _COALESCE_LIMIT and len(out[0]) < _COALESCE_LIMIT:
            piece = out.popleft()
            parts.append(piece)
            size += len(piece)
        joined = b"".join(parts)
        out.appendleft(joined)
        return joined

    def flush(self) -> None:
        """Send what the socket takes; enable the writer notifier for the rest."""
        sock = self.sock
        if sock is None:
            return
        out = self._out
        while out:
            chunk = self._next_chunk()
            try:
                n = sock.send(chunk)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError, InterruptedError):
                break
            except OSError as exc:
                self.stop()
                self._on_error(exc)
                return
            self.written += n
            self.size -= n
            if n == len(chunk):
                out.popleft()
            else:
                # Partial write: keep the rest without copying (TLS retries need the same
                # buffer contents, which a memoryview slice preserves).
                out[0] = memoryview(chunk)[n:]
                break
        tags = self._tags
        while tags and tags[0][0] <= self.written:
            tags.popleft()
        if out:
            if self._writer is None:
                self._writer = self._loop.add_writer(sock.fileno(), self._guard(self._on_writable))
        else:
            self.stop()
        if self.on_progress is not None:
            self.on_progress()

    def _on_writable(self) -> None:
        self.flush()
        if not self._out:
            self._on_drained()
