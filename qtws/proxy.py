"""Proxy settings: which proxy (if any) a WebSocket URL goes through.

How it works
------------
:func:`proxy_for` turns ``Config.proxy`` into a :class:`ProxySpec` or ``None`` (direct):

* ``None`` connects directly; an explicit URL is always used, loopback targets included:
  ``http://[user:password@]host[:port]`` (HTTP ``CONNECT``, port 8080 by default), or a SOCKS
  proxy (port 1080 by default): ``socks5://`` (qtws resolves the server's name and sends the
  address), ``socks5h://`` (the proxy resolves the name), both with an optional
  ``user:password@`` (RFC 1929), ``socks4a://`` (the proxy resolves the name) and ``socks4://``
  (IPv4 only), both with an optional ``user@`` (the SOCKS4 user id).  SOCKS needs the optional
  ``socksio`` package (``pip install 'qtws[socks]'``).
* ``"auto"`` reads the environment as curl and urllib do: ``https_proxy`` for ``wss``,
  ``http_proxy`` for ``ws``, else ``all_proxy``, and honours ``no_proxy``.  A proxy URL qtws
  cannot use is ignored with a warning that never shows its password.  When none of
  ``https_proxy``/``http_proxy``/``all_proxy`` is set and a Qt application exists, it asks Qt
  as ``"system"`` does (what QWebSocket in the same app would use).
* ``"system"``: the environment where one of those variables is set (and ``no_proxy``
  always), else Qt's proxy settings for the URL: ``QNetworkProxyFactory.proxyForQuery``,
  which is the operating system's configuration (PAC included) unless the application set its
  own with ``QNetworkProxy.setApplicationProxy`` or a factory.  The lookup may block (a PAC
  script fetched over the network), so :func:`proxy_for` only returns a
  :class:`SystemLookup` and the dialer runs it off the loop's thread.  The Qt side registers
  itself with :func:`set_system_source`; this module never imports Qt.
* Loopback targets (``localhost``, ``127.0.0.0/8``, ``::1``) never go through an environment
  or system proxy, as in browsers.
* ``ws+unix://`` URLs never go through a proxy.

Only the settings live here; :mod:`qtws.dial` dials the proxy.
"""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import logging
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .config import _redact_url as redact_url
from .core import WebSocketURI

__all__ = [
    "SOCKS_SCHEMES",
    "ProxySpec",
    "SystemLookup",
    "SystemSource",
    "parse_proxy",
    "proxy_for",
    "redact_url",
    "set_system_source",
]

_log = logging.getLogger("qtws")

SOCKS_SCHEMES = ("socks5", "socks5h", "socks4a", "socks4")
_DEFAULT_PORTS = {"http": 8080, "https": 8080, **dict.fromkeys(SOCKS_SCHEMES, 1080)}


# Public in urllib.request but missing from typeshed.
_proxy_bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ProxySpec:
    """A proxy: its kind (``scheme``), where it is, and its credentials.

    ``auth`` is the ``Proxy-Authorization`` value of an HTTP proxy; ``username``/``password``
    are a SOCKS5 proxy's credentials (a SOCKS4 proxy gets ``username`` as its user id)."""

    host: str
    port: int
    auth: str | None = field(default=None, repr=False)  # a secret: never in a repr
    scheme: str = "http"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def socks(self) -> bool:
        """True for a SOCKS proxy, False for an HTTP CONNECT proxy."""
        return self.scheme in SOCKS_SCHEMES

    @property
    def remote_dns(self) -> bool:
        """True when the proxy resolves the server's name (``socks5h``, ``socks4a``)."""
        return self.scheme in ("socks5h", "socks4a")

    @property
    def name(self) -> str:
        """How errors name the proxy: ``HTTP proxy 127.0.0.1:3128``, ``SOCKS5 proxy ...``."""
        kind = "HTTP" if not self.socks else self.scheme[:6].upper()
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{kind} proxy {host}:{self.port}"


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SystemSource(Protocol):
    """Where ``"system"`` proxies come from (Qt's side, registered by the façade)."""

    def applies(self) -> bool:
        """Whether ``"auto"`` consults it now (a Qt application exists); cheap, loop thread."""

    def lookup(self, uri: WebSocketURI) -> ProxySpec | None:
        """The proxy for ``uri`` (``None``: direct).  May block: called on a worker thread.
        Raises ``OSError`` naming what it found when no usable proxy is configured."""


