"""proxy="system" (and "auto" in a Qt application): Qt's proxy settings, looked up off the GUI
thread, against real proxies.

Qt's answer is made deterministic the way an application would configure Qt: an application
proxy factory (``QNetworkProxyFactory.setApplicationProxyFactory``), which is exactly what
``proxyForQuery`` (and so QWebSocket) consults; Qt's default factory, the OS settings, reads
``http_proxy``/``https_proxy``/``all_proxy`` on Linux, which a test below checks directly.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws import dial
from qtws._qt import (
    QCoreApplication,
    QNetworkProxy,
    QNetworkProxyFactory,
    QNetworkProxyQuery,
    QTimer,
)
from qtws.core import parse_uri
from qtws.loop.base import AddrInfo
from qtws.proxy import ProxySpec, SystemLookup, proxy_for
from qtws.system_proxy import QtSystemProxy, to_spec
from tests.servers import Tls, ws_server
from tests.socks_server import TEST_HOSTS, ConnectProxy, SocksServer

Kind = QNetworkProxy.ProxyType
_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class Factory(QNetworkProxyFactory):
    """An application proxy factory answering ``proxies`` and recording each query."""

    def __init__(self, proxies: list[QNetworkProxy], hold: threading.Event | None = None) -> None:
        super().__init__()
        self.proxies = proxies
        self.hold = hold
        self.entered = threading.Event()
        self.queries: list[tuple[str, int]] = []

    def queryProxy(self, query: QNetworkProxyQuery = QNetworkProxyQuery()) -> list[QNetworkProxy]:  # noqa: B008
        self.queries.append((query.url().toString(), threading.get_ident()))
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(10)
        return self.proxies


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)


@pytest.fixture
def app_factory(qapp: Any) -> Iterator[list[Factory]]:
    """Install factories with ``install(f)``; Qt's own system factory comes back afterwards."""
    installed: list[Factory] = []
    yield installed
    QNetworkProxyFactory.setApplicationProxyFactory(None)  # type: ignore[arg-type]
    QNetworkProxyFactory.setUseSystemConfiguration(True)  # Qt's default, a new system factory


def install(installed: list[Factory], factory: Factory) -> Factory:
    installed.append(factory)  # keep the Python side alive while Qt holds it
    QNetworkProxyFactory.setApplicationProxyFactory(factory)
    return factory


def known_hosts(host: str, port: int) -> list[AddrInfo]:
    """The test names (feed.qtws.test) as 127.0.0.1; everything else IPv4 as usual."""
    return socket.getaddrinfo(TEST_HOSTS.get(host, host), port, socket.AF_INET, socket.SOCK_STREAM)  # type: ignore[return-value]


def run(
    qtbot: QtBot, url: str, proxy: str, **kw: Any
) -> tuple[list[Any], list[Any], qtws.WebSocket]:
    kw = {"ping_interval": None, "open_timeout": 5, "close_timeout": 2, **kw}
    config = qtws.Config(proxy=proxy, **kw)
    ws = qtws.WebSocket(url, config=config, loop=qtws.loop.QtProxy(resolver=known_hosts))
    errors: list[Any] = []
    got: list[Any] = []
    ws.error.connect(errors.append)
    ws.message.connect(got.append)
    ws.opened.connect(lambda: ws.send("via Qt's proxy"))
    ws.message.connect(lambda m: ws.close())
    with qtbot.waitSignal(ws.closed, timeout=8000):
        ws.open()
    return errors, got, ws


@pytest.mark.parametrize("setting", ["system", "auto"])
@pytest.mark.parametrize("lookup", [True, False], ids=["socks5h", "socks5"])
def test_socks5_proxy_from_qt_settings(
    qtbot: QtBot, app_factory: list[Factory], setting: str, lookup: bool
) -> None:
    with SocksServer(users={"alice": "s3 cr:et"}) as proxy, ws_server() as srv:
        qt_proxy = QNetworkProxy(Kind.Socks5Proxy, "127.0.0.1", proxy.port, "alice", "s3 cr:et")
        if not lookup:
            qt_proxy.setCapabilities(QNetworkProxy.Capability.TunnelingCapability)
        factory = install(app_factory, Factory([qt_proxy]))
        errors, got, _ = run(qtbot, f"ws://feed.qtws.test:{srv.port}/chat?token=x", setting)
    assert errors == [] and got == ["via Qt's proxy"]
    [request] = proxy.requests
    assert request.user == "alice"
    # HostNameLookupCapability: the proxy resolves the name; without it qtws does.
    assert (request.kind, request.host) == (
        ("name", "feed.qtws.test") if lookup else ("ipv4", "127.0.0.1")
    )
    # The query is the http(s) URL of the server, without the path and query (tokens).
    [(url, thread)] = factory.queries
    assert url == f"http://feed.qtws.test:{srv.port}/"
    assert thread != threading.get_ident()  # never on the GUI thread


