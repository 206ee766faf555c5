"""Frames out of a WebSocket byte stream, for the traffic inspector (no Qt here).

How it works
------------
A :class:`Tap` is the :class:`~qtws.connection.Observer` of one WebSocket: the driver hands it
the plaintext bytes it reads and writes, and the events the core made of them.  Two
:class:`StreamParser` objects (one per direction) cut the bytes into the HTTP upgrade and the
frames, keeping only what a row shows (the header, the close code, the first bytes of the
payload: a 16 MiB frame costs no copy).  The size after inflate and the text of a compressed
message come from the core's events (for received messages) or from the message given to
``send()`` (for sent ones), so nothing is inflated twice.  Every record goes to a callback.

Secrets never reach a record: the values of ``Authorization``, ``Cookie``,
``Proxy-Authorization`` and ``Set-Cookie`` headers, a URL's password and the values of query
parameters that look like credentials (``token``, ``key``, ``secret``, ``password``...) are
replaced with ``***``.

This module is over 400 lines because the frame parser, the resync after a mid-stream
attach and the row formatting share one per-connection state of the byte stream.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import struct
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..cli import escape_text
from ..core import BinaryMessage, ConnectionFailed, Event, Redirect, TextMessage
from ..core.mask import apply_mask

__all__ = ["StreamParser", "Tap", "TrafficRecord", "redact_url"]

_log = logging.getLogger("qtws.traffic")

_DATA = frozenset(("text", "binary", "continuation"))
_KINDS = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "set-cookie"}
_SECRET_PARAM = re.compile(r"token|key|secret|passw|auth|sig|session|credential", re.I)
_MAX_HEAD = 64 * 1024  # an HTTP head longer than this is not shown (the core refuses it too)
_U16 = struct.Struct("!H").unpack_from
_U64 = struct.Struct("!Q").unpack_from


@dataclass(slots=True)
class TrafficRecord:
    """One row of the inspector: a frame, the HTTP upgrade, or the end of a connection."""

    seq: int  #: position in the recording (rows are numbered from the first one recorded)
    time: float  #: ``time.time()`` when qtws read or queued it
    connection: str  #: ``"<name>.<connection> <url>"`` (name ``#1``...), URL secrets masked
    direction: str  #: ``"in"``, ``"out"``, or ``""`` for the end of a connection
    kind: str  #: text, binary, continuation, ping, pong, close, http, end, error
    wire_size: int  #: bytes on the wire, header included (0 for ``end``/``error``)
    size: int  #: payload bytes; a message's last frame: the whole message after inflate
    fin: bool = True
    compressed: bool = False  #: RSV1: a permessage-deflate message
    close_code: int | None = None
    close_reason: str = ""
    rtt: float | None = None  #: a pong's round trip to our ping, in seconds
    #: What the preview is made from (only when shown, so recording stays cheap): the first
    #: payload bytes (unmasked), the start of the message (after inflate), or a note.
    data: str | bytes = b""
    inflated: bool = False  #: ``data`` comes from the message, not from the wire

    @property
    def preview(self) -> str:
        """The start of the payload as text (control characters escaped) or in hex."""
        data = self.data
        if self.kind == "close":
            return f"{self.close_code} {self.close_reason}".strip()
        if isinstance(data, str):
            return data if self.kind in ("http", "end", "error") else _line(data)
        if self.compressed and not self.inflated:
            return "(compressed)"
        if self.kind == "binary" or (self.kind == "continuation" and self.inflated):
            more = " ..." if self.size > len(data[:32]) else ""
            return f"binary {self.size} bytes: {data[:32].hex(' ')}{more}".rstrip(": ")
        return _line(data.decode("utf-8", "replace"))

    def to_dict(self) -> dict[str, object]:
        """The record as JSON-ready values (``preview`` instead of ``data``)."""
        out = {f: getattr(self, f) for f in _FIELDS}
        out["preview"] = self.preview
        return out


def _line(text: str) -> str:
    return escape_text(text).replace("\n", "\\n")


_FIELDS = [f for f in TrafficRecord.__dataclass_fields__ if f not in ("data", "inflated")]


def redact_url(url: str) -> str:
    """``url`` with its password and credential-like query values replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}" if ":" in user else netloc
    query = "&".join(
        f"{k}=***" if _SECRET_PARAM.search(k) else (f"{k}={v}" if sep else k)
        for k, sep, v in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _redact_head(head: bytes) -> str:
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0]
    method, _, rest = first.partition(" ")
    if method == "GET":  # the request target may carry a token in its query
        target, _, version = rest.partition(" ")
        first = f"GET {redact_url(target)} {version}"
    shown = [first]
    for line in lines[1:]:
        name, sep, _ = line.partition(":")
        shown.append(f"{name}: ***" if sep and name.strip().lower() in _SECRET_HEADERS else line)
    return "\n".join(shown)


_START, _HTTP, _FRAMES, _IGNORE = range(4)


