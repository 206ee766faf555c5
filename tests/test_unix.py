"""ws+unix:// URLs against a `websockets` unix-socket server."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.server import Server, ServerConnection, unix_serve

import qtws
from tests.servers import echo


@contextlib.contextmanager
def unix_server(handler: Any = echo, **kwargs: Any) -> Iterator[tuple[str, list[Any]]]:
    """A `websockets` server on a fresh unix socket: its path and the requests it saw."""
    requests: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "app.sock")

        def record(conn: ServerConnection, request: Any) -> None:
            requests.append(request)

        server: Server = unix_serve(handler, path, process_request=record, **kwargs)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield path, requests
        finally:
            server.shutdown()
            thread.join(5)


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {"ping_interval": None, "open_timeout": 5, "close_timeout": 2}
    base.update(kw)
    return qtws.Config(**base)


def echo_once(qtbot: QtBot, url: str, config: qtws.Config) -> tuple[qtws.WebSocket, list[Any]]:
    ws = qtws.WebSocket(url, config=config)
    got: list[Any] = []
    ws.message.connect(got.append)
    ws.opened.connect(lambda: ws.send("over a unix socket ✓"))
    ws.message.connect(lambda m: ws.close())
    with qtbot.waitSignal(ws.closed, timeout=5000) as blocker:
        ws.open()
    assert blocker.args[0].was_clean, blocker.args[0]
    return ws, got


def test_echo_over_a_unix_socket(qtbot: QtBot) -> None:
    with unix_server() as (path, requests):
        ws, got = echo_once(qtbot, f"ws+unix://{path}", cfg())
    assert got == ["over a unix socket ✓"]
    assert requests[0].path == "/" and requests[0].headers["Host"] == "localhost"
    assert ws.url == f"ws+unix://{path}:/"


def test_request_path_and_host_given_separately(qtbot: QtBot) -> None:
    with unix_server() as (path, requests):
        _, got = echo_once(
            qtbot, f"ws+unix://{path}:/chat?room=1", cfg(headers={"Host": "app.internal"})
        )
    assert got == ["over a unix socket ✓"]
    assert requests[0].path == "/chat?room=1"
    assert requests[0].headers["Host"] == "app.internal"


def test_proxies_never_apply_to_unix_sockets(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("all_proxy", "http://127.0.0.1:9")
    with unix_server() as (path, _):
        _, got = echo_once(qtbot, f"ws+unix://{path}", cfg(proxy="http://127.0.0.1:9"))
    assert got == ["over a unix socket ✓"]


def test_blocking_api_over_a_unix_socket() -> None:
    with unix_server() as (path, _):
        ws = qtws.WebSocket(f"ws+unix://{path}:/x", config=cfg(), loop=qtws.loop.SelectorsProxy())
        ws.connect(timeout=5)
        ws.send(b"\x00\x01")
        assert ws.wait_for_next_message(timeout=5) == b"\x00\x01"
        ws.close()
        with pytest.raises(qtws.ConnectionClosed):
            ws.wait_for_next_message(timeout=5)  # runs the loop through the closing handshake
        assert ws.close_event is not None and ws.close_event.was_clean


def test_missing_socket_names_the_path(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "absent.sock"
    ws = qtws.WebSocket(f"ws+unix://{path}", config=cfg())
    errors: list[Any] = []
    ws.error.connect(errors.append)
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.open()
    assert isinstance(errors[0], FileNotFoundError)
    assert str(path) in str(errors[0])


def test_socket_nobody_listens_on(qtbot: QtBot, tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody accepts
    ws = qtws.WebSocket(f"ws+unix://{path}", config=cfg())
    errors: list[Any] = []
    ws.error.connect(errors.append)
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.open()
    assert isinstance(errors[0], ConnectionRefusedError)
    assert path in str(errors[0])


def test_relative_redirect_stays_on_the_socket(qtbot: QtBot) -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def process_request(conn: ServerConnection, request: Any) -> Response | None:
        if request.path == "/old":
            return Response(302, "Found", Headers([("Location", "/new")]), b"")
        return None

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "app.sock")
        server = unix_serve(echo, path, process_request=process_request)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            ws, got = echo_once(qtbot, f"ws+unix://{path}:/old", cfg())
        finally:
            server.shutdown()
            thread.join(5)
    assert got == ["over a unix socket ✓"]
    assert ws.url == f"ws+unix://{path}:/new"


def test_without_unix_sockets_the_error_says_so(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' CPython has no AF_UNIX: a clear OSError, not an AttributeError from open()."""
    import errno

    monkeypatch.delattr(socket, "AF_UNIX")
    ws = qtws.WebSocket("ws+unix:///run/app.sock", config=qtws.Config(ping_interval=None))
    errors: list[Any] = []
    ws.error.connect(errors.append)
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.open()
    assert isinstance(errors[0], OSError) and errors[0].errno == errno.EAFNOSUPPORT
    assert "this Python has no unix sockets (ws+unix: /run/app.sock)" in str(errors[0])
