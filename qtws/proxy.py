"""Proxy settings: which proxy (if any) a WebSocket URL goes through.

How it works
------------
:func:`proxy_for` turns ``Config.proxy`` into a :class:`ProxySpec` or ``None`` (direct):

* ``None`` connects directly; an explicit URL (``http://[user:password@]host[:port]``) is
  always used, loopback targets included.
* ``"auto"`` reads the environment as curl and urllib do: ``https_proxy`` for ``wss``,
  ``http_proxy`` for ``ws``, else ``all_proxy``, and honours ``no_proxy``.  Loopback targets
  (``localhost``, ``127.0.0.0/8``, ``::1``) never go through an environment proxy, as in
  browsers.  A proxy URL qtws cannot use is ignored with a warning that never shows its
  password.

Only the settings live here; :mod:`qtws.dial` dials the proxy.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import WebSocketURI

__all__ = ["ProxySpec", "parse_proxy", "proxy_for", "redact_url"]

_log = logging.getLogger("qtws")

# Public in urllib.request but missing from typeshed.
_proxy_bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ProxySpec:
    """An HTTP CONNECT proxy: where it is and the ``Proxy-Authorization`` value (if any)."""

    host: str
    port: int
    auth: str | None = field(default=None, repr=False)  # a secret: never in a repr

    @property
    def name(self) -> str:
        """How errors name the proxy: ``HTTP proxy 127.0.0.1:3128``."""
        return f"HTTP proxy {self.host}:{self.port}"


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info replaced by ``***`` (for messages/logs)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_for(uri: WebSocketURI, setting: str | None) -> ProxySpec | None:
    """The HTTP CONNECT proxy to use for ``uri`` given ``Config.proxy`` (see module doc).

    Raises ``ValueError`` for an explicit proxy URL qtws cannot use."""
    if setting is None:
        return None
    if setting != "auto":
        return parse_proxy(setting)
    env = urllib.request.getproxies_environment()
    url = env.get("https" if uri.secure else "http") or env.get("all")
    if not url or _proxy_bypass(uri.host, env):
        return None
    # no_proxy entries may carry ports; proxy_bypass_environment checks host:port too.
    if _proxy_bypass(f"{uri.host}:{uri.port}", env):
        return None
    try:
        return parse_proxy(url)
    except ValueError as exc:
        # An environment set up for other tools must not break qtws.
        _log.warning("ignoring the proxy from the environment: %s", exc)
        return None


def parse_proxy(url: str) -> ProxySpec:
    """Parse ``http://[user:password@]host[:port]`` (port 8080 by default).

    Error messages show the URL with its password masked."""
    if "://" not in url:
        url = "http://" + url
    shown = url
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 8080
    except ValueError as exc:
        raise ValueError(f"invalid proxy URL {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported proxy URL {shown!r}: only http:// CONNECT proxies")
    auth = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        pw = urllib.parse.unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    return ProxySpec(parts.hostname, port, auth)
