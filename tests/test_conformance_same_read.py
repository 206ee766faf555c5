"""Conformance cases where the server's close or protocol error arrives in the same TCP read
as a message or the 101: events take effect in order (a slot's reply goes out before the close
the next frame triggers), slots that send never raise, and connect() reports the open."""

from __future__ import annotations

from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from tests.peer import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Peer,
    PeerConn,
    close_payload,
    frame,
)
from tests.test_conformance import FAST, assert_clean, fail_script, run


def test_blocking_connect_returns_when_open_even_if_failed_in_the_same_read(
    qtbot: QtBot,
) -> None:
    """The server accepts, greets and breaks the protocol in the 101's TCP segment: the
    connection did open, so connect() returns and the greeting is still read before
    ConnectionClosed (as it is when the server closes cleanly instead)."""

    def script(c: PeerConn) -> None:
        c.wait_eof(5)

    bad = frame(OP_TEXT, b"greeting") + frame(OP_TEXT, b"\xc0\xaf")
    with Peer(script, after_response=bad) as peer:
        ws = qtws.WebSocket(peer.url, config=FAST)
        ws.connect(5)
        assert ws.wait_for_next_message(5) == "greeting"
        with pytest.raises(qtws.ConnectionClosed) as info:
            ws.wait_for_next_message(5)
        peer.join()
    assert (info.value.code, info.value.was_clean) == (1007, False)


# Events take effect in order (issue 15.1, Autobahn 3.2-3.7, 4.1.3-4.2.5, 5.15): when one TCP
# read holds a valid message and then a violation or a close, an echo client's reply to the
# message goes on the wire before the close frame the next frame triggers.
def _echo(ws: qtws.WebSocket) -> None:
    ws.message.connect(ws.send)  # an echo client (how Autobahn drives clients)


def _echo_script(after: bytes) -> Any:
    def script(c: PeerConn) -> None:
        c.send(frame(OP_TEXT, b"echo me") + after)
        c.expect_close(5)
        c.wait_eof(5)

    return script


def _assert_echo_then_close(out: Any, code: int) -> None:
    frames = out.conn.frames
    assert [(f.opcode, f.payload) for f in frames[:1]] == [(OP_TEXT, b"echo me")], frames
    assert [f.opcode for f in frames[1:]] == [OP_CLOSE], frames
    assert frames[1].close_code == code
    assert out.messages == ["echo me"]


VIOLATIONS = {
    "3.2-rsv2": (frame(OP_TEXT, b"x", rsv2=True), 1002),
    "3.3-rsv1+rsv3": (frame(OP_TEXT, b"x", rsv1=True, rsv3=True), 1002),
    "3.4-rsv3-ping": (frame(OP_PING, b"x", rsv3=True), 1002),
    "3.5-rsv1-binary": (frame(OP_BINARY, b"x", rsv1=True), 1002),
    "4.1.3-opcode-5": (frame(0x5, b"x"), 1002),
    "4.1.4-opcode-6": (frame(0x6, b"x"), 1002),
    "4.2.3-opcode-13": (frame(0xD, b"x"), 1002),
    "4.2.4-opcode-14": (frame(0xE, b"x"), 1002),
    "5.15-stray-continuation": (frame(OP_CONT, b"x"), 1002),
    "fragmented-ping": (frame(OP_PING, b"x", fin=False), 1002),
    "masked-frame": (frame(OP_TEXT, b"x", mask=b"abcd"), 1002),
    "long-ping": (frame(OP_PING, bytes(126)), 1002),
    "invalid-utf8": (frame(OP_TEXT, b"\xc0\xaf"), 1007),
    "invalid-utf8-fragment": (frame(OP_TEXT, b"\xff", fin=False), 1007),
    "bad-close-code": (frame(OP_CLOSE, close_payload(999)), 1002),
    "too-big": (frame(OP_BINARY, length=2**40), 1009),
}


@pytest.mark.parametrize("bad", VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_echo_goes_out_before_the_close_a_violation_in_the_same_read_triggers(
    qtbot: QtBot, bad: tuple[bytes, int]
) -> None:
    data, code = bad
    out = run(qtbot, _echo_script(data + frame(OP_TEXT, b"after")), on_open=_echo)
    _assert_echo_then_close(out, code)
    assert_failed_event(out, code)


def assert_failed_event(out: Any, code: int) -> None:
    assert out.event.code == code and not out.event.was_clean
    assert isinstance(out.error, qtws.ProtocolError) and out.error.code == code


def test_echo_in_message_slot_when_close_arrives_in_the_same_read(qtbot: QtBot) -> None:
    out = run(qtbot, _echo_script(frame(OP_CLOSE, close_payload(1000))), on_open=_echo)
    _assert_echo_then_close(out, 1000)
    assert_clean(out)


def test_several_messages_pings_and_a_close_in_one_read_keep_their_order(qtbot: QtBot) -> None:
    burst = b"".join(frame(OP_TEXT, str(i).encode()) for i in range(5))
    burst += frame(OP_PING, b"p") + frame(OP_TEXT, b"5") + frame(OP_CLOSE, close_payload(1001))

    def script(c: PeerConn) -> None:
        c.send(burst)
        c.expect_close(5)
        c.wait_eof(5)

    out = run(qtbot, script, on_open=_echo)
    frames = [(f.opcode, f.payload) for f in out.conn.frames if f.opcode != OP_PONG]
    assert frames[:-1] == [(OP_TEXT, str(i).encode()) for i in range(6)]
    assert frames[-1][0] == OP_CLOSE and out.conn.frames[-1].close_code == 1001
    assert [f.payload for f in out.conn.frames if f.opcode == OP_PONG] == [b"p"]
    assert out.messages == [str(i) for i in range(6)]
    assert_clean(out, 1001)


def test_ping_in_message_slot_when_a_protocol_error_follows_in_the_same_read(
    qtbot: QtBot,
) -> None:
    def on_open(ws: qtws.WebSocket) -> None:
        ws.message.connect(lambda m: ws.ping(b"x"))

    # The message and the bad frame in one segment: the slot's ping goes out first.
    bad = frame(OP_TEXT, b"before") + frame(OP_BINARY, b"", rsv2=True)
    out = run(qtbot, fail_script(bad, prelude=False), on_open=on_open)
    frames = out.conn.frames
    assert [(f.opcode, f.payload) for f in frames[:1]] == [(OP_PING, b"x")]
    assert [f.opcode for f in frames[1:]] == [OP_CLOSE] and frames[1].close_code == 1002
    assert_failed_event(out, 1002)
    assert out.messages == ["before"]


def test_hello_in_opened_slot_when_close_arrives_with_the_101(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.wait_eof(2)

    out = run(
        qtbot,
        script,
        on_open=lambda ws: ws.send("hello"),
        after_response=frame(OP_CLOSE, close_payload(1001)),
    )
    assert_clean(out, 1001)
