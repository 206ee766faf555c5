"""The sans-IO client state machine (RFC 6455 client side, RFC 7692 permessage-deflate).

How it works
------------
:class:`ClientConnection` turns bytes into events and method calls into bytes; it owns no socket
and no clock.  The driver feeds whatever the network delivers to :meth:`receive_data` (and
:meth:`receive_eof` at EOF), collects :meth:`events_received`, writes :meth:`data_to_send`, and
closes the TCP connection once :meth:`should_close_transport` says so.

* CONNECTING: the upgrade request is queued at construction.  Incoming bytes go to the h11
  based :class:`~qtws.core.handshake.ResponseParser`; bytes that follow the 101 response are
  the first frames and are parsed right away.
* OPEN: frames are parsed straight out of the received ``bytes``.  Only an incomplete frame
  header or an incomplete control frame (at most 14 + 125 bytes) is carried over to the next
  call; the payload of a data frame is consumed as it arrives (validated, inflated, appended to
  the message), so parsing cost is linear in the input and every limit is enforced before any
  payload is buffered.  Small complete unfragmented frames take a tight fast path.
* CLOSING: the client sent its close frame; it waits for the server's close frame and ignores
  data frames (RFC 6455 5.5.1).
* CLOSED: the closing handshake completed, the connection failed, or the TCP connection ended.

Sending: a message is framed at once, except that with permessage-deflate one over
``_COMPRESS_STEP`` bytes (and every message sent after it while it waits) is deflated in
steps: :meth:`pending_output` says how much waits and each :meth:`produce` call deflates one
step into one frame of a fragmented message, so a driver spreads the work over loop turns.
Control frames may go between those frames; ``send_close`` waits for the messages before it.

Events take effect in order.  A close frame or a protocol violation that follows events not
yet collected with :meth:`~ClientConnection.events_received` (a message, in the same read) is
held back: the connection stays OPEN, so what the application sends in reply to those events
is queued before the close frame (RFC 6455 processes frames in order).  ``receive_data()``
then stops and :meth:`~ClientConnection.has_pending_input` is true; the driver hands out the
events and calls ``receive_data(b"")``, which applies the close or the failure.  A violation
with nothing before it fails at once.  Automatic pongs are queued as pings arrive.

Work per call is bounded: ``receive_data(data, max_inflate=n)`` inflates at most ``n`` bytes
of permessage-deflate output and stops there the same way (the rest of the input is kept), so
a driver spreads a zip bomb or a flood of compressed messages over loop turns and pauses in
between when the application's queue is full.  A fragmented message is assembled in parts of
at least about 1 KiB, so its peak memory stays near twice its size however it is fragmented.

The peer's mistakes never raise: they fail the connection (RFC 6455 7.1.7), queue a close frame
with the right code when one can still be sent, and report :class:`~qtws.core.events
.ConnectionFailed`.  Only local misuse raises.

This module is over 400 lines (one class) because receiving, sending and closing share
one state machine: the close and failure rules (RFC 6455 5.5.1, 7.1.7) touch all three.
"""

from __future__ import annotations

import collections
import enum
import os
import struct
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import (
    ConnectionClosed,
    HandshakeError,
    InvalidState,
    InvalidStatus,
    PayloadTooBig,
    ProtocolError,
)
from .deflate import PerMessageDeflate, negotiate, offer_header
from .events import (
    BinaryMessage,
    CloseReceived,
    ConnectionFailed,
    Event,
    HandshakeComplete,
    Ping,
    Pong,
    Redirect,
    TextMessage,
)
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    encode_close_payload,
    encode_header,
    is_sendable_close_code,
    parse_close_payload,
)
from .handshake import HandshakeResponse, ResponseParser, build_request, generate_key
from .mask import NUMPY_THRESHOLD, apply_mask
from .uri import WebSocketURI, parse_uri
from .utf8 import Utf8Decoder

__all__ = ["ClientConnection", "State"]

