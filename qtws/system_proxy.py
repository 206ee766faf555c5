"""``proxy="system"``: the proxy Qt's own sockets would use for a WebSocket URL.

How it works
------------
QWebSocket, like every ``QTcpSocket`` left at ``QNetworkProxy.DefaultProxy``, takes its proxy
from ``QNetworkProxyFactory.proxyForQuery``.  Qt's default factory is the operating system's
configuration (``systemProxyForQuery``: WinHTTP with PAC/WPAD on Windows, CFNetwork on macOS,
``http_proxy``/``https_proxy``/``all_proxy``/``no_proxy`` or libproxy on Linux); an application
that called ``QNetworkProxy.setApplicationProxy`` or ``setApplicationProxyFactory`` gets its
own choice instead.  :class:`QtSystemProxy` asks that same function, so qtws follows whatever
the rest of the Qt application follows.

The query is the URL a browser would look up for the WebSocket (Chromium's rule): ``http://``
for ``ws``, ``https://`` for ``wss``, host and port only (the path and query may carry tokens
and a PAC script has no business seeing them).  Qt's answer is a list: the first entry qtws
can tunnel through wins, as in ``QAbstractSocket``: ``NoProxy`` (direct), ``HttpProxy``
(``CONNECT``; skipped if the application removed its ``TunnelingCapability``), ``Socks5Proxy``
(``socks5h`` when it has the ``HostNameLookupCapability``, Qt's default, else ``socks5``).
``HttpCachingProxy``/``FtpCachingProxy`` cannot tunnel and ``DefaultProxy`` means nothing in an
answer: a list with nothing else fails with an ``OSError`` naming them.

The lookup can take seconds (fetching and running a PAC script), so qtws calls it on a worker
thread, never on the GUI thread: an application factory's ``queryProxy`` must therefore be
thread-safe, which Qt requires anyway (Qt serialises the calls with its own mutex).
"""

from __future__ import annotations

import urllib.parse

from . import _qt
from .core import WebSocketURI
from .proxy import ProxySpec, parse_proxy, set_system_source

__all__ = ["QtSystemProxy", "install", "to_spec"]


class QtSystemProxy:
    """The :class:`qtws.proxy.SystemSource` backed by ``QNetworkProxyFactory``."""

    def applies(self) -> bool:
        """``"auto"`` follows Qt's settings inside a Qt application, as QWebSocket does."""
        return _qt.QCoreApplication.instance() is not None

    def lookup(self, uri: WebSocketURI) -> ProxySpec | None:
        """Qt's proxy for ``uri`` (blocking: run off the GUI thread); ``None``: direct."""
        url = _qt.QUrl()
        url.setScheme("https" if uri.secure else "http")
        url.setHost(uri.host.strip("[]"))
        url.setPort(uri.port)
        url.setPath("/")
        proxies = _qt.QNetworkProxyFactory.proxyForQuery(_qt.QNetworkProxyQuery(url))
        return to_spec(proxies, url.toString())


def to_spec(proxies: list[_qt.QNetworkProxy], url: str) -> ProxySpec | None:
    """The first entry of Qt's answer a WebSocket can go through (see the module docstring)."""
    kinds = _qt.QNetworkProxy.ProxyType
    caps_of = _qt.QNetworkProxy.Capability
    unusable: list[str] = []
    for proxy in proxies:
        kind = proxy.type()
        caps = proxy.capabilities()
        if kind == kinds.NoProxy:
            return None
        where = f"{kind.name} {_authority(proxy)}"
        if kind == kinds.HttpProxy and caps & caps_of.TunnelingCapability:
            scheme = "http"
        elif kind == kinds.Socks5Proxy:
            lookup = caps & caps_of.HostNameLookupCapability
            scheme = "socks5h" if lookup else "socks5"
        else:
            unusable.append(where if kind != kinds.DefaultProxy else kind.name)
            continue
        try:
            return parse_proxy(f"{scheme}://{_credentials(proxy)}{_authority(proxy)}")
        except ValueError as exc:
            raise OSError(f"Qt's proxy settings for {url} name {where}, unusable: {exc}") from None
    if not unusable:
        return None  # an empty answer: Qt itself connects directly then
    raise OSError(
        f"Qt's proxy settings for {url} offer no proxy a WebSocket can tunnel through: "
        + ", ".join(unusable)
    )


def _authority(proxy: _qt.QNetworkProxy) -> str:
    host = proxy.hostName()
    return f"[{host}]:{proxy.port()}" if ":" in host else f"{host}:{proxy.port()}"


def _credentials(proxy: _qt.QNetworkProxy) -> str:
    if not proxy.user():
        return ""
    user = urllib.parse.quote(proxy.user(), safe="")
    return f"{user}:{urllib.parse.quote(proxy.password(), safe='')}@"


def install() -> None:
    """Make ``proxy="system"`` (and ``"auto"`` in a Qt application) ask Qt."""
    set_system_source(QtSystemProxy())