_system_source: SystemSource | None = None


def set_system_source(source: SystemSource | None) -> None:
    """Register where ``proxy="system"`` asks (``None``: ``"system"`` reads only the
    environment and ``"auto"`` never asks)."""
    global _system_source
    _system_source = source


@dataclass(frozen=True)
class SystemLookup:
    """The system's proxy for ``uri``, still to be asked: call it off the loop's thread."""

    uri: WebSocketURI
    source: SystemSource = field(repr=False)

    def __call__(self) -> ProxySpec | None:
        return self.source.lookup(self.uri)


def proxy_for(uri: WebSocketURI, setting: str | None) -> ProxySpec | SystemLookup | None:
    """The proxy to use for ``uri`` given ``Config.proxy`` (see module doc); ``None``: direct.

    Raises ``ValueError`` for an explicit proxy URL qtws cannot use."""
    if setting is None or uri.unix_path is not None:
        return None
    if setting not in ("auto", "system"):
        return parse_proxy(setting)
    if _is_loopback(uri.host):
        return None
    env = urllib.request.getproxies_environment()
    # no_proxy entries may carry ports; proxy_bypass_environment checks host:port too.
    if _proxy_bypass(uri.host, env) or _proxy_bypass(f"{uri.host}:{uri.port}", env):
        return None
    if not env.keys() & {"https", "http", "all"}:
        # Environment variables take precedence where they are set (as in curl and Qt).
        source = _system_source
        if source is not None and (setting == "system" or source.applies()):
            return SystemLookup(uri, source)
        return None
    url = env.get("https" if uri.secure else "http") or env.get("all")
    return _usable(url, "the environment") if url else None


def _usable(url: str, where: str) -> ProxySpec | None:
    try:
        return parse_proxy(url)
    except ValueError as exc:
        # Settings made for other tools must not break qtws.
        _log.warning("ignoring the proxy from %s: %s", where, exc)
        return None


def parse_proxy(url: str) -> ProxySpec:
    """Parse a proxy URL (see the module docstring for the schemes; ``http://`` when none).

    Error messages show the URL with its password masked."""
    if not isinstance(url, str):
        raise ValueError(f"a proxy URL must be a str, not {type(url).__name__}")
    if "://" not in url:
        url = "http://" + url
    shown = redact_url(url)
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError as exc:
        raise ValueError(f"invalid proxy URL {shown!r}: {exc}") from None
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(
            f"unsupported proxy URL {shown!r}: the scheme must be http, socks5, socks5h, "
            "socks4a or socks4"
        )
    if not parts.hostname:
        raise ValueError(f"invalid proxy URL {shown!r}: no host")
    user = pw = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        pw = urllib.parse.unquote(parts.password or "")
    if scheme in ("http", "https"):
        auth = None
        if user is not None:
            auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        return ProxySpec(parts.hostname, port, auth)
    if importlib.util.find_spec("socksio") is None:
        raise ValueError(
            f"the SOCKS proxy {shown!r} needs the socksio package: pip install 'qtws[socks]'"
        )
    if scheme.startswith("socks4"):
        if parts.password is not None:
            raise ValueError(f"invalid proxy URL {shown!r}: SOCKS4 has a user id, no password")
        if user is not None and ("\0" in user or not user):
            raise ValueError(f"invalid proxy URL {shown!r}: invalid SOCKS4 user id")
        return ProxySpec(parts.hostname, port, scheme=scheme, username=user)
    if user is not None:
        # RFC 1929: each is 1 to 255 bytes.
        assert pw is not None
        if not 0 < len(user.encode()) < 256 or not 0 < len(pw.encode()) < 256:
            raise ValueError(
                f"invalid proxy URL {shown!r}: a SOCKS5 user name and password are "
                "1 to 255 bytes each"
            )
    return ProxySpec(parts.hostname, port, scheme=scheme, username=user, password=pw)