_U16 = struct.Struct("!H").unpack_from
_U64 = struct.Struct("!Q").unpack_from
_BYTES_LIKE = (bytes, bytearray, memoryview)
_FROM = int.from_bytes
# Frames below this payload size are built as one object (big-integer masking, 7/16-bit length).
_FUSED_LIMIT = min(NUMPY_THRESHOLD, 1 << 16)


_MASK_POOL_SIZE = 4096  # bytes of os.urandom per refill: 1024 masks
# Outgoing messages shorter than this are sent uncompressed (RFC 7692 lets each message
# choose): deflating them saves a few bytes at best, costs more CPU than the frame, and a
# connection that only sends short messages never allocates a compressor (~80 KiB; creating
# one per connection also fragmented a script's heap: +0.2 KiB RSS per open/close cycle).
_COMPRESS_MIN_SIZE = 128
# A message deflated in more than one step: at most this many input bytes per produce(), so
# compressing 16 MiB (~1 s of zlib for incompressible data) never holds the driver's thread
# for more than ~10 ms at a time; each step's output goes out as one frame of the message.
_COMPRESS_STEP = 128 * 1024
# A fragmented message's parts under _SMALL_PART bytes are joined by _COALESCE: one object per
# 2-byte fragment would cost ~40 times the payload.
_SMALL_PART = 1024
_COALESCE = 512


class State(enum.IntEnum):
    """Connection state, numbered like the browser ``readyState``."""

    CONNECTING = 0  #: the opening handshake is in progress
    OPEN = 1  #: messages flow both ways
    CLOSING = 2  #: the client sent its close frame and waits for the server's
    CLOSED = 3  #: finished: closing handshake done, failed, or TCP ended


def _truncate_reason(text: str) -> str:
    """``text`` cut to the 123 UTF-8 bytes a close frame can carry (RFC 6455 5.5)."""
    return text.encode()[:123].decode(errors="ignore")


