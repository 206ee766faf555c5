"""Regressions of the hostile-server and careless-app rounds (issues 10, 15, 17): crashes,
memory bounded in bytes, secrets, close reports, nothing lost on a drop, API traps."""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
import textwrap
import threading
import weakref
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.server import ServerConnection

import qtws
from tests.peer import OP_CLOSE, Peer, PeerConn
from tests.recorder import Recorder
from tests.servers import RawServer, ws_server


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {"ping_interval": None, "proxy": None, "open_timeout": 5}
    base.update(kw)
    return qtws.Config(**base)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env_code = "import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')\n"
    return subprocess.run(
        [sys.executable, "-c", env_code + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------- crashes
def test_collecting_never_opened_websockets_does_not_abort() -> None:
    out = _run(
        """
        import gc, sys
        from qtws._qt import QCoreApplication
        import qtws
        app = QCoreApplication(sys.argv)
        for _ in range(100):
            ws = qtws.WebSocket("ws://127.0.0.1:9/")
        del ws
        gc.collect()
        for _ in range(100):
            ws = qtws.WebSocket("ws://127.0.0.1:9/")
            ws.open()
            ws.close()
        del ws
        gc.collect()
        app.processEvents()
        print("alive")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "alive"


def test_a_websocket_is_freed_without_the_cycle_collector(qtbot: QtBot) -> None:
    import gc

    gc.collect()
    gc.disable()
    try:
        ws = qtws.WebSocket("ws://127.0.0.1:9/", config=cfg())
        ref = weakref.ref(ws)
        del ws
        assert ref() is None, "a reference cycle keeps the WebSocket alive"
    finally:
        gc.enable()


def test_opened_never_follows_close_and_its_slot_never_raises(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=cfg())
        rec = Recorder(ws)
        ws.opened.connect(lambda: ws.send("subscribe"))
        ws.send("early")
        ws.open()
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    assert rec.names() == ["closed"]
    assert ws.stats.messages_unsent == 1


# --------------------------------------------------------------------------- API traps
def test_websocket_made_before_the_application_uses_the_qt_loop() -> None:
    out = _run(
        """
        import sys
        import qtws
        from qtws._qt import QCoreApplication, QTimer
        from tests.servers import ws_server
        with ws_server() as srv:
            ws = qtws.WebSocket(srv.url, config=qtws.Config(proxy=None))  # no app yet
            app = QCoreApplication(sys.argv)
            got = []
            ws.opened.connect(lambda: ws.send("hi"))
            ws.message.connect(lambda m: (got.append(m), ws.close()))
            ws.closed.connect(lambda ev: app.quit())
            QTimer.singleShot(10000, app.quit)
            ws.open()
            app.exec()
            print(got)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['hi']"


@pytest.mark.parametrize("name", ["on_open", "on_message", "on_error", "on_close"])
def test_websocket_client_callback_names_raise_with_a_hint(name: str) -> None:
    ws = qtws.WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(AttributeError, match=f"use ws.{name.replace('_', '')} = "):
        setattr(ws, name, lambda *a: None)
    assert not any(n.startswith("on_") for n in dir(ws) if not n.startswith("_"))


def test_ready_state_prints_its_name_and_timeouts_are_validated() -> None:
    assert str(qtws.ReadyState.OPEN) == "OPEN"
    assert f"{qtws.ReadyState.CLOSED}" == "CLOSED"
    ws = qtws.WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(ValueError, match="timeout"):
        ws.connect(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        ws.wait_for_next_message(timeout=float("nan"))


def test_connect_on_an_open_websocket_returns_at_once(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=cfg())
        ws.connect(timeout=5)
        ws.connect(timeout=5)  # a no-op, documented
        with pytest.raises(qtws.InvalidState):
            ws.open()
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


# --------------------------------------------------------------------------- secrets
def test_config_repr_masks_credentials() -> None:
    c = qtws.Config(
        headers={"Authorization": "Bearer t0ken", "Cookie": "sid=c00kie", "X-Trace": "1"},
        proxy="http://user:pr0xypw@proxy.example:3128",
    )
    text = repr(c)
    for secret in ("t0ken", "c00kie", "pr0xypw"):
        assert secret not in text
    assert "X-Trace" in text and "'1'" in text and "proxy.example" in text


def test_bad_proxy_setting_message_masks_the_password() -> None:
    with pytest.raises(ValueError) as info:
        qtws.Config(proxy="socks9://user:pr0xypw@proxy.example:1080")
    assert "pr0xypw" not in str(info.value)


def test_credentials_never_follow_a_redirect_to_another_origin(qtbot: QtBot) -> None:
    with ws_server() as target:

        def redirector(c: socket.socket) -> None:
            c.recv(65536)
            loc = f"ws://127.0.0.1:{target.port}/there"  # another port: another origin
            c.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n".encode()
            )

        with RawServer(redirector) as srv:
            headers = {"Authorization": "Bearer t0ken", "Cookie": "sid=1", "X-Keep": "yes"}
            ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/here", config=cfg(headers=headers))
            with qtbot.waitSignal(ws.opened, timeout=5000):
                ws.open()
            with qtbot.waitSignal(ws.closed, timeout=5000):
                ws.close()
        request = target.requests[-1]
    assert request.headers["X-Keep"] == "yes"
    assert "Authorization" not in request.headers
    assert "Cookie" not in request.headers


def test_same_origin_redirect_keeps_credentials(qtbot: QtBot) -> None:
    """A redirect to another path of the same scheme, host and port keeps the headers."""
    seen: list[str] = []
    box: list[int] = []

    def handler(conn: ServerConnection) -> None:
        conn.recv()

    def process_request(conn: ServerConnection, request: Any) -> Any:
        seen.append(request.headers.get("Authorization", ""))
        if request.path == "/here":
            response = conn.respond(302, "")
            response.headers["Location"] = f"ws://127.0.0.1:{box[0]}/there"
            return response
        return None

    with ws_server(handler, process_request=process_request) as srv:
        box.append(srv.port)
        config = cfg(headers={"Authorization": "Bearer t0ken"})
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/here", config=config)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        assert ws.url.endswith("/there")
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    assert seen == ["Bearer t0ken", "Bearer t0ken"]


# --------------------------------------------------------------------------- memory in bytes
def test_unread_messages_pause_reading_by_bytes_not_count(qtbot: QtBot) -> None:
    """A deflating server sends 60 x 1 MiB (a few KiB on the wire) to an app that listens only
    to text_message: the binary messages wait unread, within the byte budget, and reading
    pauses (TCP pushes back) instead of inflating everything into memory."""
    budget = 4 * 2**20
    sent = threading.Event()

    def handler(conn: ServerConnection) -> None:
        for i in range(60):
            conn.send(bytes([i]) * 2**20)
        sent.set()
        conn.recv()

    with ws_server(handler) as srv:
        ws = qtws.WebSocket(srv.url, config=cfg(max_queued_bytes=budget))
        ws.text_message.connect(lambda t: None)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        assert sent.wait(10)
        try:
            qtbot.waitUntil(lambda: ws._inbox_bytes >= budget, timeout=10000)
            qtbot.wait(100)  # reading is paused: nothing more comes in
            assert ws._inbox_bytes <= budget + 2**20
            got = [ws.wait_for_next_message(timeout=10) for _ in range(60)]
            assert [m[0] for m in got] == list(range(60))  # type: ignore[index]
        finally:
            ws._abort(None)


# --------------------------------------------------------------------------- close reports
def test_reset_after_the_closing_handshake_is_a_clean_close(qtbot: QtBot) -> None:
    """The server sends its close, then resets TCP with the client's echo unread (what the
    Autobahn fuzzing server does): the handshake completed, so the close is clean."""

    def script(conn: PeerConn) -> None:
        conn.send_close(4000, "bye")
        frame = conn.recv_frame(timeout=5)  # the echo is here: we read it
        assert frame is not None and frame.opcode == OP_CLOSE
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        conn.sock.close()  # RST

    with Peer(script) as peer:
        ws = qtws.WebSocket(peer.url, config=cfg())
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=8000) as blocker:
            ws.open()
        peer.join()
    assert blocker.args[0] == qtws.CloseEvent(4000, "bye", True)
    assert "error" not in rec.names()


def test_reset_before_the_closing_handshake_stays_an_error(qtbot: QtBot) -> None:
    def script(conn: PeerConn) -> None:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        conn.sock.close()

    with Peer(script) as peer:
        ws = qtws.WebSocket(peer.url, config=cfg())
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=8000) as blocker:
            ws.open()
    assert blocker.args[0].code == 1006 and not blocker.args[0].was_clean
    assert isinstance(rec.first("error"), OSError)


def test_proxy_closing_during_connect_fails_at_once_naming_the_proxy(qtbot: QtBot) -> None:
    def proxy(c: socket.socket) -> None:
        c.recv(65536)
        c.close()

    with RawServer(proxy) as srv:
        # open_timeout far away: the error must come from the EOF, not the timer.
        config = cfg(proxy=f"http://127.0.0.1:{srv.port}", open_timeout=60)
        ws = qtws.WebSocket("ws://feed.example.org/", config=config)
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=10000):
            ws.open()
    exc = rec.first("error")
    assert isinstance(exc, ConnectionResetError), exc
    assert f"HTTP proxy 127.0.0.1:{srv.port}" in str(exc)


