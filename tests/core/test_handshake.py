"""Tests of the opening handshake (RFC 6455 section 4.1): request building, response parsing."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve
from websockets.typing import Subprotocol

from qtws.core.deflate import PerMessageDeflate, negotiate, offer_header
from qtws.core.handshake import (
    BODY_EXCERPT_SIZE,
    MAX_HEADER_LINES,
    HandshakeResponse,
    ResponseParser,
    accept_value,
    build_request,
    generate_key,
    parse_extensions,
    resolve_redirect,
)
from qtws.core.uri import parse_uri
from qtws.errors import HandshakeError, InvalidHeader, InvalidStatus, NegotiationError

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
URI = parse_uri("ws://server.example.com/chat")


def response(*lines: str, status: str = "101 Switching Protocols", body: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{x}\r\n" for x in lines) + "\r\n").encode(
        "latin-1"
    ) + body


OK_HEADERS = ("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}")


def parser(**kw: Any) -> ResponseParser:
    kw.setdefault("subprotocols", ())
    return ResponseParser(URI, KEY, **kw)


def feed_all(data: bytes, mode: str, **kw: Any) -> tuple[ResponseParser, HandshakeResponse | None]:
    """Feed ``data`` whole or one byte at a time; stop at the first result."""
    p = parser(**kw)
    if mode == "whole":
        return p, p.feed(data)
    for i in range(len(data)):
        result = p.feed(data[i : i + 1])
        if result is not None:
            return p, result
    return p, None


@pytest.fixture(params=["whole", "bytes"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- keys ------------------------------------------------------------------------------------------


def test_accept_value_rfc_example() -> None:
    assert accept_value(KEY) == ACCEPT


def test_generate_key_is_fresh_and_16_bytes() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(k)) == 16 for k in keys)
    assert generate_key(lambda n: b"the sample nonce"[:n]) == KEY


# -- request ---------------------------------------------------------------------------------------


def test_request_rfc_example() -> None:
    request = build_request(
        URI, KEY, subprotocols=["chat", "superchat"], origin="http://example.com"
    )
    assert request == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Origin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ws://h/", "h"),
        ("ws://h:80/", "h"),
        ("ws://h:443/", "h:443"),
        ("wss://h:443/", "h"),
        ("wss://h:80/", "h:80"),
        ("ws://[::1]/", "[::1]"),
        ("wss://[::1]:8443/", "[::1]:8443"),
        ("ws://bücher.example:8080/", "xn--bcher-kva.example:8080"),
    ],
)
def test_request_host(url: str, host: str) -> None:
    request = build_request(parse_uri(url), KEY)
    assert f"\r\nHost: {host}\r\n".encode() in request


def test_request_line_uses_resource_name() -> None:
    request = build_request(parse_uri("ws://h/a b?x=ü"), KEY)
    assert request.startswith(b"GET /a%20b?x=%C3%BC HTTP/1.1\r\n")


def test_request_all_options() -> None:
    uri = parse_uri("wss://us%C3%A9r:p%40ss@h:8443/x")
    request = build_request(
        uri,
        KEY,
        extensions="permessage-deflate; client_max_window_bits",
        headers=[("X-Token", "abc"), ("X-Token", "def")],
        user_agent="qtws/0.1",
    ).decode("utf-8")
    creds = base64.b64encode("usér:p@ss".encode()).decode()
    assert request.split("\r\n") == [
        "GET /x HTTP/1.1",
        "Host: h:8443",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        f"Authorization: Basic {creds}",
        "User-Agent: qtws/0.1",
        "X-Token: abc",
        "X-Token: def",
        "",
        "",
    ]


def test_request_user_headers_replace_generated_ones() -> None:
    uri = parse_uri("ws://u:p@h/")
    request = build_request(
        uri,
        KEY,
        origin="http://a",
        user_agent="ua",
        headers=[
            ("host", "virtual.example"),
            ("Origin", "http://b"),
            ("Authorization", "Bearer t"),
            ("User-Agent", "mine"),
        ],
    ).decode()
    lines = request.split("\r\n")
    assert "Host: h" not in lines and "host: virtual.example" in lines
    assert "Origin: http://a" not in lines and "Origin: http://b" in lines
    assert "Authorization: Bearer t" in lines
    assert not any(x.startswith("Authorization: Basic") for x in lines)
    assert "User-Agent: ua" not in lines and "User-Agent: mine" in lines


@pytest.mark.parametrize(
    "name",
    [
        "Upgrade",
        "connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Accept",
        "sec-websocket-protocol",
        "Sec-WebSocket-Extensions",
        "Content-Length",
        "Transfer-Encoding",
    ],
)
def test_request_reserved_header(name: str) -> None:
    with pytest.raises(ValueError, match="set by qtws"):
        build_request(URI, KEY, headers=[(name, "x")])


@pytest.mark.parametrize("name", ["", "X Y", "X:Y", "X\r\nY", "Ä", 42])
def test_request_bad_header_name(name: Any) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        build_request(URI, KEY, headers=[(name, "x")])


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "a\x7f"])
def test_request_bad_header_value(value: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        build_request(URI, KEY, headers=[("X-A", value)])
    with pytest.raises(ValueError, match="control characters"):
        build_request(URI, KEY, origin=value)
    with pytest.raises(ValueError, match="control characters"):
        build_request(URI, KEY, user_agent=value)
    with pytest.raises(ValueError, match="control characters"):
        build_request(URI, KEY, extensions=value)


def test_request_header_value_types_and_tab() -> None:
    assert b"X-A: a\tb\xc3\xa9\r\n" in build_request(URI, KEY, headers=[("X-A", "a\tbé")])
    with pytest.raises(TypeError):
        build_request(URI, KEY, headers=[("X-A", b"x")])  # type: ignore[list-item]


@pytest.mark.parametrize("protocol", ["", "a b", "a,b", "é", None])
def test_request_bad_subprotocol(protocol: Any) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        build_request(URI, KEY, subprotocols=["ok", protocol])


# -- response: success -----------------------------------------------------------------------------


def test_response_rfc_example(mode: str) -> None:
    data = response(*OK_HEADERS, "Sec-WebSocket-Protocol: chat")
    p, result = feed_all(data, mode, subprotocols=["superchat", "chat"])
    assert result is not None
    assert result.subprotocol == "chat"
    assert result.extensions == ()
    assert result.headers[0] == ("Upgrade", "websocket")
    assert ("Sec-WebSocket-Protocol", "chat") in result.headers
    assert p.leftover == b""


def test_leftover_bytes_are_kept() -> None:
    frames = b"\x81\x05Hello\x89\x00" + bytes(range(256)) * 10
    p = parser()
    assert p.feed(response(*OK_HEADERS) + frames) is not None
    assert p.leftover == frames
    # Split inside the headers: the rest, with the frames, arrives in the second piece.
    data = response(*OK_HEADERS) + frames
    p = parser()
    assert p.feed(data[:30]) is None
    assert p.feed(data[30:]) is not None
    assert p.leftover == frames


def test_feed_accepts_buffers() -> None:
    data = response(*OK_HEADERS) + b"xy"
    p = parser()
    assert p.feed(memoryview(data[:10])) is None
    assert p.feed(bytearray(data[10:])) is not None
    assert p.leftover == b"xy"
    assert isinstance(p.leftover, bytes)


@pytest.mark.parametrize(
    "headers",
    [
        ("Upgrade: WebSocket", "Connection: upgrade"),
        ("upgrade:  websocket ", "connection: keep-alive, Upgrade"),
        ("Upgrade: websocket", "Connection: keep-alive", "Connection: UPGRADE"),
        ("Upgrade: websocket,", "Connection: Upgrade,close"),
    ],
)
def test_upgrade_and_connection_tokens(headers: tuple[str, ...]) -> None:
    data = response(*headers, f"sec-websocket-accept: {ACCEPT}")
    assert parser().feed(data) is not None


def test_informational_responses_are_skipped(mode: str) -> None:
    data = (
        response(status="100 Continue") + response(status="103 Early Hints") + response(*OK_HEADERS)
    )
    p, result = feed_all(data + b"\x88\x00", mode)
    assert result is not None
    assert p.leftover == (b"\x88\x00" if mode == "whole" else b"")


# -- response: header errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        (OK_HEADERS[1:], InvalidHeader, "missing Upgrade"),
        (("Upgrade: h2c", *OK_HEADERS[1:]), InvalidHeader, "invalid Upgrade header: 'h2c'"),
        (("Upgrade: websocket, h2c", *OK_HEADERS[1:]), InvalidHeader, "invalid Upgrade"),
        (("Upgrade: websocket", "Upgrade: websocket", *OK_HEADERS[1:]), InvalidHeader, "Upgrade"),
        ((OK_HEADERS[0], OK_HEADERS[2]), InvalidHeader, "missing Connection"),
        ((OK_HEADERS[0], "Connection: keep-alive", OK_HEADERS[2]), InvalidHeader, "Connection"),
        ((OK_HEADERS[0], "Connection: upgrades", OK_HEADERS[2]), InvalidHeader, "Connection"),
        (OK_HEADERS[:2], InvalidHeader, "missing Sec-WebSocket-Accept"),
        ((*OK_HEADERS[:2], "Sec-WebSocket-Accept: x"), InvalidHeader, "Sec-WebSocket-Accept"),
        ((*OK_HEADERS, OK_HEADERS[2]), InvalidHeader, "invalid Sec-WebSocket-Accept"),
        (
            (*OK_HEADERS[:2], f"Sec-WebSocket-Accept: {accept_value(KEY[::-1])}"),
            InvalidHeader,
            "Sec-WebSocket-Accept",
        ),
    ],
)
def test_bad_headers(
    headers: tuple[str, ...], error: type[Exception], match: str, mode: str
) -> None:
    with pytest.raises(error, match=match):
        feed_all(response(*headers), mode)


def test_accept_is_checked_against_our_key() -> None:
    key = generate_key()
    p = ResponseParser(URI, key, ())
    with pytest.raises(InvalidHeader, match="Sec-WebSocket-Accept"):
        p.feed(response(*OK_HEADERS))  # the accept value for another key
    p = ResponseParser(URI, key, ())
    ok = response(*OK_HEADERS[:2], f"Sec-WebSocket-Accept: {accept_value(key)}")
    assert p.feed(ok) is not None


@pytest.mark.parametrize(
    ("offered", "answer", "match"),
    [
        ((), "chat", "not offered"),
        (("chat",), "superchat", "not offered"),
        (("chat",), "Chat", "not offered"),  # subprotocols compare case-sensitively
        (("chat", "superchat"), "chat, superchat", "one subprotocol"),
        (("chat",), ",", "one subprotocol"),
    ],
)
def test_subprotocol_negotiation_errors(offered: tuple[str, ...], answer: str, match: str) -> None:
    with pytest.raises(NegotiationError, match=match):
        parser(subprotocols=offered).feed(
            response(*OK_HEADERS, f"Sec-WebSocket-Protocol: {answer}")
        )


def test_subprotocol_in_two_headers_is_two_choices() -> None:
    data = response(*OK_HEADERS, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat")
    with pytest.raises(NegotiationError):
        parser(subprotocols=["chat"]).feed(data)


def test_subprotocol_whitespace_and_none() -> None:
    data = response(*OK_HEADERS, "Sec-WebSocket-Protocol:  v2.chat ")
    result = parser(subprotocols=["v1.chat", "v2.chat"]).feed(data)
    assert result is not None and result.subprotocol == "v2.chat"
    result = parser(subprotocols=["chat"]).feed(response(*OK_HEADERS))
    assert result is not None and result.subprotocol is None


# -- extensions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("permessage-deflate", [("permessage-deflate", ())]),
        (
            "permessage-deflate; client_max_window_bits=10 ;server_no_context_takeover",
            [
                (
                    "permessage-deflate",
                    (("client_max_window_bits", "10"), ("server_no_context_takeover", None)),
                )
            ],
        ),
        (
            'foo; a="12", bar;b = x , baz',
            [("foo", (("a", "12"),)), ("bar", (("b", "x"),)), ("baz", ())],
        ),
        ('x; p="a\\-b"', [("x", (("p", "a-b"),))]),
        (" , a ,, b,", [("a", ()), ("b", ())]),
        ("", []),
    ],
)
def test_parse_extensions(value: str, parsed: list[Any]) -> None:
    assert parse_extensions(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "a b",
        "a;",
        "a; =1",
        "a; p=",
        'a; p="x y"',  # a quoted value must be a token once unquoted
        'a; p="x',
        "a; p=1 2",
        ";p",
        "a/b",
        'a; p=""',
    ],
)
def test_parse_extensions_errors(value: str) -> None:
    with pytest.raises(InvalidHeader, match="Sec-WebSocket-Extensions"):
        parse_extensions(value)


def test_response_extensions_several_headers(mode: str) -> None:
    data = response(
        *OK_HEADERS,
        'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits="10"',
        "Sec-WebSocket-Extensions: x-foo, x-bar; p",
    )
    _, result = feed_all(data, mode, extensions=["permessage-deflate", "x-foo", "x-bar"])
    assert result is not None
    assert result.extensions == (
        ("permessage-deflate", (("server_max_window_bits", "10"),)),
        ("x-foo", ()),
        ("x-bar", (("p", None),)),
    )


def test_response_extension_not_offered() -> None:
    data = response(*OK_HEADERS, "Sec-WebSocket-Extensions: x-foo")
    with pytest.raises(NegotiationError, match="'x-foo', not offered"):
        parser(extensions=["permessage-deflate"]).feed(data)
    with pytest.raises(NegotiationError, match="not offered"):
        parser(extensions=[]).feed(data)
    # Without the list of offered names, the caller does the check.
    result = parser().feed(data)
    assert result is not None and result.extensions == (("x-foo", ()),)


def test_response_extension_twice() -> None:
    data = response(*OK_HEADERS, "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate")
    with pytest.raises(NegotiationError, match="twice"):
        parser(extensions=["permessage-deflate"]).feed(data)


def test_response_extension_syntax_error() -> None:
    data = response(*OK_HEADERS, "Sec-WebSocket-Extensions: permessage-deflate;;")
    with pytest.raises(InvalidHeader):
        parser().feed(data)


# -- non-101 answers -------------------------------------------------------------------------------


def test_status_with_content_length_body(mode: str) -> None:
    data = response(
        "Content-Type: text/plain", "Content-Length: 9", status="403 Forbidden", body=b"forbidden"
    )
    with pytest.raises(InvalidStatus) as info:
        feed_all(data + b"trailing junk", mode)
    exc = info.value
    assert isinstance(exc, HandshakeError)
    assert (exc.status, exc.body) == (403, b"forbidden")
    assert exc.headers == (("Content-Type", "text/plain"), ("Content-Length", "9"))
    assert "403 Forbidden" in str(exc)


def test_status_chunked_body() -> None:
    data = response(
        "Transfer-Encoding: chunked", status="500 Oops", body=b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    p = parser()
    assert p.feed(data[:-5]) is None  # the body is not complete yet
    with pytest.raises(InvalidStatus) as info:
        p.feed(data[-5:])
    assert (info.value.status, info.value.body) == (500, b"abcde")


def test_status_without_body() -> None:
    with pytest.raises(InvalidStatus) as info:
        parser().feed(response("Content-Length: 0", status="200 OK"))
    assert (info.value.status, info.value.body) == (200, b"")
    with pytest.raises(InvalidStatus) as info:
        parser().feed(response(status="304 Not Modified"))
    assert info.value.status == 304


def test_body_excerpt_is_bounded() -> None:
    big = b"x" * (3 * BODY_EXCERPT_SIZE)
    p = parser()
    # Raised as soon as the excerpt is full, long before the announced body ends.
    with pytest.raises(InvalidStatus) as info:
        p.feed(response("Content-Length: 10000000", status="503 Busy", body=big))
    assert info.value.body == big[:BODY_EXCERPT_SIZE]


def test_body_until_eof() -> None:
    p = parser()
    assert p.feed(response(status="404 Not Found", body=b"gone")) is None
    with pytest.raises(InvalidStatus) as info:
        p.feed_eof()
    assert (info.value.status, info.value.body) == (404, b"gone")


def test_body_cut_by_eof() -> None:
    p = parser()
    assert p.feed(response("Content-Length: 100", status="404 Not Found", body=b"gone")) is None
    with pytest.raises(InvalidStatus) as info:
        p.feed_eof()
    assert info.value.body == b"gone"


def test_broken_chunked_body_still_reports_status() -> None:
    data = response("Transfer-Encoding: chunked", status="502 Bad Gateway", body=b"zz\r\n")
    with pytest.raises(InvalidStatus) as info:
        parser().feed(data)
    assert info.value.status == 502


# -- malformed responses and limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"HTTP/1.1 101 Switching", b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n"],
)
def test_eof_before_response(data: bytes) -> None:
    p = parser()
    assert p.feed(data) is None
    with pytest.raises(HandshakeError, match="connection closed before the handshake"):
        p.feed_eof()


@pytest.mark.parametrize(
    "data",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"\r\nHTTP/1.1 101 OK\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nbad header\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    ],
)
def test_invalid_http(data: bytes) -> None:
    with pytest.raises(HandshakeError, match="invalid HTTP response") as info:
        parser().feed(data)
    assert type(info.value) is HandshakeError


def test_header_block_too_big() -> None:
    p = parser(max_header_size=1024)
    data = response(*OK_HEADERS, *(f"X-{i}: {'v' * 50}" for i in range(30)))
    with pytest.raises(HandshakeError, match="exceed 1024 bytes"):
        for i in range(0, len(data), 100):
            p.feed(data[i : i + 100])


def test_header_block_just_fits() -> None:
    data = response(*OK_HEADERS)
    assert parser(max_header_size=len(data)).feed(data) is not None


def test_header_line_too_long() -> None:
    line = "X-Long: " + "v" * 92  # exactly 100 bytes
    assert parser(max_line_size=100).feed(response(*OK_HEADERS, line)) is not None
    with pytest.raises(InvalidHeader, match=r"X-Long.*longer than 99 bytes"):
        parser(max_line_size=99).feed(response(*OK_HEADERS, line))


def test_status_line_too_long() -> None:
    with pytest.raises(HandshakeError, match="status line longer than 50 bytes"):
        parser(max_line_size=50).feed(response(status="404 " + "x" * 40))
    with pytest.raises(HandshakeError, match="status line"):
        parser(max_line_size=50).feed(response(status="101 " + "x" * 40))


SECRET = "s3cr3t-t0ken"


def feed_until_error(p: ResponseParser, data: bytes, step: int) -> tuple[HandshakeError, int]:
    """Feed ``data`` in ``step``-byte pieces until the parser raises; (error, bytes fed)."""
    for i in range(0, len(data), step):
        try:
            p.feed(data[i : i + step])
        except HandshakeError as exc:
            return exc, i + step
    raise AssertionError("no error")


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_an_over_long_location_says_so_and_hides_its_value(step: int) -> None:
    """Issue 10.10: never "missing Location header"; the header named, the limit given, the
    value (maybe a secret) not shown."""
    location = f"ws://other.example/?token={SECRET}&pad=" + "x" * 9000
    data = response(f"Location: {location}", "Content-Length: 0", status="302 Found")
    exc, _ = feed_until_error(parser(), data, step)
    assert isinstance(exc, InvalidHeader) and exc.name == "Location" and exc.value is None
    assert str(exc) == "invalid Location header: line longer than 8192 bytes"
    assert "missing" not in str(exc) and SECRET not in str(exc)


def test_a_line_longer_than_the_header_block_fails_at_the_line_limit() -> None:
    """A 1 MiB header line fails once the line limit is passed, naming its header: not at the
    header block limit, not without a name."""
    data = response("Upgrade: websocket", "Set-Cookie: " + "c" * 2**20)
    p = parser(max_line_size=1000)
    exc, fed = feed_until_error(p, data, 100)
    assert isinstance(exc, InvalidHeader) and exc.name == "Set-Cookie"
    assert fed < 1000 + 200
    with pytest.raises(RuntimeError):
        p.feed(b"x")


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_line_limit_counts_the_line_without_its_ending(mode: str, ending: str) -> None:
    line = "X-Long: " + "v" * 92  # 100 bytes
    data = ending.join(["HTTP/1.1 101 OK", *OK_HEADERS, line, "", ""]).encode()
    assert feed_all(data, mode, max_line_size=100)[1] is not None
    with pytest.raises(InvalidHeader, match="invalid X-Long header: line longer than 99 bytes"):
        feed_all(data, mode, max_line_size=99)


def test_a_folded_header_counts_as_one_line(mode: str) -> None:
    """obs-fold (RFC 7230 section 3.2.4): continuation lines add up to one header line."""
    data = response(*OK_HEADERS, "X-Folded: " + "a" * 60, " " + "b" * 60, "\t" + "c" * 60)
    exc_info = pytest.raises(InvalidHeader, match="invalid X-Folded header: line longer than 150")
    with exc_info:
        feed_all(data, mode, max_line_size=150)
    assert feed_all(data, mode, max_line_size=250)[1] is not None


@pytest.mark.parametrize(
    "line",
    [
        ": " + "v" * 200,  # no name
        "x" * 200,  # no colon
        "Bad Name: " + "v" * 200,  # not a token
        "N" * 300 + ": v",  # a name longer than the bytes kept of a line
    ],
)
def test_an_over_long_line_without_a_header_name(line: str) -> None:
    with pytest.raises(HandshakeError, match=r"^header line longer than 100 bytes$") as info:
        parser(max_line_size=100).feed(response(*OK_HEADERS, line))
    assert type(info.value) is HandshakeError


def test_an_over_long_status_line_fails_before_its_end() -> None:
    p = parser(max_line_size=100)
    with pytest.raises(HandshakeError, match=r"^status line longer than 100 bytes$"):
        p.feed(b"HTTP/1.1 101 " + b"x" * 100)  # no CRLF yet


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not HTTP"),
        (b"\x16\x03\x01", "not HTTP"),  # a TLS server on a ws:// port
        (b"HTTP/1.1 abc OK\r\n", "illegal status line"),
        (b"HTTP/1.1 1011\r\n", "illegal status line"),
        (b"HTTP/1.1\r\n", "illegal status line"),
        (b"\r\n", "not HTTP"),
        (b"\n", "illegal status line"),
        (b"HTTP/1.1 099 Early\r\n", "illegal status line"),
    ],
)
def test_not_http_fails_without_waiting_for_the_blank_line(data: bytes, what: str) -> None:
    with pytest.raises(HandshakeError, match=f"^invalid HTTP response: {what}$"):
        parser().feed(data)


@pytest.mark.parametrize("status", ["101", "101 Switching Protocols", "101  ", "200 OK"])
def test_status_lines_with_and_without_reason(status: str) -> None:
    headers = OK_HEADERS if status.startswith("101") else ("Content-Length: 0",)
    data = f"HTTP/1.1 {status}\r\n".encode() + response(*headers).partition(b"\r\n")[2]
    if status.startswith("101"):
        assert parser().feed(data) is not None
    else:
        with pytest.raises(InvalidStatus):
            parser().feed(data)


def test_interim_heads_are_checked_and_a_body_is_not(mode: str) -> None:
    """Every head is checked (a 103 before the final one too); the body after the final head
    is not made of header lines."""
    long_line = "Link: <" + "l" * 200 + ">"
    early = response(long_line, status="103 Early Hints")
    with pytest.raises(InvalidHeader, match="invalid Link header"):
        feed_all(early + response(*OK_HEADERS), mode, max_line_size=100)
    body = b"b" * 3000  # one "line" of 3000 bytes
    data = response("Content-Length: 3000", status="403 Forbidden", body=body)
    with pytest.raises(InvalidStatus) as info:
        feed_all(data, mode, max_line_size=100)
    assert info.value.body == body
    ok = response(*OK_HEADERS) + b"\x81\x7e\x0b\xb8" + b"f" * 3000  # frames are not lines
    p, result = feed_all(ok, "whole", max_line_size=100)
    assert result is not None and len(p.leftover) == 3004


def test_header_lines_are_limited_in_number_over_all_heads() -> None:
    """h11 parses a head in one call: many tiny headers would hold the thread, so their number
    is bounded, interim heads included (an endless stream of 1xx heads ends too)."""
    lines = [f"X-{i}: v" for i in range(MAX_HEADER_LINES - len(OK_HEADERS))]
    assert parser().feed(response(*OK_HEADERS, *lines)) is not None
    with pytest.raises(HandshakeError, match=f"more than {MAX_HEADER_LINES} header lines"):
        parser().feed(response(*OK_HEADERS, *lines, "X-One-More: v"))
    early = response("Link: </a>", status="103 Early Hints")
    p = parser()
    with pytest.raises(HandshakeError, match="header lines"):
        for _ in range(MAX_HEADER_LINES + 1):
            assert p.feed(early) is None


@pytest.mark.parametrize(
    "line",
    [f"X-Secret : {SECRET}", f"X-Secret: {SECRET}\x00", f"Content-Length: {SECRET}"],
)
def test_h11_errors_never_show_header_bytes(line: str) -> None:
    with pytest.raises(HandshakeError, match=r"^invalid HTTP response: ") as info:
        parser().feed(response(line, status="403 Forbidden"))
    assert SECRET not in str(info.value)


def test_rejection_is_the_final_answer_whose_body_has_not_ended(mode: str) -> None:
    """What a driver reports when its open timeout expires during a refusal's body."""
    head = response("Content-Length: 100", "X-Why: quota", status="403 Forbidden")
    p, result = feed_all(head + b"partial", mode)
    assert result is None
    exc = p.rejection()
    assert exc is not None and (exc.status, exc.body) == (403, b"partial")
    assert ("X-Why", "quota") in exc.headers
    p = parser()
    assert p.rejection() is None  # nothing yet
    assert p.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n") is None
    assert p.rejection() is None  # an upgrade in progress is no refusal
    p = parser()
    with pytest.raises(InvalidStatus):
        p.feed(response("Content-Length: 0", status="403 Forbidden"))
    assert p.rejection() is None  # already raised