class ClientConnection:
    """A WebSocket client connection as a state machine over bytes (see the module docstring).

    ``max_message_size``/``max_frame_size`` bound a message (after decompression) and a single
    frame's payload; ``None`` disables the limit.  ``mask_source(n)`` returns ``n`` random bytes
    for the ``Sec-WebSocket-Key`` and every frame's masking key.
    """

    def __init__(
        self,
        uri: WebSocketURI | str,
        *,
        subprotocols: Sequence[str] = (),
        headers: Sequence[tuple[str, str]] = (),
        origin: str | None = None,
        user_agent: str | None = None,
        compression: bool = True,
        max_message_size: int | None = 16 * 2**20,
        max_frame_size: int | None = None,
        max_header_size: int = 64 * 1024,
        mask_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.uri: WebSocketURI = parse_uri(uri) if isinstance(uri, str) else uri
        self.state = State.CONNECTING
        self.key: str = generate_key(mask_source)
        self.subprotocol: str | None = None
        self.extensions: tuple[str, ...] = ()
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.was_clean: bool = False
        self.failure: Exception | None = None

        self._mask_source = mask_source
        # With the default source, masks are cut from a pool of os.urandom bytes: as
        # unpredictable as one call per frame (RFC 6455 10.3), without a syscall per frame.
        self._mask_pool = b""
        self._mask_pos = 0
        self._pooled = mask_source is os.urandom
        self._max_message = max_message_size
        self._max_frame = max_frame_size
        # The fast path checks one combined limit; it needs no checks below 126 bytes only
        # if no limit is below 125.
        limits = [x for x in (max_message_size, max_frame_size) if x is not None]
        self._fast_limit = min(limits, default=1 << 63)
        self._fast = self._fast_limit >= 125
        self._parser: ResponseParser | None = ResponseParser(
            self.uri,
            self.key,
            tuple(subprotocols),
            max_header_size,
            extensions=(PerMessageDeflate.name,) if compression else (),
        )
        self._out: list[bytes] = [
            build_request(
                self.uri,
                self.key,
                subprotocols=subprotocols,
                extensions=offer_header() if compression else None,
                headers=headers,
                origin=origin,
                user_agent=user_agent,
            )
        ]
        self._events: list[Event] = []
        self._tail = b""  # an incomplete frame header or control frame
        self._deflate: PerMessageDeflate | None = None
        self._close_sent = False
        self._expect_close = False
        self._must_close = False
        # Messages waiting to be framed behind one deflated in steps: [opcode, data, offset].
        self._jobs: collections.deque[list[Any]] = collections.deque()
        self._job_bytes = 0  # their payload bytes not framed yet
        self._close_after_jobs: bytes | None = None  # send_close() made while jobs wait

        # The data message being received (RFC 6455 5.4); _msg_opcode 0: none.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._msg_parts: list[bytes] = []
        self._text_parts: list[str] = []
        self._msg_small = 0  # small parts at the end of _msg_parts/_text_parts
        self._utf8: Utf8Decoder | None = None
        # receive_data() stopped early (see has_pending_input): a held close or failure, or
        # the rest of an inflate, whose frame_end is _resume_end.
        self._stalled = False
        self._held: ProtocolError | tuple[int, str] | None = None
        self._resume_end: bool | None = None
        self._inflate_left: int | None = None  # inflate budget left in this receive_data()
        self._may_hold = True
        # The data frame whose payload is being consumed.
        self._frame_remaining = 0
        self._frame_fin = False

    # -- driver interface ---------------------------------------------------------------------

    def receive_data(
        self, data: bytes | bytearray | memoryview, max_inflate: int | None = None
    ) -> None:
        """Feed bytes received from the network; never raises for anything the peer sends.

        ``max_inflate`` bounds the bytes of permessage-deflate output this call produces
        (``None``: unbounded).  The call may stop before the end of its input: when that
        budget is used up, or at a close frame or violation that must wait for the events
        before it (see the module docstring).  :meth:`has_pending_input` is then true:
        collect the events, then call ``receive_data(b"")`` (or with more data) to go on.
        """
        if self.state is State.CLOSED:
            return
        if type(data) is not bytes:
            data = bytes(data)
        self._inflate_left = max_inflate
        if self._parser is not None:
            if not data:
                return
            self._receive_handshake(data)
        elif self._stalled:
            self._resume(data)
        elif data:
            self._receive_frames(data)

    def handshake_rejection(self) -> InvalidStatus | None:
        """While CONNECTING: the server's final non-101 answer if its status line and headers
        arrived but its body did not end (a server that keeps the connection open), with the
        body received so far; else ``None``.  A driver whose open timeout expires reports
        this instead of the timeout."""
        return self._parser.rejection() if self._parser is not None else None

    def has_pending_input(self) -> bool:
        """True when :meth:`receive_data` stopped with input left to process: call it again
        (``b""`` is enough) once the events received so far are handled."""
        return self._stalled

    def receive_eof(self) -> None:
        """The peer closed the TCP connection.  Unless the closing handshake completed before,
        this is an abnormal closure (1006) and reported as :class:`ConnectionFailed`."""
        if self.state is State.CLOSED:
            return
        if self._stalled:
            # What was received before the EOF takes effect first, all of it.
            self._inflate_left = None
            self._may_hold = False
            self._resume(b"")
            self._may_hold = True
            if self._must_close:  # a held close or failure took effect
                return
        if self._parser is not None:
            try:
                self._parser.feed_eof()  # always raises: EOF before a complete response
            except HandshakeError as error:
                self._fail_handshake(error)
            return
        exc = ConnectionClosed(1006, "connection closed without a closing handshake")
        self._finish(1006, "", clean=False, failure=exc)
        self._events.append(ConnectionFailed(exc, 1006))

    def events_received(self) -> list[Event]:
        """The events produced since the last call (and forget them)."""
        events = self._events
        self._events = []
        return events

    def data_to_send(self) -> bytes:
        """All bytes queued for the network since the last call (``b""`` when none)."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def pending_output(self) -> int:
        """Payload bytes of messages accepted by ``send_*`` but not framed yet (they wait
        behind a large message being deflated in steps): call :meth:`produce` until 0."""
        return self._job_bytes

    def produce(self) -> bool:
        """Frame the next part of the oldest waiting message, deflating at most about
        ``_COMPRESS_STEP`` bytes of it (a short message is framed whole); the frames go to
        :meth:`data_to_send`.  True when that message is now completely queued.  Control
        frames (pings, pongs, a close that fails the connection) may come between a message's
        frames, as RFC 6455 5.4 allows."""
        if not self._jobs:
            return False
        job = self._jobs[0]
        opcode, data, pos = job
        deflate = self._deflate
        if deflate is None or len(data) < _COMPRESS_MIN_SIZE:
            self._jobs.popleft()
            self._job_bytes -= len(data)
            self._send_now(opcode, data)
            done = True
        else:
            end = min(len(data), pos + _COMPRESS_STEP)
            final = end == len(data)
            part = deflate.encode_part(data[pos:end], final)
            # RFC 7692 6.1: RSV1 on the first frame only; the rest are continuations.
            self._queue_frame(opcode if pos == 0 else OP_CONT, part, pos == 0, fin=final)
            self._job_bytes -= end - pos
            job[2] = end
            if final:
                self._jobs.popleft()
            done = final
        if not self._jobs and self._close_after_jobs is not None:
            payload, self._close_after_jobs = self._close_after_jobs, None
            self._queue_close(payload)
        return done

    def close_expected(self) -> bool:
        """True once the client expects the TCP connection to end (closing handshake started
        or the connection failed): the driver arms its close timeout then."""
        return self._expect_close

    def should_close_transport(self) -> bool:
        """True when the driver must close TCP after writing :meth:`data_to_send` (the
        connection failed, or the closing handshake is done)."""
        return self._must_close

    # -- sending ------------------------------------------------------------------------------

    def send_text(self, data: str) -> None:
        """Queue a text message."""
        if not isinstance(data, str):
            raise TypeError(f"send_text() needs a str, not {type(data).__name__}")
        if self.state is not State.OPEN or self._close_after_jobs is not None:
            self._check_open()  # raises
        self._send_message(OP_TEXT, data.encode())

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message."""
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError(f"send_binary() needs bytes-like data, not {type(data).__name__}")
        if self.state is not State.OPEN or self._close_after_jobs is not None:
            self._check_open()  # raises
        self._send_message(OP_BINARY, data)

    def send_ping(self, payload: bytes | bytearray | memoryview = b"") -> None:
        """Queue a ping (payload at most 125 bytes, RFC 6455 5.5)."""
        self._send_control(OP_PING, payload)

    def send_pong(self, payload: bytes | bytearray | memoryview = b"") -> None:
        """Queue an unsolicited pong (payload at most 125 bytes, RFC 6455 5.5.3)."""
        self._send_control(OP_PONG, payload)

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (RFC 6455 7.1.2).  ``ValueError`` for a code this client
        may not send (RFC 6455 7.4) or a reason over 123 UTF-8 bytes."""
        payload = self._close_payload(code, reason)
        self._check_open()
        if self._jobs:
            # The messages sent before go first; sending more is refused from now on, while
            # receiving goes on normally until the close frame is actually queued.
            self._close_after_jobs = payload
            return
        self._queue_close(payload)

    def _queue_close(self, payload: bytes) -> None:
        self._queue_frame(OP_CLOSE, payload)
        self._close_sent = True
        self._expect_close = True
        self.state = State.CLOSING

    def fail(self, code: int = 1006, reason: str = "", exc: Exception | None = None) -> None:
        """Fail the connection for a local reason (a timeout, the application...).  A close
        frame with ``code`` is queued if the connection is OPEN and ``code`` is not 1006; a
        longer reason is cut to the 123 bytes a close frame carries.  ``ValueError`` for a code
        that may not be sent (see :meth:`send_close`)."""
        if self.state is State.CLOSED:
            return
        if exc is None:
            exc = ConnectionClosed(code, reason)
        sent = 1006
        if code != 1006:
            payload = self._close_payload(code, _truncate_reason(reason))
            if self.state is State.OPEN:
                self._queue_frame(OP_CLOSE, payload)
                sent = code
        # The reason is kept even when it could not be sent: it says why, locally.
        self._finish(sent, reason, clean=False, failure=exc)
        self._events.append(ConnectionFailed(exc, sent))

    # -- internals: handshake -----------------------------------------------------------------

    def _receive_handshake(self, data: bytes) -> None:
        parser = self._parser
        assert parser is not None
        try:
            response = parser.feed(data)
            if response is None:
                return
            self._accept(response)
        except HandshakeError as exc:
            self._fail_handshake(exc)
            return
        self._parser = None
        self.state = State.OPEN
        self._events.append(HandshakeComplete(self.subprotocol, self.extensions, response.headers))
        if parser.leftover:
            self._receive_frames(parser.leftover)

    def _accept(self, response: HandshakeResponse) -> None:
        """Apply the negotiated subprotocol and extensions (RFC 6455 4.1, 9.1; RFC 7692 7.1)."""
        # The parser already rejected extensions that were not offered or chosen twice.
        deflate: PerMessageDeflate | None = None
        for _name, params in response.extensions:
            deflate = negotiate(params)
        self._deflate = deflate
        self.subprotocol = response.subprotocol
        self.extensions = (PerMessageDeflate.name,) if deflate is not None else ()

    def _fail_handshake(self, exc: HandshakeError) -> None:
        # No close frame can be sent before the upgrade: the code is 1006 (RFC 6455 7.1.7).
        parser = self._parser
        self._parser = None
        if isinstance(exc, InvalidStatus) and parser is not None:
            location = parser.redirect_location(exc)
            if location is not None:
                self._events.append(Redirect(exc.status, location, exc.headers))
        self._finish(1006, "", clean=False, failure=exc)
        self._events.append(ConnectionFailed(exc, 1006))

    # -- internals: receiving frames ----------------------------------------------------------

    def _resume(self, data: bytes) -> None:
        """Go on where receive_data() stopped, then parse ``data``."""
        held = self._held
        if held is not None:
            # Everything after a close or a failure is ignored (RFC 6455 5.5.1, 7.1.7).
            if self._events and self._may_hold:
                return  # the events before it are still not collected
            self._stalled = False
            self._held = None
            if isinstance(held, ProtocolError):
                self._fail(held)
            else:
                self._close_received(*held)
            return
        self._stalled = False
        frame_end = self._resume_end
        assert frame_end is not None  # stalled: a held close or failure, or an inflate
        self._resume_end = None
        if not self._data_chunk(b"", frame_end):
            if self._stalled:
                self._tail += data
            return
        self._receive_frames(data)

    def _receive_frames(self, data: bytes) -> None:
        """Parse frames out of ``self._tail + data`` (RFC 6455 5.2)."""
        if self._tail:
            data = self._tail + data
            self._tail = b""
        end = len(data)
        pos = 0
        events = self._events
        fast = self._fast and not self._close_sent
        while pos < end:
            remaining = self._frame_remaining
            if remaining:
                # Payload of the current data frame: consume what is there.
                stop = pos + remaining if remaining <= end - pos else end
                self._frame_remaining = remaining - (stop - pos)
                if not self._data_chunk(data[pos:stop], self._frame_remaining == 0):
                    if self._stalled:
                        self._tail = data[stop:]
                    return
                pos = stop
                continue
            if fast and not self._msg_opcode:
                # Fast path: complete, unfragmented, uncompressed text/binary frames with a
                # 7- or 16-bit length within the limits.
                while pos + 1 < end:
                    b0 = data[pos]
                    length = data[pos + 1]
                    if b0 != 0x81 and b0 != 0x82:
                        break
                    start = pos + 2
                    if length > 125:
                        if length != 126 or pos + 4 > end:
                            break
                        length = (data[start] << 8) | data[start + 1]
                        if length > self._fast_limit:
                            break
                        start += 2
                    stop = start + length
                    if stop > end:
                        break
                    if b0 == 0x82:
                        events.append(BinaryMessage(data[start:stop]))
                    else:
                        try:
                            events.append(TextMessage(data[start:stop].decode()))
                        except UnicodeDecodeError:
                            self._fail(ProtocolError("invalid UTF-8 in a text message", 1007))
                            return
                    pos = stop
                if pos >= end:
                    break
            pos = self._frame_header(data, pos, end)
            if pos < 0:
                return

    def _frame_header(self, data: bytes, pos: int, end: int) -> int:
        """Handle the frame starting at ``pos``.  Returns the position after what was consumed,
        ``end`` after keeping an incomplete frame in ``_tail``, or -1 when processing stops."""
        avail = end - pos
        if avail < 2:
            self._tail = data[pos:]
            return end
        b0 = data[pos]
        b1 = data[pos + 1]
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        rsv = b0 & 0x70
        length = b1 & 0x7F
        if b1 & 0x80:
            return self._fail(ProtocolError("the server sent a masked frame (RFC 6455 5.1)"))
        if opcode & 0x08:
            # Control frame (RFC 6455 5.5).
            if opcode > OP_PONG:
                return self._fail(ProtocolError(f"reserved opcode {opcode:#x}"))
            if rsv:
                # RFC 6455 5.2 / RFC 7692 6: no extension defines RSV bits on control frames.
                return self._fail(ProtocolError("RSV bits set on a control frame"))
            if not fin:
                return self._fail(ProtocolError("fragmented control frame"))
            if length > 125:
                return self._fail(ProtocolError("control frame payload over 125 bytes"))
            stop = pos + 2 + length
            if stop > end:
                self._tail = data[pos:]
                return end
            return self._control(opcode, data[pos + 2 : stop], stop)
        # Data frame.
        if opcode > OP_BINARY:
            return self._fail(ProtocolError(f"reserved opcode {opcode:#x}"))
        if rsv & 0x30:
            return self._fail(ProtocolError("RSV2/RSV3 set without a negotiated extension"))
        if opcode:
            if self._msg_opcode:
                return self._fail(ProtocolError("new data frame inside a fragmented message"))
            if rsv and self._deflate is None:
                return self._fail(ProtocolError("RSV1 set without a negotiated extension"))
            compressed = bool(rsv)
        else:
            if not self._msg_opcode:
                return self._fail(ProtocolError("continuation frame without a message to continue"))
            if rsv:
                # RFC 7692 6.1: RSV1 marks only the first frame of a compressed message.
                return self._fail(ProtocolError("RSV1 set on a continuation frame"))
            compressed = self._msg_compressed
        hlen = 2
        if length == 126:
            if avail < 4:
                self._tail = data[pos:]
                return end
            length = _U16(data, pos + 2)[0]
            hlen = 4
        elif length == 127:
            if avail < 10:
                self._tail = data[pos:]
                return end
            length = _U64(data, pos + 2)[0]
            hlen = 10
            if length >> 63:
                return self._fail(ProtocolError("64-bit length with the most significant bit set"))
        if not self._close_sent:
            # Limits are enforced on the header, before any payload is buffered.
            if self._max_frame is not None and length > self._max_frame:
                return self._fail(
                    PayloadTooBig(
                        f"frame of {length} bytes exceeds max_frame_size ({self._max_frame} bytes)"
                    )
                )
            if (
                not compressed
                and self._max_message is not None
                and (0 if opcode else self._msg_size) + length > self._max_message
            ):
                return self._fail(PayloadTooBig(self._too_big()))
        if opcode:
            self._msg_opcode = opcode
            self._msg_compressed = compressed
            self._msg_size = 0
            self._msg_small = 0
            self._utf8 = None  # created on the first chunk that does not end the message
        self._frame_fin = bool(fin)
        self._frame_remaining = length
        pos += hlen
        if not length and not self._data_chunk(b"", True):
            if self._stalled:
                self._tail = data[pos:]
            return -1
        return pos

    def _too_big(self, how: str = "") -> str:
        return f"message exceeds max_message_size ({self._max_message} bytes){how}"

    def _data_chunk(self, chunk: bytes, frame_end: bool) -> bool:
        """Consume part of a data frame's payload.  False when processing stops: the
        connection failed, or this call's inflate budget is used up (``_stalled``)."""
        last = frame_end and self._frame_fin
        if self._close_sent:
            # RFC 6455 5.5.1 / issue: once closing, data frames are not processed.
            if last:
                self._msg_opcode = 0
            return True
        if self._msg_compressed:
            deflate = self._deflate
            assert deflate is not None
            budget = None if self._max_message is None else self._max_message - self._msg_size
            step = self._inflate_left
            try:
                chunk = deflate.decode(chunk, last, budget, step)
            except PayloadTooBig:
                self._fail(PayloadTooBig(self._too_big(" after inflating")))
                return False
            except ProtocolError as exc:
                self._fail(exc)
                return False
            if step is not None:
                self._inflate_left = step - len(chunk)
            if deflate.pending:
                # The rest of this chunk is inflated by the next receive_data().
                self._stalled = True
                self._resume_end = frame_end
                last = False
        self._msg_size += len(chunk)
        if self._msg_opcode == OP_TEXT:
            utf8 = self._utf8
            try:
                if utf8 is None and last:
                    # The whole message is in this chunk: one strict decode is enough.
                    text = chunk.decode()
                else:
                    if utf8 is None:
                        utf8 = self._utf8 = Utf8Decoder()
                    text = utf8.decode(chunk, last)
            except UnicodeDecodeError:
                # RFC 6455 8.1: fail as soon as the bytes cannot be valid UTF-8.
                self._fail(ProtocolError("invalid UTF-8 in a text message", 1007))
                return False
            parts = self._text_parts
            if text:
                parts.append(text)
                if len(text) < _SMALL_PART:
                    self._small_part(parts, "")
                else:
                    self._msg_small = 0
            if last:
                self._events.append(TextMessage(parts[0] if len(parts) == 1 else "".join(parts)))
                self._text_parts = []
                self._utf8 = None
                self._msg_opcode = 0
        else:
            blobs = self._msg_parts
            if chunk:
                blobs.append(chunk)
                if len(chunk) < _SMALL_PART:
                    self._small_part(blobs, b"")
                else:
                    self._msg_small = 0
            if last:
                self._events.append(BinaryMessage(b"".join(blobs)))
                self._msg_parts = []
                self._msg_opcode = 0
        return not self._stalled

    def _small_part(self, parts: list[Any], sep: str | bytes) -> None:
        """Count a small part just appended; join the last _COALESCE small ones into one."""
        self._msg_small += 1
        if self._msg_small == _COALESCE:
            parts[-_COALESCE:] = [sep.join(parts[-_COALESCE:])]
            self._msg_small = 0

    def _control(self, opcode: int, payload: bytes, stop: int) -> int:
        if opcode == OP_PING:
            self._events.append(Ping(payload))
            if not self._close_sent:
                self._queue_frame(OP_PONG, payload)  # RFC 6455 5.5.2
            return stop
        if opcode == OP_PONG:
            self._events.append(Pong(payload))
            return stop
        try:
            code, reason = parse_close_payload(payload)
        except ProtocolError as exc:
            return self._fail(exc)
        if self._events and self._may_hold:
            # Takes effect once the events before it are collected (module docstring).
            self._held = (code, reason)
            self._stalled = True
            return -1
        self._close_received(code, reason)
        return -1

    def _close_received(self, code: int, reason: str) -> None:
        self._events.append(CloseReceived(code, reason))
        if not self._close_sent:
            # RFC 6455 5.5.1: answer with a close frame, echoing the status code.
            self._queue_frame(OP_CLOSE, encode_close_payload(None if code == 1005 else code))
            self._close_sent = True
        # RFC 6455 5.5.1: nothing follows a close frame; the closing handshake is complete.
        self._finish(code, reason, clean=True, failure=None)

    def _fail(self, exc: ProtocolError) -> int:
        """Fail the connection for the peer's mistake (RFC 6455 7.1.7); returns -1.  Held
        back while events before it wait to be collected (module docstring)."""
        if self._events and self._may_hold:
            self._held = exc
            self._stalled = True
            return -1
        if self._close_sent:
            code, reason = 1006, ""
        else:
            code, reason = exc.code, _truncate_reason(str(exc))
            self._queue_frame(OP_CLOSE, encode_close_payload(code, reason))
        self._finish(code, reason, clean=False, failure=exc)
        self._events.append(ConnectionFailed(exc, code))
        return -1

    def _finish(self, code: int, reason: str, *, clean: bool, failure: Exception | None) -> None:
        self._close_sent = True
        self.state = State.CLOSED
        self.close_code = code
        self.close_reason = reason
        self.was_clean = clean
        self.failure = failure
        self._expect_close = True
        self._must_close = True
        self._tail = b""
        self._msg_parts = []
        self._text_parts = []
        # Nothing is sent after a close frame: messages not framed yet are dropped here (the
        # driver reports them as unsent).
        self._jobs.clear()
        self._job_bytes = 0
        self._close_after_jobs = None
        self._stalled = False
        self._held = None
        self._resume_end = None

    # -- internals: sending -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send: the connection is {self.state.name}")
        if self._close_after_jobs is not None:
            raise InvalidState("cannot send: the connection is closing")

    @staticmethod
    def _close_payload(code: int, reason: str) -> bytes:
        if not isinstance(code, int) or not isinstance(reason, str):
            raise TypeError("close code must be an int and reason a str")
        if not is_sendable_close_code(code):
            raise ValueError(f"close code {code} may not be sent (RFC 6455 7.4)")
        payload = encode_close_payload(code, reason)
        if len(payload) > 125:
            raise ValueError("close reason is longer than 123 UTF-8 bytes")
        return payload

    def _send_control(self, opcode: int, payload: bytes | bytearray | memoryview) -> None:
        if not isinstance(payload, _BYTES_LIKE):
            raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}")
        if len(payload) > 125:
            raise ValueError("control frame payload over 125 bytes (RFC 6455 5.5)")
        self._check_open()
        self._queue_frame(opcode, payload)

    def _send_message(self, opcode: int, payload: bytes | bytearray | memoryview) -> None:
        if self._jobs or (self._deflate is not None and len(payload) > _COMPRESS_STEP):
            data = bytes(payload)  # the caller may reuse a bytearray once send_* returned
            self._jobs.append([opcode, data, 0])
            self._job_bytes += len(data)
            return
        self._send_now(opcode, payload)

    def _send_now(self, opcode: int, payload: bytes | bytearray | memoryview) -> None:
        rsv1 = False
        if self._deflate is not None and len(payload) >= _COMPRESS_MIN_SIZE:
            payload = self._deflate.encode(bytes(payload))
            rsv1 = True  # RFC 7692 6: RSV1 on the (only) frame of a compressed message
        self._queue_frame(opcode, payload, rsv1)

    def _queue_frame(
        self,
        opcode: int,
        payload: bytes | bytearray | memoryview,
        rsv1: bool = False,
        *,
        fin: bool = True,
    ) -> None:
        # RFC 6455 5.3: every client frame is masked with a fresh, unpredictable key.
        if self._pooled:
            pos = self._mask_pos
            if pos >= len(self._mask_pool):
                self._mask_pool = os.urandom(_MASK_POOL_SIZE)
                pos = 0
            mask = self._mask_pool[pos : pos + 4]
            self._mask_pos = pos + 4
        else:
            mask = self._mask_source(4)
        n = len(payload)
        if n < _FUSED_LIMIT and type(payload) is bytes and len(mask) == 4:
            # The common small frame as one object: header, key and payload XORed with the
            # key repeated (one big-integer XOR), without the general path's calls.
            key = mask * (n >> 2) + mask[: n & 3]
            masked = (_FROM(payload, "little") ^ _FROM(key, "little")).to_bytes(n, "little")
            b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
            head = bytes((b0, 0x80 | n) if n < 126 else (b0, 0xFE, n >> 8, n & 0xFF))
            self._out.append(head + mask + masked)
            return
        self._out.append(encode_header(opcode, n, fin=fin, rsv1=rsv1, mask=mask))
        if payload:
            self._out.append(apply_mask(payload, mask))
