"""Conformance of the real client (qtws.WebSocket, Qt loop, real sockets) against a crafted-frame
server, in the spirit of the Autobahn testsuite (section numbers in the test names).

Every case runs a :class:`~tests.peer.Peer` script that sends exactly the bytes the case
specifies; the test then checks what the client put on the wire (frames, close code, TCP close)
and what it reported (signals).  Every run also checks the signal sequence rules of design.md:
exactly one ``closed``, last; ``error`` right before it when the close was not clean and never
for a clean one; messages before ``closed``.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from dataclasses import dataclass
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
    Deflater,
    Frame,
    Inflater,
    Peer,
    PeerConn,
    Request,
    accept_key,
    close_payload,
    frame,
)
from tests.recorder import Recorder

FAST = qtws.Config(
    ping_interval=None, open_timeout=5, close_timeout=0.5, proxy=None, compression=False
)
DEFLATE = qtws.Config(
    ping_interval=None, open_timeout=5, close_timeout=0.5, proxy=None, compression=True
)
MiB = 2**20


# ---------------------------------------------------------------------------------- harness
@dataclass
class Outcome:
    """What one case produced: the client's signals and the peer's record of the wire."""

    rec: Recorder
    conn: PeerConn
    event: qtws.CloseEvent
    ws: qtws.WebSocket

    @property
    def messages(self) -> list[Any]:
        return self.rec.messages()

    @property
    def error(self) -> Any:
        return self.rec.first("error")


def check_sequence(rec: Recorder) -> qtws.CloseEvent:
    """The signal rules every connection must follow (design.md)."""
    names = rec.names()
    assert names.count("closed") == 1, names
    assert names[-1] == "closed", names
    event = rec.log[-1][1]
    assert isinstance(event, qtws.CloseEvent)
    assert names.count("opened") <= 1
    if "opened" in names:
        assert names[0] == "opened", names
    else:
        assert "message" not in names
    if event.was_clean:
        assert "error" not in names, rec.log
    else:
        # An unclean end reports exactly one error, right before closed.
        assert names.count("error") == 1, names
        assert names[-2] == "error", names
    return event


def run(
    qtbot: QtBot,
    script: Callable[[PeerConn], None] | None,
    *,
    config: qtws.Config = FAST,
    on_open: Callable[[qtws.WebSocket], None] | None = None,
    timeout_ms: int = 10000,
    **peer_kw: Any,
) -> Outcome:
    """Run ``script`` in a peer against a fresh WebSocket until it reports ``closed``."""
    with Peer(script, **peer_kw) as peer:
        ws = qtws.WebSocket(peer.url, config=config)
        rec = Recorder(ws)
        if on_open is not None:
            ws.opened.connect(lambda: on_open(ws))
        with qtbot.waitSignal(ws.closed, timeout=timeout_ms):
            ws.open()
        conn = peer.join()
        qtbot.wait(5)  # let a (wrong) second emission show up before counting
    event = check_sequence(rec)
    assert ws.ready_state is qtws.ReadyState.CLOSED
    return Outcome(rec, conn, event, ws)


def clean_end(conn: PeerConn, code: int = 1000) -> None:
    """Close normally; the client must echo ``code`` (RFC 6455 5.5.1)."""
    f = conn.finish(code)
    assert f is not None and f.close_code == code, f


def assert_clean(out: Outcome, code: int = 1000, reason: str = "") -> None:
    assert out.event == qtws.CloseEvent(code, reason, True)


def assert_client_frames_masked(conn: PeerConn) -> None:
    # RFC 6455 5.3: every client frame is masked.
    assert all(f.masked for f in conn.frames)


# -- failing cases ------------------------------------------------------------------------------
TRAILER = frame(OP_PING, b"after") + frame(OP_TEXT, b"after")


def fail_script(bad: bytes | Callable[[PeerConn], None], *, prelude: bool = True) -> Any:
    """A script that sends a valid message, then ``bad`` followed by a ping and a text frame
    in the same segment, then records everything the client sends until it closes TCP."""

    def script(c: PeerConn) -> None:
        if prelude:
            c.send(frame(OP_TEXT, b"before"))
        if callable(bad):
            bad(c)
        else:
            c.send(bad + TRAILER)
        c.expect_close(5)
        # Once failed, the client answers nothing (RFC 6455 7.1.7): neither this ping...
        with contextlib.suppress(OSError):
            c.send(frame(OP_PING, b"late"))
        # ...nor anything else; and it closes TCP without waiting for our close.
        c.wait_eof(5)

    return script


def assert_failed(
    out: Outcome, code: int, *, prelude: bool = True, more: tuple[Any, ...] = ()
) -> None:
    """The client failed the connection with ``code``: one close frame carrying it, nothing
    after it, TCP closed; error(ProtocolError) then closed(code, unclean)."""
    conn = out.conn
    data = [f for f in conn.frames]
    assert [f.opcode for f in data] == [OP_CLOSE], data
    assert data[0].close_code == code
    assert conn.eof, "the client did not close TCP"
    assert_client_frames_masked(conn)
    assert out.event.code == code and not out.event.was_clean
    assert isinstance(out.error, qtws.ProtocolError), out.error
    assert out.error.code == code
    if prelude:
        assert out.messages == ["before", *more]


def expect_failure(
    qtbot: QtBot, bad: Any, code: int, config: qtws.Config = FAST, **kw: Any
) -> None:
    out = run(qtbot, fail_script(bad), config=config, **kw)
    assert_failed(out, code)


# ---------------------------------------------------------------------- 1.x framing, sizes
SIZES = [0, 125, 126, 127, 128, 65535, 65536, MiB]


def payload_of(kind: str, size: int) -> bytes:
    if kind == "text":
        # Two-byte characters, so chunked reads split characters.
        return ("ä" * (size // 2) + "a" * (size % 2)).encode()
    return bytes(i * 7 % 256 for i in range(256)) * (size // 256) + bytes(size % 256)


def send_trickled(c: PeerConn, data: bytes) -> None:
    """Small frames one byte at a time; big ones: the header and the first bytes one at a time,
    the rest in odd-sized chunks."""
    head = len(data) if len(data) <= 256 else 40
    c.trickle(data[:head], 1, 0.0003)
    c.trickle(data[head:], 7919)


@pytest.mark.parametrize("how", ["whole", "trickled"])
@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_1_sizes(qtbot: QtBot, size: int, kind: str, how: str) -> None:
    body = payload_of(kind, size)
    data = frame(OP_TEXT if kind == "text" else OP_BINARY, body)

    def script(c: PeerConn) -> None:
        if how == "whole":
            c.send(data)
        else:
            send_trickled(c, data)
        clean_end(c)

    out = run(qtbot, script)
    expected: str | bytes = body.decode() if kind == "text" else body
    assert out.messages == [expected]
    assert type(out.messages[0]) is type(expected)
    assert_clean(out)
    assert_client_frames_masked(out.conn)


def test_1_all_length_encodings_in_one_segment(qtbot: QtBot) -> None:
    msgs = [bytes([n % 256]) * n for n in SIZES[:-1]]

    def script(c: PeerConn) -> None:
        c.send(b"".join(frame(OP_BINARY, m) for m in msgs))
        clean_end(c)

    out = run(qtbot, script)
    assert out.messages == msgs


def test_1_client_sends_every_size(qtbot: QtBot) -> None:
    """The client's own frames: masked, minimal length encoding, payload intact."""
    texts = ["x" * n for n in SIZES]
    got: list[Frame] = []

    def script(c: PeerConn) -> None:
        for _ in texts:
            f = c.recv_frame()
            assert f is not None
            got.append(f)
        clean_end(c)

    def on_open(ws: qtws.WebSocket) -> None:
        for t in texts:
            ws.send(t)

    out = run(qtbot, script, on_open=on_open)
    assert_clean(out)
    for t, f in zip(texts, got, strict=True):
        assert (f.fin, f.rsv, f.opcode, f.masked) == (True, 0, OP_TEXT, True)
        assert f.payload == t.encode()
    assert len({f.mask for f in got}) > 1  # a fresh masking key per frame


