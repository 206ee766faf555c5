"""Tests of permessage-deflate (RFC 7692): offer, negotiation, compression, bounded inflation."""

from __future__ import annotations

import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qtws.core.deflate import CORRUPT_DATA_CODE, PerMessageDeflate, negotiate, offer_header
from qtws.errors import NegotiationError, PayloadTooBig, ProtocolError

HELLO = bytes.fromhex("f248cdc9c90700")  # RFC 7692 section 7.2.3.1


def decode_message(
    ext: PerMessageDeflate, frames: list[bytes], max_size: int | None = None
) -> bytes:
    """Decode one message split into ``frames``, passing the remaining allowance each time."""
    out = b""
    for i, frame in enumerate(frames):
        allowance = None if max_size is None else max_size - len(out)
        out += ext.decode(frame, i == len(frames) - 1, allowance)
    return out


# -- RFC 7692 section 7.2.3 examples ---------------------------------------------------------------


def test_rfc_hello_one_frame() -> None:  # 7.2.3.1
    assert PerMessageDeflate().encode(b"Hello") == HELLO
    assert PerMessageDeflate().decode(HELLO, True, None) == b"Hello"


def test_rfc_hello_two_frames() -> None:  # 7.2.3.1, fragmented
    ext = PerMessageDeflate()
    assert decode_message(ext, [bytes.fromhex("f248cd"), bytes.fromhex("c9c90700")]) == b"Hello"


def test_rfc_sharing_the_window() -> None:  # 7.2.3.2
    second = bytes.fromhex("f200110000")
    sender = PerMessageDeflate()
    assert sender.encode(b"Hello") == HELLO
    assert sender.encode(b"Hello") == second
    receiver = PerMessageDeflate()
    assert receiver.decode(HELLO, True, None) == b"Hello"
    assert receiver.decode(second, True, None) == b"Hello"


def test_rfc_stored_block() -> None:  # 7.2.3.3
    payload = bytes.fromhex("000500faff48656c6c6f00")
    assert PerMessageDeflate().decode(payload, True, None) == b"Hello"


def test_rfc_bfinal_block() -> None:  # 7.2.3.4
    payload = bytes.fromhex("f348cdc9c90700" + "00")
    ext = PerMessageDeflate()
    assert ext.decode(payload, True, None) == b"Hello"
    # The stream ended; the next message still decodes and may refer back to "Hello".
    compressor = zlib.compressobj(wbits=-15, zdict=b"Hello")
    second = compressor.compress(b"Hello!") + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert ext.decode(second[:-4], True, None) == b"Hello!"


def test_rfc_two_blocks() -> None:  # 7.2.3.5
    payload = bytes.fromhex("f24805000000ffffcac9c90700")
    assert PerMessageDeflate().decode(payload, True, None) == b"Hello"


def test_rfc_empty_message() -> None:  # 7.2.3.6
    assert PerMessageDeflate().encode(b"") == b"\x00"
    assert PerMessageDeflate().decode(b"\x00", True, 0) == b""
    ext = PerMessageDeflate()
    assert ext.decode(b"", True, 0) == b""
    assert ext.decode(b"", False, 0) + ext.decode(b"", True, 0) == b""
    assert ext.decode(HELLO, True, None) == b"Hello"  # an empty payload left no trace


# -- context takeover ------------------------------------------------------------------------------


def test_client_no_context_takeover_restarts_every_message() -> None:
    ext = PerMessageDeflate(client_no_context_takeover=True)
    assert [ext.encode(b"Hello") for _ in range(3)] == [HELLO] * 3


def test_server_no_context_takeover_restarts_every_message() -> None:
    ext = PerMessageDeflate(server_no_context_takeover=True)
    assert ext.decode(HELLO, True, None) == b"Hello"
    assert ext.decode(HELLO, True, None) == b"Hello"
    # A message that refers to the previous one's window cannot be decoded any more.
    with pytest.raises(ProtocolError) as info:
        ext.decode(bytes.fromhex("f200110000"), True, None)
    assert info.value.code == CORRUPT_DATA_CODE == 1007


