"""Conformance cases where the server's close or protocol error arrives in the same TCP read
as a message or the 101: slots that send must not raise, and connect() reports the open."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

import qtws
from tests.peer import OP_BINARY, OP_CLOSE, OP_TEXT, Peer, PeerConn, close_payload, frame
from tests.test_conformance import FAST, assert_clean, assert_failed, fail_script, run


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


# While a read's events are dispatched, the core may already be CLOSED (a close frame or a
# protocol error came in the same TCP read): a slot that sees ready_state OPEN and calls send()
# or ping() gets InvalidState, and under PyQt6 an exception leaving a slot aborts the process.
# pytest-qt turns such an exception into a test failure.
def test_echo_in_message_slot_when_close_arrives_in_the_same_read(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send(frame(OP_TEXT, b"echo me") + frame(OP_CLOSE, close_payload(1000)))
        f = c.expect_close()
        assert f is not None and f.close_code == 1000
        c.wait_eof(2)

    def on_open(ws: qtws.WebSocket) -> None:
        ws.message.connect(ws.send)  # an echo client (how Autobahn drives clients)

    out = run(qtbot, script, on_open=on_open)
    assert out.messages == ["echo me"]
    assert_clean(out)


def test_ping_in_message_slot_when_a_protocol_error_follows_in_the_same_read(
    qtbot: QtBot,
) -> None:
    def on_open(ws: qtws.WebSocket) -> None:
        ws.message.connect(lambda m: ws.ping(b"x"))

    # The message and the bad frame in one segment, so the slot runs while the failure is
    # already decided: the ping must be dropped, not sent and not raised.
    bad = frame(OP_TEXT, b"before") + frame(OP_BINARY, b"", rsv2=True)
    out = run(qtbot, fail_script(bad, prelude=False), on_open=on_open)
    assert_failed(out, 1002, prelude=False)
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