def test_eof_during_the_upgrade_names_the_phase(qtbot: QtBot) -> None:
    def server(c: socket.socket) -> None:
        c.recv(65536)
        c.close()

    with RawServer(server) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg(open_timeout=60))
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=10000):
            ws.open()
    exc = rec.first("error")
    assert isinstance(exc, ConnectionResetError)
    assert "during the WebSocket upgrade" in str(exc)


# --------------------------------------------------------------------------- nothing lost
def test_unwritten_messages_go_out_after_a_reconnect(qtbot: QtBot) -> None:
    """Connection 1 never reads, so most messages wait in qtws's write queue when it is
    reset; with a reconnect policy they go out, in order and once, on connection 2."""
    received: list[list[int]] = []
    first_ready = threading.Event()
    kill = threading.Event()

    def handler(conn: ServerConnection) -> None:
        got: list[int] = []
        received.append(got)
        if len(received) == 1:
            first_ready.set()
            kill.wait(10)
            conn.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            conn.socket.close()
            return
        for msg in conn:
            got.append(int.from_bytes(bytes(msg[:4]), "big"))  # type: ignore[arg-type]

    policy = qtws.ReconnectPolicy(initial_delay=0.05, max_delay=0.05, jitter=0)
    with ws_server(handler, compression=None, max_size=None) as srv:
        ws = qtws.WebSocket(
            srv.url, config=cfg(reconnect=policy, compression=False, max_buffered_bytes=None)
        )
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        assert first_ready.wait(5)
        n = 200
        for i in range(n):
            ws.send(i.to_bytes(4, "big") + bytes(64 * 1024))
        assert ws.buffered_amount > 0  # the kernel did not take everything
        with qtbot.waitSignal(ws.reconnecting, timeout=5000):
            kill.set()
        qtbot.waitUntil(lambda: len(received) == 2 and bool(received[1]), timeout=10000)
        qtbot.waitUntil(lambda: received[1][-1:] == [n - 1], timeout=20000)
        second = received[1]
        assert second == list(range(second[0], n))  # in order, no gap, no duplicate
        assert ws.stats.messages_unsent == 0
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_send_raises_buffer_full_and_drained_follows(qtbot: QtBot) -> None:
    release = threading.Event()

    def handler(conn: ServerConnection) -> None:
        release.wait(20)  # stop reading until told
        for _ in conn:
            pass

    limit = 2**20
    with ws_server(handler, compression=None, max_size=None) as srv:
        ws = qtws.WebSocket(srv.url, config=cfg(compression=False, max_buffered_bytes=limit))
        drained: list[bool] = []
        ws.drained.connect(lambda: drained.append(True))
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        sent = 0
        with pytest.raises(qtws.BufferFull, match="max_buffered_bytes"):
            for _ in range(10_000):
                ws.send(bytes(64 * 1024))
                sent += 1
        assert ws.buffered_amount <= limit + 64 * 1024
        assert isinstance(qtws.BufferFull("x"), qtws.InvalidState)
        release.set()
        qtbot.waitUntil(lambda: bool(drained) and ws.buffered_amount == 0, timeout=20000)
        ws.send(b"after drain")  # accepted again
        with qtbot.waitSignal(ws.closed, timeout=10000):
            ws.close()
    assert sent > 0