def test_no_context_takeover_keeps_the_window_within_a_message() -> None:
    ext = PerMessageDeflate(server_no_context_takeover=True)
    compressor = zlib.compressobj(wbits=-15)
    data = (compressor.compress(b"abcabcabc" * 100) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    frames = [data[i : i + 3] for i in range(0, len(data), 3)]
    assert decode_message(ext, frames) == b"abcabcabc" * 100
    assert decode_message(ext, [HELLO]) == b"Hello"


# -- round trips -----------------------------------------------------------------------------------

messages = st.lists(
    st.one_of(
        st.binary(max_size=3000),
        st.text(max_size=500).map(str.encode),
        st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=20), st.integers(1, 400)),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(
    bits=st.integers(8, 15),
    no_takeover=st.booleans(),
    msgs=messages,
    cuts=st.lists(st.integers(1, 50), min_size=1, max_size=10),
)
def test_round_trip_client_to_server(
    bits: int, no_takeover: bool, msgs: list[bytes], cuts: list[int]
) -> None:
    """What the client compresses, a zlib peer with the negotiated window inflates."""
    ext = PerMessageDeflate(client_max_window_bits=bits, client_no_context_takeover=no_takeover)
    server = zlib.decompressobj(-bits)  # window 8 included: the peer may really use 256 bytes
    for msg in msgs:
        if no_takeover:
            server = zlib.decompressobj(-bits)
        data = ext.encode(msg) + b"\x00\x00\xff\xff"
        # The peer may get the message in any number of frames.
        out = b""
        pos = 0
        for cut in cuts:
            out += server.decompress(data[pos : pos + cut])
            pos += cut
        out += server.decompress(data[pos:])
        assert out == msg


@settings(max_examples=40, deadline=None)
@given(
    bits=st.integers(9, 15),
    no_takeover=st.booleans(),
    msgs=messages,
    cuts=st.lists(st.integers(1, 50), min_size=1, max_size=10),
)
def test_round_trip_server_to_client(
    bits: int, no_takeover: bool, msgs: list[bytes], cuts: list[int]
) -> None:
    """What a zlib peer compresses with the negotiated window, the client inflates, in frames."""
    ext = PerMessageDeflate(server_max_window_bits=bits, server_no_context_takeover=no_takeover)
    server = zlib.compressobj(wbits=-bits)
    for msg in msgs:
        if no_takeover:
            server = zlib.compressobj(wbits=-bits)
        data = (server.compress(msg) + server.flush(zlib.Z_SYNC_FLUSH))[:-4]
        frames = []
        pos = 0
        for cut in cuts:
            frames.append(data[pos : pos + cut])
            pos += cut
        frames.append(data[pos:])
        assert decode_message(ext, frames, len(msg)) == msg


@pytest.mark.parametrize("bits", range(8, 16))
@pytest.mark.parametrize("no_takeover", [False, True])
def test_round_trip_qtws_to_qtws(bits: int, no_takeover: bool) -> None:
    sender = PerMessageDeflate(client_max_window_bits=bits, client_no_context_takeover=no_takeover)
    receiver = PerMessageDeflate(
        server_max_window_bits=bits, server_no_context_takeover=no_takeover
    )
    # Repetitions at distances around every window size exercise the window limits.
    for size in (0, 1, 200, 255, 256, 257, 511, 512, 513, 40000, 70000):
        msg = bytes((i * 7919) % 251 for i in range(size)) * 2
        assert receiver.decode(sender.encode(msg), True, len(msg)) == msg


def test_window_8_compression_uses_only_short_distances() -> None:
    """zlib cannot compress with an 8-bit window: the Z_RLE fallback stays valid for 8 bits."""
    ext = PerMessageDeflate(client_max_window_bits=8)
    msg = bytes(range(256)) * 8 + b"a" * 1000  # repeats 256 bytes apart, then a run
    data = ext.encode(msg)
    assert zlib.decompressobj(-8).decompress(data + b"\x00\x00\xff\xff") == msg
    assert len(data) < len(msg)  # the run is still compressed


def test_window_8_decompression_accepts_a_9_bit_window() -> None:
    """A zlib-based server that agreed to 8 bits really compresses with 9: still decodable."""
    compressor = zlib.compressobj(wbits=-9)
    msg = bytes(range(256)) * 2 + bytes(range(200)) + bytes(range(256))
    data = (compressor.compress(msg) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert PerMessageDeflate(server_max_window_bits=8).decode(data, True, None) == msg


# -- bounded inflation -----------------------------------------------------------------------------


def _bomb(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(2**20)
    data = b"".join(compressor.compress(zeros) for _ in range(megabytes))
    return (data + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_zip_bomb_is_bounded() -> None:
    bomb = _bomb(100)  # 100 MiB of zeros in about 100 KiB
    assert len(bomb) < 200_000
    ext = PerMessageDeflate()
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig) as info:
            ext.decode(bomb, True, 2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == 1009
    # The output buffer holds at most max_size + 1 bytes; Python's zlib copies it once when it
    # finishes, and the input is copied to append the tail: nothing grows with the bomb's size.
    assert peak < 2 * (2**20 + 1) + 2 * len(bomb) + 256 * 1024


def test_zip_bomb_across_frames() -> None:
    bomb = _bomb(10)
    ext = PerMessageDeflate()
    first = ext.decode(bomb[:100], False, 2**20)
    assert len(first) <= 2**20
    with pytest.raises(PayloadTooBig):
        ext.decode(bomb[100:], True, 2**20 - len(first))


def test_limit_boundary() -> None:
    data = PerMessageDeflate().encode(b"x" * 1000)
    assert PerMessageDeflate().decode(data, True, 1000) == b"x" * 1000
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate().decode(data, True, 999)
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate().decode(data, True, 0)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff\xff", b"\x06\x00", bytes.fromhex("0005000000"), bytes.fromhex("f2000000")],
)
def test_corrupt_data(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        PerMessageDeflate().decode(payload, True, None)
    assert info.value.code == 1007
    assert not isinstance(info.value, PayloadTooBig)


def test_buffers_accepted() -> None:
    ext = PerMessageDeflate()
    assert (
        ext.decode(memoryview(HELLO[:3]), False, None)
        + ext.decode(bytearray(HELLO[3:]), True, None)
        == b"Hello"
    )
    assert PerMessageDeflate().encode(memoryview(b"Hello")) == HELLO


# -- offer -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "header"),
    [
        ({}, "permessage-deflate; client_max_window_bits"),
        ({"client_max_window_bits": False}, "permessage-deflate"),
        ({"client_max_window_bits": 10}, "permessage-deflate; client_max_window_bits=10"),
        (
            {
                "client_max_window_bits": 8,
                "client_no_context_takeover": True,
                "server_no_context_takeover": True,
                "server_max_window_bits": 15,
            },
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=15; client_max_window_bits=8",
        ),
    ],
)
def test_offer_header(kwargs: dict[str, Any], header: str) -> None:
    assert offer_header(**kwargs) == header


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"server_max_window_bits": 16},
        {"server_max_window_bits": True},
        {"server_max_window_bits": "10"},
    ],
)
def test_offer_header_invalid(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="window bits"):
        offer_header(**kwargs)


