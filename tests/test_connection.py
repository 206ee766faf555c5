"""The connection driver: timeouts, crafted peers, HTTP proxies, redirects, GUI responsiveness."""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws._qt import Qt, QTimer
from qtws.loop.base import AddrInfo, default_resolver
from tests.servers import (
    ChildEchoServer,
    HttpProxy,
    RawServer,
    Tls,
    accept_upgrade,
    drain,
    read_request,
    silent_peer,
    ws_server,
)


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {
        "ping_interval": None,
        "proxy": None,
        "open_timeout": 5,
        "close_timeout": 2,
    }
    base.update(kw)
    return qtws.Config(**base)


def opened(qtbot: QtBot, url: str, config: qtws.Config) -> qtws.WebSocket:
    """A WebSocket to ``url``, opened (through the Qt loop)."""
    ws = qtws.WebSocket(url, config=config)
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    return ws


def run_to_close(qtbot: QtBot, ws: qtws.WebSocket, timeout: int = 8000) -> tuple[list[Any], Any]:
    errors: list[Any] = []
    ws.error.connect(errors.append)
    with qtbot.waitSignal(ws.closed, timeout=timeout) as blocker:
        ws.open()
    return errors, blocker.args[0]


@pytest.fixture(scope="module")
def proxy_server() -> Iterator[HttpProxy]:
    p = HttpProxy(basic_auth="user:s3cret")
    yield p
    p.close()


def test_open_timeout_black_hole(qtbot: QtBot) -> None:
    with RawServer(lambda c: drain(c, 5)) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg(open_timeout=0.3))
        errors, ev = run_to_close(qtbot, ws)
    assert isinstance(errors[0], TimeoutError)
    assert "open_timeout" in str(errors[0])
    assert ev.code == 1006 and not ev.was_clean


def test_close_timeout_when_peer_never_answers_close(qtbot: QtBot) -> None:
    with RawServer(silent_peer) as srv:
        ws = opened(qtbot, f"ws://127.0.0.1:{srv.port}/", cfg(close_timeout=0.3))
        errors: list[Any] = []
        ws.error.connect(errors.append)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.close()
    ev = blocker.args[0]
    assert ev.code == 1006 and not ev.was_clean
    assert isinstance(errors[0], TimeoutError)


def test_peer_reset(qtbot: QtBot) -> None:
    def peer(c: socket.socket) -> None:
        accept_upgrade(c)
        time.sleep(0.1)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    with RawServer(peer) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg())
        errors, ev = run_to_close(qtbot, ws)
    assert ev.code == 1006 and not ev.was_clean
    assert isinstance(errors[0], OSError)


def test_pong_timeout(qtbot: QtBot) -> None:
    with RawServer(silent_peer) as srv:  # reads the pings, never answers
        ws = qtws.WebSocket(
            f"ws://127.0.0.1:{srv.port}/",
            config=cfg(ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2),
        )
        errors, ev = run_to_close(qtbot, ws)
    assert isinstance(errors[0], TimeoutError) and "ping_timeout" in str(errors[0])
    assert ev.code == 1006 and not ev.was_clean  # a timeout is an abnormal closure


def test_inactivity_timeout(qtbot: QtBot) -> None:
    with RawServer(silent_peer) as srv:
        ws = qtws.WebSocket(
            f"ws://127.0.0.1:{srv.port}/", config=cfg(inactivity_timeout=0.2, close_timeout=0.2)
        )
        errors, _ev = run_to_close(qtbot, ws)
    assert isinstance(errors[0], TimeoutError) and "inactivity" in str(errors[0])


def test_invalid_status_exposes_status_headers_body(qtbot: QtBot) -> None:
    def peer(c: socket.socket) -> None:
        read_request(c)
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nX-Why: nope\r\nContent-Length: 6\r\n\r\ndenied")
        drain(c, 2)

    with RawServer(peer) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg())
        errors, ev = run_to_close(qtbot, ws)
    exc = errors[0]
    assert isinstance(exc, qtws.InvalidStatus)
    assert exc.status == 403
    assert ("X-Why", "nope") in [(k.title(), v) for k, v in exc.headers] or (
        "x-why",
        "nope",
    ) in exc.headers
    assert exc.body.startswith(b"denied")
    assert ev.code == 1006