def test_a_connection_reports_a_refusal_whose_body_never_ends() -> None:
    from qtws.core import ClientConnection, State

    client = ClientConnection("ws://example.com/", compression=False)
    assert client.handshake_rejection() is None
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nno")
    exc = client.handshake_rejection()
    assert exc is not None and (exc.status, exc.body) == (403, b"no")
    assert client.state is State.CONNECTING and client.events_received() == []
    client = ClientConnection("ws://example.com/", compression=False)
    client.receive_data(
        response(*OK_HEADERS[:2], f"Sec-WebSocket-Accept: {accept_value(client.key)}")
    )
    assert client.state is State.OPEN and client.handshake_rejection() is None


def test_no_feeding_after_the_end() -> None:
    p = parser()
    assert p.feed(response(*OK_HEADERS)) is not None
    with pytest.raises(RuntimeError):
        p.feed(b"x")
    with pytest.raises(RuntimeError):
        p.feed_eof()
    p = parser()
    with pytest.raises(InvalidStatus):
        p.feed(response("Content-Length: 0", status="400 Bad"))
    with pytest.raises(RuntimeError):
        p.feed(b"")


# -- redirects -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "status", "location", "expected"),
    [
        ("ws://h/a/b", 301, "/c", "ws://h/c"),
        ("ws://h/a/b?q", 302, "c?x=1", "ws://h/a/c?x=1"),
        ("wss://h:8443/a", 303, "../x", "wss://h:8443/x"),
        ("ws://h/", 307, "http://other:8080/p", "ws://other:8080/p"),
        ("ws://h/", 308, "https://other/p", "wss://other/p"),
        ("wss://h/", 301, "ws://other/p", "ws://other/p"),
        ("ws://h/", 301, "WSS://Other:443/p", "wss://other/p"),
        ("wss://h/", 302, "//cdn.example/p", "wss://cdn.example/p"),
        ("ws://h/", 302, "/p#frag", "ws://h/p"),
        ("ws://h/", 302, " /p ", "ws://h/p"),
        ("ws://h/", 302, "http://user:pw@other/", "ws://other/"),  # no credentials forwarded
        ("ws://[::1]:9000/a", 302, "b", "ws://[::1]:9000/b"),
        ("ws://h/", 300, "/p", None),
        ("ws://h/", 304, "/p", None),
        ("ws://h/", 200, "/p", None),
        ("ws://h/", 302, None, None),
        ("ws://h/", 302, "", None),
        ("ws://h/", 302, "ftp://h/p", None),
        ("ws://h/", 302, "mailto:a@b", None),
        ("ws://h/", 302, "ws:relative", None),
        ("ws://h/", 302, "http://[::1/", None),
        ("ws://h/", 302, "http://h:0/", None),
        # From a unix socket, a relative location stays on the socket.
        ("ws+unix:///s.sock:/a/b", 302, "/c", "ws+unix:///s.sock:/c"),
        ("ws+unix:///s.sock:/a/b", 302, " c?x ", "ws+unix:///s.sock:/a/c?x"),
        ("ws+unix:///s.sock", 302, "ws://other/p", "ws://other/p"),
        ("ws+unix:///s.sock", 302, "//other/p", "ws://other/p"),
    ],
)
def test_resolve_redirect(
    base: str, status: int, location: str | None, expected: str | None
) -> None:
    assert resolve_redirect(parse_uri(base), status, location) == expected