def test_extension_invalid_bits() -> None:
    with pytest.raises(ValueError, match="window bits"):
        PerMessageDeflate(server_max_window_bits=7)
    with pytest.raises(ValueError, match="window bits"):
        PerMessageDeflate(client_max_window_bits=16)


# -- negotiation (RFC 7692 section 7.1) ------------------------------------------------------------

NONE: list[tuple[str, str | None]] = []


@pytest.mark.parametrize(
    ("params", "offer", "expected"),
    [
        (NONE, {}, (False, False, 15, 15)),
        ([("client_max_window_bits", "10")], {}, (False, False, 15, 10)),
        ([("client_max_window_bits", "8")], {}, (False, False, 15, 8)),
        ([("server_max_window_bits", "12")], {}, (False, False, 12, 15)),
        (
            [("server_max_window_bits", "12"), ("client_max_window_bits", "12")],
            {},
            (False, False, 12, 12),
        ),  # what the websockets server answers by default
        ([("server_no_context_takeover", None)], {}, (True, False, 15, 15)),
        ([("client_no_context_takeover", None)], {}, (False, True, 15, 15)),
        # The client keeps its own promise even if the server does not repeat it.
        (NONE, {"client_no_context_takeover": True}, (False, True, 15, 15)),
        (
            [("server_no_context_takeover", None)],
            {"server_no_context_takeover": True},
            (True, False, 15, 15),
        ),
        ([("server_max_window_bits", "9")], {"server_max_window_bits": 10}, (False, False, 9, 15)),
        (
            [("server_max_window_bits", "10")],
            {"server_max_window_bits": 10},
            (False, False, 10, 15),
        ),
        (NONE, {"client_max_window_bits": 11}, (False, False, 15, 11)),
        ([("client_max_window_bits", "9")], {"client_max_window_bits": 11}, (False, False, 15, 9)),
        (NONE, {"client_max_window_bits": False}, (False, False, 15, 15)),
    ],
)
def test_negotiate(
    params: list[tuple[str, str | None]], offer: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    ext = negotiate(params, **offer)
    assert ext.name == "permessage-deflate"
    assert (
        ext.server_no_context_takeover,
        ext.client_no_context_takeover,
        ext.server_max_window_bits,
        ext.client_max_window_bits,
    ) == expected
    assert "PerMessageDeflate(" in repr(ext)


@pytest.mark.parametrize(
    ("params", "offer", "match"),
    [
        ([("x", None)], {}, "unknown"),
        ([("Server_No_Context_Takeover", None)], {}, "unknown"),
        ([("server_no_context_takeover", None)] * 2, {}, "duplicate"),
        ([("client_max_window_bits", "10"), ("client_max_window_bits", "10")], {}, "duplicate"),
        ([("server_no_context_takeover", "1")], {}, "must not have a value"),
        ([("client_no_context_takeover", "")], {}, "must not have a value"),
        ([("server_max_window_bits", None)], {}, "invalid server_max_window_bits"),
        ([("server_max_window_bits", "7")], {}, "invalid"),
        ([("server_max_window_bits", "16")], {}, "invalid"),
        ([("server_max_window_bits", "010")], {}, "invalid"),
        ([("server_max_window_bits", "x")], {}, "invalid"),
        ([("server_max_window_bits", "12")], {"server_max_window_bits": 10}, "exceeds"),
        (NONE, {"server_max_window_bits": 10}, "did not accept"),
        (NONE, {"server_no_context_takeover": True}, "did not accept"),
        ([("client_max_window_bits", None)], {}, "invalid client_max_window_bits"),
        ([("client_max_window_bits", "16")], {}, "invalid"),
        ([("client_max_window_bits", "12")], {"client_max_window_bits": 10}, "exceeds"),
        ([("client_max_window_bits", "12")], {"client_max_window_bits": False}, "not offered"),
    ],
)
def test_negotiate_errors(
    params: list[tuple[str, str | None]], offer: dict[str, Any], match: str
) -> None:
    with pytest.raises(NegotiationError, match=match):
        negotiate(params, **offer)


def test_negotiate_compress_level() -> None:
    ext = negotiate(NONE, compress_level=0)
    assert ext.compress_level == 0
    assert ext.decode(ext.encode(b"Hello" * 10), True, None) == b"Hello" * 10


# -- bounded steps and BFINAL blocks (RFC 7692 7.2.3.4) --------------------------------------------


def _finished(data: bytes, zdict: bytes = b"") -> bytes:
    """``data`` as a raw DEFLATE stream ending with a BFINAL block."""
    c = zlib.compressobj(wbits=-15, zdict=zdict) if zdict else zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush(zlib.Z_FINISH)


def _synced(data: bytes, zdict: bytes = b"") -> bytes:
    c = zlib.compressobj(wbits=-15, zdict=zdict) if zdict else zlib.compressobj(wbits=-15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def drain(ext: PerMessageDeflate, first: bytes, step: int) -> tuple[bytes, list[int]]:
    """Decode one whole message in steps: the message and every step's output size."""
    out = ext.decode(first, True, None, step)
    got, sizes = out, [len(out)]
    while ext.pending:
        out = ext.decode(b"", True, None, step)
        got += out
        sizes.append(len(out))
    return got, sizes


def test_steps_never_exceed_the_step() -> None:
    raw = bytes(range(256)) * 1000
    ext = PerMessageDeflate()
    got, sizes = drain(ext, PerMessageDeflate().encode(raw), 1000)
    assert got == raw
    assert max(sizes) == 1000 and len(sizes) >= 256
    assert ext.decode(HELLO, True, None, 1000) == b"Hello"  # the next message


def test_step_zero_only_accepts_the_payload() -> None:
    ext = PerMessageDeflate()
    assert ext.decode(HELLO, True, None, 0) == b"" and ext.pending
    assert ext.decode(b"", True, None, 0) == b"" and ext.pending
    assert ext.decode(b"", True, None, 5) == b"Hello"
    ext.decode(b"", True, None, 5)  # the step was filled: one more call finds nothing
    assert not ext.pending


def test_steps_across_two_bfinal_streams_in_one_frame() -> None:
    payload = _finished(b"a" * 100) + _finished(b"b" * 1000, zdict=b"a" * 100) + b"\x00"
    got, sizes = drain(PerMessageDeflate(), payload, 100)  # step 1 ends at the first BFINAL
    assert got == b"a" * 100 + b"b" * 1000
    assert sizes[0] == 100 and max(sizes) == 100
    assert PerMessageDeflate().decode(payload, True, None) == got


def test_a_step_ends_inside_the_stream_after_a_bfinal_block() -> None:
    payload = _finished(b"a" * 10) + _synced(b"b" * 1000, zdict=b"a" * 10)
    got, sizes = drain(PerMessageDeflate(), payload, 500)
    assert got == b"a" * 10 + b"b" * 1000 and sizes[0] == 500


def test_the_window_after_bfinal_is_the_last_32_kib_of_output() -> None:
    old = bytes(range(256)) * 200  # 50 KiB: more than one window
    ext = PerMessageDeflate()
    assert ext.decode(_synced(old), True, None) == old
    assert ext.decode(_finished(b"end", zdict=old), True, None) == b"end"
    window = (old + b"end")[-32768:]
    assert ext.decode(_synced(old[-1000:], zdict=window), True, None) == old[-1000:]


def test_garbage_after_bfinal_is_not_dropped() -> None:
    assert PerMessageDeflate().decode(_finished(b"Hello"), True, None) == b"Hello"
    with pytest.raises(ProtocolError) as info:  # 0x07: BFINAL, reserved block type 11
        PerMessageDeflate().decode(_finished(b"Hello") + b"\x07junk", True, None)
    assert info.value.code == 1007