# ---------------------------------------------------------------------------- 2.x ping/pong
@pytest.mark.parametrize(
    "payload",
    [b"", b"Hello, world!", b"*" * 125, bytes(range(125)), b"\x00\xff\xfe\xfd\xfc"],
    ids=["empty", "text", "125", "binary-125", "binary"],
)
def test_2_ping_answered_with_identical_pong(qtbot: QtBot, payload: bytes) -> None:
    pongs: list[Frame] = []

    def script(c: PeerConn) -> None:
        c.send_frame(OP_PING, payload)
        f = c.recv_frame()
        assert f is not None
        pongs.append(f)
        clean_end(c)

    out = run(qtbot, script)
    assert [(p.opcode, p.payload, p.fin, p.masked) for p in pongs] == [
        (OP_PONG, payload, True, True)
    ]
    assert_clean(out)


def test_2_ping_trickled(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.trickle(frame(OP_PING, b"slow ping"), 1, 0.001)
        f = c.recv_frame()
        assert f is not None and (f.opcode, f.payload) == (OP_PONG, b"slow ping")
        clean_end(c)

    assert_clean(run(qtbot, script))


def test_2_ten_pings_all_answered_in_order(qtbot: QtBot) -> None:
    payloads = [f"ping {i}".encode() for i in range(10)]

    def script(c: PeerConn) -> None:
        c.send(b"".join(frame(OP_PING, p) for p in payloads))
        got = [c.recv_frame() for _ in payloads]
        assert [(f.opcode, f.payload) for f in got if f] == [(OP_PONG, p) for p in payloads]
        clean_end(c)

    assert_clean(run(qtbot, script))


def test_2_ping_126_bytes_fails_1002(qtbot: QtBot) -> None:
    expect_failure(qtbot, frame(OP_PING, b"x" * 126), 1002)


def test_2_unsolicited_pong_ignored(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send(frame(OP_PONG, b"unsolicited") + frame(OP_PONG) + frame(OP_TEXT, b"after"))
        clean_end(c)

    out = run(qtbot, script)
    assert out.messages == ["after"]
    assert [f.opcode for f in out.conn.frames] == [OP_CLOSE]
    assert "pong" not in out.rec.names()  # not an answer to any ping of ours
    assert_clean(out)


def test_2_client_ping_and_pong_received(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        f = c.recv_frame()
        assert f is not None and f.opcode == OP_PING and f.masked
        c.send_frame(OP_PONG, f.payload)
        clean_end(c)

    out = run(qtbot, script, on_open=lambda ws: ws.ping(b"rtt?"))
    assert ("pong", b"rtt?") in out.rec.log
    assert out.ws.latency is not None
    assert_clean(out)


# ------------------------------------------------------------------------------ 3.x RSV bits
@pytest.mark.parametrize(
    "bad",
    [
        frame(OP_TEXT, b"rsv2", rsv2=True),
        frame(OP_TEXT, b"rsv3", rsv3=True),
        frame(OP_TEXT, b"rsv1", rsv1=True),  # RSV1 without permessage-deflate
        frame(OP_BINARY, b"\x00\xff", rsv1=True, rsv2=True),
        frame(OP_BINARY, b"", rsv1=True, rsv2=True, rsv3=True),
        frame(OP_PING, b"ping", rsv3=True),
        frame(OP_PONG, b"pong", rsv1=True, rsv3=True),
        frame(OP_CLOSE, close_payload(1000), rsv2=True),
        frame(OP_TEXT, b"frag", fin=False) + frame(OP_CONT, b"ment", rsv2=True),
    ],
    ids=[
        "text-2",
        "text-3",
        "text-1",
        "binary-12",
        "binary-123",
        "ping-3",
        "pong-13",
        "close-2",
        "continuation-2",
    ],
)
def test_3_rsv_bits_fail_1002(qtbot: QtBot, bad: bytes) -> None:
    # RFC 6455 5.2: a nonzero RSV bit no negotiated extension defines fails the connection.
    expect_failure(qtbot, bad, 1002)


# ------------------------------------------------------------------------- 4.x opcodes
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
@pytest.mark.parametrize("payload", [b"", b"reserved"], ids=["empty", "payload"])
def test_4_reserved_opcodes_fail_1002(qtbot: QtBot, opcode: int, payload: bytes) -> None:
    # RFC 6455 5.2: an unknown opcode fails the connection.
    expect_failure(qtbot, frame(opcode, payload), 1002)


# ---------------------------------------------------------------------- 5.x fragmentation
def test_5_fragmented_text_and_binary_with_pings_between(qtbot: QtBot) -> None:
    seq = [
        frame(OP_TEXT, b"frag", fin=False),
        frame(OP_PING, b"p1"),
        frame(OP_CONT, b"men", fin=False),
        frame(OP_PONG, b"unsolicited"),
        frame(OP_CONT, b"", fin=False),
        frame(OP_PING, b"p2"),
        frame(OP_CONT, b"ted"),
        frame(OP_BINARY, b"\x01", fin=False),
        frame(OP_CONT, b"\x02", fin=False),
        frame(OP_PING, b"p3"),
        frame(OP_CONT, b"\x03"),
        frame(OP_TEXT, b"", fin=False),
        frame(OP_CONT, b""),
    ]
    pongs: list[bytes] = []

    def script(c: PeerConn) -> None:
        for part in seq:
            c.send(part)
        for _ in range(3):
            f = c.recv_frame()
            assert f is not None and f.opcode == OP_PONG
            pongs.append(f.payload)
        clean_end(c)

    out = run(qtbot, script)
    assert pongs == [b"p1", b"p2", b"p3"]
    assert out.messages == ["fragmented", b"\x01\x02\x03", ""]
    assert_clean(out)


def test_5_fragments_in_one_segment_and_trickled(qtbot: QtBot) -> None:
    data = frame(OP_TEXT, b"ab", fin=False) + frame(OP_PING, b"x") + frame(OP_CONT, b"cd")

    def script(c: PeerConn) -> None:
        c.send(data)
        c.trickle(data, 1, 0.0005)
        clean_end(c)

    out = run(qtbot, script)
    assert out.messages == ["abcd", "abcd"]
    assert [f.opcode for f in out.conn.frames] == [OP_PONG, OP_PONG, OP_CLOSE]


def test_5_thousands_of_one_byte_fragments(qtbot: QtBot) -> None:
    text = ("0123456789" * 300).encode()
    parts = [frame(OP_TEXT, text[:1], fin=False)]
    parts += [frame(OP_CONT, text[i : i + 1], fin=False) for i in range(1, len(text) - 1)]
    parts.append(frame(OP_CONT, text[-1:]))
    binary = bytes(range(256)) * 8
    bparts = [frame(OP_BINARY, binary[:1], fin=False)]
    bparts += [frame(OP_CONT, binary[i : i + 1], fin=False) for i in range(1, len(binary) - 1)]
    bparts.append(frame(OP_CONT, binary[-1:]))

    def script(c: PeerConn) -> None:
        c.send(b"".join(parts) + b"".join(bparts))
        clean_end(c)

    out = run(qtbot, script)
    assert out.messages == [text.decode(), binary]


@pytest.mark.parametrize(
    "bad",
    [
        frame(OP_CONT, b"orphan"),
        frame(OP_CONT, b"orphan", fin=False),
        frame(OP_CONT, b"", fin=False) + frame(OP_TEXT, b"x"),
        frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"),
        frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b", fin=False),
        frame(OP_BINARY, b"a", fin=False) + frame(OP_TEXT, b"b"),
        frame(OP_PING, b"frag", fin=False) + frame(OP_CONT, b"ment"),
        frame(OP_PONG, b"frag", fin=False) + frame(OP_CONT, b"ment"),
        frame(OP_CLOSE, close_payload(1000), fin=False) + frame(OP_CONT, b""),
        frame(OP_TEXT, b"a", fin=False) + frame(OP_PING, b"p", fin=False),
    ],
    ids=[
        "cont-fin",
        "cont-nofin",
        "cont-then-text",
        "text-in-text",
        "text-in-text-nofin",
        "text-in-binary",
        "fragmented-ping",
        "fragmented-pong",
        "fragmented-close",
        "fragmented-ping-in-message",
    ],
)
def test_5_bad_fragmentation_fails_1002(qtbot: QtBot, bad: bytes) -> None:
    # RFC 6455 5.4: control frames are never fragmented; a continuation needs a started
    # message and a new message cannot start inside one.
    expect_failure(qtbot, bad, 1002)


def test_5_continuation_after_the_message_ended_fails_1002(qtbot: QtBot) -> None:
    bad = frame(OP_TEXT, b"a", fin=False) + frame(OP_CONT, b"b") + frame(OP_CONT, b"c")
    assert_failed(run(qtbot, fail_script(bad)), 1002, more=("ab",))


def test_5_close_in_the_middle_of_a_fragmented_message_is_a_normal_close(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send(frame(OP_TEXT, b"never", fin=False))
        clean_end(c, 1001)

    out = run(qtbot, script)
    assert out.messages == []
    assert_clean(out, 1001)


# --------------------------------------------------------------------------------- 6.x UTF-8
VALID_TEXT = "κόσμε €𝄞 ✓ 日本 \U0010fffd end"


def test_6_valid_utf8_split_at_every_position(qtbot: QtBot) -> None:
    raw = VALID_TEXT.encode()
    count = len(raw) - 1

    def script(c: PeerConn) -> None:
        for i in range(1, len(raw)):
            c.send(frame(OP_TEXT, raw[:i], fin=False) + frame(OP_CONT, raw[i:]))
        clean_end(c)

    out = run(qtbot, script)
    assert out.messages == [VALID_TEXT] * count


def test_6_valid_utf8_one_byte_per_fragment_and_trickled(qtbot: QtBot) -> None:
    raw = VALID_TEXT.encode()
    parts = [frame(OP_TEXT, raw[:1], fin=False)]
    parts += [frame(OP_CONT, raw[i : i + 1], fin=False) for i in range(1, len(raw))]
    parts.append(frame(OP_CONT, b""))

    def script(c: PeerConn) -> None:
        c.send(b"".join(parts))
        c.trickle(frame(OP_TEXT, raw), 1, 0.0005)
        clean_end(c)

    assert run(qtbot, script).messages == [VALID_TEXT, VALID_TEXT]


@pytest.mark.parametrize(
    "text",
    ["\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\U0010ffff", "\x00", "a\ufeffb"],
    ids=["U+FFFE", "U+FFFF", "U+FDD0", "U+1FFFE", "U+10FFFF", "NUL", "BOM"],
)
def test_6_noncharacters_are_valid(qtbot: QtBot, text: str) -> None:
    def script(c: PeerConn) -> None:
        c.send_frame(OP_TEXT, text.encode())
        clean_end(c)

    assert run(qtbot, script).messages == [text]


INVALID_UTF8 = {
    "lone-continuation": b"\x80",
    "lone-continuation-bf": b"abc\xbf",
    "fe": b"\xfe",
    "ff": b"\xff",
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-c1": b"\xc1\xbf",
    "overlong-slash-3": b"\xe0\x80\xaf",
    "overlong-slash-4": b"\xf0\x80\x80\xaf",
    "overlong-nul": b"\xc0\x80",
    "surrogate-high": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
    "surrogate-low": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\x80\xed\xb0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "5-byte": b"\xf8\x88\x80\x80\x80",
    "6-byte": b"\xfc\x84\x80\x80\x80\x80",
    "truncated-2": b"abc\xce",
    "truncated-3": b"abc\xe2\x82",
    "truncated-4": b"abc\xf0\x9f\x98",
    "bad-continuation": b"\xe2\x28\xa1",
}


@pytest.mark.parametrize("how", ["frame", "fragments"])
@pytest.mark.parametrize("raw", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_6_invalid_utf8_fails_1007(qtbot: QtBot, raw: bytes, how: str) -> None:
    # RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection (1007).
    if how == "frame":
        bad = frame(OP_TEXT, raw)
    else:
        bad = frame(OP_TEXT, raw[:1], fin=False)
        bad += b"".join(frame(OP_CONT, raw[i : i + 1], fin=False) for i in range(1, len(raw)))
        bad += frame(OP_CONT, b"")
    expect_failure(qtbot, bad, 1007)


@pytest.mark.parametrize(
    "first",
    [b"hello\xc0", b"hello\xed\xa0", b"\xf4\x90", b"ok\xe0\x80", b"\xff", b"\xf5"],
    ids=[
        "overlong-lead",
        "surrogate-prefix",
        "above-10ffff-prefix",
        "overlong-3-prefix",
        "ff",
        "f5",
    ],
)
@pytest.mark.parametrize("where", ["fragment", "partial-frame"])
def test_6_fail_fast(qtbot: QtBot, first: bytes, where: str) -> None:
    """The client closes with 1007 as soon as the bytes cannot be valid UTF-8, without waiting
    for the rest of the message (which never comes)."""

    def bad(c: PeerConn) -> None:
        if where == "fragment":
            c.send(frame(OP_TEXT, first, fin=False))
        else:
            # A frame announcing 1000 bytes of which only the first few are sent.
            c.send(frame(OP_TEXT, first, length=1000))

    out = run(qtbot, fail_script(bad))
    assert_failed(out, 1007)


# ------------------------------------------------------------------------------ 7.x close
def test_7_close_without_payload_echoed_without_code(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        f = c.finish(None)
        assert f is not None and f.payload == b""

    out = run(qtbot, script)
    assert_clean(out, 1005)


def test_7_close_with_one_byte_payload_fails_1002(qtbot: QtBot) -> None:
    expect_failure(qtbot, frame(OP_CLOSE, b"\x03"), 1002)


VALID_CODES = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
]


@pytest.mark.parametrize("code", VALID_CODES)
def test_7_valid_close_code_echoed(qtbot: QtBot, code: int) -> None:
    def script(c: PeerConn) -> None:
        f = c.finish(code, "bye ✓")
        assert f is not None and f.close_code == code

    out = run(qtbot, script)
    assert_clean(out, code, "bye ✓")


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_7_invalid_close_code_fails_1002(qtbot: QtBot, code: int) -> None:
    # RFC 6455 7.4: these codes may not appear in a close frame.
    expect_failure(qtbot, frame(OP_CLOSE, close_payload(code, b"x")), 1002)


@pytest.mark.parametrize("raw", [b"\xff", b"\xed\xa0\x80", b"ok\xc0\xaf", b"abc\xe2\x82"])
def test_7_close_reason_invalid_utf8_fails_1007(qtbot: QtBot, raw: bytes) -> None:
    expect_failure(qtbot, frame(OP_CLOSE, close_payload(1000, raw)), 1007)


def test_7_close_reason_123_bytes(qtbot: QtBot) -> None:
    reason = "é" * 61 + "x"  # 123 UTF-8 bytes: the whole close payload is 125
    assert len(reason.encode()) == 123

    def script(c: PeerConn) -> None:
        f = c.finish(1000, reason)
        assert f is not None and f.close_code == 1000

    out = run(qtbot, script)
    assert_clean(out, 1000, reason)


def test_7_close_payload_over_125_fails_1002(qtbot: QtBot) -> None:
    expect_failure(qtbot, frame(OP_CLOSE, close_payload(1000, b"x" * 124)), 1002)


def test_7_frames_after_the_servers_close_are_ignored(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send(
            frame(OP_TEXT, b"before")
            + frame(OP_CLOSE, close_payload(1000))
            + frame(OP_TEXT, b"after")
            + frame(OP_PING, b"after")
            + frame(OP_CLOSE, close_payload(1001))
        )
        f = c.expect_close()
        assert f is not None and f.close_code == 1000
        c.wait_eof(2)
        c.close_tcp()

    out = run(qtbot, script)
    assert out.messages == ["before"]
    assert [f.opcode for f in out.conn.frames] == [OP_CLOSE]
    assert_clean(out)


def test_7_big_message_then_close_then_ping_trickled(qtbot: QtBot) -> None:
    """Autobahn 7.1.6: a 256 KiB message, a close and a ping, arriving in small pieces: the
    message is delivered, the close echoed, the ping (after the close) never answered."""
    body = payload_of("text", 256 * 1024)

    def script(c: PeerConn) -> None:
        data = frame(OP_TEXT, body) + frame(OP_CLOSE, close_payload(1000)) + frame(OP_PING)
        c.trickle(data, 997)
        f = c.expect_close()
        assert f is not None and f.close_code == 1000
        c.wait_eof(2)

    out = run(qtbot, script)
    assert out.messages == [body.decode()]
    assert [f.opcode for f in out.conn.frames] == [OP_CLOSE]
    assert_clean(out)


def test_blocking_connect_returns_when_the_server_closes_in_the_101_segment(
    qtbot: QtBot,
) -> None:
    after = frame(OP_TEXT, b"greeting") + frame(OP_CLOSE, close_payload(1000, "bye"))

    def script(c: PeerConn) -> None:
        c.wait_eof(5)

    with Peer(script, after_response=after) as peer:
        ws = qtws.WebSocket(peer.url, config=FAST)
        ws.connect(5)
        assert ws.wait_for_next_message(5) == "greeting"
        with pytest.raises(qtws.ConnectionClosed) as info:
            ws.wait_for_next_message(5)
        conn = peer.join()
    assert (info.value.code, info.value.reason, info.value.was_clean) == (1000, "bye", True)
    assert [f.close_code for f in conn.frames] == [1000]


def test_7_client_close_waits_for_the_servers_close(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        f = c.expect_close()
        assert f is not None and f.close_code == 1000 and f.close_reason == b"bye"
        c.send_close(1000, "ok")
        c.wait_eof(2)
        c.close_tcp()

    def on_open(ws: qtws.WebSocket) -> None:
        ws.send("last")
        ws.close(1000, "bye")

    out = run(qtbot, script, on_open=on_open)
    # The message sent before close() is on the wire before the close frame.
    assert [(f.opcode, f.payload) for f in out.conn.frames[:1]] == [(OP_TEXT, b"last")]
    assert [f.opcode for f in out.conn.frames] == [OP_TEXT, OP_CLOSE]
    assert_clean(out, 1000, "ok")


def test_7_client_close_unanswered_drops_tcp_after_close_timeout(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        f = c.expect_close()
        assert f is not None and f.close_code == 4001
        assert c.wait_eof(5), "the client never dropped TCP"

    out = run(qtbot, script, on_open=lambda ws: ws.close(4001))
    assert out.event.code == 1006 and not out.event.was_clean
    assert isinstance(out.error, TimeoutError)


def test_7_server_close_then_tcp_left_open(qtbot: QtBot) -> None:
    """The server sends its close but never closes TCP: the client still ends (clean) and
    drops TCP (RFC 6455 7.1.1 lets it close once the handshake is done)."""

    def script(c: PeerConn) -> None:
        c.send_close(1000)
        f = c.expect_close()
        assert f is not None and f.close_code == 1000
        assert c.wait_eof(5)

    out = run(qtbot, script)
    assert_clean(out)


def test_7_masked_server_frame_fails_1002(qtbot: QtBot) -> None:
    # RFC 6455 5.1: a client MUST close the connection if it detects a masked frame.
    expect_failure(qtbot, frame(OP_TEXT, b"masked", mask=b"\x01\x02\x03\x04"), 1002)


def test_7_64bit_length_with_msb_set_fails_1002(qtbot: QtBot) -> None:
    # RFC 6455 5.2: the most significant bit of the 64-bit length MUST be 0.
    expect_failure(qtbot, frame(OP_BINARY, b"", length=2**63 + 5, form=64), 1002)


# -------------------------------------------------------------------------- limits (1009)
LIMITED = qtws.Config(
    ping_interval=None,
    open_timeout=5,
    close_timeout=0.5,
    proxy=None,
    compression=False,
    max_message_size=MiB,
)


@pytest.mark.parametrize(
    "header",
    [
        frame(OP_BINARY, b"", length=MiB + 1),
        frame(OP_TEXT, b"", length=2**40),
        frame(OP_BINARY, b"x" * 1000, fin=False) + frame(OP_CONT, b"", length=MiB - 999),
    ],
    ids=["one-over", "huge", "fragments"],
)
def test_limit_header_alone_fails_1009(qtbot: QtBot, header: bytes) -> None:
    """The length field alone is enough: the payload is never sent, yet the client closes 1009."""
    out = run(qtbot, fail_script(header), config=LIMITED)
    assert_failed(out, 1009)
    assert isinstance(out.error, qtws.PayloadTooBig)


def test_limit_exactly_max_message_size_is_delivered(qtbot: QtBot) -> None:
    body = b"\x07" * MiB

    def script(c: PeerConn) -> None:
        c.send(frame(OP_BINARY, body[:1000], fin=False) + frame(OP_CONT, body[1000:]))
        clean_end(c)

    assert run(qtbot, script, config=LIMITED).messages == [body]


# ---------------------------------------------------------------------- 9.x performance-ish
def test_9_sixteen_mib_messages(qtbot: QtBot) -> None:
    binary = bytes(range(256)) * (16 * MiB // 256)
    text = "€" * (16 * MiB // 3)  # just under 16 MiB of UTF-8
    chunk = 65536
    raw = text.encode()
    frags = [frame(OP_TEXT, raw[:chunk], fin=False)]
    frags += [
        frame(OP_CONT, raw[i : i + chunk], fin=i + chunk >= len(raw))
        for i in range(chunk, len(raw), chunk)
    ]

    def script(c: PeerConn) -> None:
        c.send(frame(OP_BINARY, binary))
        c.send(b"".join(frags))
        clean_end(c)

    cfg = qtws.Config(ping_interval=None, close_timeout=2, proxy=None, compression=False)
    out = run(qtbot, script, config=cfg, timeout_ms=30000)
    assert len(out.messages) == 2
    assert out.messages[0] == binary
    assert out.messages[1] == text


def test_9_ten_thousand_messages_in_a_burst_in_order(qtbot: QtBot) -> None:
    n = 10000
    burst = b"".join(
        frame(OP_TEXT, f"m{i}".encode()) if i % 2 else frame(OP_BINARY, i.to_bytes(4, "big"))
        for i in range(n)
    )

    def script(c: PeerConn) -> None:
        c.send(burst)
        clean_end(c)

    out = run(qtbot, script)
    assert out.messages == [f"m{i}" if i % 2 else i.to_bytes(4, "big") for i in range(n)]


# ------------------------------------------------------------------ 12/13.x permessage-deflate
def compressed_frames(payload: bytes, deflater: Deflater, opcode: int = OP_TEXT) -> bytes:
    return frame(opcode, deflater.compress(payload), rsv1=True)


MESSAGES = [
    b"Hello, compressed world! " * 40,
    b"Hello, compressed world! " * 40,  # identical: context takeover makes it tiny
    "κόσμε ✓ ".encode() * 100,
    b"",
    bytes(range(256)) * 4,
]


@pytest.mark.parametrize(
    "params,bits,no_ctx",
    [
        ("", 15, False),
        ("; server_no_context_takeover", 15, True),
        ("; server_max_window_bits=8", 9, False),  # zlib compresses "8" with 9 bits
        ("; server_max_window_bits=9", 9, False),
        ("; server_max_window_bits=10", 10, False),
        ("; server_max_window_bits=12", 12, False),
        ("; server_max_window_bits=15", 15, False),
        ("; server_max_window_bits=9; server_no_context_takeover", 9, True),
        ("; client_no_context_takeover", 15, False),
        ("; client_max_window_bits=11", 15, False),
    ],
)
def test_12_compressed_messages_received(
    qtbot: QtBot, params: str, bits: int, no_ctx: bool
) -> None:
    deflater = Deflater(bits, no_ctx)

    def script(c: PeerConn) -> None:
        for i, m in enumerate(MESSAGES):
            opcode = OP_TEXT if i != 4 else OP_BINARY
            c.send(compressed_frames(m, deflater, opcode))
        # An uncompressed message between compressed ones is allowed (RFC 7692 6).
        c.send(frame(OP_TEXT, b"plain"))
        c.send(compressed_frames(MESSAGES[0], deflater))
        clean_end(c)

    out = run(qtbot, script, config=DEFLATE, extensions="permessage-deflate" + params)
    assert out.ws.extensions == "permessage-deflate"
    expected: list[Any] = [m.decode() for m in MESSAGES[:4]] + [MESSAGES[4]]
    assert out.messages == [*expected, "plain", MESSAGES[0].decode()]
    assert_clean(out)


def far_repeats() -> bytes:
    """2000 incompressible bytes repeated: only a window over 2000 bytes can reference back."""
    block = bytes((i * 131 + (i >> 3) * 17) % 251 for i in range(2000))
    return block * 3


@pytest.mark.parametrize(
    "params,bits,no_ctx",
    [
        ("", 15, False),
        ("; client_no_context_takeover", 15, True),
        ("; client_max_window_bits=10", 10, False),
        ("; client_max_window_bits=9; client_no_context_takeover", 9, True),
        ("; client_max_window_bits=8", 8, False),
    ],
)
def test_12_client_compresses_as_negotiated(
    qtbot: QtBot, params: str, bits: int, no_ctx: bool
) -> None:
    """The peer inflates the client's messages with exactly the negotiated window and context
    rules: a client using a larger window or context takeover would make zlib fail here."""
    msgs: list[str | bytes] = [far_repeats(), far_repeats(), "text ✓ " * 50]
    got: list[tuple[int, bytes]] = []

    def script(c: PeerConn) -> None:
        inflater = Inflater(bits, no_ctx)
        for _ in msgs:
            f = c.recv_frame()
            assert f is not None and f.rsv == 4 and f.fin, f  # RSV1: compressed
            got.append((f.opcode, inflater.decompress(f.payload)))
        clean_end(c)

    def on_open(ws: qtws.WebSocket) -> None:
        for m in msgs:
            ws.send(m)

    out = run(
        qtbot, script, config=DEFLATE, extensions="permessage-deflate" + params, on_open=on_open
    )
    assert got == [(OP_BINARY, msgs[0]), (OP_BINARY, msgs[1]), (OP_TEXT, "text ✓ ".encode() * 50)]
    assert_clean(out)
    # Control frames are never compressed (RFC 7692 6.1).
    assert out.conn.frames[-1].rsv == 0


def test_12_fragmented_compressed_message(qtbot: QtBot) -> None:
    deflater = Deflater()
    data = deflater.compress("fragmented and compressed ✓ ".encode() * 100)
    a, b = len(data) // 3, 2 * len(data) // 3

    def script(c: PeerConn) -> None:
        c.send(
            frame(OP_TEXT, data[:a], fin=False, rsv1=True)
            + frame(OP_PING, b"between")
            + frame(OP_CONT, data[a:b], fin=False)
            + frame(OP_CONT, data[b:])
        )
        f = c.recv_frame()
        assert f is not None and f.opcode == OP_PONG and f.rsv == 0 and f.payload == b"between"
        clean_end(c)

    out = run(qtbot, script, config=DEFLATE, extensions="permessage-deflate")
    assert out.messages == ["fragmented and compressed ✓ " * 100]


def test_12_message_ended_with_a_final_block(qtbot: QtBot) -> None:
    """RFC 7692 7.2.3.3: a sender may end a message with a BFINAL block instead of a flush."""

    def final(data: bytes) -> bytes:
        obj = zlib.compressobj(9, zlib.DEFLATED, -15)
        return obj.compress(data) + obj.flush(zlib.Z_FINISH)

    def script(c: PeerConn) -> None:
        c.send(frame(OP_TEXT, final(b"first " * 50), rsv1=True))
        c.send(frame(OP_TEXT, final(b"second " * 50), rsv1=True))
        clean_end(c)

    out = run(
        qtbot, script, config=DEFLATE, extensions="permessage-deflate; server_no_context_takeover"
    )
    assert out.messages == ["first " * 50, "second " * 50]


@pytest.mark.parametrize(
    "bad",
    [
        frame(OP_TEXT, Deflater().compress(b"abc")[:1], fin=False, rsv1=True)
        + frame(OP_CONT, Deflater().compress(b"abc")[1:], rsv1=True),
        frame(OP_PING, b"x", rsv1=True),
        frame(OP_CLOSE, close_payload(1000), rsv1=True),
        frame(OP_TEXT, b"x", rsv2=True),
    ],
    ids=["rsv1-continuation", "rsv1-ping", "rsv1-close", "rsv2-text"],
)
def test_13_rsv_misuse_with_deflate_fails_1002(qtbot: QtBot, bad: bytes) -> None:
    # RFC 7692 6.1: RSV1 only on the first frame of a message, never on control frames.
    expect_failure(qtbot, bad, 1002, config=DEFLATE, extensions="permessage-deflate")


def test_13_rsv1_when_deflate_was_offered_but_not_accepted_fails_1002(qtbot: QtBot) -> None:
    expect_failure(qtbot, compressed_frames(b"abc", Deflater()), 1002, config=DEFLATE)


@pytest.mark.parametrize(
    "data", [b"\xff\xff\xff\xff", b"\x07\x00garbage", Deflater().compress(b"abc")[:-1] + b"\xff"]
)
def test_13_corrupt_compressed_data_fails_1007(qtbot: QtBot, data: bytes) -> None:
    # qtws.core.deflate.CORRUPT_DATA_CODE documents 1007 for data zlib cannot inflate.
    expect_failure(
        qtbot,
        frame(OP_BINARY, data, rsv1=True),
        1007,
        config=DEFLATE,
        extensions="permessage-deflate",
    )


def test_13_compressed_message_over_limit_fails_1009(qtbot: QtBot) -> None:
    cfg = qtws.Config(
        ping_interval=None, close_timeout=0.5, proxy=None, compression=True, max_message_size=MiB
    )
    bomb = Deflater().compress(bytes(MiB + 1))
    expect_failure(
        qtbot, frame(OP_BINARY, bomb, rsv1=True), 1009, config=cfg, extensions="permessage-deflate"
    )


ZIP_BOMB_CLIENT = textwrap.dedent(
    """
    import resource, sys
    import qtws
    cfg = qtws.Config(ping_interval=None, close_timeout=0.5, proxy=None, max_message_size=2**20)
    ws = qtws.WebSocket(sys.argv[1], config=cfg)
    ws.connect(5)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ws.send("go")
    try:
        ws.wait_for_next_message(10)
        print("DELIVERED")
    except qtws.ConnectionClosed as exc:
        print("CLOSED", exc.code, exc.was_clean)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("GROWTH_KIB", peak - base)
    """
)


def test_13_zip_bomb_is_bounded(qtbot: QtBot) -> None:
    """100 MiB of zeros (about 100 KiB compressed) against max_message_size=1 MiB: 1009, and the
    client process (blocking API, no Qt, in a subprocess so its peak RSS is its own) does not
    grow anywhere near the inflated size."""
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(MiB)
    bomb = b"".join(obj.compress(zero) for _ in range(100)) + obj.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]
    assert len(bomb) < MiB // 4

    def script(c: PeerConn) -> None:
        c.send(frame(OP_BINARY, bomb, rsv1=True))
        f = c.expect_close(10)
        assert f is not None and f.close_code == 1009
        c.wait_eof(5)

    with Peer(after_go(script), extensions="permessage-deflate") as peer:
        proc = subprocess.run(
            [sys.executable, "-c", ZIP_BOMB_CLIENT, peer.url],
            capture_output=True,
            text=True,
            timeout=40,
        )
        peer.join()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert "CLOSED 1009 False" in lines, proc.stdout
    growth_kib = int(next(x for x in lines if x.startswith("GROWTH_KIB")).split()[1])
    assert growth_kib < 40 * 1024, f"client grew by {growth_kib} KiB"


# --------------------------------------------------------------------------- handshake
def response_with(
    *,
    drop: str = "",
    extra: str = "",
    status: str = "101 Switching Protocols",
    accept: str | None = None,
    body: bytes = b"",
) -> Callable[[Request], bytes]:
    def build(req: Request) -> bytes:
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Accept": accept or accept_key(req.headers["sec-websocket-key"]),
        }
        if drop:
            headers.pop(drop)
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
        if extra:
            lines.append(extra)
        if not status.startswith("101"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    return build


def handshake_failure(qtbot: QtBot, config: qtws.Config = FAST, **peer_kw: Any) -> Outcome:
    def script(c: PeerConn) -> None:
        assert c.wait_eof(5)

    out = run(qtbot, script, config=config, **peer_kw)
    assert "opened" not in out.rec.names()
    assert out.event.code == 1006 and not out.event.was_clean
    assert out.conn.frames == []  # no frame before a successful upgrade
    return out


@pytest.mark.parametrize(
    "response,exc_type",
    [
        (response_with(drop="Upgrade"), qtws.InvalidHeader),
        (response_with(drop="Connection"), qtws.InvalidHeader),
        (response_with(drop="Sec-WebSocket-Accept"), qtws.InvalidHeader),
        (response_with(accept="dGhlIHNhbXBsZSBub25jZQ=="), qtws.InvalidHeader),
        (response_with(extra="Sec-WebSocket-Extensions: x-unknown"), qtws.NegotiationError),
        (response_with(extra="Sec-WebSocket-Protocol: chat"), qtws.NegotiationError),
        (
            response_with(extra="Sec-WebSocket-Extensions: permessage-deflate; foo=1"),
            qtws.NegotiationError,
        ),
        (
            response_with(extra="Sec-WebSocket-Extensions: permessage-deflate"),
            qtws.NegotiationError,  # compression=False: it was not offered
        ),
    ],
    ids=[
        "no-upgrade",
        "no-connection",
        "no-accept",
        "wrong-accept",
        "unknown-extension",
        "subprotocol-not-offered",
        "bad-deflate-param",
        "deflate-not-offered",
    ],
)
def test_handshake_invalid_101(qtbot: QtBot, response: Any, exc_type: type) -> None:
    out = handshake_failure(qtbot, response=response)
    assert isinstance(out.error, exc_type), out.error
    assert isinstance(out.error, qtws.HandshakeError)


def test_handshake_http_200(qtbot: QtBot) -> None:
    out = handshake_failure(qtbot, response=response_with(status="200 OK", drop="Upgrade"))
    assert isinstance(out.error, qtws.InvalidStatus) and out.error.status == 200


def test_handshake_http_404_with_body(qtbot: QtBot) -> None:
    def response(req: Request) -> bytes:
        body = b"<h1>no such endpoint</h1>"
        return (
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    out = handshake_failure(qtbot, response=response)
    assert isinstance(out.error, qtws.InvalidStatus)
    assert out.error.status == 404
    assert b"no such endpoint" in out.error.body
    assert ("Content-Type", "text/html") in out.error.headers or any(
        k.lower() == "content-type" for k, _ in out.error.headers
    )


def test_handshake_server_closes_before_responding(qtbot: QtBot) -> None:
    out = run(qtbot, None, response=lambda req: b"")
    assert out.event.code == 1006 and not out.event.was_clean
    assert "opened" not in out.rec.names()
    assert isinstance(out.error, (OSError, qtws.HandshakeError))


def test_handshake_tokens_case_insensitive_and_in_lists(qtbot: QtBot) -> None:
    def response(req: Request) -> bytes:
        return (
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
            "connection: keep-alive, UPGRADE\r\n"
            f"sec-websocket-accept: {accept_key(req.headers['sec-websocket-key'])}\r\n\r\n"
        ).encode()

    def script(c: PeerConn) -> None:
        clean_end(c)

    out = run(qtbot, script, response=response)
    assert out.rec.names() == ["opened", "closed"]
    assert_clean(out)


def test_handshake_request_is_valid(qtbot: QtBot) -> None:
    cfg = qtws.Config(
        ping_interval=None, close_timeout=0.5, proxy=None, subprotocols=("chat", "v2")
    )

    def script(c: PeerConn) -> None:
        clean_end(c)

    out = run(qtbot, script, config=cfg, subprotocol="v2")
    h = out.conn.request.headers
    assert out.conn.request.raw.startswith(b"GET /case HTTP/1.1\r\n")
    assert h["upgrade"].lower() == "websocket"
    assert "upgrade" in h["connection"].lower()
    assert h["sec-websocket-version"] == "13"
    assert h["host"] == out.ws.url.split("/")[2]
    assert len(base64.b64decode(h["sec-websocket-key"])) == 16
    assert "permessage-deflate" in h["sec-websocket-extensions"]
    assert out.ws.protocol == "v2"


def test_handshake_101_split_byte_by_byte(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send_frame(OP_TEXT, b"hi")
        clean_end(c)

    out = run(qtbot, script, split_response=True)
    assert out.messages == ["hi"]
    assert_clean(out)


def test_handshake_frames_in_the_101_segment_are_not_lost(qtbot: QtBot) -> None:
    first = frame(OP_TEXT, b"first") + frame(OP_BINARY, b"\x00second") + frame(OP_PING, b"p")

    def script(c: PeerConn) -> None:
        f = c.recv_frame()
        assert f is not None and (f.opcode, f.payload) == (OP_PONG, b"p")
        clean_end(c)

    out = run(qtbot, script, after_response=first)
    assert out.messages == ["first", b"\x00second"]
    assert_clean(out)


def test_handshake_close_in_the_101_segment(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        f = c.expect_close()
        assert f is not None and f.close_code == 1001
        c.close_tcp()

    out = run(
        qtbot,
        script,
        after_response=frame(OP_TEXT, b"only") + frame(OP_CLOSE, close_payload(1001, "bye")),
    )
    assert out.rec.names() == ["opened", "message", "closed"]
    assert_clean(out, 1001, "bye")


# ---------------------------------------------------------------------------- blocking API
def test_blocking_messages_then_clean_close(qtbot: QtBot) -> None:
    bodies = [payload_of("text", n).decode() for n in (0, 126, 65536)] + [b"\x00\x01"]

    def script(c: PeerConn) -> None:
        for b in bodies:
            c.send(frame(OP_TEXT, b.encode()) if isinstance(b, str) else frame(OP_BINARY, b))
        clean_end(c, 4000)

    with Peer(after_go(script)) as peer:
        ws = qtws.WebSocket(peer.url, config=FAST)
        ws.connect(5)
        ws.send("go")
        got = list(ws)
        peer.join()
        with pytest.raises(qtws.ConnectionClosed) as info:
            ws.wait_for_next_message(1)
    assert got == bodies
    assert (info.value.code, info.value.was_clean) == (4000, True)


def after_go(script: Callable[[PeerConn], None]) -> Callable[[PeerConn], None]:
    """``script`` once the client sent "go" (so connect() has returned before it runs)."""

    def wrapped(c: PeerConn) -> None:
        msg = c.recv_message()
        assert msg is not None and msg[0] == OP_TEXT  # "go" (compressed, with deflate)
        c.frames.clear()
        script(c)

    return wrapped


def test_blocking_protocol_error(qtbot: QtBot) -> None:
    with Peer(after_go(fail_script(frame(OP_TEXT, b"\xc0\xaf")))) as peer:
        ws = qtws.WebSocket(peer.url, config=FAST)
        ws.connect(5)
        ws.send("go")
        assert ws.wait_for_next_message(5) == "before"
        with pytest.raises(qtws.ConnectionClosed) as info:
            ws.wait_for_next_message(5)
        conn = peer.join()
    assert (info.value.code, info.value.was_clean) == (1007, False)
    assert [f.close_code for f in conn.frames] == [1007]


def test_blocking_handshake_failure_raises(qtbot: QtBot) -> None:
    with Peer(None, response=response_with(status="403 Forbidden", drop="Upgrade")) as peer:
        ws = qtws.WebSocket(peer.url, config=FAST)
        with pytest.raises(qtws.InvalidStatus) as info:
            ws.connect(5)
        peer.join()
    assert info.value.status == 403
    assert ws.ready_state is qtws.ReadyState.CLOSED


def test_blocking_ping_answered_while_waiting(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send_frame(OP_PING, b"are you there")
        f = c.recv_frame()
        assert f is not None and (f.opcode, f.payload) == (OP_PONG, b"are you there")
        c.send_frame(OP_TEXT, b"yes")
        clean_end(c)

    with Peer(script) as peer:
        ws = qtws.WebSocket(peer.url, config=FAST)
        ws.connect(5)
        assert ws.wait_for_next_message(5) == "yes"
        with pytest.raises(qtws.ConnectionClosed):
            ws.wait_for_next_message(5)
        peer.join()


# ------------------------------------------------------------------------------- more edges
def test_max_frame_size_fails_1009(qtbot: QtBot) -> None:
    cfg = qtws.Config(
        ping_interval=None, close_timeout=0.5, proxy=None, compression=False, max_frame_size=100
    )
    out = run(qtbot, fail_script(frame(OP_BINARY, b"x" * 101)), config=cfg)
    assert_failed(out, 1009)


def test_compressed_invalid_utf8_fails_1007(qtbot: QtBot) -> None:
    bad = compressed_frames(b"valid then \xed\xa0\x80 invalid", Deflater())
    expect_failure(qtbot, bad, 1007, config=DEFLATE, extensions="permessage-deflate")


def test_duplicate_extension_in_response_is_rejected(qtbot: QtBot) -> None:
    resp = response_with(extra="Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate")
    out = handshake_failure(qtbot, config=DEFLATE, response=resp)
    assert isinstance(out.error, qtws.NegotiationError)


def test_oversized_response_header_is_rejected(qtbot: QtBot) -> None:
    out = handshake_failure(qtbot, response=response_with(extra="X-Big: " + "a" * 200_000))
    assert isinstance(out.error, qtws.HandshakeError)


def test_tcp_closed_after_messages_without_close_frame(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send(frame(OP_TEXT, b"one") + frame(OP_BINARY, b"two"))
        c.close_tcp()

    out = run(qtbot, script)
    assert out.messages == ["one", b"two"]
    assert out.event.code == 1006 and not out.event.was_clean
    assert isinstance(out.error, OSError)


def test_tcp_closed_in_the_middle_of_a_frame(qtbot: QtBot) -> None:
    def script(c: PeerConn) -> None:
        c.send(frame(OP_TEXT, b"whole") + frame(OP_BINARY, b"cut short")[:5])
        c.close_tcp()

    out = run(qtbot, script)
    assert out.messages == ["whole"]
    assert out.event.code == 1006 and not out.event.was_clean


def test_after_client_close_nothing_but_the_close_frame_is_sent(qtbot: QtBot) -> None:
    """Issue 3: once closing, the client sends nothing but its close frame, and data frames
    that arrive before the server's close are not delivered (as in browsers: CLOSING)."""

    def script(c: PeerConn) -> None:
        f = c.expect_close()
        assert f is not None and f.close_code == 1000
        c.send(frame(OP_PING, b"still there?") + frame(OP_TEXT, b"late data"))
        c.send_close(1000)
        c.wait_eof(2)

    out = run(qtbot, script, on_open=lambda ws: ws.close())
    assert [f.opcode for f in out.conn.frames] == [OP_CLOSE]
    assert out.messages == []
    assert_clean(out)


def test_close_from_a_message_slot(qtbot: QtBot) -> None:
    """A slot that closes while more frames were read in the same segment: the close frame goes
    out once, nothing else is sent, and the end is clean."""

    def script(c: PeerConn) -> None:
        c.send(b"".join(frame(OP_TEXT, f"m{i}".encode()) for i in range(5)))
        f = c.expect_close()
        assert f is not None and f.close_code == 4321
        c.send_close(4321)
        c.wait_eof(2)

    def on_open(ws: qtws.WebSocket) -> None:
        ws.message.connect(lambda m: ws.close(4321) if m == "m1" else None)

    out = run(qtbot, script, on_open=on_open)
    assert out.messages[:2] == ["m0", "m1"]
    assert [f.opcode for f in out.conn.frames] == [OP_CLOSE]
    assert_clean(out, 4321)


@pytest.mark.parametrize(
    "params",
    [
        "client_max_window_bits",  # the server must give a value (RFC 7692 7.1.2.2)
        "server_max_window_bits=16",
        "server_max_window_bits=7",
        "server_max_window_bits=010",
        "server_no_context_takeover=1",
        "server_no_context_takeover; server_no_context_takeover",
        "x_unknown_param",
    ],
)
def test_deflate_invalid_response_parameters(qtbot: QtBot, params: str) -> None:
    # RFC 7692 7.1: a response the client cannot accept fails the WebSocket connection.
    resp = response_with(extra=f"Sec-WebSocket-Extensions: permessage-deflate; {params}")
    out = handshake_failure(qtbot, config=DEFLATE, response=resp)
    assert isinstance(out.error, qtws.NegotiationError), out.error


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_handshake_redirect_followed(qtbot: QtBot, status: str) -> None:
    def script(c: PeerConn) -> None:
        c.send_frame(OP_TEXT, b"redirected")
        clean_end(c)

    with Peer(script) as target:
        location = f"Location: ws://127.0.0.1:{target.port}/there"
        redirect = response_with(status=status, drop="Upgrade", extra=location)

        def wait(c: PeerConn) -> None:
            c.wait_eof(5)

        out = run(qtbot, wait, response=redirect)
        target.join()
    assert out.messages == ["redirected"]
    assert out.ws.url.endswith("/there")
    assert_clean(out)
