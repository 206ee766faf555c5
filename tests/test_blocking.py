"""The blocking API and run_event_loop in plain scripts: no QApplication (selectors proxy).

Each scenario runs in a fresh subprocess so that no QApplication from other tests exists.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

import qtws
from tests.servers import ws_server

ROOT = Path(__file__).resolve().parent.parent


def run_script(code: str, url: str, timeout: float = 30) -> str:
    script = "import sys\nURL = sys.argv[1]\n" + textwrap.dedent(code)
    out = subprocess.run(
        [sys.executable, "-c", script, url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out.stdout


def test_blocking_api_without_qt() -> None:
    with ws_server() as srv:
        out = run_script(
            """
            import qtws
            ws = qtws.WebSocket(URL, config=qtws.Config(ping_interval=None, proxy=None))
            ws.connect(timeout=5)
            assert ws.ready_state is qtws.ReadyState.OPEN
            assert type(qtws.get_event_loop_proxy()).__name__ == "SelectorsProxy"
            ws.send("one"); ws.send(b"two"); ws.send("three")
            print(ws.wait_for_next_message(timeout=5))
            print(ws.wait_for_next_message(timeout=5))
            while ws.wait_for_next_message_would_block():
                ws.low_level_receive(timeout=5)
            assert ws.is_message_buffered()
            print(ws.wait_for_next_message(timeout=0))
            try:
                ws.wait_for_next_message(timeout=0.1)
            except TimeoutError:
                print("timeout")
            ws.close()
            try:
                ws.wait_for_next_message(timeout=5)
            except qtws.ConnectionClosed as exc:
                print("closed", exc.code, exc.was_clean)
            assert "PyQt6.QtWidgets" not in sys.modules
            """,
            srv.url,
        )
    assert out.split("\n")[:5] == ["one", "b'two'", "three", "timeout", "closed 1000 True"]


def test_iteration_until_closed_without_qt() -> None:
    from websockets.sync.server import ServerConnection

    def handler(conn: ServerConnection) -> None:
        for i in range(3):
            conn.send(f"tick {i}")
        conn.close(1000, "done")

    with ws_server(handler) as srv:
        out = run_script(
            """
            import qtws
            ws = qtws.WebSocket(URL, config=qtws.Config(ping_interval=None, proxy=None))
            ws.connect(timeout=5)
            for msg in ws:
                print(msg)
            print(ws.ready_state.name, ws.close_event)
            """,
            srv.url,
        )
    assert out.splitlines() == [
        "tick 0",
        "tick 1",
        "tick 2",
        "CLOSED CloseEvent(code=1000, reason='done', was_clean=True)",
    ]


def test_connect_errors_raise() -> None:
    out = run_script(
        """
        import socket, qtws
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        ws = qtws.WebSocket(f"ws://127.0.0.1:{port}/", config=qtws.Config(proxy=None))
        try:
            ws.connect(timeout=5)
        except ConnectionRefusedError:
            print("refused")
        srv = socket.create_server(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        ws = qtws.WebSocket(f"ws://127.0.0.1:{port}/", config=qtws.Config(proxy=None))
        try:
            ws.connect(timeout=0.3)
        except TimeoutError:
            print("timeout", ws.ready_state.name)
        """,
        "unused",
    )
    assert out.splitlines() == ["refused", "timeout CLOSED"]


def test_run_event_loop_with_three_websockets() -> None:
    with ws_server() as srv:
        out = run_script(
            """
            import qtws
            got = []
            socks = []
            for i in range(3):
                ws = qtws.WebSocket(URL, config=qtws.Config(ping_interval=None, proxy=None))
                ws.onopen = (lambda w, i: lambda: w.send(f"hello {i}"))(ws, i)
                ws.onmessage = (lambda w: lambda m: (got.append(m), w.close()))(ws)
                ws.open()
                socks.append(ws)
            qtws.run_event_loop()
            print(sorted(got))
            print([w.ready_state.name for w in socks])
            """,
            srv.url,
        )
    assert out.splitlines() == [
        "['hello 0', 'hello 1', 'hello 2']",
        "['CLOSED', 'CLOSED', 'CLOSED']",
    ]


def test_exit_event_loop_from_thread_and_signal_handler() -> None:
    with ws_server() as srv:
        out = run_script(
            """
            import os, signal, threading, qtws
            ws = qtws.WebSocket(URL, config=qtws.Config(ping_interval=None, proxy=None))
            ws.message.connect(lambda m: None)
            ws.open()
            asked = threading.Event()  # the loop runs until asked to stop: it returns then
            def stop_from_thread():
                asked.set()
                qtws.exit_event_loop()
            threading.Timer(0.3, stop_from_thread).start()
            qtws.run_event_loop()
            print("thread", ws.ready_state.name, asked.is_set())
            asked.clear()
            def on_signal(*args):
                asked.set()
                qtws.exit_event_loop()
            signal.signal(signal.SIGUSR1, on_signal)
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            qtws.run_event_loop()
            print("signal", ws.ready_state.name, asked.is_set())
            ws.close()
            qtws.run_event_loop()  # returns once the only websocket is closed
            print("closed", ws.ready_state.name)
            """,
            srv.url,
        )
    assert out.splitlines() == ["thread OPEN True", "signal OPEN True", "closed CLOSED"]


def test_run_event_loop_until_sees_a_flag_set_by_another_thread() -> None:
    with ws_server() as srv:
        out = run_script(
            """
            import threading, qtws
            ws = qtws.WebSocket(URL, config=qtws.Config(ping_interval=None, proxy=None))
            ws.message.connect(lambda m: None)
            ws.open()
            flag = threading.Event()
            threading.Timer(0.3, flag.set).start()
            qtws.run_event_loop(until=flag.is_set)
            print("returned", flag.is_set(), ws.ready_state.name)
            ws.close()
            qtws.run_event_loop()
            """,
            srv.url,
        )
    assert out.splitlines() == ["returned True OPEN"]


def test_blocking_call_inside_slot_raises(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        caught: list[BaseException] = []

        def on_open() -> None:
            try:
                ws.wait_for_next_message(timeout=1)
            except qtws.InvalidState as exc:
                caught.append(exc)
            ws.close()

        ws.opened.connect(on_open)
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.open()
    assert len(caught) == 1


def test_blocking_api_inside_qt_app(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=qtws.Config(ping_interval=None, proxy=None))
        ws.connect(timeout=5)
        ws.send("in qt")
        assert ws.wait_for_next_message(timeout=5) == "in qt"
        ws.close()
        with pytest.raises(qtws.ConnectionClosed):
            ws.wait_for_next_message(timeout=5)


def test_one_low_level_receive_reads_every_waiting_tls_record() -> None:
    """TLS hands out one record per recv(): a read must go on until the socket is drained,
    not stop at the end of the first record (else one message per loop turn trickles in)."""
    import time

    from websockets.sync.server import ServerConnection

    from tests.servers import Tls

    def handler(conn: ServerConnection) -> None:
        conn.recv()
        for i in range(100):
            conn.send(f"m{i}")
        with contextlib.suppress(Exception):
            conn.recv()

    tls = Tls()
    with ws_server(handler, ssl_context=tls.server, compression=None) as srv:
        cfg = qtws.Config(ping_interval=None, proxy=None, ssl_context=tls.client)
        ws = qtws.WebSocket(srv.url, config=cfg, loop=qtws.loop.SelectorsProxy())
        ws.connect(timeout=5)
        ws.send("go")
        time.sleep(0.5)  # all 100 records are in the socket buffer now
        assert ws.low_level_receive(timeout=5)
        received = []
        while ws.is_message_buffered():
            received.append(ws.wait_for_next_message(timeout=0))
        assert received == [f"m{i}" for i in range(100)]
        ws.close()
        with pytest.raises(qtws.ConnectionClosed):
            ws.wait_for_next_message(timeout=5)
