"""The permessage-deflate extension, client side (RFC 7692).

:func:`offer_header` builds the client's offer, :func:`negotiate` validates the server's answer
(section 7.1) and returns a :class:`PerMessageDeflate` that compresses outgoing messages and
decompresses incoming frames.

Two zlib details matter:

* zlib refuses a raw-deflate *compression* window of 8 bits.  When the server limits the
  client to ``client_max_window_bits=8``, the compressor runs with 9 bits and the ``Z_RLE``
  strategy, which emits back-references of distance 1 only: valid for any window size.
  Decompression works with 8 bits, but a zlib-based server that asked for 8 compresses with 9,
  so the decompressor window is at least 9 bits (a larger window accepts all smaller ones).
* Decompression is bounded in size and in steps: ``decompressobj.decompress(data, max_length)``
  never produces more than ``max_size + 1`` bytes, so a small frame that would inflate to
  gigabytes raises :class:`~qtws.errors.PayloadTooBig` after allocating at most that much; and
  with a ``step`` it stops after that many bytes, keeping the rest of its input
  (:attr:`PerMessageDeflate.pending`), so a caller can spread one huge frame over many calls.
* A DEFLATE block with BFINAL set (RFC 7692 7.2.3.4) ends a zlib stream, but not the message:
  what follows it (more blocks in the same or a later frame, the next message under context
  takeover) is decoded by a fresh decompressor primed with the last window of output, which is
  kept for that purpose.  Bytes that are not valid DEFLATE data there fail with 1007; nothing
  is dropped silently.
"""

from __future__ import annotations

import collections
import zlib
from collections.abc import Sequence

from ..errors import NegotiationError, PayloadTooBig, ProtocolError

__all__ = ["CORRUPT_DATA_CODE", "NAME", "PerMessageDeflate", "negotiate", "offer_header"]

NAME = "permessage-deflate"
# Close code for compressed data zlib cannot inflate: the frames were well formed but their
# content is inconsistent with the negotiated extension (RFC 6455 section 7.4.1, 1007).
CORRUPT_DATA_CODE = 1007
_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 section 7.2.1: an empty stored block after a sync flush
_PARAMS = (
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
)


_MEM_LEVEL = 5


