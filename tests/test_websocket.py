"""The QObject WebSocket against the real `websockets` server, through the Qt loop."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.server import ServerConnection

import qtws
from tests.recorder import Recorder
from tests.servers import Tls, WsServer, echo_recording_close, ws_server

FAST = qtws.Config(ping_interval=None, open_timeout=5, close_timeout=2, proxy=None)


def make(url: str, config: qtws.Config = FAST, **kw: Any) -> qtws.WebSocket:
    return qtws.WebSocket(url, config=config, **kw)


def open_ws(qtbot: QtBot, url: str, config: qtws.Config = FAST) -> tuple[qtws.WebSocket, Recorder]:
    ws = make(url, config)
    rec = Recorder(ws)
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    return ws, rec


def close_ws(qtbot: QtBot, ws: qtws.WebSocket) -> qtws.CloseEvent:
    with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
        ws.close()
    ev = blocker.args[0]
    assert isinstance(ev, qtws.CloseEvent)
    return ev


@pytest.mark.parametrize(
    "payload",
    ["hello", "", "héllo wörld ✓ 日本語 🎉", b"\x00\x01\xff" * 10, b"", bytes(range(256))],
    ids=["text", "empty-text", "non-ascii", "binary", "empty-binary", "all-bytes"],
)
def test_echo(qtbot: QtBot, payload: str | bytes) -> None:
    with ws_server() as srv:
        ws, rec = open_ws(qtbot, srv.url)
        assert ws.ready_state is qtws.ReadyState.OPEN
        with qtbot.waitSignal(ws.message, timeout=5000) as blocker:
            ws.send(payload)
        assert blocker.args == [payload]
        assert type(blocker.args[0]) is type(payload)
        ev = close_ws(qtbot, ws)
        assert ev == qtws.CloseEvent(1000, "", True)
        assert ws.ready_state is qtws.ReadyState.CLOSED
        assert rec.names() == ["opened", "message", "closed"]


def test_text_and_binary_signals(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        with qtbot.waitSignal(ws.text_message, timeout=5000) as t:
            ws.send("abc")
        assert t.args == ["abc"]
        with qtbot.waitSignal(ws.binary_message, timeout=5000) as b:
            ws.send(bytearray(b"xyz"))
        assert b.args == [b"xyz"]
        close_ws(qtbot, ws)


def test_large_message_16mib(qtbot: QtBot) -> None:
    big = bytes(range(256)) * (16 * 2**20 // 256)
    with ws_server(max_size=None, compression=None) as srv:
        ws, _ = open_ws(qtbot, srv.url)
        with qtbot.waitSignal(ws.binary_message, timeout=30000) as b:
            ws.send(big)
        assert b.args[0] == big
        close_ws(qtbot, ws)


def test_permessage_deflate_negotiated(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        assert "permessage-deflate" in ws.extensions
        text = "compress me " * 1000
        with qtbot.waitSignal(ws.text_message, timeout=5000) as t:
            ws.send(text)
        assert t.args == [text]
        # The repetitive message went over the wire compressed.
        assert ws.stats.bytes_out < len(text) // 4
        close_ws(qtbot, ws)


def test_compression_off(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(
            qtbot, srv.url, qtws.Config(ping_interval=None, compression=False, proxy=None)
        )
        assert ws.extensions == ""
        close_ws(qtbot, ws)


def test_subprotocol_and_headers(qtbot: QtBot) -> None:
    with ws_server(subprotocols=["chat", "superchat"]) as srv:
        cfg = qtws.Config(
            ping_interval=None,
            proxy=None,
            subprotocols=("superchat",),
            headers={"X-Token": "abc123"},
            origin="https://app.example",
            user_agent="qtws-test/1",
        )
        ws, _ = open_ws(qtbot, srv.url, cfg)
        assert ws.protocol == "superchat"
        req = srv.requests[-1]
        assert req.headers["X-Token"] == "abc123"
        assert req.headers["Origin"] == "https://app.example"
        assert req.headers["User-Agent"] == "qtws-test/1"
        close_ws(qtbot, ws)


@pytest.mark.parametrize("code,reason", [(1000, ""), (1001, "going away"), (4000, "app: bye ✓")])
def test_server_initiated_close(qtbot: QtBot, code: int, reason: str) -> None:
    def handler(conn: ServerConnection) -> None:
        conn.recv()
        conn.close(code, reason)

    with ws_server(handler) as srv:
        ws, rec = open_ws(qtbot, srv.url)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.send("go")
        assert blocker.args[0] == qtws.CloseEvent(code, reason, True)
        assert "error" not in rec.names()


def test_messages_before_close_are_delivered_first(qtbot: QtBot) -> None:
    def handler(conn: ServerConnection) -> None:
        for i in range(50):
            conn.send(f"m{i}")
        conn.close(1000, "done")

    with ws_server(handler) as srv:
        ws = make(srv.url)
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.open()
        assert rec.messages() == [f"m{i}" for i in range(50)]
        assert rec.names()[-1] == "closed"


def test_abrupt_disconnect_gives_error_then_closed_1006(qtbot: QtBot) -> None:
    def handler(conn: ServerConnection) -> None:
        conn.recv()
        conn.socket.shutdown(2)  # drop TCP without a closing handshake

    with ws_server(handler) as srv:
        ws, rec = open_ws(qtbot, srv.url)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.send("x")
        ev = blocker.args[0]
        assert ev.code == 1006 and not ev.was_clean
        assert rec.names()[-2:] == ["error", "closed"]
        assert isinstance(rec.get("error"), OSError)


def test_ping_rtt_and_latency(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        assert ws.latency is None
        with qtbot.waitSignal(ws.pong_received, timeout=5000) as blocker:
            ws.ping(b"hello")
        payload, rtt = blocker.args
        assert payload == b"hello" and 0 < rtt < 5
        assert ws.latency == rtt
        close_ws(qtbot, ws)


def test_keepalive_pings_measure_latency(qtbot: QtBot) -> None:
    with ws_server() as srv:
        cfg = qtws.Config(ping_interval=0.05, ping_timeout=2, proxy=None)
        ws, _ = open_ws(qtbot, srv.url, cfg)
        with qtbot.waitSignal(ws.pong_received, timeout=5000):
            pass
        assert ws.latency is not None
        close_ws(qtbot, ws)


def test_ping_validation(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        with pytest.raises(ValueError):
            ws.ping(b"x" * 126)
        with pytest.raises(TypeError):
            ws.ping("text")  # type: ignore[arg-type]
        close_ws(qtbot, ws)
        with pytest.raises(qtws.InvalidState):
            ws.ping()


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_rejects_invalid_codes(code: int) -> None:
    ws = make("ws://127.0.0.1:1/")
    with pytest.raises(ValueError):
        ws.close(code)


def test_close_rejects_long_reason() -> None:
    ws = make("ws://127.0.0.1:1/")
    with pytest.raises(ValueError):
        ws.close(1000, "é" * 62)  # 124 bytes
    ws.close(1000, "é" * 61)  # 122 bytes: fine (and closes the never-opened socket)
    assert ws.ready_state is qtws.ReadyState.CLOSED


def test_close_with_code_and_reason_reaches_server(qtbot: QtBot) -> None:
    seen: list[tuple[int, str]] = []

    def handler(conn: ServerConnection) -> None:
        with pytest.raises(Exception):  # noqa: B017 - ConnectionClosedOK ends the loop
            conn.recv()
        assert conn.close_code is not None
        seen.append((conn.close_code, conn.close_reason))

    with ws_server(handler) as srv:
        ws, _ = open_ws(qtbot, srv.url)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.close(4001, "user left")
        assert blocker.args[0] == qtws.CloseEvent(4001, "user left", True)
    assert seen == [(4001, "user left")]


def test_send_while_connecting_is_queued_and_sent_in_order(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = make(srv.url)
        rec = Recorder(ws)
        ws.send("first")
        ws.open()
        ws.send(b"second")
        assert ws.buffered_amount == len("first") + len(b"second")
        qtbot.waitUntil(lambda: len(rec.messages()) == 2, timeout=5000)
        assert rec.messages() == ["first", b"second"]
        close_ws(qtbot, ws)


def test_close_while_connecting_is_final_like_a_browser(qtbot: QtBot, caplog: Any) -> None:
    """close() while CONNECTING: no `opened` (its slot would send into a closed socket), the
    queued messages are reported unsent, one closed(1006) and no error."""
    received: list[str] = []

    def handler(conn: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            while True:
                received.append(str(conn.recv()))

    with ws_server(handler) as srv:
        ws = make(srv.url)
        rec = Recorder(ws)
        ws.opened.connect(lambda: ws.send("subscribe"))  # the README's pattern
        ws.send("queued 1")
        ws.open()
        ws.send("queued 2")
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.close(1000, "bye")
        ev = blocker.args[0]
        # Give a late `opened` every chance to show up: run the loop until the server saw
        # the TCP connection end (or a generous bound).
        qtbot.wait(200)
    assert ev == qtws.CloseEvent(1006, "closed before the connection opened", False)
    assert rec.names() == ["closed"]
    assert ws.stats.messages_unsent == 2
    assert "2 queued message(s) were never sent" in caplog.text
    assert received == []


def test_send_after_close_raises(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        close_ws(qtbot, ws)
        with pytest.raises(qtws.InvalidState):
            ws.send("late")
        with pytest.raises(TypeError):
            ws.send(123)  # type: ignore[arg-type]


def test_outbox_limit(qtbot: QtBot) -> None:
    ws = make("ws://127.0.0.1:1/", qtws.Config(outbox_limit=2, proxy=None, ping_interval=None))
    ws.send("1")
    ws.send("2")
    with pytest.raises(qtws.InvalidState, match="outbox full"):
        ws.send("3")


def test_send_from_many_threads_keeps_per_thread_order(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, rec = open_ws(qtbot, srv.url)
        n, per = 4, 50

        def producer(t: int) -> None:
            for i in range(per):
                ws.send(f"{t}:{i}")

        threads = [threading.Thread(target=producer, args=(t,)) for t in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        qtbot.waitUntil(lambda: len(rec.messages()) == n * per, timeout=10000)
        for t in range(n):
            mine = [m for m in rec.messages() if m.startswith(f"{t}:")]
            assert mine == [f"{t}:{i}" for i in range(per)]
        close_ws(qtbot, ws)


def test_close_from_another_thread(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            threading.Thread(target=ws.close, args=(1000, "bg")).start()
        assert blocker.args[0] == qtws.CloseEvent(1000, "bg", True)


def test_slot_may_close_send_and_delete(qtbot: QtBot) -> None:
    seen: list[tuple[int | None, str | None]] = []
    with ws_server(echo_recording_close(seen)) as srv:
        ws = make(srv.url)
        rec = Recorder(ws)
        ws.opened.connect(lambda: ws.send("from-slot"))

        def on_message(m: object) -> None:
            ws.close(1000, "slot")
            ws.deleteLater()

        ws.message.connect(on_message)
        with qtbot.waitSignal(ws.destroyed, timeout=5000):
            ws.open()
        qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert rec.messages() == ["from-slot"]
    assert seen == [(1000, "slot")]


def test_deleting_an_open_websocket_closes_with_1001(qtbot: QtBot) -> None:
    seen: list[tuple[int | None, str | None]] = []
    with ws_server(echo_recording_close(seen)) as srv:
        ws, _ = open_ws(qtbot, srv.url)
        before = qtws.loop.active_count()  # other tests' leftovers count too
        with qtbot.waitSignal(ws.destroyed, timeout=5000):
            ws.deleteLater()
        with pytest.raises(qtws.InvalidState):
            ws.send("anyone there?")  # closing: the Python side still answers, clearly
        qtbot.waitUntil(lambda: bool(seen), timeout=5000)
        assert qtws.loop.active_count() == before - 1  # run_event_loop would not wait for it
    assert seen == [(1001, "going away")]


def test_browser_callbacks(qtbot: QtBot) -> None:
    seen: list[Any] = []
    with ws_server() as srv:
        ws = make(srv.url)
        ws.onopen = lambda: (seen.append("open"), ws.send("hi"))
        ws.onmessage = lambda m: (seen.append(m), ws.close())
        ws.onerror = lambda e: seen.append(("error", e))
        ws.onclose = lambda ev: seen.append(ev)
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.open()
    assert seen == ["open", "hi", qtws.CloseEvent(1000, "", True)]


def test_failing_callback_does_not_kill_connection(qtbot: QtBot, caplog: Any) -> None:
    with ws_server() as srv:
        ws, _rec = open_ws(qtbot, srv.url)

        def boom(m: object) -> None:
            raise RuntimeError("user bug")

        ws.onmessage = boom
        with qtbot.waitSignal(ws.message, timeout=5000):
            ws.send("x")
        assert ws.ready_state is qtws.ReadyState.OPEN
        assert "user bug" in caplog.text
        close_ws(qtbot, ws)


def test_stats(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, rec = open_ws(qtbot, srv.url)
        for i in range(3):
            ws.send(f"m{i}")
        qtbot.waitUntil(lambda: len(rec.messages()) == 3, timeout=5000)
        st = ws.stats
        assert st.messages_out == 3 and st.messages_in == 3
        assert st.bytes_in > 0 and st.bytes_out > 0
        close_ws(qtbot, ws)


def test_connection_refused_error_then_closed(qtbot: QtBot) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ws = make(f"ws://127.0.0.1:{port}/")
    rec = Recorder(ws)
    with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
        ws.open()
    assert blocker.args[0].code == 1006
    assert rec.names() == ["error", "closed"]
    assert isinstance(rec.get("error"), ConnectionRefusedError)


def test_invalid_url_raises_at_construction() -> None:
    for bad in ["http://x/", "ws://", "ws://host:99999/", "ws://h/#frag", "nonsense"]:
        with pytest.raises(qtws.InvalidURI):
            qtws.WebSocket(bad)
    with pytest.raises(TypeError, match=r"^url must be a str, not int$"):
        qtws.WebSocket(123)  # type: ignore[arg-type]


def test_open_twice_raises(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws, _ = open_ws(qtbot, srv.url)
        with pytest.raises(qtws.InvalidState):
            ws.open()
        close_ws(qtbot, ws)
        # A closed WebSocket may be opened again.
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        close_ws(qtbot, ws)


def test_wss_with_trustme(qtbot: QtBot) -> None:
    tls = Tls()
    with ws_server(ssl_context=tls.server) as srv:
        cfg = qtws.Config(ping_interval=None, proxy=None, ssl_context=tls.client)
        ws, _ = open_ws(qtbot, srv.url, cfg)
        with qtbot.waitSignal(ws.message, timeout=5000) as blocker:
            ws.send("secure ✓")
        assert blocker.args == ["secure ✓"]
        close_ws(qtbot, ws)


def test_wss_untrusted_certificate_fails(qtbot: QtBot) -> None:
    import ssl

    tls = Tls()
    with ws_server(ssl_context=tls.server) as srv:
        ws = make(srv.url)  # default context: the trustme CA is not trusted
        rec = Recorder(ws)
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.open()
        assert isinstance(rec.get("error"), ssl.SSLCertVerificationError)


def test_reconnect_after_server_restart_delivers_outbox_in_order(qtbot: QtBot) -> None:
    got: list[str] = []

    def handler(conn: ServerConnection) -> None:
        try:
            for m in conn:
                got.append(str(m))
                conn.send(m)
        except Exception:
            pass

    srv = WsServer(handler).start()
    policy = qtws.ReconnectPolicy(initial_delay=0.05, max_delay=0.2, jitter=0.0)
    cfg = qtws.Config(ping_interval=None, proxy=None, reconnect=policy, close_timeout=1)
    ws, rec = open_ws(qtbot, srv.url, cfg)
    with qtbot.waitSignal(ws.reconnecting, timeout=5000):
        srv.stop()
    assert ws.ready_state is qtws.ReadyState.CONNECTING
    for i in range(5):
        ws.send(f"queued{i}")
    with qtbot.waitSignal(ws.opened, timeout=10000):
        srv.start()
    qtbot.waitUntil(lambda: len(got) == 5, timeout=5000)
    assert got == [f"queued{i}" for i in range(5)]
    assert ws.stats.reconnects >= 1
    assert "closed" not in rec.names()
    close_ws(qtbot, ws)
    assert rec.names().count("closed") == 1
    srv.stop()


def test_reconnect_gives_up_after_max_attempts(qtbot: QtBot) -> None:
    srv = WsServer().start()
    policy = qtws.ReconnectPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=2)
    cfg = qtws.Config(ping_interval=None, proxy=None, reconnect=policy, close_timeout=1)
    ws, rec = open_ws(qtbot, srv.url, cfg)
    with qtbot.waitSignal(ws.closed, timeout=10000):
        srv.stop()
    assert [v for n, v in rec.log if n == "reconnecting"] == [1, 2]
    assert rec.names().count("closed") == 1
    assert rec.names()[-2:] == ["error", "closed"]


def test_user_close_never_reconnects(qtbot: QtBot) -> None:
    with ws_server() as srv:
        policy = qtws.ReconnectPolicy(initial_delay=0.01)
        cfg = qtws.Config(ping_interval=None, proxy=None, reconnect=policy)
        ws, rec = open_ws(qtbot, srv.url, cfg)
        close_ws(qtbot, ws)
        qtbot.wait(100)
        assert "reconnecting" not in rec.names()
        assert ws.ready_state is qtws.ReadyState.CLOSED


def test_outbox_limit_applies_to_other_threads(qtbot: QtBot) -> None:
    ws = make("ws://127.0.0.1:1/", qtws.Config(outbox_limit=3, proxy=None, ping_interval=None))
    results: list[str] = []

    def producer() -> None:
        for i in range(5):
            try:
                ws.send(f"m{i}")
                results.append("ok")
            except qtws.InvalidState:
                results.append("full")

    t = threading.Thread(target=producer)
    t.start()
    t.join()
    assert results == ["ok", "ok", "ok", "full", "full"]
    qtbot.waitUntil(lambda: ws.buffered_amount == 6, timeout=2000)  # the 3 reached the outbox


def test_state_changed_sequence(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = make(srv.url)
        states: list[qtws.ReadyState] = []
        ws.state_changed.connect(states.append)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        close_ws(qtbot, ws)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()  # a closed WebSocket opens again
        close_ws(qtbot, ws)
    S = qtws.ReadyState
    assert states == [S.CONNECTING, S.OPEN, S.CLOSING, S.CLOSED] * 2


def test_messages_for_listeners_are_not_also_buffered(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = make(srv.url)
        ws.connect(timeout=5)  # the blocking API was used once...
        got: list[object] = []
        ws.message.connect(got.append)  # ...then the application listens with a slot
        for i in range(100):
            ws.send(f"{i}")
        qtbot.waitUntil(lambda: len(got) == 100, timeout=5000)
        assert not ws.is_message_buffered()
        close_ws(qtbot, ws)


def test_unread_messages_pause_reading_instead_of_growing(qtbot: QtBot) -> None:
    n = 10_000

    def handler(conn: ServerConnection) -> None:
        conn.recv()
        for i in range(n):
            conn.send(str(i))
        with contextlib.suppress(Exception):
            conn.recv()

    with ws_server(handler, compression=None) as srv:
        ws = make(srv.url)
        ws.connect(timeout=5)
        ws.send("go")
        qtbot.wait(500)  # nobody reads: the buffer stops at its high-water mark
        assert ws.stats.messages_in < n
        received = [ws.wait_for_next_message(timeout=5) for _ in range(n)]
        assert received == [str(i) for i in range(n)]
        close_ws(qtbot, ws)


def test_connect_waits_through_reconnect_attempts(qtbot: QtBot) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = WsServer()
    srv.port = port
    policy = qtws.ReconnectPolicy(initial_delay=0.05, max_delay=0.1, jitter=0.0)
    ws = make(
        f"ws://127.0.0.1:{port}/", qtws.Config(ping_interval=None, proxy=None, reconnect=policy)
    )
    threading.Timer(0.5, srv.start).start()
    try:
        ws.connect(timeout=10)
        assert ws.ready_state is qtws.ReadyState.OPEN
        assert ws.stats.reconnects >= 1
        close_ws(qtbot, ws)
    finally:
        srv.stop()


def test_connect_timeout_abandons_the_attempt() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    policy = qtws.ReconnectPolicy(initial_delay=0.05, max_delay=0.1)
    ws = make(
        f"ws://127.0.0.1:{port}/", qtws.Config(ping_interval=None, proxy=None, reconnect=policy)
    )
    with pytest.raises(TimeoutError) as info:
        ws.connect(timeout=0.5)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert ws.ready_state is qtws.ReadyState.CLOSED


def test_close_while_reading_is_paused_is_clean(qtbot: QtBot) -> None:
    def handler(conn: ServerConnection) -> None:
        conn.recv()
        with contextlib.suppress(Exception):
            for i in range(10_000):
                conn.send(str(i))
            conn.recv()

    with ws_server(handler, compression=None) as srv:
        # A close_timeout far beyond the wait: a clean close proves the handshake completed
        # although reading had paused (the timeout would end it 1006).
        ws = make(srv.url, qtws.Config(ping_interval=None, proxy=None, close_timeout=60))
        ws.connect(timeout=5)
        ws.send("go")
        qtbot.wait(300)  # nobody reads: reading pauses at the high-water mark
        assert ws.stats.messages_in < 10_000
        with qtbot.waitSignal(ws.closed, timeout=30000) as blocker:
            ws.close()
        assert blocker.args[0] == qtws.CloseEvent(1000, "", True)


def test_deleting_during_reconnect_wait_counts_the_outbox(qtbot: QtBot) -> None:
    srv = WsServer().start()
    policy = qtws.ReconnectPolicy(initial_delay=5, max_delay=5)
    ws = make(srv.url, qtws.Config(ping_interval=None, proxy=None, reconnect=policy))
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    stopper = threading.Thread(target=srv.stop)
    with qtbot.waitSignal(ws.reconnecting, timeout=5000):
        stopper.start()
    stopper.join(10)
    ws.send("a")
    ws.send("b")
    py_ws = ws  # the Python side outlives the C++ object
    with qtbot.waitSignal(ws.destroyed, timeout=5000):
        ws.deleteLater()
    assert py_ws.stats.messages_unsent == 2
    assert py_ws.ready_state is qtws.ReadyState.CLOSED


def test_send_after_close_from_another_thread_raises_everywhere(qtbot: QtBot) -> None:
    received: list[object] = []

    def handler(conn: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for m in conn:
                received.append(m)

    with ws_server(handler) as srv:
        ws, _ = open_ws(qtbot, srv.url)
        outcome: list[str] = []

        def worker() -> None:
            ws.send("before close")
            ws.close(1000, "worker")
            try:
                ws.send("after close")
                outcome.append("sent")
            except qtws.InvalidState:
                outcome.append("raised")

        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            t = threading.Thread(target=worker)
            t.start()
            t.join()
        assert outcome == ["raised"]
        # The server's handler thread may append after its close went out: wait for it.
        qtbot.waitUntil(lambda: received == ["before close"], timeout=5000)
        assert blocker.args[0] == qtws.CloseEvent(1000, "worker", True)
        assert ws.stats.messages_unsent == 0


def test_a_message_no_listener_sees_is_buffered(qtbot: QtBot) -> None:
    """Only binary_message is connected: text messages reach nobody, so they are kept for
    the blocking API instead of being dropped unseen."""
    with ws_server() as srv:
        ws = make(srv.url)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        binaries: list[bytes] = []
        ws.binary_message.connect(binaries.append)
        ws.send(b"bin")
        ws.send("text")
        qtbot.waitUntil(lambda: binaries == [b"bin"] and ws.is_message_buffered(), timeout=5000)
        assert ws.wait_for_next_message(timeout=0) == "text"
        assert binaries == [b"bin"]
        assert not ws.is_message_buffered()
        close_ws(qtbot, ws)