def test_redirect_location_from_parser() -> None:
    p = ResponseParser(parse_uri("wss://h/a/b"), KEY, ())
    with pytest.raises(InvalidStatus) as info:
        p.feed(response("Location: ../moved", "Content-Length: 0", status="302 Found"))
    assert info.value.location == "../moved"
    assert p.redirect_location(info.value) == "wss://h/moved"


# -- a real server ---------------------------------------------------------------------------------


def _greet(ws: ServerConnection) -> None:
    ws.send("Hello, compressed world! " * 20)
    for message in ws:
        ws.send(message)


def _reject(ws: ServerConnection, request: Any) -> Any:
    if request.path == "/moved":
        response = ws.respond(302, "moved\n")
        response.headers["Location"] = "/new?x=1"
        return response
    if request.path == "/forbidden":
        return ws.respond(403, "no entry for you\n")
    return None


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    with serve(
        _greet, "127.0.0.1", 0, process_request=_reject, subprotocols=[Subprotocol("chat")]
    ) as srv:
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        yield srv.socket.getsockname()[:2]
        srv.shutdown()
    thread.join(10)


def _recv_until(sock: socket.socket, p: ResponseParser) -> HandshakeResponse:
    while True:
        data = sock.recv(65536)
        if not data:
            p.feed_eof()
        result = p.feed(data)
        if result is not None:
            return result


