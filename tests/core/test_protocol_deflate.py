"""ClientConnection with permessage-deflate (RFC 7692) and hypothesis round trips."""

from __future__ import annotations

import random
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qtws.core import (
    BinaryMessage,
    ClientConnection,
    CloseReceived,
    ConnectionFailed,
    Ping,
    State,
    TextMessage,
)
from qtws.core.frames import OP_BINARY, OP_CONT, OP_PING, OP_TEXT
from qtws.core.protocol import _COMPRESS_MIN_SIZE
from qtws.errors import NegotiationError, PayloadTooBig, ProtocolError

from .conftest import Peer, ServerDeflate


def test_negotiated_extension(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate")
    assert client.extensions == ("permessage-deflate",)


def test_bad_extension_parameters_fail_the_handshake(peer: Peer) -> None:
    client = peer.client(compression=True)
    client.receive_data(peer.response(client, extensions="permessage-deflate; bogus"))
    failed = peer.failure(client.events_received())
    assert isinstance(failed.exc, NegotiationError) and failed.code == 1006


def test_receive_compressed_messages(peer: Peer, mode: str) -> None:
    client = peer.open(deflate="permessage-deflate")
    server = ServerDeflate()
    text = "compressible " * 50
    first = server.compress(text.encode())
    second = server.compress(b"\x00" * 1000)  # uses the shared context (takeover)
    data = (
        peer.frame(OP_TEXT, first, rsv=4)
        + peer.frame(OP_BINARY, second[:3], rsv=4, fin=False)
        + peer.frame(OP_PING, b"between")
        + peer.frame(OP_CONT, second[3:])
        + peer.frame(OP_TEXT, b"plain")  # RSV1 clear: an uncompressed message is allowed
    )
    assert peer.feed(client, data, mode) == [
        TextMessage(text),
        Ping(b"between"),
        BinaryMessage(b"\x00" * 1000),
        TextMessage("plain"),
    ]


def test_send_compressed(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate")
    server = ServerDeflate()
    client.send_text("hello " * 100)
    client.send_binary(b"hello " * 100)
    client.send_ping(b"never compressed")
    frames = peer.parse(client.data_to_send())
    assert [(f.opcode, f.rsv1) for f in frames] == [(OP_TEXT, True), (OP_BINARY, True), (9, False)]
    assert server.decompress(frames[0].payload) == b"hello " * 100
    assert server.decompress(frames[1].payload) == b"hello " * 100
    assert len(frames[1].payload) < 100
    assert frames[2].payload == b"never compressed"


def test_short_messages_go_out_uncompressed_without_disturbing_the_context(peer: Peer) -> None:
    """RFC 7692 lets each message choose: below the threshold no RSV1 and no compressor;
    the compressed messages around them still share one context (takeover)."""
    client = peer.open(deflate="permessage-deflate")
    server = ServerDeflate()
    short = "x" * (_COMPRESS_MIN_SIZE - 1)
    long = "y" * _COMPRESS_MIN_SIZE
    client.send_text(short)
    assert client._deflate is not None and client._deflate._encoder is None
    for text in (long, short, long):
        client.send_text(text)
    frames = peer.parse(client.data_to_send())
    assert [f.rsv1 for f in frames] == [False, True, False, True]
    assert frames[0].payload == short.encode() and frames[2].payload == short.encode()
    assert server.decompress(frames[1].payload) == long.encode()
    assert server.decompress(frames[3].payload) == long.encode()
    assert len(frames[3].payload) < len(frames[1].payload)  # the context was kept


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        pytest.param([(OP_TEXT, b"a", False, 0), (OP_CONT, b"b", True, 4)], 1002, id="rsv1-cont"),
        pytest.param([(OP_PING, b"a", True, 4)], 1002, id="rsv1-ping"),
        pytest.param([(OP_TEXT, b"\xff\xff\xff", True, 4)], 1007, id="corrupt"),
    ],
)
def test_compression_violations(peer: Peer, frames: list[Any], code: int) -> None:
    client = peer.open(deflate="permessage-deflate")
    data = b"".join(peer.frame(op, p, fin=fin, rsv=rsv) for op, p, fin, rsv in frames)
    failed = peer.failure(peer.feed(client, data))
    assert isinstance(failed.exc, ProtocolError) and failed.code == code


