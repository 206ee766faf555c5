"""Proxy settings (qtws.proxy): environment rules, loopback bypass, URL parsing, secrets; and
HTTP CONNECT proxies that misbehave (crafted on a real socket) or refuse (proxy.py)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws.core import parse_uri
from qtws.proxy import ProxySpec, parse_proxy, proxy_for
from tests.servers import HttpProxy, RawServer, accept_upgrade, drain, read_request
from tests.socks_server import SocksServer

_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)


def test_environment_proxy_per_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://plain.example:3128")
    monkeypatch.setenv("https_proxy", "http://secure.example:3129")
    assert proxy_for(parse_uri("ws://feed.example.org/"), "auto") == ProxySpec(
        "plain.example", 3128
    )
    assert proxy_for(parse_uri("wss://feed.example.org/"), "auto") == ProxySpec(
        "secure.example", 3129
    )
    monkeypatch.delenv("https_proxy")
    monkeypatch.setenv("all_proxy", "http://all.example")
    assert proxy_for(parse_uri("wss://feed.example.org/"), "auto") == ProxySpec("all.example", 8080)


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:9/",
        "ws://127.9.9.9/",
        "ws://localhost:8765/",
        "ws://[::1]:80/",
        "ws://app.localhost/",
    ],
)
def test_environment_proxy_never_applies_to_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    assert proxy_for(parse_uri(url), "auto") is None
    # An explicit proxy is the application's choice: it applies to loopback too.
    assert proxy_for(parse_uri(url), "http://proxy.example:3128") == ProxySpec(
        "proxy.example", 3128
    )


def test_no_proxy_with_and_without_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "internal.example,other.example:8080")
    assert proxy_for(parse_uri("ws://internal.example/"), "auto") is None
    assert proxy_for(parse_uri("ws://other.example:8080/"), "auto") is None
    assert proxy_for(parse_uri("ws://feed.example.org/"), "auto") is not None
    assert proxy_for(parse_uri("ws://feed.example.org/"), None) is None


def test_credentials_become_basic_auth_and_stay_out_of_reprs() -> None:
    spec = parse_proxy("http://us%40r:s3cret@proxy.example:3128")
    assert spec.auth == "Basic dXNAcjpzM2NyZXQ="  # base64("us@r:s3cret")
    assert "s3cret" not in repr(spec) and "dXNA" not in repr(spec)


def test_bad_proxy_urls_are_rejected_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported proxy URL") as info:
        parse_proxy("ftp://user:s3cret@proxy.example:21")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
    with pytest.raises(ValueError, match="invalid proxy URL") as info:
        parse_proxy("http://user:s3cret@proxy.example:99999")
    assert "s3cret" not in str(info.value)


def test_unusable_environment_proxy_warns_without_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("all_proxy", "gopher://user:s3cret@proxy.example:1080")
    with caplog.at_level(logging.WARNING, logger="qtws"):
        assert proxy_for(parse_uri("ws://feed.example.org/"), "auto") is None
    assert "ignoring the proxy" in caplog.text
    assert "s3cret" not in caplog.text


# ---------------------------------------------------------------------- hostile HTTP proxies
def through(qtbot: QtBot, proxy_url: str, url: str = "ws://feed.example.org/") -> list[Any]:
    """Open ``url`` through ``proxy_url`` until closed: the errors (open_timeout far away, so
    an error comes from what the proxy did, never from the timer)."""
    config = qtws.Config(proxy=proxy_url, ping_interval=None, open_timeout=60)
    ws = qtws.WebSocket(url, config=config)
    errors: list[Any] = []
    ws.error.connect(errors.append)
    ws.opened.connect(ws.close)
    with qtbot.waitSignal(ws.closed, timeout=10000):
        ws.open()
    return errors


def answering(reply: bytes, then: Callable[[socket.socket], object] = drain) -> Any:
    """A fake proxy: read the CONNECT, send ``reply``, then ``then(conn)``."""

    def behaviour(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(reply)
        then(conn)

    return behaviour


@pytest.mark.parametrize(
    "reply,message",
    [
        (b"\x00\xff\x13garbage\r\n\r\n", "sent an invalid answer to CONNECT"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "sent an invalid answer to CONNECT"),
        (b"HTTP/1.1 200 " + b"A" * 100_000, "sent an invalid answer to CONNECT"),  # one huge line
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-Pad: yyyyyyyyyy\r\n" * 5000,
            "sent an invalid answer to CONNECT",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nearly bytes", "sent data after its CONNECT response"),
    ],
    ids=["binary", "not-http", "huge-line", "huge-headers", "data-after-200"],
)
def test_malformed_proxy_answers_are_oserrors_naming_the_proxy(
    qtbot: QtBot, reply: bytes, message: str
) -> None:
    with RawServer(answering(reply)) as srv:
        errors = through(qtbot, f"http://127.0.0.1:{srv.port}")
    assert len(errors) == 1 and type(errors[0]) is OSError, errors
    assert f"HTTP proxy 127.0.0.1:{srv.port} {message}" in str(errors[0])


def test_proxy_closing_in_the_middle_of_its_answer(qtbot: QtBot) -> None:
    with RawServer(answering(b"HTTP/1.1 200 Connection est", then=socket.socket.close)) as srv:
        errors = through(qtbot, f"http://127.0.0.1:{srv.port}")
    assert isinstance(errors[0], ConnectionResetError)
    assert str(errors[0]) == f"HTTP proxy 127.0.0.1:{srv.port} closed the connection during CONNECT"


def test_interim_1xx_answers_are_skipped(qtbot: QtBot) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    upgrade = answering(interim + b"HTTP/1.1 200 OK\r\n\r\n", then=accept_upgrade)
    with RawServer(lambda c: (upgrade(c), drain(c))) as srv:
        config = qtws.Config(proxy=f"http://127.0.0.1:{srv.port}", ping_interval=None)
        ws = qtws.WebSocket("ws://feed.example.org/", config=config)
        with qtbot.waitSignal(ws.opened, timeout=10000):
            ws.open()
        ws.deleteLater()


def test_101_to_connect_is_an_invalid_answer(qtbot: QtBot) -> None:
    with RawServer(answering(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")) as srv:
        errors = through(qtbot, f"http://127.0.0.1:{srv.port}")
    assert type(errors[0]) is OSError
    assert "sent an invalid answer to CONNECT" in str(errors[0])


def test_real_proxy_refusing_an_unreachable_target(qtbot: QtBot) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    proxy = HttpProxy()
    try:
        errors = through(qtbot, f"http://127.0.0.1:{proxy.port}", f"ws://127.0.0.1:{port}/")
    finally:
        proxy.close()
    assert isinstance(errors[0], qtws.InvalidStatus) and errors[0].status == 502
    assert str(errors[0]) == (
        f"HTTP proxy 127.0.0.1:{proxy.port} refused CONNECT to 127.0.0.1:{port}: 502 Bad Gateway"
    )


def test_http_proxy_url_pointing_at_a_socks_proxy(qtbot: QtBot) -> None:
    with SocksServer() as socks:
        errors = through(qtbot, f"http://127.0.0.1:{socks.port}")
    # The SOCKS server closes on the first byte it cannot read ('C'): an EOF or a reset.
    assert isinstance(errors[0], ConnectionResetError)
    assert f"HTTP proxy 127.0.0.1:{socks.port}" in str(errors[0])
