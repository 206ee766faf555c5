"""Cookies on the opening handshake: ``Config.cookies`` as a ``Cookie`` header, ``Set-Cookie`` kept.

How it works
------------
``Config.cookies`` is either fixed ``(name, value)`` pairs (given as a mapping) or an
:class:`http.cookiejar.CookieJar`:

* fixed pairs go to the URL the WebSocket was created with, and to redirects that keep its
  scheme, host and port; never to another origin (the rule for credentials on redirects);
* a jar decides itself, by the RFC 6265 rules the standard library implements (domain, path,
  ``Secure``, expiry): :func:`cookie_header` asks it for the request's ``Cookie`` header, and
  :func:`store_cookies` hands it the ``Set-Cookie`` headers of the handshake response and of
  redirects, so they are sent on the next connection (a reconnect) to that site.

``ws`` is treated as ``http`` and ``wss`` as ``https`` (so a ``Secure`` cookie only goes over
TLS); a ``ws+unix`` URL is ``http://localhost``.
"""

from __future__ import annotations

import email.message
import http.cookiejar
import urllib.request
from collections.abc import Sequence

from .core import WebSocketURI

__all__ = ["cookie_header", "same_origin", "store_cookies"]


def _http_url(uri: WebSocketURI) -> str:
    scheme = "https" if uri.secure else "http"
    return f"{scheme}://{uri.authority}{uri.resource_name}"


def same_origin(a: WebSocketURI, b: WebSocketURI) -> bool:
    """Same scheme, host, port (and unix socket)."""
    return (a.secure, a.host, a.port, a.unix_path) == (b.secure, b.host, b.port, b.unix_path)


def cookie_header(
    cookies: Sequence[tuple[str, str]] | http.cookiejar.CookieJar,
    uri: WebSocketURI,
    origin: WebSocketURI,
) -> str | None:
    """The ``Cookie`` header value for a request to ``uri`` (``origin``: the URL the WebSocket
    was created with), or ``None`` when no cookie applies."""
    if isinstance(cookies, http.cookiejar.CookieJar):
        request = urllib.request.Request(_http_url(uri))
        cookies.add_cookie_header(request)
        return request.get_header("Cookie")
    if not cookies or not same_origin(uri, origin):
        return None
    return "; ".join(f"{name}={value}" for name, value in cookies)


class _Response:
    """What ``CookieJar.extract_cookies`` reads of a response: its headers."""

    def __init__(self, headers: Sequence[tuple[str, str]]) -> None:
        self._message = email.message.Message()
        for name, value in headers:
            self._message[name] = value

    def info(self) -> email.message.Message:
        return self._message


def store_cookies(
    jar: http.cookiejar.CookieJar, uri: WebSocketURI, headers: Sequence[tuple[str, str]]
) -> None:
    """Keep the ``Set-Cookie`` headers of a response to a request for ``uri`` in ``jar``."""
    if any(name.lower() in ("set-cookie", "set-cookie2") for name, _ in headers):
        jar.extract_cookies(
            _Response(headers),  # type: ignore[arg-type]
            urllib.request.Request(_http_url(uri)),
        )
