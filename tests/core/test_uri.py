"""Tests of qtws.core.uri.parse_uri."""

from __future__ import annotations

import re

import pytest

from qtws.core.uri import WebSocketURI, parse_uri
from qtws.errors import InvalidURI


@pytest.mark.parametrize(
    ("uri", "secure", "host", "port", "resource", "url"),
    [
        ("ws://example.com", False, "example.com", 80, "/", "ws://example.com/"),
        ("wss://example.com", True, "example.com", 443, "/", "wss://example.com/"),
        ("WS://Example.COM:80/", False, "example.com", 80, "/", "ws://example.com/"),
        ("wss://h:443/a", True, "h", 443, "/a", "wss://h/a"),
        ("ws://h:8080/a/b?x=1&y=2", False, "h", 8080, "/a/b?x=1&y=2", "ws://h:8080/a/b?x=1&y=2"),
        ("wss://h:80", True, "h", 80, "/", "wss://h:80/"),
        ("ws://h:/p", False, "h", 80, "/p", "ws://h/p"),
        ("ws://h?q", False, "h", 80, "/?q", "ws://h/?q"),
        ("ws://h/p?", False, "h", 80, "/p", "ws://h/p"),
        ("ws://[::1]", False, "::1", 80, "/", "ws://[::1]/"),
        ("ws://[::1]:9000/x", False, "::1", 9000, "/x", "ws://[::1]:9000/x"),
        ("wss://[2001:DB8:0:0::1]:443", True, "2001:db8::1", 443, "/", "wss://[2001:db8::1]/"),
        ("ws://[::1]:", False, "::1", 80, "/", "ws://[::1]/"),
        ("ws://127.0.0.1:1/", False, "127.0.0.1", 1, "/", "ws://127.0.0.1:1/"),
        ("ws://h:65535", False, "h", 65535, "/", "ws://h:65535/"),
        # IDNA host, percent-encoded non-ASCII path and query; existing escapes are kept.
        ("ws://bücher.example/", False, "xn--bcher-kva.example", 80, "/", None),
        ("ws://h/ä ö?q=é", False, "h", 80, "/%C3%A4%20%C3%B6?q=%C3%A9", None),
        ("ws://h/a%20b?c=%2F", False, "h", 80, "/a%20b?c=%2F", None),
        ("ws://h/a:b@c;d=e,f", False, "h", 80, "/a:b@c;d=e,f", None),
    ],
)
def test_valid(
    uri: str, secure: bool, host: str, port: int, resource: str, url: str | None
) -> None:
    parsed = parse_uri(uri)
    assert (parsed.secure, parsed.host, parsed.port, parsed.resource_name) == (
        secure,
        host,
        port,
        resource,
    )
    assert parsed.user_info is None
    if url is not None:
        assert parsed.url == url
    # The normalised URL parses to the same thing.
    assert parse_uri(parsed.url) == parsed


def test_idna_url() -> None:
    assert parse_uri("wss://Bücher.example:8443/x").url == "wss://xn--bcher-kva.example:8443/x"


def test_user_info() -> None:
    parsed = parse_uri("wss://alice:s%3Acr%C3%A9t@h/x")
    assert parsed.user_info == ("alice", "s:cr\u00e9t")
    assert parsed.url == "wss://h/x"
    assert "cr" not in repr(parsed)  # the password stays out of logs
    assert parse_uri("ws://bob@h").user_info == ("bob", "")
    assert parse_uri("ws://:pw@h").user_info == ("", "pw")
    assert parse_uri("ws://a@b@h").user_info == ("a@b", "")
    assert parse_uri("ws://a:b:c@h").user_info == ("a", "b:c")  # the first colon splits
    assert parse_uri("ws://h.example./").host == "h.example."


def test_scheme_and_authority_properties() -> None:
    uri = WebSocketURI(True, "::1", 8443, "/")
    assert uri.scheme == "wss"
    assert uri.authority == "[::1]:8443"
    assert WebSocketURI(False, "h", 80).authority == "h"