def test_bad_accept_is_invalid_header(qtbot: QtBot) -> None:
    def peer(c: socket.socket) -> None:
        read_request(c)
        c.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
        )
        drain(c, 2)

    with RawServer(peer) as srv:
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg())
        errors, _ = run_to_close(qtbot, ws)
    assert isinstance(errors[0], qtws.InvalidHeader)


def test_redirect_is_followed(qtbot: QtBot) -> None:
    with ws_server() as target:

        def peer(c: socket.socket) -> None:
            read_request(c)
            c.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: {target.url}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )

        with RawServer(peer) as srv:
            ws = opened(qtbot, f"ws://127.0.0.1:{srv.port}/start", cfg())
            assert ws.url == target.url
            with qtbot.waitSignal(ws.message, timeout=5000) as blocker:
                ws.send("after redirect")
            assert blocker.args == ["after redirect"]
            with qtbot.waitSignal(ws.closed, timeout=5000):
                ws.close()


def test_redirect_loop_is_an_error(qtbot: QtBot) -> None:
    port_box: list[int] = []

    def peer(c: socket.socket) -> None:
        read_request(c)
        loc = f"ws://127.0.0.1:{port_box[0]}/loop"
        c.sendall(f"HTTP/1.1 301 Moved\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n".encode())

    with RawServer(peer) as srv:
        port_box.append(srv.port)
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/start", config=cfg())
        errors, ev = run_to_close(qtbot, ws)
    assert isinstance(errors[0], qtws.HandshakeError)
    assert "redirect" in str(errors[0])
    assert ev.code == 1006


def test_too_many_redirects(qtbot: QtBot) -> None:
    port_box: list[int] = []
    counter = iter(range(100))

    def peer(c: socket.socket) -> None:
        read_request(c)
        loc = f"ws://127.0.0.1:{port_box[0]}/hop{next(counter)}"
        c.sendall(f"HTTP/1.1 307 Moved\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n".encode())

    with RawServer(peer) as srv:
        port_box.append(srv.port)
        ws = qtws.WebSocket(f"ws://127.0.0.1:{srv.port}/", config=cfg(max_redirects=2))
        errors, _ = run_to_close(qtbot, ws)
    assert isinstance(errors[0], qtws.HandshakeError)
    assert "too many redirects" in str(errors[0])


def test_dns_failure(qtbot: QtBot) -> None:
    ws = qtws.WebSocket("ws://nonexistent.invalid/", config=cfg())
    errors, ev = run_to_close(qtbot, ws)
    assert isinstance(errors[0], OSError)
    assert ev.code == 1006