def _read_frame(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """One unmasked server frame: (first byte, payload)."""

    def need(n: int) -> None:
        while len(buffer) < n:
            chunk = sock.recv(65536)
            assert chunk, "server closed the connection"
            buffer.extend(chunk)

    need(2)
    b0, length = buffer[0], buffer[1] & 0x7F
    pos = 2
    if length == 126:
        need(4)
        length, pos = int.from_bytes(buffer[2:4], "big"), 4
    elif length == 127:
        need(10)
        length, pos = int.from_bytes(buffer[2:10], "big"), 10
    need(pos + length)
    payload = bytes(buffer[pos : pos + length])
    del buffer[: pos + length]
    return b0, payload


def test_real_server_handshake_and_deflate(server: tuple[str, int]) -> None:
    host, port = server
    uri = parse_uri(f"ws://{host}:{port}/chat?room=1")
    key = generate_key()
    offer = offer_header()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            build_request(uri, key, subprotocols=["chat"], extensions=offer, user_agent="t/1")
        )
        p = ResponseParser(uri, key, ["chat"], extensions=["permessage-deflate"])
        result = _recv_until(sock, p)
        assert result.subprotocol == "chat"
        [(name, params)] = result.extensions
        assert name == "permessage-deflate"
        deflate = negotiate(params)
        assert isinstance(deflate, PerMessageDeflate)

        buffer = bytearray(p.leftover)
        b0, payload = _read_frame(sock, buffer)
        assert b0 == 0x80 | 0x40 | 0x1  # FIN, RSV1 (compressed), text
        text = deflate.decode(payload, True, 1 << 20).decode("utf-8")
        assert text == "Hello, compressed world! " * 20
        assert len(payload) < len(text) // 4

        # Our compressed message, echoed by the server and compressed again by it.
        message = "échos " * 300
        compressed = deflate.encode(message.encode())
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(compressed))
        assert len(compressed) < 126
        sock.sendall(bytes((0xC1, 0x80 | len(compressed))) + mask + masked)
        b0, payload = _read_frame(sock, buffer)
        assert b0 == 0xC1
        assert deflate.decode(payload, True, None).decode() == message

        # Close cleanly: a masked close frame with code 1000.
        code = bytes(b ^ mask[i] for i, b in enumerate(b"\x03\xe8"))
        sock.sendall(b"\x88\x82" + mask + code)
        b0, payload = _read_frame(sock, buffer)
        assert (b0, payload) == (0x88, b"\x03\xe8")


@pytest.mark.parametrize(
    ("path", "status", "body", "redirect"),
    [
        ("/forbidden", 403, b"no entry for you\n", None),
        ("/moved", 302, b"moved\n", "ws://{host}:{port}/new?x=1"),
    ],
)
def test_real_server_rejects(
    server: tuple[str, int], path: str, status: int, body: bytes, redirect: str | None
) -> None:
    host, port = server
    uri = parse_uri(f"ws://{host}:{port}{path}")
    key = generate_key()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(build_request(uri, key, extensions=offer_header()))
        p = ResponseParser(uri, key, ())
        with pytest.raises(InvalidStatus) as info:
            _recv_until(sock, p)
    assert (info.value.status, info.value.body) == (status, body)
    expected = redirect.format(host=host, port=port) if redirect else None
    assert p.redirect_location(info.value) == expected