def test_compressed_invalid_utf8(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate")
    data = peer.frame(OP_TEXT, ServerDeflate().compress(b"ok \xff"), rsv=4)
    assert peer.failure(peer.feed(client, data)).code == 1007


def test_zip_bomb_is_bounded(peer: Peer, mode: str) -> None:
    client = peer.open(deflate="permessage-deflate", max_message_size=100_000)
    bomb = ServerDeflate().compress(bytes(50 * 2**20))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < 100_000
    mode = "whole" if mode == "bytes" else mode
    failed = peer.failure(peer.feed(client, peer.frame(OP_BINARY, bomb, rsv=4), mode))
    assert isinstance(failed.exc, PayloadTooBig) and failed.code == 1009


def test_compressed_limit_across_fragments(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate", max_message_size=1000)
    payload = ServerDeflate().compress(bytes(1001))
    data = peer.frame(OP_BINARY, payload[:2], rsv=4, fin=False) + peer.frame(OP_CONT, payload[2:])
    assert peer.failure(peer.feed(client, data, "bytes")).code == 1009


def test_compressed_limit_exactly_met(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate", max_message_size=1000)
    data = peer.frame(OP_BINARY, ServerDeflate().compress(bytes(1000)), rsv=4)
    assert peer.feed(client, data) == [BinaryMessage(bytes(1000))]


def test_no_context_takeover_offer(peer: Peer) -> None:
    client = peer.open(deflate="permessage-deflate; server_no_context_takeover")
    assert client.extensions == ("permessage-deflate",)
    for _ in range(2):
        c = zlib.compressobj(wbits=-15)
        payload = (c.compress(b"again " * 20) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        assert peer.feed(client, peer.frame(OP_TEXT, payload, rsv=4)) == [
            TextMessage("again " * 20)
        ]


# -- hypothesis round trips ----------------------------------------------------------------------

messages = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=8
)


@settings(max_examples=150, deadline=None)
@given(
    msgs=messages,
    compress=st.booleans(),
    data=st.data(),
)
def test_receive_round_trip(peer: Peer, msgs: list[str | bytes], compress: bool, data: Any) -> None:
    """Server-encoded messages, randomly fragmented and chunked, come out unchanged."""
    client = peer.open(deflate="permessage-deflate" if compress else None)
    server = ServerDeflate()
    wire = b""
    for msg in msgs:
        raw = msg.encode() if isinstance(msg, str) else msg
        if compress:
            raw = server.compress(raw)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for i, piece in enumerate(pieces):
            opcode = (OP_TEXT if isinstance(msg, str) else OP_BINARY) if i == 0 else OP_CONT
            wire += peer.frame(
                opcode, piece, fin=i == len(pieces) - 1, rsv=4 if compress and i == 0 else 0
            )
            if data.draw(st.booleans()):
                wire += peer.frame(OP_PING, b"x")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        client.receive_data(wire[a:b])
        events += client.events_received()
    got = [e.data for e in events if isinstance(e, TextMessage | BinaryMessage)]
    assert got == msgs
    assert client.state is State.OPEN
    assert not any(isinstance(e, ConnectionFailed) for e in events)


@settings(max_examples=100, deadline=None)
@given(msgs=messages, compress=st.booleans())
def test_send_round_trip(peer: Peer, msgs: list[str | bytes], compress: bool) -> None:
    """Client-encoded messages decode (unmask, inflate) to what was sent."""
    client = peer.open(deflate="permessage-deflate" if compress else None)
    server = ServerDeflate()
    for msg in msgs:
        if isinstance(msg, str):
            client.send_text(msg)
        else:
            client.send_binary(msg)
    frames = peer.parse(client.data_to_send())
    assert len(frames) == len(msgs)
    for frame, msg in zip(frames, msgs, strict=True):
        size = len(msg.encode() if isinstance(msg, str) else msg)
        deflated = compress and size >= _COMPRESS_MIN_SIZE
        assert frame.fin and frame.rsv1 == deflated
        payload = server.decompress(frame.payload) if deflated else frame.payload
        assert frame.opcode == (OP_TEXT if isinstance(msg, str) else OP_BINARY)
        assert payload == (msg.encode() if isinstance(msg, str) else msg)


# -- interoperability with the websockets library's sans-IO server -------------------------------


@pytest.mark.parametrize("bits", [None, 9, 12])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_interop_with_websockets_server(bits: int | None, no_context_takeover: bool) -> None:
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.frames import Opcode
    from websockets.server import ServerProtocol

    factory = ServerPerMessageDeflateFactory(
        server_max_window_bits=bits, server_no_context_takeover=no_context_takeover
    )
    server = ServerProtocol(extensions=[factory], max_size=None)
    client = ClientConnection("ws://127.0.0.1/x")
    server.receive_data(client.data_to_send())
    [request] = server.events_received()
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
    assert client.extensions == ("permessage-deflate",)
    rnd = random.Random(bits)
    for i in range(40):
        size = rnd.randrange(0, 3000)
        msg = rnd.randbytes(size) if i % 3 == 0 else (b"abc" * size)[:size]
        if i % 5 == 0 and size > 10:
            server.send_binary(msg[:10], fin=False)
            server.send_continuation(msg[10:], fin=True)
        else:
            server.send_binary(msg)
        wire = b"".join(server.data_to_send())
        for j in range(0, len(wire), 97):
            client.receive_data(wire[j : j + 97])
        assert client.events_received() == [BinaryMessage(msg)]
        client.send_text(msg.decode("latin-1"))
        server.receive_data(client.data_to_send())
        [frame] = server.events_received()
        assert frame.opcode is Opcode.TEXT and frame.data == msg.decode("latin-1").encode()
    client.send_close(1000, "bye")
    server.receive_data(client.data_to_send())
    client.receive_data(b"".join(server.data_to_send()))
    assert client.events_received() == [CloseReceived(1000, "bye")]
    assert client.was_clean and client.state is State.CLOSED
