"""ClientConnection: handshake, framing rules, closing, limits (RFC 6455)."""

from __future__ import annotations

from typing import Any

import pytest

from qtws.core import (
    BinaryMessage,
    ClientConnection,
    CloseReceived,
    ConnectionFailed,
    HandshakeComplete,
    Ping,
    Pong,
    Redirect,
    State,
    TextMessage,
    parse_uri,
)
from qtws.core.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    encode_frame,
)
from qtws.errors import (
    ConnectionClosed,
    HandshakeError,
    InvalidHeader,
    InvalidState,
    InvalidStatus,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)

from .conftest import Peer

# -- opening handshake ---------------------------------------------------------------------------


def test_request_queued_at_construction(peer: Peer) -> None:
    client = ClientConnection(
        parse_uri("ws://user:pw@example.com:8080/a?b=1"),
        subprotocols=["chat"],
        headers=[("X-Test", "1")],
        origin="http://example.com",
        user_agent="qtws-test",
        compression=True,
    )
    assert client.state is State.CONNECTING
    request = client.data_to_send()
    assert request.startswith(b"GET /a?b=1 HTTP/1.1\r\n")
    for line in (
        b"Host: example.com:8080",
        b"Sec-WebSocket-Key: " + client.key.encode(),
        b"Sec-WebSocket-Protocol: chat",
        b"Origin: http://example.com",
        b"User-Agent: qtws-test",
        b"X-Test: 1",
        b"Sec-WebSocket-Extensions: permessage-deflate",
        b"Authorization: Basic ",
    ):
        assert line in request
    assert client.data_to_send() == b""
    client.receive_data(b"")  # nothing received is not EOF
    assert client.events_received() == [] and client.state is State.CONNECTING
    with pytest.raises(InvalidState):
        client.send_text("too early")
    assert not client.close_expected() and not client.should_close_transport()


def test_fresh_key_per_connection(peer: Peer) -> None:
    assert peer.client().key != peer.client().key


def test_handshake_then_frames_in_the_same_chunk(peer: Peer, mode: str) -> None:
    client = peer.client(subprotocols=["chat", "v2"])
    client.data_to_send()
    data = (
        peer.response(client, subprotocol="v2")
        + peer.frame(OP_TEXT, b"first")
        + peer.frame(OP_BINARY, b"\x00\x01")
    )
    events = peer.feed(client, data, mode)
    assert isinstance(events[0], HandshakeComplete)
    assert (events[0].subprotocol, events[0].extensions) == ("v2", ())
    assert ("Sec-WebSocket-Protocol", "v2") in events[0].headers
    assert events[1:] == [TextMessage("first"), BinaryMessage(b"\x00\x01")]
    assert client.subprotocol == "v2" and client.extensions == ()
    assert client.state is State.OPEN
    client.receive_data(b"")  # nothing happens
    assert client.events_received() == []


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope", InvalidStatus),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", InvalidHeader),
        (b"garbage\r\n\r\n", HandshakeError),
    ],
)
def test_handshake_failure(peer: Peer, response: bytes, error: type[Exception]) -> None:
    client = peer.client()
    client.data_to_send()
    events = peer.feed(client, response)
    failed = peer.failure(events)
    assert isinstance(failed.exc, error) and failed.code == 1006
    assert client.state is State.CLOSED and client.failure is failed.exc
    assert client.close_code == 1006 and not client.was_clean
    assert client.should_close_transport() and client.close_expected()
    client.receive_data(b"more")
    client.receive_eof()
    assert client.events_received() == []
    assert client.data_to_send() == b""


