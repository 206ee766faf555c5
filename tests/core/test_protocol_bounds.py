"""ClientConnection: work and memory bounded in bytes (issue 10.3-10.5, 10.9) and events that
take effect in order (issue 15.1), through the sans-IO API."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest

from qtws.core import (
    BinaryMessage,
    ClientConnection,
    CloseReceived,
    ConnectionFailed,
    Ping,
    State,
    TextMessage,
)
from qtws.core.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT
from qtws.errors import PayloadTooBig, ProtocolError

from .conftest import Peer, ServerDeflate

DEFLATE = "permessage-deflate"
STEP = 64 * 1024


def compressed(peer: Peer, data: bytes, opcode: int = OP_BINARY) -> bytes:
    return peer.frame(opcode, ServerDeflate().compress(data), rsv=4)


# -- inflating in bounded steps ------------------------------------------------------------------


def test_a_compressed_frame_is_inflated_in_steps(peer: Peer) -> None:
    client = peer.open(deflate=DEFLATE)
    message = bytes(range(256)) * 4096  # 1 MiB in ~5 KiB
    client.receive_data(compressed(peer, message), max_inflate=STEP)
    calls = 1
    while client.has_pending_input():
        assert client.events_received() == []  # nothing complete yet
        client.receive_data(b"", max_inflate=STEP)
        calls += 1
    assert client.events_received() == [BinaryMessage(message)]
    assert calls >= len(message) // STEP
    assert not client.has_pending_input()


def test_each_call_inflates_at_most_its_budget_in_a_compressed_flood(peer: Peer) -> None:
    """100 messages of 100 KiB (a few KiB on the wire): whatever the input, one call never
    inflates more than ``max_inflate`` bytes, and every message comes out, in order."""
    client = peer.open(deflate=DEFLATE)
    sender = ServerDeflate()
    messages = [bytes([i]) * 100_000 for i in range(100)]
    wire = b"".join(peer.frame(OP_BINARY, sender.compress(m), rsv=4) for m in messages)
    assert len(wire) < 50_000
    got: list[bytes] = []
    for calls, data in enumerate([wire, *([b""] * 10_000)], 1):
        client.receive_data(data, max_inflate=STEP)
        got += [e.data for e in client.events_received() if isinstance(e, BinaryMessage)]
        assert sum(map(len, got)) <= calls * STEP  # inflated so far, at most one budget a call
        if not client.has_pending_input():
            break
    assert got == messages


def test_more_data_while_inflating_is_kept_in_order(peer: Peer) -> None:
    client = peer.open(deflate=DEFLATE)
    sender = ServerDeflate()
    first = peer.frame(OP_TEXT, sender.compress(b"a" * 300_000), rsv=4)
    second = peer.frame(OP_TEXT, sender.compress(b"b" * 10), rsv=4)
    client.receive_data(first[: len(first) // 2], max_inflate=1000)
    client.receive_data(first[len(first) // 2 :] + second[:3], max_inflate=1000)
    client.receive_data(second[3:], max_inflate=1000)
    events = peer.feed(client, b"", max_inflate=1000)
    assert events == [TextMessage("a" * 300_000), TextMessage("b" * 10)]


def test_a_zip_bomb_stops_at_the_limit_one_step_at_a_time(peer: Peer) -> None:
    client = peer.open(deflate=DEFLATE, max_message_size=2**20)
    bomb = compressed(peer, bytes(64 * 2**20))  # 64 MiB of zeros in ~64 KiB
    client.receive_data(bomb, max_inflate=STEP)
    calls = 1
    while client.has_pending_input():
        client.receive_data(b"", max_inflate=STEP)
        calls += 1
    failed = peer.failure(client.events_received())
    assert isinstance(failed.exc, PayloadTooBig) and failed.code == 1009
    assert calls <= 2**20 // STEP + 2  # stopped at the limit, not at the bomb's size


def test_an_empty_compressed_frame_when_the_budget_is_used_up(peer: Peer) -> None:
    client = peer.open(deflate=DEFLATE)
    sender = ServerDeflate()
    big = peer.frame(OP_BINARY, sender.compress(bytes(STEP)), rsv=4)
    empty = peer.frame(OP_BINARY, sender.compress(b""), rsv=4, fin=False)
    data = big + empty + peer.frame(OP_CONT, b"")
    assert peer.feed(client, data, max_inflate=STEP) == [
        BinaryMessage(bytes(STEP)),
        BinaryMessage(b""),
    ]


def test_a_zero_budget_only_queues_compressed_data(peer: Peer) -> None:
    """What a driver does with more data read while the client still holds input."""
    client = peer.open(deflate=DEFLATE)
    sender = ServerDeflate()
    empty = peer.frame(OP_BINARY, b"", rsv=4, fin=False) + peer.frame(OP_CONT, b"")
    split = peer.frame(OP_TEXT, b"", rsv=4, fin=False)
    split += peer.frame(OP_CONT, sender.compress(b"t"))
    client.receive_data(empty + split, max_inflate=0)
    assert client.has_pending_input() and client.events_received() == []
    client.receive_data(peer.frame(OP_BINARY, b"plain"), max_inflate=0)
    assert client.events_received() == []
    assert peer.feed(client, b"", max_inflate=1) == [
        BinaryMessage(b""),
        TextMessage("t"),
        BinaryMessage(b"plain"),
    ]


def test_eof_while_inflating_delivers_the_rest_first(peer: Peer) -> None:
    client = peer.open(deflate=DEFLATE)
    client.receive_data(compressed(peer, b"z" * 200_000, OP_TEXT), max_inflate=1000)
    assert client.has_pending_input()
    client.receive_eof()
    events = client.events_received()
    assert events[0] == TextMessage("z" * 200_000)
    assert isinstance(events[1], ConnectionFailed) and events[1].code == 1006


def test_closing_while_inflating_drops_the_message(peer: Peer) -> None:
    """RFC 6455 5.5.1: once the client sent its close, data frames are not processed."""
    client = peer.open(deflate=DEFLATE)
    client.receive_data(compressed(peer, bytes(200_000)), max_inflate=1000)
    client.send_close()
    client.data_to_send()
    events = peer.feed(client, peer.frame(OP_CLOSE, b"\x03\xe8"), max_inflate=1000)
    assert events == [CloseReceived(1000, "")]
    assert client.state is State.CLOSED and client.was_clean


# -- fragmented messages: peak memory near twice the size ------------------------------------------


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_tiny_fragments_cost_about_twice_the_message(peer: Peer, kind: str) -> None:
    size = 64 * 1024  # 32,768 fragments: enough to tell 2x from 20x, cheap on a busy machine
    payload = "ä".encode() * (size // 2) if kind == "text" else bytes(range(256)) * (size // 256)
    opcode = OP_TEXT if kind == "text" else OP_BINARY
    frames = [peer.frame(opcode, payload[:2], fin=False)]
    frames += [peer.frame(OP_CONT, payload[i : i + 2], fin=False) for i in range(2, size - 2, 2)]
    frames.append(peer.frame(OP_CONT, payload[-2:]))
    wire = b"".join(frames)
    pieces = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    del frames, wire
    client = peer.open(max_message_size=None)
    tracemalloc.start()
    try:
        for piece in pieces:
            client.receive_data(piece)
        _, peak = tracemalloc.get_traced_memory()
        events = client.events_received()
    finally:
        tracemalloc.stop()
    expected = payload.decode() if kind == "text" else payload
    assert events == [TextMessage(expected) if kind == "text" else BinaryMessage(payload)]
    # The assembled parts, the joined message and a constant; one object per fragment (the
    # old behaviour) costs over 20 times the size here.
    assert peak < 2.5 * size + 200_000


# -- BFINAL blocks (RFC 7692 7.2.3.4) --------------------------------------------------------------


def _finished(data: bytes, zdict: bytes = b"") -> bytes:
    """``data`` as a raw DEFLATE stream that ends with a BFINAL block."""
    c = zlib.compressobj(wbits=-15, zdict=zdict) if zdict else zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush(zlib.Z_FINISH)


def test_a_fragment_ending_with_bfinal_is_followed_by_more_data(peer: Peer, mode: str) -> None:
    client = peer.open(deflate=DEFLATE)
    first = _finished(b"Hello, ")
    c = zlib.compressobj(wbits=-15, zdict=b"Hello, ")
    second = (c.compress(b"Hello, world") + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    data = peer.frame(OP_TEXT, first, rsv=4, fin=False) + peer.frame(OP_CONT, second)
    assert peer.feed(client, data, mode) == [TextMessage("Hello, Hello, world")]


def test_garbage_after_a_bfinal_block_fails_with_1007(peer: Peer) -> None:
    client = peer.open(deflate=DEFLATE)
    data = peer.frame(OP_TEXT, _finished(b"Hello") + b"\xff\xff\xff", rsv=4)
    failed = peer.failure(peer.feed(client, data))
    assert isinstance(failed.exc, ProtocolError) and failed.code == 1007


def test_context_takeover_after_bfinal_reaches_back_past_that_message(peer: Peer) -> None:
    """The window after a BFINAL block is the last 32 KiB of everything inflated, not only the
    message that ended the stream."""
    client = peer.open(deflate=DEFLATE)
    first = bytes(range(256)) * 64  # 16 KiB, referred to by the third message
    sender = zlib.compressobj(wbits=-15)
    one = (sender.compress(first) + sender.flush(zlib.Z_SYNC_FLUSH))[:-4]
    c = zlib.compressobj(wbits=-15, zdict=first)
    two = c.compress(b"short") + c.flush(zlib.Z_FINISH)  # ends the stream
    c = zlib.compressobj(wbits=-15, zdict=first + b"short")
    three = (c.compress(first) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(three) < 100  # it really is a back-reference into the first message
    data = b"".join(peer.frame(OP_BINARY, p, rsv=4) for p in (one, two, three))
    assert peer.feed(client, data) == [
        BinaryMessage(first),
        BinaryMessage(b"short"),
        BinaryMessage(first),
    ]


# -- events take effect in order (issue 15.1) ------------------------------------------------------


def open_with(peer: Peer, data: bytes) -> ClientConnection:
    client = peer.open()
    client.receive_data(data)
    return client


@pytest.mark.parametrize(
    "bad,code",
    [
        (Peer.frame(OP_TEXT, b"x", rsv=2), 1002),
        (Peer.frame(0x3, b"x"), 1002),
        (Peer.frame(0xB, b"x"), 1002),
        (Peer.frame(OP_CONT, b"x"), 1002),
        (Peer.frame(OP_TEXT, b"\xff"), 1007),
        (Peer.frame(OP_TEXT, b"ok\xff", fin=False), 1007),
        (Peer.frame(OP_CLOSE, b"\x03"), 1002),
    ],
)
def test_a_violation_after_a_message_waits_for_the_reply(peer: Peer, bad: bytes, code: int) -> None:
    client = open_with(peer, peer.frame(OP_TEXT, b"question") + bad + peer.frame(OP_TEXT, b"x"))
    assert client.events_received() == [TextMessage("question")]
    assert client.state is State.OPEN and client.has_pending_input()
    client.send_text("answer")  # the application's reply to the message
    client.receive_data(b"")
    failed = peer.failure(client.events_received())
    assert failed.code == code and client.state is State.CLOSED
    frames = peer.parse(client.data_to_send())
    assert [(f.opcode, f.payload[:6]) for f in frames] == [
        (OP_TEXT, b"answer"),
        (OP_CLOSE, code.to_bytes(2, "big") + frames[1].payload[2:6]),
    ]
    assert not client.has_pending_input()


def test_a_close_after_a_message_waits_for_the_reply(peer: Peer) -> None:
    client = open_with(peer, peer.frame(OP_TEXT, b"q") + peer.frame(OP_CLOSE, b"\x03\xe9bye"))
    assert client.events_received() == [TextMessage("q")]
    client.send_text("a")
    client.receive_data(peer.frame(OP_TEXT, b"ignored"))  # nothing follows a close frame
    assert client.events_received() == [CloseReceived(1001, "bye")]
    frames = peer.parse(client.data_to_send())
    assert [(f.opcode, f.payload) for f in frames] == [(OP_TEXT, b"a"), (OP_CLOSE, b"\x03\xe9")]
    assert client.state is State.CLOSED and client.was_clean


def test_a_held_close_waits_while_events_are_not_collected(peer: Peer) -> None:
    client = open_with(peer, peer.frame(OP_PING, b"p") + peer.frame(OP_CLOSE, b""))
    client.receive_data(b"")  # the ping's event is still waiting
    assert client.has_pending_input() and client.state is State.OPEN
    assert client.events_received() == [Ping(b"p")]
    client.receive_data(b"")
    assert client.events_received() == [CloseReceived(1005, "")]


def test_a_violation_with_nothing_before_it_fails_at_once(peer: Peer) -> None:
    client = open_with(peer, peer.frame(OP_TEXT, b"x", rsv=1))
    assert peer.failure(client.events_received()).code == 1002
    assert client.state is State.CLOSED and not client.has_pending_input()


def test_eof_applies_a_held_close(peer: Peer) -> None:
    client = open_with(peer, peer.frame(OP_BINARY, b"m") + peer.frame(OP_CLOSE, b"\x03\xe8"))
    client.receive_eof()
    assert client.events_received() == [BinaryMessage(b"m"), CloseReceived(1000, "")]
    assert client.was_clean


def test_a_local_failure_discards_what_is_held(peer: Peer) -> None:
    client = open_with(peer, peer.frame(OP_BINARY, b"m") + peer.frame(OP_CLOSE, b""))
    client.fail(1001, "going away")
    assert not client.has_pending_input()
    client.receive_data(b"")
    events = client.events_received()
    assert events[0] == BinaryMessage(b"m") and isinstance(events[1], ConnectionFailed)
    assert len(events) == 2 and client.close_code == 1001


def test_a_violation_after_the_101_waits_for_the_open_event(peer: Peer) -> None:
    client = peer.client()
    client.data_to_send()
    client.receive_data(peer.response(client) + peer.frame(OP_PING, b"x", fin=False))
    assert client.state is State.OPEN and client.has_pending_input()
    client.events_received()
    client.send_text("hello")
    client.receive_data(b"")
    assert peer.failure(client.events_received()).code == 1002
    assert [f.opcode for f in peer.parse(client.data_to_send())] == [OP_TEXT, OP_CLOSE]