def test_lookup_never_blocks_the_gui_thread(qtbot: QtBot, app_factory: list[Factory]) -> None:
    hold = threading.Event()
    factory = install(app_factory, Factory([QNetworkProxy(Kind.NoProxy)], hold))
    with ws_server() as srv:
        ws = qtws.WebSocket(
            f"ws://feed.qtws.test:{srv.port}/",
            config=qtws.Config(proxy="system", ping_interval=None),
            loop=qtws.loop.QtProxy(resolver=known_hosts),
        )
        ws.open()  # returns while the lookup is still blocked in the factory
        qtbot.waitUntil(factory.entered.is_set)
        fired: list[int] = []
        QTimer.singleShot(0, lambda: fired.append(1))
        qtbot.waitUntil(lambda: fired == [1])  # the GUI thread's loop runs meanwhile
        assert ws.ready_state is qtws.ReadyState.CONNECTING
        with qtbot.waitSignal(ws.opened, timeout=5000):
            hold.set()
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_environment_keeps_precedence_over_qt(
    qtbot: QtBot, app_factory: list[Factory], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = install(app_factory, Factory([QNetworkProxy(Kind.HttpProxy, "unused.example", 1)]))
    with SocksServer() as proxy, ws_server() as srv:
        monkeypatch.setenv("all_proxy", proxy.url("socks5h"))
        errors, got, _ = run(qtbot, f"ws://feed.qtws.test:{srv.port}/", "system")
    assert errors == [] and got == ["via Qt's proxy"]
    assert factory.queries == [] and len(proxy.requests) == 1
    monkeypatch.setenv("no_proxy", "feed.qtws.test")
    monkeypatch.delenv("all_proxy")
    assert proxy_for(parse_uri("ws://feed.qtws.test/"), "system") is None  # no_proxy too


def test_loopback_and_unix_never_ask_qt() -> None:
    for url in ("ws://127.0.0.1:1/", "ws://localhost/", "ws+unix:///run/app.sock"):
        assert proxy_for(parse_uri(url), "system") is None


def test_system_and_auto_without_a_qt_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qtws.proxy._system_source", None)
    assert proxy_for(parse_uri("ws://feed.example/"), "system") is None
    assert proxy_for(parse_uri("ws://feed.example/"), "auto") is None


def test_auto_asks_qt_only_inside_a_qt_application(monkeypatch: pytest.MonkeyPatch) -> None:
    source = QtSystemProxy()
    monkeypatch.setattr("qtws.proxy._system_source", source)
    monkeypatch.setattr(QtSystemProxy, "applies", lambda self: False)
    uri = parse_uri("wss://feed.example/")
    assert proxy_for(uri, "auto") is None
    assert proxy_for(uri, "system") == SystemLookup(uri, source)


def test_qt_application_exists(qapp: Any) -> None:
    assert QtSystemProxy().applies()


@pytest.mark.skipif(sys.platform != "linux", reason="Qt reads the variables on Linux only")
def test_qt_default_factory_reads_the_environment_on_linux(
    qapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Qt's OS settings are on Linux (no libproxy in the PyQt6 wheels): the variables."""
    QNetworkProxyFactory.setUseSystemConfiguration(True)
    monkeypatch.setenv("https_proxy", "socks5h://bob:pw@proxy.example:9050")
    monkeypatch.setenv("http_proxy", "http://carol:pw%40@proxy.example:3128")
    lookup = QtSystemProxy().lookup
    secure = lookup(parse_uri("wss://feed.example/"))
    assert secure == ProxySpec(
        "proxy.example", 9050, scheme="socks5h", username="bob", password="pw"
    )
    plain = lookup(parse_uri("ws://feed.example:8080/"))
    assert plain == ProxySpec("proxy.example", 3128, auth="Basic Y2Fyb2w6cHdA")  # carol:pw@
    monkeypatch.setenv("no_proxy", "feed.example")
    assert lookup(parse_uri("ws://feed.example/")) is None


def proxy(kind: QNetworkProxy.ProxyType, host: str = "p.example", port: int = 1) -> QNetworkProxy:
    return QNetworkProxy(kind, host, port)


def test_mapping_of_qt_proxy_types(qapp: Any) -> None:
    url = "https://feed.example:443"
    assert to_spec([proxy(Kind.NoProxy)], url) is None
    assert to_spec([], url) is None  # Qt connects directly on an empty answer too
    assert to_spec([proxy(Kind.HttpProxy, "::1", 3128)], url) == ProxySpec("::1", 3128)
    # Entries that cannot tunnel are skipped, as QAbstractSocket does.
    no_tunnel = proxy(Kind.HttpProxy)
    no_tunnel.setCapabilities(QNetworkProxy.Capability.CachingCapability)
    answer = [proxy(Kind.HttpCachingProxy), no_tunnel, proxy(Kind.Socks5Proxy, port=1080)]
    assert to_spec(answer, url) == ProxySpec("p.example", 1080, scheme="socks5h")


def test_only_unusable_qt_proxies_is_a_clear_error(qapp: Any) -> None:
    answer = [proxy(Kind.HttpCachingProxy), proxy(Kind.FtpCachingProxy, port=21)]
    answer.append(proxy(Kind.DefaultProxy))
    with pytest.raises(OSError) as info:
        to_spec(answer, "https://feed.example:443")
    assert str(info.value) == (
        "Qt's proxy settings for https://feed.example:443 offer no proxy a WebSocket can "
        "tunnel through: HttpCachingProxy p.example:1, FtpCachingProxy p.example:21, DefaultProxy"
    )


def test_unusable_qt_socks_credentials_are_an_error_without_the_password(qapp: Any) -> None:
    bad = QNetworkProxy(Kind.Socks5Proxy, "p.example", 1080, "u" * 300, "hunter2")
    with pytest.raises(OSError, match=r"name Socks5Proxy p\.example:1080, unusable") as info:
        to_spec([bad], "http://feed.example:80")
    assert "hunter2" not in str(info.value)


def test_failed_lookup_fails_the_connection(qtbot: QtBot, app_factory: list[Factory]) -> None:
    install(app_factory, Factory([proxy(Kind.FtpCachingProxy)]))
    errors, got, _ = run(qtbot, "wss://feed.qtws.test:1/", "system")
    assert got == [] and len(errors) == 1 and isinstance(errors[0], OSError)
    assert "https://feed.qtws.test:1/ offer no proxy a WebSocket can tunnel through" in str(
        errors[0]
    )


def test_closing_while_looking_up_drops_the_answer(
    qtbot: QtBot, app_factory: list[Factory]
) -> None:
    """Lookups run in turn on one thread (Qt serialises them anyway): a WebSocket closed while
    its lookup waits in line is never looked up, one closed during its lookup drops the answer."""
    hold = threading.Event()
    factory = install(app_factory, Factory([proxy(Kind.NoProxy)], hold))
    first = qtws.WebSocket("ws://feed.qtws.test:1/", config=qtws.Config(proxy="system"))
    second = qtws.WebSocket("ws://feed.qtws.test:2/", config=qtws.Config(proxy="system"))
    first.open()
    second.open()
    qtbot.waitUntil(factory.entered.is_set)
    for ws in (first, second):
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()
    hold.set()
    dial._lookups.jobs.join()  # both jobs done, their answers posted to the loop
    QCoreApplication.processEvents()  # ... and dropped there
    assert [url for url, _ in factory.queries] == ["http://feed.qtws.test:1/"]


def test_a_lookup_that_hangs_counts_against_open_timeout(
    qtbot: QtBot, app_factory: list[Factory]
) -> None:
    hold = threading.Event()
    install(app_factory, Factory([proxy(Kind.NoProxy)], hold))
    try:
        errors, _, _ = run(qtbot, "ws://feed.qtws.test:1/", "system", open_timeout=0.2)
    finally:
        hold.set()
        dial._lookups.jobs.join()
    assert isinstance(errors[0], TimeoutError)
    assert "looking up the system proxy" in str(errors[0])


def test_system_proxy_in_a_plain_script_loop(qtbot: QtBot, app_factory: list[Factory]) -> None:
    """The blocking API on the selectors loop: the answer comes back through its wake-up."""
    with SocksServer() as socks, ws_server() as srv:
        install(app_factory, Factory([QNetworkProxy(Kind.Socks5Proxy, "127.0.0.1", socks.port)]))
        loop = qtws.loop.SelectorsProxy(resolver=known_hosts)
        config = qtws.Config(proxy="system", ping_interval=None)
        ws = qtws.WebSocket(f"ws://feed.qtws.test:{srv.port}/", config=config, loop=loop)
        ws.connect(timeout=5)
        ws.send("blocking")
        assert ws.wait_for_next_message(timeout=5) == "blocking"
        ws.close()
        assert loop.run_until(lambda: ws.ready_state is qtws.ReadyState.CLOSED, 5)
        loop.close()
    assert [r.host for r in socks.requests] == ["feed.qtws.test"]


def test_qtnetwork_names_load_on_first_use() -> None:
    from qtws import _qt

    assert _qt.QNetworkProxy.ProxyType.NoProxy.name == "NoProxy"
    with pytest.raises(AttributeError, match="has no attribute 'QNoSuchThing'"):
        _qt.QNoSuchThing  # noqa: B018


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_http_proxy_from_qt_settings_with_credentials(
    qtbot: QtBot, app_factory: list[Factory], secure: bool
) -> None:
    tls = Tls() if secure else None
    if tls is not None:  # a certificate for the test name
        tls.ca.issue_cert("feed.qtws.test").configure_cert(tls.server)
    with (
        ConnectProxy(users={"carol": "pw@1"}) as proxy,
        ws_server(ssl_context=tls.server if tls else None) as srv,
    ):
        qt_proxy = QNetworkProxy(Kind.HttpProxy, "127.0.0.1", proxy.port, "carol", "pw@1")
        factory = install(app_factory, Factory([qt_proxy]))
        url = f"{'wss' if secure else 'ws'}://feed.qtws.test:{srv.port}/"
        errors, got, _ = run(qtbot, url, "system", ssl_context=tls.client if tls else None)
    assert errors == [] and got == ["via Qt's proxy"]
    [request] = proxy.requests
    assert (request.host, request.port, request.user) == ("feed.qtws.test", srv.port, "carol")
    assert factory.queries[0][0] == f"{'https' if secure else 'http'}://feed.qtws.test:{srv.port}/"
