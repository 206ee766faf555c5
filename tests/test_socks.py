"""SOCKS5, SOCKS5h, SOCKS4 and SOCKS4a proxies against a real SOCKS server (tests/socks_server)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytestqt.qtbot import QtBot

import qtws
from qtws.loop.base import AddrInfo
from qtws.proxy import ProxySpec, parse_proxy
from qtws.socks import SocksHandshake
from tests.servers import RawServer, Tls, drain, ws_server
from tests.socks_server import SocksServer


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {"ping_interval": None, "open_timeout": 5, "close_timeout": 2}
    base.update(kw)
    return qtws.Config(**base)


def ipv4_only(host: str, port: int) -> list[AddrInfo]:
    """localhost as 127.0.0.1 only (the test servers do not listen on ::1)."""
    return socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)  # type: ignore[return-value]


def run(qtbot: QtBot, url: str, config: qtws.Config) -> tuple[list[Any], list[Any]]:
    """Open ``url``, send one message, close; the errors and the messages received."""
    ws = qtws.WebSocket(url, config=config, loop=qtws.loop.QtProxy(resolver=ipv4_only))
    errors: list[Any] = []
    got: list[Any] = []
    ws.error.connect(errors.append)
    ws.message.connect(got.append)
    ws.opened.connect(lambda: ws.send("through SOCKS ✓"))
    ws.message.connect(lambda m: ws.close())
    with qtbot.waitSignal(ws.closed, timeout=8000):
        ws.open()
    return errors, got


# What the proxy must receive: the name (the proxy resolves it) or the address qtws resolved.
EXPECTED_KIND = {"socks5": "ipv4", "socks5h": "name", "socks4": "ipv4", "socks4a": "name"}


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4", "socks4a"])
def test_ws_and_wss_through_socks(qtbot: QtBot, scheme: str, secure: bool) -> None:
    tls = Tls() if secure else None
    with (
        SocksServer() as proxy,
        ws_server(ssl_context=tls.server if tls else None) as srv,
    ):
        url = f"{'wss' if secure else 'ws'}://localhost:{srv.port}/"
        config = cfg(proxy=proxy.url(scheme), ssl_context=tls.client if tls else None)
        errors, got = run(qtbot, url, config)
    assert errors == [] and got == ["through SOCKS ✓"]
    [request] = proxy.requests
    assert request.version == (5 if scheme.startswith("socks5") else 4)
    assert request.kind == EXPECTED_KIND[scheme]
    assert request.host == ("localhost" if request.kind == "name" else "127.0.0.1")
    assert request.port == srv.port


def test_socks5_user_and_password(qtbot: QtBot) -> None:
    with SocksServer(users={"alice": "s3cret"}) as proxy, ws_server() as srv:
        errors, got = run(qtbot, srv.url, cfg(proxy=proxy.url("socks5h", "alice", "s3cret")))
    assert errors == [] and got == ["through SOCKS ✓"]
    assert proxy.requests[0].user == "alice"


def test_socks5_wrong_password_is_a_clear_error_without_the_password(qtbot: QtBot) -> None:
    with SocksServer(users={"alice": "s3cret"}) as proxy, ws_server() as srv:
        errors, got = run(qtbot, srv.url, cfg(proxy=proxy.url("socks5", "alice", "wr0ng")))
    assert got == [] and len(errors) == 1
    assert isinstance(errors[0], PermissionError)
    assert f"SOCKS5 proxy 127.0.0.1:{proxy.port} rejected the user name and password" in str(
        errors[0]
    )
    assert "wr0ng" not in str(errors[0]) and "wr0ng" not in repr(errors[0])
    assert proxy.requests == []


def test_socks5_proxy_requiring_credentials_none_given(qtbot: QtBot) -> None:
    with SocksServer(users={"alice": "s3cret"}) as proxy, ws_server() as srv:
        errors, _ = run(qtbot, srv.url, cfg(proxy=proxy.url("socks5")))
    assert isinstance(errors[0], PermissionError)
    assert "accepts none of the authentication methods" in str(errors[0])


@pytest.mark.parametrize(
    "code,kind,meaning",
    [
        (5, ConnectionRefusedError, "connection refused (SOCKS5 reply 0x05)"),
        (2, PermissionError, "connection not allowed by ruleset (SOCKS5 reply 0x02)"),
        (4, OSError, "host unreachable (SOCKS5 reply 0x04)"),
    ],
)
def test_socks5_refusal_names_the_proxy_and_its_reply(
    qtbot: QtBot, code: int, kind: type[OSError], meaning: str
) -> None:
    with SocksServer(refuse={"localhost": code}) as proxy, ws_server() as srv:
        url = f"ws://localhost:{srv.port}/"
        errors, _ = run(qtbot, url, cfg(proxy=proxy.url("socks5h")))
    assert type(errors[0]) is kind
    assert str(errors[0]) == (
        f"SOCKS5 proxy 127.0.0.1:{proxy.port} refused to connect to localhost:{srv.port}: "
        + meaning
    )


def test_socks4_refusal(qtbot: QtBot) -> None:
    with SocksServer(refuse={"localhost": 0x5B}) as proxy, ws_server() as srv:
        errors, _ = run(qtbot, f"ws://localhost:{srv.port}/", cfg(proxy=proxy.url("socks4a")))
    assert isinstance(errors[0], PermissionError)
    assert "SOCKS4 proxy" in str(errors[0]) and "request rejected or failed (SOCKS4" in str(
        errors[0]
    )


def test_unreachable_target_through_socks(qtbot: QtBot) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    with SocksServer() as proxy:
        errors, _ = run(qtbot, f"ws://127.0.0.1:{port}/", cfg(proxy=proxy.url("socks5")))
    assert isinstance(errors[0], ConnectionRefusedError)
    assert f"to 127.0.0.1:{port}: connection refused" in str(errors[0])


def test_socks_proxy_sending_data_after_its_reply(qtbot: QtBot) -> None:
    with SocksServer(after_reply=b"junk") as proxy, ws_server() as srv:
        errors, _ = run(qtbot, srv.url, cfg(proxy=proxy.url("socks5")))
    assert type(errors[0]) is OSError
    assert f"SOCKS5 proxy 127.0.0.1:{proxy.port} sent data after its SOCKS reply" in str(errors[0])


def test_socks_proxy_closing_during_the_handshake(qtbot: QtBot) -> None:
    with RawServer(lambda c: (c.recv(10), c.close())) as srv:
        errors, _ = run(qtbot, "ws://127.0.0.1:9/", cfg(proxy=f"socks5://127.0.0.1:{srv.port}"))
    assert isinstance(errors[0], ConnectionResetError)
    assert "closed the connection during the SOCKS handshake" in str(errors[0])


def test_socks_proxy_closing_in_the_middle_of_its_reply(qtbot: QtBot) -> None:
    def half_reply(c: socket.socket) -> None:
        c.recv(10)
        c.sendall(b"\x05\x00")  # no authentication
        c.recv(300)
        c.sendall(b"\x05\x00\x00\x01\x7f")  # the CONNECT reply, cut short
        c.close()

    with RawServer(half_reply) as srv:
        errors, _ = run(qtbot, "ws://127.0.0.1:9/", cfg(proxy=f"socks5://127.0.0.1:{srv.port}"))
    assert isinstance(errors[0], ConnectionResetError)
    assert f"SOCKS5 proxy 127.0.0.1:{srv.port} closed the connection" in str(errors[0])


def test_socks_url_pointing_at_an_http_server(qtbot: QtBot) -> None:
    def http(c: socket.socket) -> None:
        c.recv(10)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        drain(c)

    with RawServer(http) as srv:
        errors, _ = run(qtbot, "ws://127.0.0.1:9/", cfg(proxy=f"socks5h://127.0.0.1:{srv.port}"))
    assert type(errors[0]) is OSError
    assert str(errors[0]) == (
        f"malformed reply from SOCKS5 proxy 127.0.0.1:{srv.port} (is it a SOCKS proxy?): 48 54"
    )


def test_silent_socks_proxy_times_out_naming_the_phase(qtbot: QtBot) -> None:
    with RawServer(lambda c: drain(c, 5)) as srv:
        errors, _ = run(
            qtbot,
            "ws://127.0.0.1:9/",
            cfg(proxy=f"socks5://127.0.0.1:{srv.port}", open_timeout=0.5),
        )
    assert isinstance(errors[0], TimeoutError)
    assert "the SOCKS proxy's handshake" in str(errors[0])


def test_socks_proxy_from_all_proxy(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with SocksServer(users={"u": "p"}) as proxy, ws_server() as srv:
        monkeypatch.setenv("ALL_PROXY", proxy.url("socks5h", "u", "p"))
        # Environment proxies skip loopback targets: use a name only the proxy resolves.
        url = f"ws://feed.qtws.test:{srv.port}/"
        errors, got = run(qtbot, url, cfg(proxy="auto"))
    assert errors == [] and got == ["through SOCKS ✓"]
    assert proxy.requests[0].user == "u"


# ---------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    "url,scheme,port",
    [
        ("socks5://h", "socks5", 1080),
        ("SOCKS5H://h:9050", "socks5h", 9050),
        ("socks4a://h:1", "socks4a", 1),
        ("socks4://id@h", "socks4", 1080),
    ],
)
def test_parse_socks_urls(url: str, scheme: str, port: int) -> None:
    spec = parse_proxy(url)
    assert (spec.scheme, spec.host, spec.port) == (scheme, "h", port)
    assert spec.socks and spec.auth is None


def test_socks_credentials_are_parsed_and_never_shown() -> None:
    spec = parse_proxy("socks5://al%40ice:p%3Ass@h:1")
    assert (spec.username, spec.password) == ("al@ice", "p:ss")
    assert "p:ss" not in repr(spec) and spec.name == "SOCKS5 proxy h:1"
    assert parse_proxy("socks5h://[::1]:1").name == "SOCKS5 proxy [::1]:1"


@pytest.mark.parametrize(
    "url,message",
    [
        ("ftp://u:hunter2@h:1", "the scheme must be http, socks5, socks5h, socks4a or socks4"),
        ("socks4://u:hunter2@h", "SOCKS4 has a user id, no password"),
        ("socks5://" + "u" * 256 + ":hunter2@h", "1 to 255 bytes"),
        ("socks5://u:@h", "1 to 255 bytes"),
    ],
)
def test_unusable_proxy_urls_are_rejected_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        qtws.Config(proxy=url)
    assert "hunter2" not in str(info.value)


def test_socks_without_socksio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "socksio" else real(name, *a)
    )
    with pytest.raises(ValueError, match=r"needs the socksio package: pip install 'qtws\[socks\]'"):
        qtws.Config(proxy="socks5://h:1")


# ---------------------------------------------------------------------- the handshake, sans I/O
def feed_bytewise(handshake: SocksHandshake, data: bytes) -> bool:
    done = False
    for i in range(len(data)):
        assert not done
        done = handshake.receive_data(data[i : i + 1])
    return done


@pytest.mark.parametrize(
    "reply",
    [
        b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50",
        b"\x05\x00\x00\x04" + b"\x00" * 15 + b"\x01\x00\x50",
        b"\x05\x00\x00\x03\x04host\x00\x50",
    ],
    ids=["ipv4", "ipv6", "name"],
)
def test_socks5_replies_arriving_byte_by_byte(reply: bytes) -> None:
    spec = ProxySpec("p", 1080, scheme="socks5h", username="u", password="pw")
    hs = SocksHandshake(spec, "example.org", 443, "example.org")
    assert hs.data_to_send() == b"\x05\x02\x00\x02"
    assert not feed_bytewise(hs, b"\x05\x02")
    assert hs.data_to_send() == b"\x01\x01u\x02pw"
    assert not feed_bytewise(hs, b"\x01\x00")
    assert hs.data_to_send() == b"\x05\x01\x00\x03\x0bexample.org\x01\xbb"
    assert feed_bytewise(hs, reply) and hs.leftover == b""


def test_socks5_reply_and_early_data_in_one_read() -> None:
    hs = SocksHandshake(ProxySpec("p", 1, scheme="socks5"), "h", 80, "127.0.0.1")
    hs.data_to_send()
    assert not hs.receive_data(b"\x05\x00")
    assert hs.data_to_send() == b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"
    assert hs.receive_data(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50HTTP")
    assert hs.leftover == b"HTTP"


@pytest.mark.parametrize(
    "replies",
    [
        [b"\x05\x07"],  # an unknown method
        [b"\x05\x00", b"\x05\x00\x00\x09\x00\x00"],  # an unknown address type
        [b"\x05\x00", b"\x05\x42\x00\x01\x00\x00\x00\x00\x00\x00"],  # an unknown reply code
    ],
)
def test_socks5_malformed_replies(replies: list[bytes]) -> None:
    hs = SocksHandshake(ProxySpec("p", 1, scheme="socks5"), "h", 80, "127.0.0.1")
    with pytest.raises(OSError, match=r"malformed reply from SOCKS5 proxy p:1 \(is it a SOCKS"):
        for reply in replies:
            hs.receive_data(reply)


def test_socks4_requests_and_malformed_reply() -> None:
    hs = SocksHandshake(ProxySpec("p", 1, scheme="socks4a"), "example.org", 80, "example.org")
    assert hs.data_to_send() == b"\x04\x01\x00\x50\x00\x00\x00\xffqtws\x00example.org\x00"
    with pytest.raises(OSError, match="malformed reply from SOCKS4 proxy p:1"):
        hs.receive_data(b"\x01" * 8)
    ip = SocksHandshake(ProxySpec("p", 1, scheme="socks4a", username="me"), "h", 80, "10.0.0.1")
    assert ip.data_to_send() == b"\x04\x01\x00\x50\x0a\x00\x00\x01me\x00"
    with pytest.raises(OSError, match="IPv4 only"):
        SocksHandshake(ProxySpec("p", 1, scheme="socks4a"), "::1", 80, "::1")
    with pytest.raises(OSError, match="IPv4 only"):
        SocksHandshake(ProxySpec("p", 1, scheme="socks4"), "h", 80, "h")


# Valid starts of a proxy's answer, so the random bytes after them reach every later stage.
_PREFIXES = [b"", b"\x05\x00", b"\x05\x02", b"\x05\x02\x01\x00", b"\x05\x00\x05\x00\x00", b"\x00"]


@given(
    scheme=st.sampled_from(["socks5", "socks5h", "socks4", "socks4a"]),
    auth=st.booleans(),
    prefix=st.sampled_from(_PREFIXES),
    tail=st.binary(max_size=600),
    step=st.integers(1, 300),
)
def test_any_answer_is_a_tunnel_or_an_oserror(
    scheme: str, auth: bool, prefix: bytes, tail: bytes, step: int
) -> None:
    """Whatever a hostile proxy sends, in whatever pieces: the handshake finishes, waits for
    more with at most one reply buffered, or raises an OSError naming the proxy."""
    password = "pw" if auth and scheme.startswith("socks5") else None
    spec = ProxySpec("p", 1, scheme=scheme, username="u" if auth else None, password=password)
    hs = SocksHandshake(spec, "example.org", 80, "10.0.0.1")
    hs.data_to_send()
    data = prefix + tail
    try:
        for i in range(0, len(data), step):
            if hs.receive_data(data[i : i + step]):
                return
            hs.data_to_send()
            assert len(hs._buf) < 262 + step  # a reply's maximum (RFC 1928) plus one read
    except OSError as exc:
        assert f"{spec.scheme[:6].upper()} proxy p:1" in str(exc)


def fake_names(host: str, port: int) -> list[AddrInfo]:
    """``nowhere.test`` does not resolve, ``v6only.test`` has only an IPv6 address."""
    if host == "nowhere.test":
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if host == "v6only.test":
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", port, 0, 0))]
    return ipv4_only(host, port)


def run_names(qtbot: QtBot, url: str, proxy: str) -> list[Any]:
    ws = qtws.WebSocket(url, config=cfg(proxy=proxy), loop=qtws.loop.QtProxy(resolver=fake_names))
    errors: list[Any] = []
    ws.error.connect(errors.append)
    with qtbot.waitSignal(ws.closed, timeout=8000):
        ws.open()
    return errors


def test_socks5_target_that_does_not_resolve_names_it_and_the_proxy(qtbot: QtBot) -> None:
    with SocksServer() as proxy:
        [error] = run_names(qtbot, "ws://nowhere.test/", proxy.url("socks5"))
    assert isinstance(error, socket.gaierror)
    assert str(error).endswith(
        f"(resolving nowhere.test:80 (for the SOCKS5 proxy 127.0.0.1:{proxy.port}))"
    )
    assert proxy.requests == []


def test_socks4_target_with_only_an_ipv6_address(qtbot: QtBot) -> None:
    with SocksServer() as proxy:
        [error] = run_names(qtbot, "ws://v6only.test/", proxy.url("socks4"))
    assert str(error) == (
        f"no usable address found for v6only.test:80 (for the SOCKS4 proxy 127.0.0.1:{proxy.port})"
    )


def test_proxy_urls_that_are_not_urls() -> None:
    with pytest.raises(ValueError, match="a proxy URL must be a str, not int"):
        parse_proxy(3128)  # type: ignore[arg-type]
    assert parse_proxy("proxy.example:3128") == ProxySpec("proxy.example", 3128)  # http://
    for url in ("socks4://@h", "socks4://a%00b@h"):
        with pytest.raises(ValueError, match="invalid SOCKS4 user id"):
            parse_proxy(url)