def test_every_resolved_address_is_tried(qtbot: QtBot) -> None:
    """The first address refuses; the second (the real server) is used."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    with ws_server() as srv:

        def resolver(host: str, port: int) -> list[AddrInfo]:
            good = default_resolver("127.0.0.1", srv.port)
            bad = default_resolver("127.0.0.1", dead_port)
            return bad + good

        proxy = qtws.loop.QtProxy(resolver=resolver)
        ws = qtws.WebSocket(f"ws://example.test:{srv.port}/", config=cfg(), loop=proxy)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_through_http_proxy_with_basic_auth(
    qtbot: QtBot, proxy_server: HttpProxy, secure: bool
) -> None:
    tls = Tls() if secure else None
    with ws_server(ssl_context=tls.server if tls else None) as srv:
        url = f"http://user:s3cret@127.0.0.1:{proxy_server.port}"
        ws = qtws.WebSocket(srv.url, config=cfg(proxy=url, ssl_context=tls.client if tls else None))
        with qtbot.waitSignal(ws.opened, timeout=8000):
            ws.open()
        with qtbot.waitSignal(ws.message, timeout=5000) as blocker:
            ws.send("via proxy ✓")
        assert blocker.args == ["via proxy ✓"]
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_proxy_auth_failure(qtbot: QtBot, proxy_server: HttpProxy) -> None:
    with ws_server() as srv:
        url = f"http://user:wrong@127.0.0.1:{proxy_server.port}"
        ws = qtws.WebSocket(srv.url, config=cfg(proxy=url))
        errors, _ = run_to_close(qtbot, ws)
    assert isinstance(errors[0], qtws.InvalidStatus)
    assert errors[0].status == 407


def test_environment_proxy_is_not_used_for_loopback(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http_proxy points at a dead port: a loopback server is still reached directly (as in
    browsers), while an explicit Config.proxy is used even for loopback (see the proxy tests)."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead_port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=cfg(proxy="auto"))
        with qtbot.waitSignal(ws.opened, timeout=8000):
            ws.open()
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_errors_through_a_proxy_name_the_proxy(qtbot: QtBot) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    ws = qtws.WebSocket("ws://127.0.0.1:9/", config=cfg(proxy=f"http://127.0.0.1:{dead_port}"))
    errors, ev = run_to_close(qtbot, ws)
    assert isinstance(errors[0], ConnectionRefusedError)
    assert f"HTTP proxy 127.0.0.1:{dead_port}" in str(errors[0])
    assert ev.code == 1006


class _Turns:
    """A zero-interval QTimer on the GUI thread: it runs once per turn of the event loop, so
    ``count`` says how often the loop got control. Deterministic measures of responsiveness
    are read against it (work done between two turns), never wall-clock gaps: those are
    reported by ``python3 .ci/dev.py bench`` instead."""

    def __init__(self, on_turn: Callable[[], None] | None = None) -> None:
        self.count = 0
        self._on_turn = on_turn
        self.timer = QTimer()
        self.timer.setInterval(0)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        self.count += 1
        if self._on_turn is not None:
            self._on_turn()

    def stop(self) -> int:
        self.timer.stop()
        return self.count


def test_gui_runs_while_dns_resolves(qtbot: QtBot) -> None:
    """The resolver runs off the GUI thread: it waits for the GUI's timer to run while it
    resolves, which it could never see if resolving blocked the GUI thread."""
    started = threading.Event()
    gui_ran = threading.Event()
    seen: list[tuple[bool, bool]] = []

    def slow(host: str, port: int) -> list[AddrInfo]:
        started.set()
        seen.append((threading.current_thread() is threading.main_thread(), gui_ran.wait(10)))
        return default_resolver("127.0.0.1", port)

    with ws_server() as srv:
        proxy = qtws.loop.QtProxy(resolver=slow)
        ws = qtws.WebSocket(f"ws://slow.test:{srv.port}/", config=cfg(), loop=proxy)
        turns = _Turns(lambda: started.is_set() and gui_ran.set())
        with qtbot.waitSignal(ws.opened, timeout=15000):
            ws.open()
        turns.stop()
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    assert seen == [(False, True)]


def test_gui_runs_during_a_stalled_tls_handshake(qtbot: QtBot) -> None:
    """A server that takes the ClientHello and answers only once the client's GUI thread has
    run its timer a few times: a handshake that blocked the GUI thread would never see it."""
    hello = threading.Event()
    gui_ran = threading.Event()
    seen: list[bool] = []

    def peer(c: socket.socket) -> None:
        c.recv(4096)  # the ClientHello
        hello.set()
        seen.append(gui_ran.wait(10))
        c.close()

    def on_turn() -> None:
        if hello.is_set():
            gui_ran.set()

    with RawServer(peer) as srv:
        ws = qtws.WebSocket(f"wss://127.0.0.1:{srv.port}/", config=cfg(open_timeout=20))
        turns = _Turns(on_turn)
        errors, ev = run_to_close(qtbot, ws, timeout=30000)
        turns.stop()
    assert seen == [True]
    assert isinstance(errors[0], (ssl.SSLError, OSError)) and ev.code == 1006


def test_receiving_16mib_reads_a_bounded_amount_per_loop_turn(qtbot: QtBot) -> None:
    """Between two turns of the GUI's event loop qtws reads at most a few read budgets: a
    16 MiB message arrives over hundreds of turns, not in one blocking read."""
    big = b"\x5a" * (16 * 2**20)
    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url, cfg())
        with qtbot.waitSignal(ws.binary_message, timeout=5000):
            ws.send(b"warm-up" * 1000)
        base = ws.stats.bytes_in
        samples: list[int] = []
        turns = _Turns(lambda: samples.append(ws.stats.bytes_in))
        with qtbot.waitSignal(ws.binary_message, timeout=60000) as blocker:
            ws.send(big)  # the echo comes back as one 16 MiB message
        turns.stop()
        assert blocker.args[0] == big
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    steps = [b - a for a, b in zip([base, *samples], [*samples, ws.stats.bytes_in], strict=True)]
    assert sum(steps) >= len(big)
    assert max(steps) <= 4 * qtws.connection._READ_BUDGET, max(steps)


def test_server_keeping_tcp_open_after_closing_handshake(qtbot: QtBot) -> None:
    """The client waits for the server to close TCP (RFC 6455 7.1.1), at most close_timeout;
    the close stays clean since both close frames were exchanged."""

    def peer(c: socket.socket) -> None:
        accept_upgrade(c)
        c.recv(64)  # the client's masked close frame
        c.sendall(b"\x88\x02\x03\xe8")  # close 1000, then never close TCP
        drain(c, 5)

    with RawServer(peer) as srv:
        ws = opened(qtbot, f"ws://127.0.0.1:{srv.port}/", cfg(close_timeout=0.3))
        errors: list[Any] = []
        ws.error.connect(errors.append)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.close()
    assert blocker.args[0] == qtws.CloseEvent(1000, "", True)
    assert errors == []


class _WorkClock(qtws.loop.QtProxy):
    """The Qt proxy with a clock that also counts the work the test's slot says it did, so
    how long a dispatch slice runs is decided by a fixed amount of work, not by how busy
    the machine is (real time only adds to it, making slices shorter)."""

    def __init__(self) -> None:
        super().__init__()
        self.work = 0.0

    def time(self) -> float:
        return super().time() + self.work


def test_a_flood_of_small_messages_is_handed_out_in_slices(qtbot: QtBot) -> None:
    """100,000 small messages and a slot doing 20 µs of work on each: the GUI's event loop
    gets control after each slice of about the dispatch budget's worth of work (counted by
    a zero-interval timer), and every message arrives once, in order."""
    n = 100_000
    per_message = 20e-6
    clock = _WorkClock()
    with ChildEchoServer() as srv:
        ws = qtws.WebSocket(srv.url, config=cfg(), loop=clock)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        got: list[object] = []
        turn_of: list[int] = []
        turns = _Turns()

        def slot(m: object) -> None:
            got.append(m)
            turn_of.append(turns.count)
            clock.work += per_message  # an application doing a little work per message

        ws.message.connect(slot)
        ws.send(f"flood:{n}")
        qtbot.waitUntil(lambda: len(got) == n, timeout=120000)
        turns.stop()
        assert got == [str(i) for i in range(n)]
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    per_turn = collections.Counter(turn_of)
    slice_max = qtws.connection._DISPATCH_BUDGET / per_message + 64  # checked every 64
    assert max(per_turn.values()) <= 2 * slice_max, max(per_turn.values())
    assert len(per_turn) >= n / (2 * slice_max)


def test_duplicate_ping_payloads_each_get_their_pong(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = opened(qtbot, srv.url, cfg())
        pongs: list[float] = []
        ws.pong_received.connect(lambda p, rtt: pongs.append(rtt))
        ws.ping()
        ws.ping()
        qtbot.waitUntil(lambda: len(pongs) == 2, timeout=5000)
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_modal_dialog_in_a_slot_keeps_the_connection_alive(qtbot: QtBot) -> None:
    """A slot that runs a nested event loop (QDialog.exec) for many ping intervals: keep-alive
    pongs are handled inside it, so the connection survives; messages are not delivered
    recursively (like Qt's readyRead) but right after the slot returns, all and in order."""
    from qtws._qt import QtWidgets

    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url, cfg(ping_interval=0.1, ping_timeout=0.4))
        got: list[object] = []
        errors: list[object] = []
        pongs_during_modal: list[int] = []
        ws.error.connect(errors.append)
        ws.pong_received.connect(lambda p, rtt: pongs_during_modal.append(len(got)))
        delivered_during_modal: list[int] = []

        def on_message(m: object) -> None:
            got.append(m)
            if len(got) == 1:
                dialog = QtWidgets.QDialog()
                QTimer.singleShot(1500, dialog.accept)
                dialog.exec()  # nested loop for 1.5 s: many ping intervals
                delivered_during_modal.append(len(got))
                ws.send("flood:3")  # sending from the slot works as usual

        ws.message.connect(on_message)
        ws.send("flood:50")
        qtbot.waitUntil(lambda: len(got) == 53, timeout=10000)
        assert errors == []
        assert delivered_during_modal == [1]  # no recursive delivery
        assert pongs_during_modal.count(1) >= 2  # keep-alive worked inside the dialog
        assert got == [str(i) for i in range(50)] + ["0", "1", "2"]
        assert ws.ready_state is qtws.ReadyState.OPEN
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_process_events_in_every_message_slot_does_not_recurse(qtbot: QtBot) -> None:
    """A common anti-pattern: QCoreApplication.processEvents() in a slot, under a flood."""
    from qtws._qt import QCoreApplication

    n = 20_000
    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url, cfg())
        got: list[object] = []

        def on_message(m: object) -> None:
            got.append(m)
            QCoreApplication.processEvents()

        ws.message.connect(on_message)
        ws.send(f"flood:{n}")
        qtbot.waitUntil(lambda: len(got) == n, timeout=60000)
        assert got == [str(i) for i in range(n)]
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_busy_slot_does_not_cause_a_false_ping_timeout(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = opened(qtbot, srv.url, cfg(ping_interval=0.05, ping_timeout=0.2))
        errors: list[object] = []
        ws.error.connect(errors.append)
        with qtbot.waitSignal(ws.pong_received, timeout=5000):
            pass

        def busy(m: object) -> None:
            time.sleep(1.0)  # the pong arrives meanwhile, unread; the timeout is overdue

        ws.message.connect(busy)
        with qtbot.waitSignal(ws.message, timeout=5000):
            ws.send("work")
        qtbot.wait(300)
        assert errors == []
        assert ws.ready_state is qtws.ReadyState.OPEN
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_close_inside_a_nested_loop_of_a_message_slot(qtbot: QtBot) -> None:
    """The connection ends (its notifiers removed) while a slot's nested loop runs inside the
    notifier's own emission: the notifier must outlive that emission (PyQt crashed here)."""
    from qtws._qt import QEventLoop

    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url, cfg())
        got: list[object] = []
        nested_done: list[bool] = []

        def on_message(m: object) -> None:
            got.append(m)
            if len(got) == 1:
                loop = QEventLoop()
                QTimer.singleShot(100, ws.close)
                QTimer.singleShot(400, loop.quit)
                loop.exec()
                nested_done.append(True)

        ws.message.connect(on_message)
        with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
            ws.send("flood:5000")
        qtbot.waitUntil(lambda: bool(nested_done), timeout=5000)
        qtbot.wait(100)  # deferred deletions run now
    assert blocker.args[0].was_clean
    assert got == [str(i) for i in range(len(got))]