def test_closed_websockets_are_freed_in_a_plain_script_without_gc() -> None:
    """No Qt loop (selectors): every WebSocket opened, used and closed is freed by reference
    counting alone, so 15,000 cycles cannot pile up (RSS figures: see the issue note)."""
    import gc

    refs: list[weakref.ref[qtws.WebSocket]] = []
    with ws_server() as srv:
        config = cfg()
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                ws = qtws.WebSocket(srv.url, config=config, loop=qtws.loop.SelectorsProxy())
                ws.connect(timeout=5)
                ws.send("x")
                assert ws.wait_for_next_message(timeout=5) == "x"
                ws.close()
                for _ in ws:
                    pass
                refs.append(weakref.ref(ws))
                del ws
            alive = sum(r() is not None for r in refs)
        finally:
            gc.enable()
    assert alive == 0


def test_sends_accepted_from_a_thread_are_never_refused_for_room_later(qtbot: QtBot) -> None:
    """A thread's send() is checked when it is called (OPEN: no outbox limit); it reaches the
    GUI thread after the server's close, when the outbox is the only place left: it is queued
    there even beyond outbox_limit (accepted means accepted) and sent after the reconnect."""
    got: list[str] = []
    connections = 0

    def handler(conn: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            # "go" and the close in one TCP segment: the close takes effect right after the
            # slot for "go" returns, before the thread's sends reach the GUI thread (in two
            # segments they could go out on this connection, which discards them after its
            # close: at-most-once for written bytes).
            with conn.send_context():
                conn.protocol.send_text(b"go")
                conn.protocol.send_close(1012, "restarting")
                conn.socket.sendall(b"".join(conn.protocol.data_to_send()))
            return
        got.extend(str(m) for m in conn)

    policy = qtws.ReconnectPolicy(initial_delay=0.01, max_delay=0.05)
    with ws_server(handler) as srv:
        ws = qtws.WebSocket(
            srv.url,
            config=qtws.Config(ping_interval=None, proxy=None, reconnect=policy, outbox_limit=2),
        )

        def on_message(m: object) -> None:
            def producer() -> None:
                for i in range(5):
                    ws.send(f"m{i}")

            t = threading.Thread(target=producer)
            t.start()
            t.join()

        ws.message.connect(on_message)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        qtbot.waitUntil(lambda: len(got) == 5, timeout=10000)
        assert got == [f"m{i}" for i in range(5)]
        assert ws.stats.messages_unsent == 0
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def _digest_server(conn: ServerConnection) -> None:
    """Answers every message with its size and SHA-256."""
    import hashlib

    for m in conn:
        data = m.encode() if isinstance(m, str) else m
        conn.send(f"{len(data)} {hashlib.sha256(data).hexdigest()}")


def test_a_large_compressed_message_is_deflated_over_many_loop_turns(qtbot: QtBot) -> None:
    """send() deflates nothing itself; between two turns of the loop (a zero-interval timer
    samples buffered_amount) the core deflates at most about one step, and the server gets
    the message intact."""
    import hashlib
    import os

    from qtws._qt import QTimer
    from qtws.core.protocol import _COMPRESS_STEP

    big = os.urandom(1024) * (16 * _COMPRESS_STEP // 1024)  # 2 MiB, deflates to a few KiB
    with ws_server(_digest_server, max_size=None) as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        assert ws.extensions  # permessage-deflate negotiated
        samples: list[int] = []
        timer = QTimer()
        timer.setInterval(0)
        timer.timeout.connect(lambda: samples.append(ws.buffered_amount))
        with qtbot.waitSignal(ws.text_message, timeout=30000) as blocker:
            ws.send(big)
            assert ws.buffered_amount >= len(big)  # not deflated yet: it waits in the core
            samples.append(ws.buffered_amount)
            timer.start()
        timer.stop()
        assert blocker.args[0] == f"{len(big)} {hashlib.sha256(big).hexdigest()}"
        steps = [a - b for a, b in itertools.pairwise(samples)]
        assert sum(steps) >= len(big) - 2**16
        assert max(steps) <= 2 * _COMPRESS_STEP, max(steps)
        with qtbot.waitSignal(ws.closed, timeout=5000) as closed:
            ws.close()
    assert closed.args[0] == qtws.CloseEvent(1000, "", True)


def test_close_after_a_large_compressed_message_sends_it_first(qtbot: QtBot) -> None:
    import os

    big = os.urandom(3 * 2**20)
    got: list[int] = []

    def handler(conn: ServerConnection) -> None:
        for m in conn:
            got.append(len(m))

    with ws_server(handler, max_size=None) as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        ws.send(big)
        ws.send("after")
        with qtbot.waitSignal(ws.closed, timeout=30000) as closed:
            ws.close(1000, "done")
    assert got == [len(big), 5]
    assert closed.args[0] == qtws.CloseEvent(1000, "done", True)
    assert ws.stats.messages_unsent == 0


def test_a_write_failing_after_the_servers_close_reports_the_servers_code(qtbot: QtBot) -> None:
    """The server sends its close frame (1009) and resets TCP while the client is about to
    write: the write fails first, and the close frame still waiting in the kernel is read
    then, so the application hears 1009 and the reason, not a bare 1006."""
    import struct
    import time

    from tests.servers import accept_upgrade

    def peer(c: socket.socket) -> None:
        accept_upgrade(c)
        c.sendall(b"\x81\x02go")
        time.sleep(0.1)  # the client reads "go" alone; its slot is still running
        reason = b"too big"
        c.sendall(bytes((0x88, 2 + len(reason))) + struct.pack("!H", 1009) + reason)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # RST

    def on_message(m: object) -> None:
        time.sleep(0.5)  # the close frame and the reset arrive meanwhile, unread
        ws.send(b"x" * 2**20)

    with RawServer(peer) as srv:
        ws = qtws.WebSocket(
            f"ws://127.0.0.1:{srv.port}/", config=qtws.Config(ping_interval=None, proxy=None)
        )
        ws.message.connect(on_message)
        with qtbot.waitSignal(ws.closed, timeout=10000) as blocker:
            ws.open()
    event = blocker.args[0]
    assert (event.code, event.reason) == (1009, "too big")


# --------------------------------------------------------------------------- bad handshakes
def _hostile_upgrade(qtbot: QtBot, answer: bytes, then_wait: bool = True) -> Recorder:
    """A server answering the upgrade with ``answer`` and then keeping the connection open:
    with open_timeout far away, the error must come from the answer itself, not the timer."""
    done = threading.Event()

    def server(c: socket.socket) -> None:
        c.recv(65536)
        c.sendall(answer)
        if then_wait:
            done.wait(30)

    with RawServer(server) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg(open_timeout=60))
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=20000) as blocker:
            ws.open()
        done.set()
    assert rec.names() == ["error", "closed"]
    assert blocker.args[0].code == 1006 and not blocker.args[0].was_clean
    return rec


