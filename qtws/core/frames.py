"""RFC 6455 frame encoding and close-frame payloads.

Parsing of incoming frames lives in :mod:`qtws.core.protocol`, where it is fused with the
message state machine for speed; this module holds the constants and pure helpers it shares
with the encoder and with tests.
"""

from __future__ import annotations

import struct

from ..errors import ProtocolError
from .mask import apply_mask

__all__ = [
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "encode_close_payload",
    "encode_frame",
    "encode_header",
    "is_receivable_close_code",
    "is_sendable_close_code",
    "parse_close_payload",
]

# RFC 6455 section 5.2 / 11.8 opcodes.
OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
DATA_OPCODES = frozenset((OP_CONT, OP_TEXT, OP_BINARY))
CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))

_H16 = struct.Struct("!BBH")
_H64 = struct.Struct("!BBQ")

# Codes defined by RFC 6455 section 7.4.1 and the IANA "WebSocket Close Code Number Registry"
# that may appear in a close frame: 1004 is reserved, 1005/1006/1015 must never be sent.
_REGISTERED = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


def is_receivable_close_code(code: int) -> bool:
    """True if a close frame may carry ``code`` (RFC 6455 7.4.1/7.4.2, IANA registry):
    1000-1003, 1007-1014 and the 3000-4999 range for libraries and applications."""
    return code in _REGISTERED or 3000 <= code <= 4999


def is_sendable_close_code(code: int) -> bool:
    """True if this client may send ``code``; the same set as it accepts."""
    return is_receivable_close_code(code)


def encode_header(
    opcode: int, length: int, *, fin: bool = True, rsv1: bool = False, mask: bytes | None = None
) -> bytes:
    """The frame header (RFC 6455 5.2) for a payload of ``length`` bytes, with the masking key."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mbit = 0x80 if mask is not None else 0
    if length < 126:
        head = bytes((b0, mbit | length))
    elif length < 65536:
        head = _H16.pack(b0, mbit | 126, length)
    else:
        head = _H64.pack(b0, mbit | 127, length)
    return head + mask if mask is not None else head


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes | None = None,
) -> bytes:
    """One complete frame; the payload is masked with ``mask`` (4 bytes) when given."""
    head = encode_header(opcode, len(payload), fin=fin, rsv1=rsv1, mask=mask)
    if mask is not None:
        return head + apply_mask(payload, mask)
    return head + payload


def encode_close_payload(code: int | None = None, reason: str = "") -> bytes:
    """The payload of a close frame (RFC 6455 5.5.1): empty, or a 2-byte code and a reason."""
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason.encode()


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Code and reason of a received close frame; ``(1005, "")`` when it has no body.

    Raises :class:`~qtws.errors.ProtocolError` (1002) for a 1-byte body or a code that may not
    appear on the wire, and (1007) for a reason that is not UTF-8 (RFC 6455 5.5.1, 7.4).
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload", 1002)
    code = int.from_bytes(payload[:2], "big")
    if not is_receivable_close_code(code):
        raise ProtocolError(f"invalid close code {code}", 1002)
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError("close reason is not valid UTF-8", 1007) from None
    return code, reason