class _ImportingNumpy:
    """Stands in for numpy in sys.modules while another thread is still importing it."""

    class __spec__:
        _initializing = True


@contextlib.contextmanager
def _numpy_being_imported(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the driver see numpy's import as running on another thread."""
    import sys

    real = sys.modules["numpy"]
    monkeypatch.setattr(qtws.connection, "_numpy_done", threading.Event())
    sys.modules["numpy"] = _ImportingNumpy  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.modules["numpy"] = real


def test_large_messages_wait_without_blocking_while_numpy_is_imported(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another thread imports numpy, a message the core would mask with numpy is held
    by the driver (the GUI thread would wait on the import lock otherwise); the messages
    after it wait behind it, and all go out in order once the import is done."""
    import qtws.core.mask

    qtws.core.mask.apply_mask(bytes(4096), b"abcd")  # numpy imported by this test
    big = bytes(range(256)) * 64  # 16 KiB: masked with numpy
    with ChildEchoServer() as srv:
        ws = opened(qtbot, srv.url, cfg())
        conn = ws._conn
        assert conn is not None
        got: list[object] = []
        ws.message.connect(got.append)
        with _numpy_being_imported(monkeypatch):
            written = conn.bytes_out
            ws.send("before")
            ws.send(big)
            ws.send("after")
            assert conn.bytes_out == written + len("before") + 6  # only the first went out
            assert ws.buffered_amount >= len(big) + len("after")
            qtbot.wait(50)
            assert got == ["before"] and len(conn._held) == 2  # the import "runs"
        qtbot.waitUntil(lambda: len(got) == 3, timeout=5000)
        assert got == ["before", big, "after"] and ws.buffered_amount == 0
        # Held messages go to the core before a close frame, even while the import runs.
        with _numpy_being_imported(monkeypatch):
            ws.send(big)
            assert conn._held
            with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
                ws.close()
                assert not conn._held
    assert blocker.args[0].was_clean and ws.stats.messages_unsent == 0