class PerMessageDeflate:
    """A negotiated permessage-deflate instance: compression of one connection's messages.

    ``client_*`` parameters govern what this client sends, ``server_*`` what it receives.
    """

    name = NAME

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
        compress_level: int = 6,
    ) -> None:
        for bits in (server_max_window_bits, client_max_window_bits):
            if not 8 <= bits <= 15:
                raise ValueError(f"window bits must be in 8..15, got {bits}")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_level = compress_level
        self._decoder: zlib._Decompress | None = None
        self._encoder: zlib._Compress | None = None
        self._in_message = False  # a message's first frames were decoded, its final one not yet
        self._encoding = False  # a message's first parts were encoded, its final one not yet
        self._input: bytes | None = None  # accepted by decode() but not inflated yet (a step)
        self._fed = False  # the current message has had compressed bytes
        # The most recent output, at least one window of it when there is that much: the
        # dictionary of the decompressor that continues after a BFINAL block.
        self._history: collections.deque[bytes] = collections.deque()
        self._history_size = 0
        self._window = 1 << max(server_max_window_bits, 9)  # see the module docstring

    @property
    def pending(self) -> bool:
        """True while input given to :meth:`decode` is not fully inflated (a ``step`` ended the
        call): call ``decode(b"", final, ...)`` again, with the same ``final``."""
        return self._input is not None

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits})"
        )

    def _new_encoder(self) -> zlib._Compress:
        # memLevel 5 (zlib's default is 8): a 4x smaller compressor state per connection and
        # ~10 % faster on small messages, for a negligible loss of ratio (as websockets does).
        if self.client_max_window_bits == 8:  # see the module docstring
            return zlib.compressobj(self.compress_level, zlib.DEFLATED, -9, _MEM_LEVEL, zlib.Z_RLE)
        return zlib.compressobj(
            self.compress_level, zlib.DEFLATED, -self.client_max_window_bits, _MEM_LEVEL
        )

    def _new_decoder(self, zdict: bytes = b"") -> zlib._Decompress:
        bits = max(self.server_max_window_bits, 9)  # see the module docstring
        if zdict:
            return zlib.decompressobj(-bits, zdict=zdict)
        return zlib.decompressobj(-bits)

    def encode(self, payload: bytes | bytearray | memoryview) -> bytes:
        """Compress one whole message (RFC 7692 section 7.2.1); the caller sets RSV1."""
        return self.encode_part(payload, True)

    def encode_part(self, payload: bytes | bytearray | memoryview, final: bool) -> bytes:
        """Compress the next part of a message sent in several frames, ``final`` on its last
        part (the output of the parts, concatenated, is the message's compressed data)."""
        if not self._encoding and (self._encoder is None or self.client_no_context_takeover):
            # Section 7.2.1: without context takeover every message starts a fresh LZ77 window.
            self._encoder = self._new_encoder()
        encoder = self._encoder
        assert encoder is not None
        self._encoding = not final
        if not final:
            return encoder.compress(payload)
        data = encoder.compress(payload) + encoder.flush(zlib.Z_SYNC_FLUSH)
        # A sync flush always ends with the empty stored block 00 00 ff ff: remove it.
        return data[:-4]

    def decode(
        self,
        payload: bytes | bytearray | memoryview,
        final: bool,
        max_size: int | None,
        step: int | None = None,
    ) -> bytes:
        """Decompress one frame of a compressed message.

        Call it for every frame of the message, in order, with ``final`` set on the last one
        and ``max_size`` the number of bytes the message may still grow by (``None``:
        unlimited).  With ``step``, at most ``step`` bytes are returned (``0``: the payload is
        only accepted); while :attr:`pending` is then true, call it again with an empty
        ``payload`` and the same ``final`` to go on.  Raises :class:`~qtws.errors.PayloadTooBig`
        when the output would exceed ``max_size`` (having inflated at most ``max_size + 1``
        bytes) and :class:`~qtws.errors.ProtocolError` with code :data:`CORRUPT_DATA_CODE` when
        the data is not valid deflate data.  After either error the instance is unusable.
        """
        data = self._input
        if data is None:
            if final and not payload and not self._fed:
                # A message without any DEFLATE block: nothing to inflate (the tail alone
                # would leave the decompressor inside a stored block, breaking the next one).
                self._in_message = False
                return b""
            self._fed = self._fed or bool(payload)
            if not self._in_message and (self._decoder is None or self.server_no_context_takeover):
                # Section 7.2.2: without context takeover every message starts a fresh window.
                self._decoder = self._new_decoder()
                self._history.clear()
                self._history_size = 0
            self._in_message = True
            data = bytes(payload) + _TAIL if final else bytes(payload)  # section 7.2.2
        limit = 0 if max_size is None else max_size + 1  # zlib: 0 is unlimited
        if step is not None and (not limit or step < limit):
            if step <= 0:
                self._input = data
                return b""
            limit = step
        decoder = self._decoder
        assert decoder is not None
        try:
            out = decoder.decompress(data, limit)
            if decoder.eof:
                out = self._after_bfinal(decoder, out, final, limit)
            else:
                rest = decoder.unconsumed_tail
                # Output that filled the step may hide more in zlib's state: ask once more.
                self._input = rest if rest or (limit and len(out) == limit) else None
                if out:
                    self._remember(out)
        except zlib.error as exc:
            raise ProtocolError(f"invalid compressed data: {exc}", CORRUPT_DATA_CODE) from None
        if max_size is not None and len(out) > max_size:
            raise PayloadTooBig(f"decompressed message exceeds {max_size} more bytes")
        if final and self._input is None:
            self._in_message = self._fed = False
        return out

    def _after_bfinal(
        self, decoder: zlib._Decompress, out: bytes, final: bool, limit: int
    ) -> bytes:
        """The zlib stream ended with a BFINAL block (section 7.2.3.4), not the message: the
        rest of the input, and all later input, goes to a fresh decompressor that shares the
        window.  Returns the output of the whole call."""
        parts = [out]
        size = len(out)
        self._input = None
        while decoder.eof:
            self._remember(parts[-1])
            rest = decoder.unused_data
            decoder = self._decoder = self._new_decoder(self._window_bytes())
            if not rest or (final and rest == _TAIL):
                break  # the input ended with that block (and the tail appended above)
            if limit and size >= limit:
                self._input = rest  # the step is used up
                break
            piece = decoder.decompress(rest, limit - size if limit else 0)
            parts.append(piece)
            size += len(piece)
            if not decoder.eof:
                self._remember(piece)
                tail = decoder.unconsumed_tail
                if tail or (limit and size == limit):
                    self._input = tail
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _remember(self, out: bytes) -> None:
        """Keep the newest output, as much as one window needs (no copy: references)."""
        history = self._history
        history.append(out)
        self._history_size += len(out)
        while self._history_size - len(history[0]) >= self._window:
            self._history_size -= len(history.popleft())

    def _window_bytes(self) -> bytes:
        need = self._window
        parts: list[bytes] = []
        for piece in reversed(self._history):
            if len(piece) >= need:
                parts.append(piece[len(piece) - need :])
                break
            parts.append(piece)
            need -= len(piece)
        return b"".join(reversed(parts))


