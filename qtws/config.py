"""Connection settings: :class:`Config` and :class:`ReconnectPolicy` (frozen dataclasses).

Every value is validated when the object is built, so a typo fails at construction with a
``ValueError``/``TypeError`` naming the field instead of misbehaving later.

This module is over 400 lines because each field's documentation (what ``help(Config)`` shows)
and its validation live beside the field; splitting them would separate a rule from its check.
"""

from __future__ import annotations

import difflib
import functools
import http.cookiejar
import importlib.util
import math
import random
import re
import ssl
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, Union, cast

__all__ = ["Config", "ReconnectPolicy"]

_VERSION = "0.1.0"

# Headers the opening handshake itself defines (RFC 6455 4.1); Host/Origin/User-Agent and
# Authorization may be overridden.
_RESERVED_HEADERS = {"upgrade", "connection", "content-length", "transfer-encoding"}

# Header values that are secrets: masked in reprs and logs, dropped on cross-origin redirects.
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def _redact_url(url: str) -> str:
    """``url`` with the password of its user-info replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return "<invalid URL>"
    if password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


HeadersLike = Union[Sequence[tuple[str, str]], Mapping[str, str]]  # noqa: UP007 - runtime alias on 3.10
CookiesLike = Union[HeadersLike, http.cookiejar.CookieJar, None]  # noqa: UP007

# RFC 6265 4.1.1: a cookie name is a token; the value may not hold ";" or control characters
# (they would end the header or smuggle another cookie).
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_COOKIE_VALUE = re.compile(r"[\x00-\x1f\x7f;]")


def _check_seconds(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} may not be None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_size(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0 or None, got {value!r}")


def _str_pairs(field: str, kind: str, given: object) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of str from a mapping or an iterable of pairs.  Messages show
    names, never values: a header or cookie value may be a secret."""
    items = given.items() if isinstance(given, Mapping) else given
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{field} must be a mapping or (name, value) pairs")
    pairs: list[tuple[str, str]] = []
    for item in cast("Sequence[object]", items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(
                f"{field} must be a mapping or (name, value) pairs, got a {type(item).__name__}"
                + (" (a 'Name: value' line?)" if isinstance(item, str) else "")
            )
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            shown = repr(name) if isinstance(name, str) else f"a {type(name).__name__}"
            raise TypeError(f"{kind} name and value must be str ({kind} {shown})")
        pairs.append((name, value))
    return pairs


def _reject_unknown(cls: type, kwargs: Mapping[str, object]) -> None:
    """A misspelt field (``pingInterval``: Qt's camelCase) names the right one; the bare
    dataclass error does not."""
    known: dict[str, object] = cls.__dataclass_fields__  # type: ignore[attr-defined]
    for name in kwargs:
        if name not in known:
            snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
            guesses = [snake] if snake in known else difflib.get_close_matches(name, known, 1)
            hint = f"; did you mean {guesses[0]!r}?" if guesses else ""
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}{hint}")


_T = TypeVar("_T", bound=type)


def _helpful_init(cls: _T) -> _T:
    """Wrap a dataclass's ``__init__`` with :func:`_reject_unknown` (``functools.wraps``
    keeps the fields' signature for ``help()``, ``inspect`` and the docs)."""
    init = cls.__init__  # type: ignore[misc]  # the class's own, read once

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _reject_unknown(cls, kwargs)
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def _check_trust(trust: object, ssl_context: object) -> None:
    if trust is None:
        return
    if trust != "system":
        raise ValueError(f"trust must be None or 'system', got {trust!r}")
    if ssl_context is not None:
        raise ValueError("give ssl_context or trust='system', not both (the context decides)")
    if sys.platform in ("win32", "darwin") and importlib.util.find_spec("truststore") is None:
        raise ModuleNotFoundError(
            "trust='system' needs the truststore package on this system: "
            "pip install 'qtws[truststore]'",
            name="truststore",
        )