@pytest.mark.parametrize(
    ("uri", "msg"),
    [
        ("http://h/", "scheme"),
        ("https://h/", "scheme"),
        ("h/path", "scheme"),
        ("ws://h/#frag", "fragment"),
        ("ws://h/#", "fragment"),
        ("ws:///path", "empty host"),
        ("ws://:80/", "empty host"),
        ("ws://h:0/", "out of range"),
        ("ws://h:65536/", "out of range"),
        ("ws://h:99999999999999/", "out of range"),
        ("ws://h:http/", "invalid port"),
        ("ws://h:-1/", "invalid port"),
        ("ws://h:\u0661\u0662/", "invalid port"),
        ("ws://h:80:90/", "invalid port"),
        ("ws://[::1]:x/", "invalid port"),
        ("ws://[::1]x/", "junk"),
        ("ws://[::1]]/", "junk"),
        ("ws://[::1/", "IPv6"),
        ("ws://u@[::1/", "IPv6"),
        ("ws://[zz]/", "does not appear"),
        ("ws://u@[1.2.3.4]/", "IPv4"),
        ("ws://[v1.x]/", "invalid IPv6"),  # a valid IPvFuture literal for urlsplit, not for us
        ("ws://h\r\n/", "control"),
        ("ws://h/\tx", "control"),
        ("ws://h\x00/", "control"),
        ("ws://ho st/", "invalid host"),
        ("ws://h<x>/", "invalid host"),
        ("ws://%3A:x@h/", "user name"),
        ("ws://%ff:x@h/", "UTF-8"),
        ("ws://x:%ff@h/", "UTF-8"),
        ("ws://\ufffd.com/", "internationalised"),  # a character IDNA 2003 refuses
        ("ws://\u2488.com/", "invalid host"),  # IDNA maps it to "1." -> an empty label
        ("ws://.h/", "invalid host"),
        ("ws://a..b/", "invalid host"),
        ("ws://a..b\u00fc/", "internationalised"),  # an empty label
    ],
)
def test_invalid(uri: str, msg: str) -> None:
    with pytest.raises(InvalidURI, match=msg) as info:
        parse_uri(uri)
    assert isinstance(info.value, ValueError)
    assert info.value.uri == re.sub(r"^(ws://[^:@/]*):[^@]*@", r"\1:***@", uri)  # no password


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        parse_uri(b"ws://h/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uri,path,resource,url",
    [
        ("ws+unix:///run/app.sock", "/run/app.sock", "/", "ws+unix:///run/app.sock:/"),
        (
            "WS+UNIX:///run/app.sock:/chat?room=1",
            "/run/app.sock",
            "/chat?room=1",
            "ws+unix:///run/app.sock:/chat?room=1",
        ),
        ("ws+unix:///tmp/a%3Ab.sock:/", "/tmp/a:b.sock", "/", "ws+unix:///tmp/a%3Ab.sock:/"),
        ("ws+unix:///s?x", "/s", "/?x", "ws+unix:///s:/?x"),
    ],
)
def test_unix_socket_urls(uri: str, path: str, resource: str, url: str) -> None:
    parsed = parse_uri(uri)
    assert parsed.unix_path == path and parsed.resource_name == resource
    assert (parsed.host, parsed.port, parsed.secure, parsed.scheme) == (
        "localhost",
        80,
        False,
        "ws+unix",
    )
    assert parsed.authority == "localhost" and parsed.url == url
    assert parse_uri(parsed.url) == parsed


@pytest.mark.parametrize(
    "uri,msg",
    [
        ("ws+unix://host/run/app.sock", "has no host"),
        ("ws+unix://", "no socket path"),
        ("ws+unix:///:/chat", "no socket path"),
        ("ws+unix:///run/app.sock:chat", "must start with '/'"),
        ("ws+unix:///run/app.sock#frag", "fragments"),
        ("wss+unix:///run/app.sock", r"scheme must be ws, wss or ws\+unix"),
    ],
)
def test_invalid_unix_socket_urls(uri: str, msg: str) -> None:
    with pytest.raises(InvalidURI, match=msg):
        parse_uri(uri)


@pytest.mark.parametrize(
    ("uri", "msg"),
    [
        ("ws://%zz/", "percent-encoding"),
        ("ws://%ff.de/", "percent-encoding"),
        ("ws://%2541.de/", "percent-encoding"),
        ("ws://" + "a" * 64 + ".com/", "too long label"),
        ("ws://" + ("a" * 63 + ".") * 4 + "com/", "longer than 253"),
        ("ws://xn--zz.com/", "bad IDNA label"),
        ("ws://1.2.3.256/", "invalid IPv4"),
        # Shorthand the resolver would read as 127.0.0.1 (inet_aton): never the host it says.
        ("ws://0x7f.1/", "invalid IPv4"),
        ("ws://127.0x1/", "invalid IPv4"),
        ("ws://0X7F000001/", "invalid IPv4"),
        ("ws://010.0.0.1/", "invalid IPv4"),
        ("ws://example.123/", "invalid IPv4"),
        ("ws://h/\udcff", "not valid Unicode"),
    ],
)
def test_hosts_that_can_never_resolve(uri: str, msg: str) -> None:
    """Issue 10.8: InvalidURI at parse time, never a UnicodeError later."""
    with pytest.raises(InvalidURI, match=msg):
        parse_uri(uri)


def test_valid_host_forms() -> None:
    assert parse_uri("ws://%41.example/").host == "a.example"
    assert parse_uri("ws://%C3%BC.de/").host == "xn--tda.de"
    assert parse_uri("ws://my_service:8080/").host == "my_service"
    assert parse_uri("ws://0x7f.example/").host == "0x7f.example"
    assert parse_uri("ws://1.2.3.example/").host == "1.2.3.example"
    assert parse_uri("ws://10.0.0.1./").host == "10.0.0.1."
    assert parse_uri("ws://" + "a" * 63 + ".com./").host == "a" * 63 + ".com."


@pytest.mark.parametrize(
    "uri",
    ["ws://u:s3cret@h h/", "ws://u:s3cr/et@h/", "ws://u:\udcffs3cret@h/", "ws://u:s3cret@%zz/"],
)
def test_invalid_uri_never_shows_the_password(uri: str) -> None:
    with pytest.raises(InvalidURI) as info:
        parse_uri(uri)
    assert "s3cr" not in str(info.value) and "s3cr" not in info.value.uri
    assert "s3cr" not in repr(info.value) and "u:***@" in info.value.uri
