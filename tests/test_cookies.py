"""Config.cookies: a Cookie header on the upgrade, Set-Cookie kept by a CookieJar, no cross-host."""

from __future__ import annotations

import http.cookiejar
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.sync.server import ServerConnection

import qtws
from tests.servers import ws_server


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {"ping_interval": None, "proxy": None, "open_timeout": 5}
    base.update(kw)
    return qtws.Config(**base)


def open_and_close(qtbot: QtBot, url: str, config: qtws.Config) -> qtws.WebSocket:
    ws = qtws.WebSocket(url, config=config)
    errors: list[Any] = []
    ws.error.connect(errors.append)
    ws.opened.connect(ws.close)
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.open()
    assert errors == []
    return ws


def cookie_of(request: Any) -> str | None:
    value = request.headers.get("Cookie")
    return None if value is None else str(value)


def set_cookie(*values: str) -> Any:
    """A process_response hook adding Set-Cookie headers to the 101."""

    def hook(conn: ServerConnection, request: Any, response: Response) -> Response:
        for value in values:
            response.headers["Set-Cookie"] = value
        return response

    return hook


def redirect_to(location: str, *extra: tuple[str, str]) -> Any:
    """A process_request hook answering /old with a 302 to ``location``."""

    def hook(conn: ServerConnection, request: Any) -> Response | None:
        if request.path == "/old":
            headers = Headers([("Location", location), ("Content-Length", "0"), *extra])
            return Response(302, "Found", headers, b"")
        return None

    return hook


def test_mapping_cookies_are_sent(qtbot: QtBot) -> None:
    with ws_server() as srv:
        open_and_close(qtbot, srv.url, cfg(cookies={"session": "abc123", "theme": "dark"}))
    assert cookie_of(srv.requests[0]) == "session=abc123; theme=dark"


def test_mapping_cookies_follow_a_same_origin_redirect_only(qtbot: QtBot) -> None:
    with ws_server() as other:
        seen: list[Any] = []

        def same_then_other(conn: ServerConnection, request: Any) -> Response | None:
            seen.append(request)
            if request.path == "/old":
                return redirect_to("/mid")(conn, request)
            if request.path == "/mid":
                headers = Headers([("Location", other.url), ("Content-Length", "0")])
                return Response(302, "Found", headers, b"")
            return None

        with ws_server(process_request=same_then_other) as srv:
            ws = open_and_close(qtbot, srv.url + "old", cfg(cookies={"session": "abc123"}))
    assert [r.path for r in seen] == ["/old", "/mid"]
    assert [cookie_of(r) for r in seen] == ["session=abc123", "session=abc123"]
    assert ws.url == other.url
    assert cookie_of(other.requests[0]) is None  # another origin: the cookie stays home


def test_jar_keeps_set_cookie_and_sends_it_on_reconnect(qtbot: QtBot) -> None:
    jar = http.cookiejar.CookieJar()
    closes = []

    def handler(conn: ServerConnection) -> None:
        closes.append(1)
        if len(closes) == 1:
            conn.close(1012, "restarting")  # the client reconnects by itself
            return
        for msg in conn:
            conn.send(msg)

    policy = qtws.ReconnectPolicy(initial_delay=0.01, max_delay=0.01, jitter=0)
    with ws_server(handler, process_response=set_cookie("sid=s1; Path=/")) as srv:
        ws = qtws.WebSocket(srv.url, config=cfg(cookies=jar, reconnect=policy))
        opened: list[int] = []
        ws.opened.connect(lambda: opened.append(1))
        ws.opened.connect(lambda: len(opened) == 2 and ws.close())
        with qtbot.waitSignal(ws.closed, timeout=8000):
            ws.open()
    assert [cookie_of(r) for r in srv.requests] == [None, "sid=s1"]
    assert [c.name for c in jar] == ["sid"]


def test_jar_keeps_set_cookie_of_a_redirect(qtbot: QtBot) -> None:
    jar = http.cookiejar.CookieJar()
    hook = redirect_to("/new", ("Set-Cookie", "step=1; Path=/"))
    with ws_server(process_request=hook) as srv:
        ws = qtws.WebSocket(srv.url + "old", config=cfg(cookies=jar))
        ws.opened.connect(ws.close)
        seen: list[Any] = []
        ws.opened.connect(lambda: seen.append(ws.url))
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.open()
    assert seen == [srv.url + "new"]
    assert {c.name: c.value for c in jar} == {"step": "1"}


def test_jar_cookies_never_cross_to_another_host(qtbot: QtBot) -> None:
    jar = http.cookiejar.CookieJar()
    with ws_server(process_response=set_cookie("sid=s1; Path=/")) as srv:
        open_and_close(qtbot, srv.url, cfg(cookies=jar))  # 127.0.0.1 sets sid
        open_and_close(qtbot, srv.url, cfg(cookies=jar))  # 127.0.0.1 gets it back
        open_and_close(qtbot, f"ws://localhost:{srv.port}/", cfg(cookies=jar))  # another host
    assert [cookie_of(r) for r in srv.requests] == [None, "sid=s1", None]


def test_secure_cookie_is_not_sent_over_plain_ws(qtbot: QtBot) -> None:
    jar = http.cookiejar.CookieJar()
    with ws_server(process_response=set_cookie("tls_only=1; Secure", "plain=1")) as srv:
        open_and_close(qtbot, srv.url, cfg(cookies=jar))
        open_and_close(qtbot, srv.url, cfg(cookies=jar))
    assert cookie_of(srv.requests[1]) == "plain=1"
    assert {c.name for c in jar} == {"tls_only", "plain"}


# ---------------------------------------------------------------------- settings
def test_cookie_settings_are_normalised_and_hidden() -> None:
    c = qtws.Config(cookies={"session": "secret-value"})
    assert c.cookies == (("session", "secret-value"),)
    assert qtws.Config(cookies=[("a", "1"), ("b", "")]).cookies == (("a", "1"), ("b", ""))
    assert "secret-value" not in repr(c)
    jar = http.cookiejar.CookieJar()
    assert qtws.Config(cookies=jar).cookies is jar


@pytest.mark.parametrize(
    "cookies,exc,match",
    [
        ("a=1", TypeError, "mapping"),
        ([("a",)], TypeError, "pairs"),
        ({"a": 1}, TypeError, "must be str"),
        ({"a b": "1"}, ValueError, "invalid cookie 'a b'"),
        ({"a=b": "1"}, ValueError, "invalid cookie"),
        ({"a": "1; admin=1"}, ValueError, "invalid cookie 'a'"),
        ({"a": "1\r\nX: y"}, ValueError, "invalid cookie 'a'"),
    ],
)
def test_invalid_cookies(cookies: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        qtws.Config(cookies=cookies)
    assert "admin" not in str(info.value)


def test_cookies_and_a_cookie_header_conflict() -> None:
    with pytest.raises(ValueError, match="not both"):
        qtws.Config(cookies={"a": "1"}, headers={"Cookie": "b=2"})