@_helpful_init
@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff for automatic reconnection.

    The delay before attempt ``n`` (1-based) is ``min(max_delay, initial_delay *
    multiplier ** (n - 1))`` shrunk by a random fraction of up to ``jitter`` (0 = none, 0.5 =
    between 50 % and 100 % of that value), so many clients do not reconnect in lockstep.
    ``max_attempts=None`` retries forever; after a successful open the count starts again.
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        _check_seconds("initial_delay", self.initial_delay, allow_none=False)
        _check_seconds("max_delay", self.max_delay, allow_none=False)
        _check_seconds("multiplier", self.multiplier, allow_none=False)
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if self.max_delay < self.initial_delay:
            raise ValueError("max_delay must be >= initial_delay")
        _check_seconds("jitter", self.jitter, allow_none=False)
        if self.jitter > 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.max_attempts is not None:
            _check_size("max_attempts", self.max_attempts)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before reconnect ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt starts at 1")
        # Cap the exponent so huge attempt numbers do not overflow the float.
        base = min(self.max_delay, self.initial_delay * self.multiplier ** min(attempt - 1, 64))
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)


@_helpful_init
@dataclass(frozen=True)
class Config:
    """Settings of a :class:`qtws.WebSocket`: a frozen dataclass, validated when it is built.

    Every field is optional and keyword-friendly: ``qtws.Config(ping_interval=5,
    reconnect=qtws.ReconnectPolicy())``.  A wrong type or value raises ``TypeError`` or
    ``ValueError`` naming the field; an unknown name (``pingInterval``) a ``TypeError`` that
    suggests the right one.  Times are in seconds; ``None`` turns a timeout or a
    limit off.  ``repr()`` masks secrets: the values of ``Authorization``, ``Cookie`` and
    ``Proxy-Authorization`` headers, proxy passwords and cookies.

    Keep-alive and timeouts:

    ``ping_interval`` (float | None, default 20.0)
        Seconds between keep-alive pings (arsd's ``pingFrequency``); each round trip updates
        ``WebSocket.latency`` and emits ``pong_received``.  ``None``: no pings.
    ``ping_timeout`` (float | None, default 20.0)
        No pong this long after a ping fails the connection (``TimeoutError``, then
        ``closed(1006)``).  ``None``: wait forever.
    ``open_timeout`` (float | None, default 10.0)
        The whole opening, all together: DNS, TCP, proxy, TLS and the HTTP upgrade (time
        spent in a ``certificate_error`` slot does not count).
    ``close_timeout`` (float | None, default 5.0)
        How long to wait for the server's close frame, then for the end of TCP, after our
        close frame before dropping the connection.
    ``inactivity_timeout`` (float | None, default None)
        Nothing at all received for this long fails the connection.  ``None``: off.

    Messages and buffers:

    ``max_message_size`` (int | None, default 16 MiB)
        Largest message accepted, counted after inflating; a larger one closes the
        connection with 1009 (``PayloadTooBig``).  ``None``: no limit.
    ``max_frame_size`` (int | None, default None)
        Largest single frame accepted (1009 beyond it).  ``None``: only
        ``max_message_size`` applies.
    ``max_queued_bytes`` (int | None, default None)
        Received but undelivered message bytes (inflated) at which qtws stops reading the
        socket until the application reads (TCP then makes the server wait).  ``None``: 4 x
        ``max_message_size`` (64 MiB by default); see :attr:`queue_budget`.
    ``max_buffered_bytes`` (int | None, default 64 MiB)
        Bytes waiting to be written beyond which ``send()`` raises ``BufferFull`` (a message
        is always accepted when nothing waits).  ``None``: no limit.
    ``outbox_limit`` (int, default 1000)
        Messages ``send()`` holds while the WebSocket is connecting or reconnecting; one more
        raises ``BufferFull``.
    ``compression`` (bool, default True)
        Offer permessage-deflate (RFC 7692); the server decides, ``WebSocket.extensions``
        tells.

    The opening handshake:

    ``subprotocols`` (sequence of str, default ())
        ``Sec-WebSocket-Protocol`` values offered, in order of preference; the server's
        choice is ``WebSocket.protocol``.
    ``headers`` (mapping or sequence of (name, value) pairs, default ())
        Extra request headers.  They may replace ``Host``, ``Origin``, ``User-Agent`` and
        ``Authorization``, not the headers the handshake itself defines (``Upgrade``,
        ``Connection``, ...).
    ``origin`` (str | None, default None)
        The ``Origin`` header; ``None``: none is sent.
    ``user_agent`` (str | None, default "qtws/<version>")
        The ``User-Agent`` header; ``None``: none is sent.
    ``cookies`` (mapping, http.cookiejar.CookieJar or None, default None)
        ``{name: value}`` sent to the URL's own origin only (also across a redirect that stays
        there); or a ``CookieJar``, which decides by RFC 6265 and keeps the ``Set-Cookie``
        headers of the handshake and of redirects.  Never shown in a repr or a message.
    ``max_redirects`` (int, default 5)
        HTTP redirects followed while opening.  A redirect to another origin drops the
        ``Authorization``, ``Cookie`` and ``Proxy-Authorization`` headers.

    TLS (``wss://``):

    ``ssl_context`` (ssl.SSLContext | None, default None)
        Your own context, used as it is (not combinable with ``trust``).  ``None``:
        certificates are verified against ``trust``, host name included.
    ``trust`` (str | None, default None)
        ``None``: OpenSSL's trust paths (``ssl.create_default_context()``).  ``"system"``:
        the operating system's store (through the ``truststore`` package on Windows and
        macOS: ``pip install 'qtws[truststore]'``).
    ``pinned_certificates`` (sequence of str, default ())
        SHA-256 fingerprints (hex, colons allowed) trusted for the URL's host instead of CA
        verification, as ssh trusts a known host key; another certificate fails with
        ``PinMismatchError``.

    Proxies and reconnect:

    ``proxy`` (str | None, default "auto")
        ``"auto"``: from ``https_proxy``/``http_proxy``/``all_proxy``/``no_proxy``, else
        Qt's settings when a Qt application exists (loopback addresses never go through an
        environment proxy); ``"system"``: the same, even without one; ``None``: direct; an
        ``http://[user:password@]host:port`` URL of an HTTP CONNECT proxy; or a
        ``socks5://``, ``socks5h://``, ``socks4a://`` or ``socks4://`` URL (see
        :mod:`qtws.proxy`).
    ``reconnect`` (ReconnectPolicy | None, default None)
        Reopen a lost connection with exponential backoff; messages sent meanwhile wait in
        the outbox.  ``None``: a lost connection ends in ``closed``.
    """

    ping_interval: float | None = 20.0  # seconds between keep-alive pings; None: off
    ping_timeout: float | None = 20.0  # no pong within this -> connection fails; None: never
    open_timeout: float | None = 10.0  # DNS + TCP + proxy + TLS + upgrade, all together
    close_timeout: float | None = 5.0  # wait for the peer's close before dropping TCP
    inactivity_timeout: float | None = None  # nothing received for this long -> fail
    max_message_size: int | None = 16 * 2**20  # None: unlimited; over it -> close 1009
    max_frame_size: int | None = None
    subprotocols: Sequence[str] = ()
    headers: HeadersLike = ()
    origin: str | None = None
    user_agent: str | None = f"qtws/{_VERSION}"
    compression: bool = True  # offer permessage-deflate
    ssl_context: ssl.SSLContext | None = None  # None: system trust store, hostname checked
    proxy: str | None = "auto"
    max_redirects: int = 5
    reconnect: ReconnectPolicy | None = None
    outbox_limit: int = 1000  # messages held while connecting/reconnecting
    # {name: value} sent to this URL's origin, or a CookieJar (keeps Set-Cookie); never in a repr
    cookies: CookiesLike = field(default=None, repr=False)
    trust: str | None = None  # None: OpenSSL's trust paths; "system": the OS store (truststore)
    # SHA-256 fingerprints (hex) accepted for this URL's host instead of CA verification
    pinned_certificates: Sequence[str] = ()
    # Received-but-undelivered message bytes (inflated) before reading pauses; None: 4 x
    # max_message_size (64 MiB by default).
    max_queued_bytes: int | None = None
    # Bytes waiting to be written beyond which send() raises BufferFull; None: unlimited.
    max_buffered_bytes: int | None = 64 * 2**20

    @property
    def queue_budget(self) -> int:
        """The receive budget in bytes: ``max_queued_bytes`` or 4 x ``max_message_size``."""
        if self.max_queued_bytes is not None:
            return self.max_queued_bytes
        return 4 * (self.max_message_size or 16 * 2**20)

    def __repr__(self) -> str:
        # Credentials never show: header values of Authorization/Cookie/Proxy-Authorization
        # and the password of a proxy URL are masked.
        parts = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "headers":
                value = tuple((k, "***" if k.lower() in _SECRET_HEADERS else v) for k, v in value)
            elif f.name == "proxy" and isinstance(value, str):
                value = _redact_url(value)
            parts.append(f"{f.name}={value!r}")
        return f"Config({', '.join(parts)})"

    def __post_init__(self) -> None:
        for name in ("ping_interval", "ping_timeout", "open_timeout", "close_timeout"):
            _check_seconds(name, getattr(self, name))
        _check_seconds("inactivity_timeout", self.inactivity_timeout)
        for name in ("ping_interval", "ping_timeout", "open_timeout", "inactivity_timeout"):
            if getattr(self, name) == 0:
                raise ValueError(f"{name} must be > 0 or None (None disables it)")
        _check_size("max_message_size", self.max_message_size)
        _check_size("max_frame_size", self.max_frame_size)
        if isinstance(self.subprotocols, str):
            raise TypeError("subprotocols must be a sequence of strings, not a string")
        subs = tuple(self.subprotocols)
        for s in subs:
            if not isinstance(s, str) or not s or any(c in s for c in ' ,;"\r\n\t'):
                raise ValueError(f"invalid subprotocol {s!r}")
        object.__setattr__(self, "subprotocols", subs)
        hdrs = _str_pairs("headers", "header", self.headers)
        for name, value in hdrs:
            if not name or any(c in name for c in ": \r\n\t"):
                raise ValueError(f"invalid header name {name!r}")
            if any(c in value for c in "\r\n\0"):  # the value may be a secret: not shown
                raise ValueError(f"invalid header {name!r}: its value holds CR, LF or NUL")
        object.__setattr__(self, "headers", tuple(hdrs))
        if not isinstance(self.compression, bool):
            raise TypeError("compression must be a bool")
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        _check_trust(self.trust, self.ssl_context)
        self._check_pins()
        for name in ("origin", "user_agent"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None")
            if value is not None and any(c in value for c in "\r\n\0"):
                raise ValueError(f"{name} may not contain CR, LF or NUL")
        for name, _ in hdrs:
            if name.lower() in _RESERVED_HEADERS or name.lower().startswith("sec-websocket-"):
                raise ValueError(
                    f"header {name!r} is set by qtws itself (use subprotocols/compression)"
                )
        if self.proxy is not None and self.proxy not in ("auto", "system"):
            if not isinstance(self.proxy, str):
                raise TypeError(
                    f"proxy must be 'auto', 'system', None or a proxy URL string, "
                    f"got {self.proxy!r}"
                )
            if "://" not in self.proxy:
                raise ValueError(
                    "proxy must be 'auto', 'system', None or a URL such as http://host:port"
                )
            from .proxy import parse_proxy  # validates the URL; messages mask the password

            parse_proxy(self.proxy)
        self._check_cookies(hdrs)
        if isinstance(self.max_redirects, bool) or not isinstance(self.max_redirects, int):
            raise TypeError("max_redirects must be an int")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        if self.reconnect is not None and not isinstance(self.reconnect, ReconnectPolicy):
            raise TypeError("reconnect must be a qtws.ReconnectPolicy or None")
        _check_size("outbox_limit", self.outbox_limit)
        _check_size("max_queued_bytes", self.max_queued_bytes)
        _check_size("max_buffered_bytes", self.max_buffered_bytes)
        if self.outbox_limit is None:
            raise ValueError("outbox_limit must be an int > 0")

    def _check_cookies(self, headers: list[tuple[str, str]]) -> None:
        cookies = self.cookies
        if cookies is None or isinstance(cookies, http.cookiejar.CookieJar):
            pairs: object = cookies
        else:
            if isinstance(cast(object, cookies), (str, bytes)):
                raise TypeError("cookies must be a mapping, (name, value) pairs or a CookieJar")
            checked = _str_pairs("cookies", "cookie", cookies)
            for name, value in checked:
                if not _COOKIE_NAME.fullmatch(name) or _BAD_COOKIE_VALUE.search(value):
                    # The value may be a secret: only the name is shown.
                    raise ValueError(f"invalid cookie {name!r}: see RFC 6265 4.1.1")
            pairs = tuple(checked)
        if pairs is not None and any(name.lower() == "cookie" for name, _ in headers):
            raise ValueError("give cookies either in cookies or as a Cookie header, not both")
        object.__setattr__(self, "cookies", pairs)

    def _check_pins(self) -> None:
        pins = self.pinned_certificates
        if isinstance(pins, str):
            raise TypeError("pinned_certificates is a sequence of fingerprints, not one string")
        from .certificates import normalise_fingerprint

        normalised = tuple(dict.fromkeys(normalise_fingerprint(pin) for pin in pins))
        if normalised and self.ssl_context is not None:
            raise ValueError(
                "give ssl_context or pinned_certificates, not both (pinned mode makes its "
                "own unverified context and checks the fingerprint itself)"
            )
        object.__setattr__(self, "pinned_certificates", normalised)