class StreamParser:
    """One direction of one connection: bytes in, :class:`TrafficRecord` fields out.

    ``emit(kind, wire_size, size, payload, fin, rsv1)`` is called for every frame (``payload``:
    at most ``keep`` bytes, unmasked) and with kind ``"http"`` for an upgrade request or
    response (``payload``: its head, secrets masked, as UTF-8).  At the start of a stream and
    after :meth:`reset` it expects HTTP (``GET `` or ``HTTP/``) or a frame; after a response
    other than 101 it ignores the rest of the stream until the next :meth:`reset`.
    """

    def __init__(self, emit: Callable[[str, int, int, bytes, bool, bool], None], keep: int):
        self._emit = emit
        self._keep = max(keep, 125)  # control frames are always kept whole (close codes)
        self.reset()

    def reset(self, tail: bytes = b"", remaining: int = 0, *, upgraded: bool = False) -> None:
        """Start again: at a stream's start, or (``upgraded``) in the middle of one whose
        upgrade is over; ``tail``/``remaining`` (from the core) say where the next frame
        starts: after the rest of one whose start was not seen."""
        self._mode = _FRAMES if upgraded else _START
        self._head = b""  # an incomplete frame header, or the HTTP head so far
        self._skip = remaining  # payload bytes of a frame not shown
        self._remaining = 0  # payload bytes of the current frame still to come
        self._payload = b""
        self._frame: tuple[str, int, int, bool, bool, bytes] | None = None
        if tail:  # the core holds these bytes of the next frame (perhaps more than a header)
            self.feed(tail)

    def feed(self, data: bytes) -> None:
        """Parse ``data``, the next bytes of the stream."""
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
            elif self._remaining:
                step = min(self._remaining, end - pos)
                want = self._keep - len(self._payload)
                if want > 0:
                    self._payload += data[pos : pos + min(step, want)]
                self._remaining -= step
                pos += step
                if not self._remaining:
                    self._frame_done()
            elif self._mode == _FRAMES:
                pos = self._header(data, pos)
            elif self._mode == _IGNORE:
                return
            else:
                pos = self._http(data, pos)

    def _http(self, data: bytes, pos: int) -> int:
        head = self._head + data[pos:]
        if self._mode == _START:
            if b"GET ".startswith(head[:4]) or b"HTTP/".startswith(head[:5]):
                if len(head) < 5:  # too short to tell
                    self._head = head
                    return len(data)
                self._mode = _HTTP
            else:
                self._mode = _FRAMES
                return pos
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > _MAX_HEAD:
                self._mode = _IGNORE
                self._head = b""
            else:
                self._head = head
            return len(data)
        self._head = b""
        text = _redact_head(head[:end])
        self._emit("http", end + 4, end + 4, text.encode(), True, False)
        upgraded = text.startswith("GET ") or text.split(" ", 2)[1:2] == ["101"]
        self._mode = _FRAMES if upgraded else _IGNORE
        consumed = end + 4 - (len(head) - (len(data) - pos))
        return pos + consumed

    def _header(self, data: bytes, pos: int) -> int:
        carried = len(self._head)
        buf = self._head + data[pos : pos + 14] if carried else data[pos : pos + 14]
        if len(buf) < 2:
            self._head = buf
            return len(data)
        b0, b1 = buf[0], buf[1]
        n = b1 & 0x7F
        hlen = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if b1 & 0x80 else 0)
        if len(buf) < hlen:
            self._head = buf if carried else data[pos:]
            return len(data)
        if n == 126:
            n = _U16(buf, 2)[0]
        elif n == 127:
            n = _U64(buf, 2)[0]
        mask = buf[hlen - 4 : hlen] if b1 & 0x80 else b""
        kind = _KINDS.get(b0 & 0x0F) or f"opcode {b0 & 0x0F:#x}"
        start = pos + hlen - carried
        if start + n <= len(data):
            # The whole frame is here (the usual case): no state to carry.
            self._head = b""
            payload = data[start : start + min(n, self._keep)]
            if mask and payload:
                payload = bytes(apply_mask(payload, mask))
            self._emit(kind, hlen + n, n, payload, bool(b0 & 0x80), bool(b0 & 0x40))
            return start + n
        self._frame = (kind, hlen + n, n, bool(b0 & 0x80), bool(b0 & 0x40), mask)
        self._head = b""
        self._payload = b""
        self._remaining = n
        return start

    def _frame_done(self) -> None:
        frame = self._frame
        assert frame is not None
        kind, wire, size, fin, rsv1, mask = frame
        payload = self._payload
        if mask and payload:
            payload = bytes(apply_mask(payload, mask))
        self._frame = None
        self._payload = b""
        self._emit(kind, wire, size, payload, fin, rsv1)


_F = TypeVar("_F", bound=Callable[..., None])


def _guarded(method: _F) -> _F:
    """An Observer method that never raises into the driver: the first error is logged and
    the tap stops recording (the inspector's bug must not fail the connection)."""

    @functools.wraps(method)
    def wrapper(self: Tap, *args: Any) -> None:
        if self.broken:
            return
        try:
            method(self, *args)
        except Exception:
            self.broken = True
            _log.exception("qtws.traffic: recording %s failed; it stops", self._label)

    return wrapper  # type: ignore[return-value]


