"""Large compressed messages are deflated in bounded steps (``pending_output``/``produce``)."""

from __future__ import annotations

import os
import zlib

import pytest

from qtws.core import CloseReceived, ConnectionFailed, State
from qtws.core.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT
from qtws.core.protocol import _COMPRESS_STEP
from qtws.errors import InvalidState

from .conftest import ClientFrame, Peer, ServerDeflate

BIG = os.urandom(3 * _COMPRESS_STEP + 1000)  # incompressible: the slowest case for zlib


def drain(client: object) -> list[ClientFrame]:
    """Run produce() to the end, checking each step's bound; the frames it queued."""
    frames: list[ClientFrame] = []
    while client.pending_output():  # type: ignore[attr-defined]
        before = client.pending_output()  # type: ignore[attr-defined]
        client.produce()  # type: ignore[attr-defined]
        assert before - client.pending_output() <= _COMPRESS_STEP  # type: ignore[attr-defined]
        frames += Peer.parse(client.data_to_send())  # type: ignore[attr-defined]
    return frames


def inflate(frames: list[ClientFrame]) -> bytes:
    data = b"".join(f.payload for f in frames) + b"\x00\x00\xff\xff"
    return zlib.decompressobj(-15).decompress(data)


def test_a_large_message_is_deflated_in_steps_as_one_fragmented_message(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate")
    buf = bytearray(BIG)
    client.send_binary(buf)
    buf[:] = b"\x00" * len(buf)  # the caller reuses its buffer: the message was copied
    assert client.data_to_send() == b"" and client.pending_output() == len(BIG)
    frames = drain(client)
    assert len(frames) == 4
    assert [(f.opcode, f.rsv1, f.fin) for f in frames] == [
        (OP_BINARY, True, False),
        (OP_CONT, False, False),
        (OP_CONT, False, False),
        (OP_CONT, False, True),
    ]
    assert inflate(frames) == BIG
    assert client.produce() is False  # nothing waits


def test_messages_sent_meanwhile_keep_their_order_and_pings_may_come_between(
    peer: Peer,
) -> None:
    client = peer.open(deflate="permessage-deflate")
    server = ServerDeflate()
    client.send_text("a" * (_COMPRESS_STEP + 1))
    client.send_text("short")  # waits behind the large one, framed whole
    client.send_binary(b"b" * 500)
    client.send_ping(b"now")  # control frames need not wait
    frames = Peer.parse(client.data_to_send())
    assert [(f.opcode, f.payload) for f in frames] == [(OP_PING, b"now")]
    done = []
    frames = []
    while client.pending_output():
        done.append(client.produce())
        frames += Peer.parse(client.data_to_send())
    assert done == [False, True, True, True]
    assert [(f.opcode, f.fin) for f in frames] == [
        (OP_TEXT, False),
        (OP_CONT, True),
        (OP_TEXT, True),
        (OP_BINARY, True),
    ]
    big = server.decompress(frames[0].payload + frames[1].payload)
    assert big == b"a" * (_COMPRESS_STEP + 1)
    assert frames[2].payload == b"short" and not frames[2].rsv1
    assert frames[3].rsv1 and server.decompress(frames[3].payload) == b"b" * 500


def test_close_waits_for_the_messages_before_it(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate")
    client.send_binary(BIG)
    client.send_close(1000, "bye")
    assert client.state is State.OPEN and not client.close_expected()
    with pytest.raises(InvalidState, match="closing"):
        client.send_text("too late")
    # Receiving goes on while the message is being deflated.
    events = peer.feed(client, peer.frame(OP_TEXT, b"still read"))
    assert [getattr(e, "data", None) for e in events] == ["still read"]
    frames = drain(client)
    assert [f.opcode for f in frames] == [OP_BINARY, OP_CONT, OP_CONT, OP_CONT, OP_CLOSE]
    assert frames[-1].payload == b"\x03\xe8bye"
    assert client.state is State.CLOSING and client.close_expected()
    assert inflate(frames[:-1]) == BIG


def test_the_servers_close_drops_what_was_not_framed(peer: Peer) -> None:
    """Nothing follows a close frame (RFC 6455 5.5.1): the echo goes out mid-message, as a
    control frame may, and the rest is never sent (the driver reports it unsent)."""
    client = peer.open(deflate="permessage-deflate")
    client.send_binary(BIG)
    client.send_text("behind")
    client.produce()
    first = Peer.parse(client.data_to_send())
    events = peer.feed(client, peer.frame(OP_CLOSE, b"\x03\xe9"))
    assert isinstance(events[0], CloseReceived)
    assert [f.opcode for f in Peer.parse(client.data_to_send())] == [OP_CLOSE]
    assert [f.opcode for f in first] == [OP_BINARY] and not first[0].fin
    assert client.pending_output() == 0 and client.produce() is False


def test_a_failure_drops_what_was_not_framed(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate")
    client.send_binary(BIG)
    client.send_close()
    events = peer.feed(client, peer.frame(OP_TEXT, b"\xff"))  # invalid UTF-8: 1007
    assert any(isinstance(e, ConnectionFailed) for e in events)
    assert [f.opcode for f in Peer.parse(client.data_to_send())] == [OP_CLOSE]
    assert client.pending_output() == 0 and client.state is State.CLOSED


def test_without_compression_nothing_waits(peer: Peer) -> None:
    client = peer.open()
    client.send_binary(BIG)
    assert client.pending_output() == 0
    frames = Peer.parse(client.data_to_send())
    assert [(f.opcode, f.fin, f.payload == BIG) for f in frames] == [(OP_BINARY, True, True)]