def _window_bits(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"window bits must be an int in 8..15, got {value!r}")
    return value


def offer_header(
    *,
    client_max_window_bits: bool | int = True,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
) -> str:
    """The ``Sec-WebSocket-Extensions`` value offering permessage-deflate (RFC 7692 section 7.1).

    ``client_max_window_bits=True`` advertises that the client accepts a limit on its own
    window without proposing one (the server may then answer any value 8-15); an int proposes
    that limit; ``False`` leaves the parameter out.
    """
    parts = [NAME]
    if server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={_window_bits(server_max_window_bits)}")
    if client_max_window_bits is True:
        parts.append("client_max_window_bits")
    elif client_max_window_bits is not False:
        parts.append(f"client_max_window_bits={_window_bits(client_max_window_bits)}")
    return "; ".join(parts)


def _parse_bits(name: str, value: str | None) -> int:
    # Section 7.1.2.1/7.1.2.2: 1*DIGIT without leading zeros, in 8..15.
    if value is None or value not in {str(n) for n in range(8, 16)}:
        raise NegotiationError(f"invalid {name} value {value!r} from the server")
    return int(value)


def negotiate(
    params: Sequence[tuple[str, str | None]],
    *,
    client_max_window_bits: bool | int = True,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    compress_level: int = 6,
) -> PerMessageDeflate:
    """Validate the server's permessage-deflate response parameters against the offer.

    The keyword arguments must be the ones given to :func:`offer_header`.  Any parameter that
    RFC 7692 section 7.1 does not allow in this response raises
    :class:`~qtws.errors.NegotiationError`.
    """
    seen: dict[str, str | None] = {}
    for name, value in params:
        if name not in _PARAMS:
            raise NegotiationError(f"unknown permessage-deflate parameter {name!r}")
        if name in seen:  # section 7.1: a parameter must not appear twice
            raise NegotiationError(f"duplicate permessage-deflate parameter {name!r}")
        seen[name] = value

    for name in ("server_no_context_takeover", "client_no_context_takeover"):
        # Sections 7.1.1.1/7.1.1.2: these parameters have no value.
        if name in seen and seen[name] is not None:
            raise NegotiationError(f"{name} must not have a value, got {seen[name]!r}")

    # Section 7.1.2.1: the server must accept a proposed limit with the same or a smaller
    # value; without a proposal it may still limit its own window.
    server_bits = 15
    if "server_max_window_bits" in seen:
        server_bits = _parse_bits("server_max_window_bits", seen["server_max_window_bits"])
        if server_max_window_bits is not None and server_bits > server_max_window_bits:
            raise NegotiationError(
                f"server_max_window_bits={server_bits} exceeds the offered {server_max_window_bits}"
            )
    elif server_max_window_bits is not None:
        raise NegotiationError("server did not accept the offered server_max_window_bits")

    # Section 7.1.2.2: the server may only send client_max_window_bits if the client offered
    # it, and then with a value no larger than the client's proposal.
    client_bits = 15 if isinstance(client_max_window_bits, bool) else client_max_window_bits
    if "client_max_window_bits" in seen:
        if client_max_window_bits is False:
            raise NegotiationError("server sent client_max_window_bits, which was not offered")
        bits = _parse_bits("client_max_window_bits", seen["client_max_window_bits"])
        if bits > client_bits:
            raise NegotiationError(
                f"client_max_window_bits={bits} exceeds the offered {client_bits}"
            )
        client_bits = bits

    return PerMessageDeflate(
        # Section 7.1.1.1: the server may declare no context takeover even if not asked; if
        # the client asked, it may only have accepted by including it (or declined the offer).
        server_no_context_takeover=_check_requested(
            "server_no_context_takeover", server_no_context_takeover, seen
        ),
        # Section 7.1.1.2: the client honours its own request even if the server omits it.
        client_no_context_takeover=client_no_context_takeover
        or "client_no_context_takeover" in seen,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        compress_level=compress_level,
    )


def _check_requested(name: str, requested: bool, seen: dict[str, str | None]) -> bool:
    if requested and name not in seen:
        raise NegotiationError(f"server did not accept the offered {name}")
    return name in seen