def test_an_over_long_location_is_reported_as_too_long(qtbot: QtBot) -> None:
    """Issue 10.10: a redirect whose Location line passes the line limit is named as such,
    without its value (here a token), and not followed."""
    location = "ws://127.0.0.1:9/?token=s3cr3t&pad=" + "x" * 9000
    answer = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    exc = _hostile_upgrade(qtbot, answer.encode()).first("error")
    assert isinstance(exc, qtws.InvalidHeader), exc
    assert exc.name == "Location"
    assert "line longer than 8192 bytes" in str(exc)
    assert "missing" not in str(exc) and "s3cr3t" not in str(exc)


def test_a_header_line_without_end_fails_at_the_line_limit(qtbot: QtBot) -> None:
    """1 MiB of one header line, never ended: the client stops at the line limit, naming the
    header, instead of buffering up to the header block limit or waiting for open_timeout."""
    answer = b"HTTP/1.1 101 Switching Protocols\r\nSet-Cookie: " + b"c" * 2**20
    exc = _hostile_upgrade(qtbot, answer).first("error")
    assert isinstance(exc, qtws.InvalidHeader), exc
    assert exc.name == "Set-Cookie" and "ccc" not in str(exc)


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not HTTP"),
        (b"HTTP/1.1 OK\r\n", "illegal status line"),
        (b"HTTP/1.1 101 OK\r\n" + b"X-Fill: y\r\n" * 10_000, "more than 1000 header lines"),
        (b"HTTP/1.1 101 OK\r\n" + (b"X-Fill: " + b"y" * 4000 + b"\r\n") * 256, "headers exceed"),
        (b"HTTP/1.1 099 OK\r\n\r\n", "illegal status line"),
        (b"HTTP/1.1 101 OK\r\nX-Secret : s3cr3t\r\n\r\n", "illegal header line"),
    ],
)
def test_a_bad_upgrade_answer_fails_at_once_without_showing_values(
    qtbot: QtBot, answer: bytes, what: str
) -> None:
    exc = _hostile_upgrade(qtbot, answer).first("error")
    assert type(exc) is qtws.HandshakeError, exc
    assert what in str(exc) and "s3cr3t" not in str(exc)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nno entry",  # body cut short
        b"HTTP/1.1 403 Forbidden\r\n\r\nno entry",  # body until EOF, which never comes
    ],
)
def test_a_refusal_whose_body_never_ends_is_reported_as_the_refusal(
    qtbot: QtBot, answer: bytes
) -> None:
    """The server answers 403 and keeps the connection open mid-body: at open_timeout the
    application hears the 403 and the body so far, not only that time ran out."""
    done = threading.Event()

    def server(c: socket.socket) -> None:
        c.recv(65536)
        c.sendall(answer)
        done.wait(30)

    with RawServer(server) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg(open_timeout=2))
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=20000):
            ws.open()
        done.set()
    exc = rec.first("error")
    assert isinstance(exc, qtws.InvalidStatus), exc
    assert (exc.status, exc.body) == (403, b"no entry")
    assert rec.names() == ["error", "closed"]


