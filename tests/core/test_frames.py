"""Frame encoding and close payloads (RFC 6455 5.2, 5.5.1, 5.7, 7.4)."""

from __future__ import annotations

import pytest

from qtws.core.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    encode_close_payload,
    encode_frame,
    encode_header,
    is_receivable_close_code,
    is_sendable_close_code,
    parse_close_payload,
)
from qtws.errors import ProtocolError

KEY = b"\x37\xfa\x21\x3d"


def test_rfc_examples_unmasked_and_masked() -> None:
    # RFC 6455 section 5.7
    assert encode_frame(OP_TEXT, b"Hello") == b"\x81\x05\x48\x65\x6c\x6c\x6f"
    assert encode_frame(OP_TEXT, b"Hello", mask=KEY) == (
        b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    )
    assert encode_frame(OP_TEXT, b"Hel", fin=False) == b"\x01\x03\x48\x65\x6c"
    assert encode_frame(OP_CONT, b"lo") == b"\x80\x02\x6c\x6f"
    assert encode_frame(OP_PING, b"Hello") == b"\x89\x05\x48\x65\x6c\x6c\x6f"
    assert encode_frame(OP_PONG, b"Hello", mask=KEY) == (
        b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    )
    assert encode_frame(OP_BINARY, bytes(256))[:4] == b"\x82\x7e\x01\x00"
    assert encode_frame(OP_BINARY, bytes(65536))[:10] == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


@pytest.mark.parametrize(
    ("length", "head"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f" + (65536).to_bytes(8, "big")),
    ],
)
def test_length_encodings(length: int, head: bytes) -> None:
    assert encode_header(OP_BINARY, length) == head
    masked = encode_header(OP_BINARY, length, mask=KEY)
    assert masked[1] & 0x80 and masked.endswith(KEY) and len(masked) == len(head) + 4


def test_rsv1_and_fin_bits() -> None:
    assert encode_header(OP_TEXT, 0, rsv1=True)[0] == 0xC1
    assert encode_header(OP_TEXT, 0, fin=False, rsv1=True)[0] == 0x41


def test_close_payloads() -> None:
    assert encode_close_payload() == b""
    assert encode_close_payload(1000) == b"\x03\xe8"
    assert encode_close_payload(1001, "bye") == b"\x03\xe9bye"
    assert parse_close_payload(b"") == (1005, "")
    assert parse_close_payload(b"\x03\xe8") == (1000, "")
    assert parse_close_payload(b"\x0f\xa0\xc3\xa9") == (4000, "é")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),
        (b"\x03\xed", 1002),
        (b"\x03\xee", 1002),
        (b"\x03\xf8", 1002),
        (b"\x03\xf7", 1002),
        (b"\x0b\xb7", 1002),
        (b"\x13\x88", 1002),
        (b"\x00\x00", 1002),
        (b"\x03\xe8\xff", 1007),
        (b"\x03\xe8\xed\xa0\x80", 1007),
    ],
)
def test_bad_close_payloads(payload: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close_payload(payload)
    assert info.value.code == code


def test_close_code_ranges() -> None:
    valid = {c for c in range(0, 6000) if is_receivable_close_code(c)}
    expected = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))
    assert valid == expected
    assert all(is_sendable_close_code(c) == (c in expected) for c in range(0, 6000))
    assert OP_CLOSE == 8