class Tap:
    """The :class:`~qtws.connection.Observer` of one WebSocket; records go to ``record``.

    ``record`` may be called with records whose ``size``/``preview`` are filled in later (a
    received message's, once the core's event arrives, within the same read); ``update``
    is called then.  A tap never raises into the driver: an error is logged and recording of
    this WebSocket stops."""

    def __init__(
        self,
        name: str,
        record: Callable[[TrafficRecord], None],
        update: Callable[[TrafficRecord], None],
        preview_chars: int = 120,
    ) -> None:
        self.name = name
        self._record = record
        self._update = update
        self._chars = preview_chars
        self._connections = 0
        self._label = name
        self.broken = False
        self._pings: dict[bytes, float] = {}
        self._awaiting: collections.deque[TrafficRecord | None] = collections.deque()
        self._last_out: TrafficRecord | None = None
        self._in = StreamParser(lambda *f: self._frame("in", *f), preview_chars)
        self._out = StreamParser(lambda *f: self._frame("out", *f), preview_chars)

    # ------------------------------------------------------------------ Observer
    @_guarded
    def started(self, url: str, resync: tuple[bytes, int, bool] | None) -> None:
        self._connections += 1
        self._label = f"{self.name}.{self._connections} {redact_url(url)}"
        self._pings.clear()
        self._awaiting.clear()
        if resync is None:
            self._in.reset()
            self._out.reset()
        else:
            tail, remaining, in_message = resync
            self._in.reset(tail, remaining, upgraded=True)
            self._out.reset(upgraded=True)
            if in_message:
                self._awaiting.append(None)  # that message's event belongs to no row

    @_guarded
    def received(self, data: bytes) -> None:
        self._in.feed(data)

    @_guarded
    def events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, (TextMessage, BinaryMessage)):
                if self._awaiting:
                    row = self._awaiting.popleft()
                    if row is not None:
                        self._fill(row, event.data)
                        self._update(row)
            elif isinstance(event, ConnectionFailed) and not any(
                isinstance(e, Redirect) for e in events
            ):  # a redirect about to be followed is no error: its http row shows it
                exc = event.exc
                self._add("", "error", 0, 0, f"{type(exc).__name__}: {exc}", code=event.code)

    @_guarded
    def sent(self, data: bytes, message: str | bytes | None) -> None:
        if data.startswith(b"GET "):  # a new upgrade (after a redirect): both streams restart
            self._in.reset()
            self._out.reset()
        self._out.feed(data)
        row = self._take_last_out()
        if message is not None and row is not None:
            self._fill(row, message)

    @_guarded
    def ended(self, code: int, reason: str, was_clean: bool, exc: BaseException | None) -> None:
        how = "clean" if was_clean else "not clean"
        if exc is not None:
            how += f": {type(exc).__name__}: {exc}"
        self._add("", "end", 0, 0, how, code=code, reason=reason)

    # ------------------------------------------------------------------ records
    def _add(
        self,
        direction: str,
        kind: str,
        wire: int,
        size: int,
        data: str | bytes,
        fin: bool = True,
        rsv1: bool = False,
        code: int | None = None,
        reason: str = "",
    ) -> TrafficRecord:
        row = TrafficRecord(
            0, time.time(), self._label, direction, kind, wire, size, fin, rsv1, code, reason
        )
        row.data = data
        self._record(row)
        return row

    def _frame(
        self, direction: str, kind: str, wire: int, size: int, data: bytes, fin: bool, rsv1: bool
    ) -> None:
        if kind in _DATA:
            row = self._add(direction, kind, wire, size, data, fin, rsv1)
            if fin:
                # A message's last frame: its size after inflate comes with the message (only
                # needed when the frames were compressed or the message fragmented).
                complete = kind != "continuation" and not rsv1
                if direction == "out":
                    self._last_out = None if complete else row
                else:
                    self._awaiting.append(None if complete else row)
            return
        if kind == "close":
            code = _U16(data)[0] if len(data) >= 2 else 1005
            reason = data[2:].decode("utf-8", "replace")
            self._add(direction, kind, wire, size, b"", fin, rsv1, code, reason)
            return
        if kind == "http":
            self._add(direction, kind, wire, size, data.decode(), fin, rsv1)
            return
        row = self._add(direction, kind, wire, size, data, fin, rsv1)
        if kind == "ping" and direction == "out":
            self._pings[data] = time.monotonic()
        elif kind == "pong" and direction == "in":
            sent = self._pings.pop(data, None)
            row.rtt = None if sent is None else time.monotonic() - sent

    def _take_last_out(self) -> TrafficRecord | None:
        """The last data frame that ended a message in the bytes just sent, if it needs the
        message for its size and preview."""
        row, self._last_out = self._last_out, None
        return row

    def _fill(self, row: TrafficRecord, message: str | bytes) -> None:
        """The message's size after inflate, and the start of it for the preview."""
        if isinstance(message, str):
            row.size = len(message) if message.isascii() else len(message.encode())
        else:
            row.size = len(message)
        row.data = message[: self._chars]
        row.inflated = True