def test_redirect_event_before_failure(peer: Peer) -> None:
    client = peer.client()
    client.receive_data(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
    events = client.events_received()
    assert events[0] == Redirect(302, "ws://example.com/elsewhere")
    assert events[0].headers == (("Location", "/elsewhere"), ("Content-Length", "0"))
    assert isinstance(events[1], ConnectionFailed) and isinstance(events[1].exc, InvalidStatus)
    assert events[1].exc.status == 302


def test_non_redirect_status_has_no_redirect_event(peer: Peer) -> None:
    client = peer.client()
    client.receive_data(b"HTTP/1.1 500 Oops\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n")
    assert [type(e) for e in client.events_received()] == [ConnectionFailed]


def test_eof_during_handshake(peer: Peer) -> None:
    client = peer.client()
    client.receive_data(b"HTTP/1.1 101 Switching")
    client.receive_eof()
    failed = peer.failure(client.events_received())
    assert isinstance(failed.exc, HandshakeError) and failed.code == 1006
    assert client.state is State.CLOSED


def test_unoffered_extension_is_rejected(peer: Peer) -> None:
    client = peer.client(compression=False)
    client.receive_data(peer.response(client, extensions="permessage-deflate"))
    failed = peer.failure(client.events_received())
    assert isinstance(failed.exc, NegotiationError)


def test_unoffered_subprotocol_is_rejected(peer: Peer) -> None:
    client = peer.client()
    client.receive_data(peer.response(client, subprotocol="chat"))
    assert isinstance(peer.failure(client.events_received()).exc, NegotiationError)


# -- RFC 6455 section 5.7 examples ---------------------------------------------------------------

RFC_EXAMPLES = [
    (b"\x81\x05\x48\x65\x6c\x6c\x6f", [TextMessage("Hello")]),
    (b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f", [TextMessage("Hello")]),
    (b"\x89\x05\x48\x65\x6c\x6c\x6f", [Ping(b"Hello")]),
    (b"\x8a\x05\x48\x65\x6c\x6c\x6f", [Pong(b"Hello")]),
    (b"\x82\x7e\x01\x00" + bytes(256), [BinaryMessage(bytes(256))]),
    (b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + bytes(65536), [BinaryMessage(bytes(65536))]),
]


@pytest.mark.parametrize(("data", "expected"), RFC_EXAMPLES)
def test_rfc_examples(peer: Peer, mode: str, data: bytes, expected: list[object]) -> None:
    client = peer.open()
    assert peer.feed(client, data, mode) == expected


def test_masked_server_frame_rfc_example_fails(peer: Peer, mode: str) -> None:
    # RFC 6455 5.7's masked "Hello" is what a client sends; from a server it is an error (5.1).
    client = peer.open()
    events = peer.feed(client, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", mode)
    failed = peer.failure(events)
    assert isinstance(failed.exc, ProtocolError) and failed.code == 1002
    [close] = peer.parse(client.data_to_send())
    assert close.opcode == OP_CLOSE and close.payload[:2] == b"\x03\xea"


def test_automatic_pong_is_masked(peer: Peer) -> None:
    client = peer.open(mask_source=lambda n: b"\x37\xfa\x21\x3d" * (n // 4))
    client.receive_data(b"\x89\x05Hello")
    assert client.data_to_send() == b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"


def test_control_frames_between_fragments(peer: Peer, mode: str) -> None:
    client = peer.open()
    data = (
        peer.frame(OP_TEXT, b"fra", fin=False)
        + peer.frame(OP_PING, b"p")
        + peer.frame(OP_CONT, "gmé".encode(), fin=False)
        + peer.frame(OP_PONG, b"q")
        + peer.frame(OP_CONT, b"", fin=False)
        + peer.frame(OP_CONT, b"nts")
        + peer.frame(OP_BINARY, b"a", fin=False)
        + peer.frame(OP_CONT, b"b")
        + peer.frame(OP_TEXT, b"")
        + peer.frame(OP_BINARY, b"")
    )
    assert peer.feed(client, data, mode) == [
        Ping(b"p"),
        Pong(b"q"),
        TextMessage("fragménts"),
        BinaryMessage(b"ab"),
        TextMessage(""),
        BinaryMessage(b""),
    ]
    [pong] = peer.parse(client.data_to_send())
    assert pong.opcode == OP_PONG and pong.payload == b"p"


def test_noncharacters_are_valid_utf8(peer: Peer, mode: str) -> None:
    client = peer.open()
    text = "\ufffe\uffff\U0010ffff\U0001f600"
    data = peer.frame(OP_TEXT, text.encode()) + peer.frame(OP_TEXT, text.encode()[:5], fin=False)
    data += peer.frame(OP_CONT, text.encode()[5:])
    assert peer.feed(client, data, mode) == [TextMessage(text), TextMessage(text)]


# -- protocol violations -------------------------------------------------------------------------


def _f(opcode: int, payload: bytes = b"", **kw: Any) -> bytes:
    b0 = (0x80 if kw.get("fin", True) else 0) | (kw.get("rsv", 0) << 4) | opcode
    n = len(payload)
    head = bytes((b0, n)) if n < 126 else bytes((b0, 126)) + n.to_bytes(2, "big")
    return head + payload


VIOLATIONS = [
    pytest.param(_f(OP_TEXT, b"x", rsv=4), 1002, id="rsv1-without-extension"),
    pytest.param(_f(OP_TEXT, b"x", rsv=2), 1002, id="rsv2"),
    pytest.param(_f(OP_BINARY, b"x", rsv=1), 1002, id="rsv3"),
    pytest.param(_f(OP_PING, b"x", rsv=4), 1002, id="rsv-on-control"),
    *(pytest.param(_f(op, b"x"), 1002, id=f"reserved-opcode-{op}") for op in (3, 4, 5, 6, 7)),
    *(pytest.param(_f(op, b"x"), 1002, id=f"reserved-control-{op}") for op in range(11, 16)),
    pytest.param(_f(OP_PING, bytes(126)), 1002, id="control-over-125"),
    pytest.param(_f(OP_PING, b"x", fin=False), 1002, id="fragmented-control"),
    pytest.param(_f(OP_CONT, b"x"), 1002, id="continuation-without-start"),
    pytest.param(_f(OP_TEXT, b"a", fin=False) + _f(OP_TEXT, b"b"), 1002, id="text-inside-text"),
    pytest.param(_f(OP_BINARY, b"a", fin=False) + _f(OP_BINARY, b"b"), 1002, id="binary-inside"),
    pytest.param(b"\x82\x7f\x80" + bytes(7), 1002, id="64-bit-msb"),
    pytest.param(_f(OP_TEXT, b"\xff"), 1007, id="invalid-utf8"),
    pytest.param(_f(OP_TEXT, b"a" * 200 + b"\xc0"), 1007, id="invalid-utf8-long"),
    pytest.param(_f(OP_TEXT, b"\xed\xa0\x80"), 1007, id="surrogate"),
    pytest.param(_f(OP_TEXT, b"ok\xe2\x82", fin=False) + _f(OP_CONT, b""), 1007, id="truncated"),
    pytest.param(_f(OP_CLOSE, b"\x03"), 1002, id="close-1-byte"),
    pytest.param(_f(OP_CLOSE, b"\x03\xed"), 1002, id="close-1005"),
    pytest.param(_f(OP_CLOSE, b"\x03\xe7"), 1002, id="close-999"),
    pytest.param(_f(OP_CLOSE, b"\x03\xe8\xff"), 1007, id="close-bad-reason"),
]


@pytest.mark.parametrize(("data", "code"), VIOLATIONS)
def test_violations_fail_with_code(peer: Peer, mode: str, data: bytes, code: int) -> None:
    client = peer.open()
    trailer = _f(OP_TEXT, b"never delivered") + _f(OP_PING, b"no pong")
    events = peer.feed(client, data + trailer, mode)
    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, ConnectionFailed) and failed.code == code
    assert isinstance(failed.exc, ProtocolError) and failed.exc.code == code
    assert client.state is State.CLOSED and client.close_code == code and not client.was_clean
    assert client.should_close_transport() and client.failure is failed.exc
    # After failing, the client sends its close frame and nothing else (RFC 6455 7.1.7).
    [close] = peer.parse(client.data_to_send())
    assert close.opcode == OP_CLOSE and int.from_bytes(close.payload[:2], "big") == code
    assert len(close.payload) <= 125
    with pytest.raises(InvalidState):
        client.send_text("x")


def test_utf8_fails_fast_inside_a_fragmented_message(peer: Peer) -> None:
    client = peer.open()
    client.receive_data(_f(OP_TEXT, "κόσμε".encode(), fin=False))
    assert client.events_received() == []
    # The invalid byte arrives in a non-final fragment: fail now, not at the end (RFC 6455 8.1).
    client.receive_data(_f(OP_CONT, b"\xf4\x90\x80\x80", fin=False))
    assert peer.failure(client.events_received()).code == 1007


@pytest.mark.parametrize("bad", [b"\xed\xa0", b"\xf4\x90", b"\xc0", b"\xe0\x80"])
def test_utf8_fails_fast_inside_a_frame(peer: Peer, bad: bytes) -> None:
    client = peer.open()
    header = b"\x81\x7e\x01\x00"  # a 256-byte frame, of which only a few bytes arrive
    client.receive_data(header + b"abc" + bad)
    assert peer.failure(client.events_received()).code == 1007


def test_partial_valid_utf8_is_kept(peer: Peer) -> None:
    client = peer.open()
    client.receive_data(b"\x81\x04\xf0\x9f")
    assert client.events_received() == []
    client.receive_data(b"\x98\x80")
    assert client.events_received() == [TextMessage("\U0001f600")]


# -- limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "header"),
    [
        ({"max_message_size": 1000}, b"\x82\x7e\x03\xe9"),
        ({"max_frame_size": 1000}, b"\x82\x7e\x03\xe9"),
        ({"max_message_size": 2**20}, b"\x82\x7f" + (2**40).to_bytes(8, "big")),
        ({"max_message_size": 10}, b"\x82\x0b"),
        ({"max_frame_size": 10}, b"\x81\x0b"),
    ],
)
def test_limits_checked_at_header_time(peer: Peer, kw: dict[str, int], header: bytes) -> None:
    client = peer.open(**kw)
    client.receive_data(header)  # no payload at all yet
    failed = peer.failure(client.events_received())
    assert isinstance(failed.exc, PayloadTooBig) and failed.code == 1009


def test_message_limit_across_fragments(peer: Peer) -> None:
    client = peer.open(max_message_size=10)
    client.receive_data(_f(OP_TEXT, b"12345", fin=False) + _f(OP_CONT, b"12345", fin=False))
    assert client.events_received() == []
    client.receive_data(b"\x80\x01")
    assert peer.failure(client.events_received()).code == 1009


def test_limits_exactly_met(peer: Peer, mode: str) -> None:
    client = peer.open(max_message_size=10, max_frame_size=5)
    data = _f(OP_TEXT, b"12345", fin=False) + _f(OP_CONT, b"67890") + _f(OP_BINARY, b"ab")
    assert peer.feed(client, data, mode) == [TextMessage("1234567890"), BinaryMessage(b"ab")]


def test_no_limits(peer: Peer) -> None:
    client = peer.open(max_message_size=None)
    assert peer.feed(client, _f(OP_BINARY, bytes(300))) == [BinaryMessage(bytes(300))]


# -- closing -------------------------------------------------------------------------------------


def test_server_initiated_close(peer: Peer, mode: str) -> None:
    client = peer.open()
    events = peer.feed(client, _f(OP_CLOSE, b"\x03\xe9bye") + _f(OP_TEXT, b"ignored"), mode)
    assert events == [CloseReceived(1001, "bye")]
    [echo] = peer.parse(client.data_to_send())
    assert echo.opcode == OP_CLOSE and echo.payload == b"\x03\xe9"
    assert client.state is State.CLOSED and client.was_clean
    assert (client.close_code, client.close_reason) == (1001, "bye")
    assert client.close_expected() and client.should_close_transport()
    client.receive_eof()
    assert client.events_received() == []
    with pytest.raises(InvalidState):
        client.send_close()


def test_empty_close_is_1005_and_echoed_empty(peer: Peer) -> None:
    client = peer.open()
    client.receive_data(b"\x88\x00")
    assert client.events_received() == [CloseReceived(1005, "")]
    [echo] = peer.parse(client.data_to_send())
    assert echo.payload == b""


def test_close_inside_fragmented_message_is_normal(peer: Peer) -> None:
    client = peer.open()
    client.receive_data(_f(OP_TEXT, b"part", fin=False) + _f(OP_CLOSE, b"\x0f\xa0"))
    assert client.events_received() == [CloseReceived(4000, "")]
    assert peer.parse(client.data_to_send())[0].payload == b"\x0f\xa0"
    assert client.was_clean


def test_client_initiated_close(peer: Peer, mode: str) -> None:
    client = peer.open()
    client.send_text("last")
    client.send_close(1000, "done")
    assert client.state is State.CLOSING and client.close_expected()
    assert not client.should_close_transport()
    text, close = peer.parse(client.data_to_send())
    assert text.payload == b"last" and close.payload == b"\x03\xe8done"
    with pytest.raises(InvalidState):
        client.send_binary(b"x")
    with pytest.raises(InvalidState):
        client.send_close()
    # Data frames after our close are not processed; pings are not answered (7.1.2, 5.5.1).
    data = (
        _f(OP_TEXT, b"dropped")
        + _f(OP_BINARY, b"a", fin=False)
        + _f(OP_PING, b"p")
        + _f(OP_CONT, b"b")
        + _f(OP_TEXT, b"\xff")
        + b"\x82\x7e\xff\xff"
        + bytes(65535)
        + _f(OP_CLOSE, b"\x03\xe8")
    )
    events = peer.feed(client, data, mode)
    assert events == [Ping(b"p"), CloseReceived(1000, "")]
    assert client.data_to_send() == b""
    assert client.state is State.CLOSED and client.was_clean and client.close_code == 1000


def test_violation_while_closing_reports_1006(peer: Peer) -> None:
    client = peer.open()
    client.send_close()
    client.data_to_send()
    client.receive_data(_f(OP_CONT, b"x"))
    failed = peer.failure(client.events_received())
    assert failed.code == 1006 and failed.exc.code == 1002  # type: ignore[attr-defined]
    assert client.data_to_send() == b""  # no second close frame


def test_eof_without_closing_handshake(peer: Peer) -> None:
    client = peer.open()
    client.receive_data(b"\x81\x05Hel")  # an incomplete frame is dropped
    client.receive_eof()
    failed = peer.failure(client.events_received())
    assert isinstance(failed.exc, ConnectionClosed) and failed.code == 1006
    assert client.state is State.CLOSED and client.close_code == 1006 and not client.was_clean
    client.receive_eof()
    assert client.events_received() == []


def test_eof_while_closing(peer: Peer) -> None:
    client = peer.open()
    client.send_close(4001)
    client.receive_eof()
    assert peer.failure(client.events_received()).code == 1006


# -- local failure -------------------------------------------------------------------------------


def test_fail_when_open_sends_close(peer: Peer) -> None:
    client = peer.open()
    reason = TimeoutError("ping timeout")
    client.fail(1011, "keepalive", reason)
    assert client.events_received() == [ConnectionFailed(reason, 1011)]
    [close] = peer.parse(client.data_to_send())
    assert close.payload == b"\x03\xf3keepalive"
    assert client.state is State.CLOSED and client.failure is reason
    assert (client.close_code, client.close_reason) == (1011, "keepalive")
    client.fail(1011)  # already closed: nothing
    assert client.events_received() == [] and client.data_to_send() == b""


def test_fail_1006_sends_nothing(peer: Peer) -> None:
    client = peer.open()
    client.fail(reason="ping timeout")
    [failed] = client.events_received()
    assert isinstance(failed, ConnectionFailed) and failed.code == 1006
    assert isinstance(failed.exc, ConnectionClosed)
    assert client.data_to_send() == b""
    assert (client.close_code, client.close_reason) == (1006, "ping timeout")


def test_fail_while_connecting_or_closing(peer: Peer) -> None:
    client = peer.client()
    client.data_to_send()
    client.fail(1001, "going away")
    assert peer.failure(client.events_received()).code == 1006
    assert client.data_to_send() == b""
    client = peer.open()
    client.send_close()
    client.data_to_send()
    client.fail(1001)
    assert peer.failure(client.events_received()).code == 1006
    assert client.data_to_send() == b""


def test_fail_rejects_bad_code_and_cuts_long_reasons(peer: Peer) -> None:
    client = peer.open()
    with pytest.raises(ValueError):
        client.fail(1005)
    client.fail(1011, "é" * 100)
    [close] = peer.parse(client.data_to_send())
    assert close.payload == b"\x03\xf3" + "é".encode() * 61


# -- sending -------------------------------------------------------------------------------------


def test_default_masks_come_from_a_refilled_urandom_pool(peer: Peer) -> None:
    client = peer.open()
    for i in range(1500):  # more frames than one pool holds (1024 masks)
        client.send_binary(b"x%d" % i)
    data = client.data_to_send()
    frames = peer.parse(data)
    assert [f.payload for f in frames] == [b"x%d" % i for i in range(1500)]
    masks, pos = [], 0
    while pos < len(data):  # short frames: 2 header bytes, 4 mask bytes, payload
        n = data[pos + 1] & 0x7F
        masks.append(data[pos + 2 : pos + 6])
        pos += 6 + n
    assert len(masks) == 1500
    assert len(set(masks)) > 1400  # fresh keys (a 32-bit collision or two is possible)


def test_sent_frames_are_masked_with_fresh_keys(peer: Peer) -> None:
    keys = iter(
        [b"\x00\x00\x00\x01", b"\x00\x00\x00\x02", b"\x00\x00\x00\x03", b"\x00\x00\x00\x04"]
    )
    client = peer.open(mask_source=lambda n: next(keys) if n == 4 else bytes(n))
    client.send_text("héllo")
    client.send_binary(bytearray(b"\x00\xff"))
    client.send_ping(b"ping")
    client.send_pong(memoryview(b""))
    data = client.data_to_send()
    assert data[2:6] == b"\x00\x00\x00\x01"
    frames = peer.parse(data)
    assert [(f.opcode, f.payload, f.fin, f.rsv1) for f in frames] == [
        (OP_TEXT, "héllo".encode(), True, False),
        (OP_BINARY, b"\x00\xff", True, False),
        (OP_PING, b"ping", True, False),
        (OP_PONG, b"", True, False),
    ]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 2**20 + 3])
def test_send_sizes(peer: Peer, size: int) -> None:
    client = peer.open()
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    client.send_binary(memoryview(payload))
    [frame] = peer.parse(client.data_to_send())
    assert frame.payload == payload


def test_small_frames_match_the_reference_encoder(peer: Peer) -> None:
    # Frames under the numpy threshold are built in one fused step: byte for byte what the
    # general encoder gives, at every length up to it (7- and 16-bit lengths), for every
    # payload type and for text, binary and control frames.
    key = b"\x9b\x07\xe1\x5c"
    client = peer.open(mask_source=lambda n: key if n == 4 else bytes(n))
    for size in [*range(0, 300), *range(1990, 2100)]:
        payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
        for data in (payload, bytearray(payload), memoryview(payload)):
            client.send_binary(data)
            assert client.data_to_send() == encode_frame(OP_BINARY, payload, mask=key), size
        client.send_text("é" * (size // 2))
        text = ("é" * (size // 2)).encode()
        assert client.data_to_send() == encode_frame(OP_TEXT, text, mask=key), size
    client.send_ping(b"p" * 125)
    assert client.data_to_send() == encode_frame(OP_PING, b"p" * 125, mask=key)


def test_a_mask_source_of_the_wrong_length_is_refused(peer: Peer) -> None:
    client = peer.open(mask_source=lambda n: bytes(n) if n != 4 else b"abc")
    with pytest.raises(ValueError):
        client.send_binary(b"x" * 10)


def test_send_argument_errors(peer: Peer) -> None:
    client = peer.open()
    with pytest.raises(TypeError):
        client.send_text(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.send_binary("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.send_ping("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.send_ping(bytes(126))
    with pytest.raises(TypeError):
        client.send_close("1000")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.send_close(1000, b"x")  # type: ignore[arg-type]
    for code in (999, 1004, 1005, 1006, 1015, 1016, 2999, 5000):
        with pytest.raises(ValueError):
            client.send_close(code)
    with pytest.raises(ValueError):
        client.send_close(1000, "é" * 62)
    client.send_close(1000, "é" * 61 + "a")  # 123 bytes: allowed
    assert peer.parse(client.data_to_send())[0].payload.endswith(b"a")


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_medium_frames_mixed_with_small_ones(peer: Peer, mode: str) -> None:
    """Frames with 16-bit lengths interleaved with short ones, fed whole and byte by byte."""
    client = peer.open()
    sizes = [0, 125, 126, 1000, 65535, 3, 300]
    data = b"".join(
        peer.frame(OP_BINARY if i % 2 else OP_TEXT, b"a" * n) for i, n in enumerate(sizes)
    )
    events = peer.feed(client, data, mode)
    got = [e.data for e in events if isinstance(e, (TextMessage, BinaryMessage))]
    assert got == [("a" * n if i % 2 == 0 else b"a" * n) for i, n in enumerate(sizes)]


def test_medium_frame_over_the_message_limit_fails_1009(peer: Peer) -> None:
    client = peer.open(max_message_size=1000)
    events = peer.feed(
        client, peer.frame(OP_BINARY, b"x" * 500) + peer.frame(OP_BINARY, b"y" * 1001)
    )
    assert [e.data for e in events if isinstance(e, BinaryMessage)] == [b"x" * 500]
    assert peer.failure(events).code == 1009