# --------------------------------------------------------------------------- hostile floods
def test_a_ping_flood_from_a_server_that_never_reads_pauses_reading(qtbot: QtBot) -> None:
    """A server floods 125-byte pings and never reads: the pongs waiting to be written stay
    bounded in bytes (reading pauses and TCP makes the server wait), and once the server
    reads them the client reads on."""
    import select

    from qtws.connection import _READ_BUDGET, _REPLY_LIMIT
    from tests.peer import OP_PING, frame

    chunk = frame(OP_PING, b"p" * 125) * 500  # 65 KB
    chunks = 800  # 52 MB: far more than the kernel's buffers hold
    stalled, go_on = threading.Event(), threading.Event()
    box: dict[str, int] = {}

    def script(conn: PeerConn) -> None:
        sock = conn.sock
        sock.setblocking(False)
        sent = 0
        view = memoryview(b"")
        for _ in range(chunks):
            view = memoryview(chunk)
            while view:
                try:
                    n = sock.send(view)
                except BlockingIOError:
                    # No progress for a second: the client stopped reading (or is slow: the
                    # assertions hold either way).
                    if not select.select([], [sock], [], 1.0)[1]:
                        break
                    continue
                view = view[n:]
                sent += n
            if view:
                break
        box["sent"] = sent
        stalled.set()
        go_on.wait(10)
        sock.setblocking(True)

        def drain() -> None:
            with contextlib.suppress(OSError):
                while sock.recv(65536):
                    pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()  # the pongs drain: the client resumes reading
        sock.sendall(view)  # the rest of the last ping
        sock.sendall(frame(0x1, b"done"))
        reader.join(20)

    with Peer(script) as peer:
        ws = qtws.WebSocket(peer.url, config=cfg())
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        qtbot.waitUntil(stalled.is_set, timeout=60000)
        qtbot.wait(200)  # what the client read meanwhile is answered
        waiting = ws.buffered_amount
        go_on.set()
        try:
            assert box["sent"] < chunks * len(chunk), "the client read the whole flood"
            # The pause comes before a read: at most one read's pongs beyond the limit (the
            # pong of a 131-byte ping is 131 bytes).
            assert waiting <= _REPLY_LIMIT + 2 * _READ_BUDGET, waiting
            qtbot.waitUntil(lambda: "done" in rec.messages(), timeout=30000)
        finally:
            ws._abort(None)


@pytest.mark.parametrize("compressed", [True, False])
def test_a_message_over_the_limit_names_the_limit(qtbot: QtBot, compressed: bool) -> None:
    """A zip bomb (1 KiB on the wire, 8 MiB inflated) or an announced 8 MiB frame against
    max_message_size=1 MiB: 1009, and the error says which limit, how large, and whether it was
    passed while inflating (not 'exceeds 0 more bytes')."""
    import zlib

    from tests.peer import OP_BINARY, frame

    if compressed:
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = deflater.compress(bytes(8 * 2**20)) + deflater.flush(zlib.Z_SYNC_FLUSH)
        data = frame(OP_BINARY, bomb[:-4], rsv1=True)
    else:
        data = frame(OP_BINARY, b"", length=8 * 2**20)  # the header is enough

    def script(conn: PeerConn) -> None:
        conn.send(data)
        conn.expect_close(timeout=5)

    with Peer(script, extensions="permessage-deflate" if compressed else None) as peer:
        ws = qtws.WebSocket(peer.url, config=cfg(max_message_size=2**20))
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=10000) as blocker:
            ws.open()
    exc = rec.first("error")
    assert isinstance(exc, qtws.PayloadTooBig), exc
    how = " after inflating" if compressed else ""
    assert str(exc) == f"message exceeds max_message_size (1048576 bytes){how}"
    assert blocker.args[0].code == 1009
