"""The client side of the opening handshake (RFC 6455 section 4.1).

:func:`build_request` serialises the upgrade request; :class:`ResponseParser` parses the
server's answer incrementally with h11 and validates it.  h11 treats a 101 answer to a request
carrying ``Upgrade`` as a protocol switch and keeps the bytes that follow it aside: those are the
first WebSocket frames and are returned in :attr:`ResponseParser.leftover`.

This module is over 400 lines because building the request, parsing the response and
validating every header of RFC 6455 4.1 belong to one exchange and share its limits.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import h11

from ..errors import HandshakeError, InvalidHeader, InvalidStatus, NegotiationError
from .uri import WebSocketURI, parse_uri

__all__ = [
    "BODY_EXCERPT_SIZE",
    "GUID",
    "MAX_HEADER_LINES",
    "REDIRECT_STATUSES",
    "ExtensionHeader",
    "HandshakeResponse",
    "ResponseParser",
    "accept_value",
    "build_request",
    "generate_key",
    "parse_extensions",
    "resolve_redirect",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
BODY_EXCERPT_SIZE = 4096  # bytes of a non-101 response body kept in InvalidStatus.body
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# A parsed Sec-WebSocket-Extensions element: (name, ((param, value or None), ...)).
ExtensionHeader = tuple[str, tuple[tuple[str, str | None], ...]]

# RFC 7230 section 3.2.6 token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# quoted-string with qdtext / quoted-pair restricted to visible ASCII, space and tab.
_QUOTED = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*)"')
_OWS = re.compile(r"[ \t]*")
# Header values may hold anything but control characters (HTAB is allowed): CR/LF would let a
# caller inject headers or a second request.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers build_request() writes itself and a caller may not replace: they define the upgrade.
_RESERVED = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "content-length",
        "transfer-encoding",
    }
)


def generate_key(mask_source: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh ``Sec-WebSocket-Key``: base64 of 16 random bytes (RFC 6455 section 4.1)."""
    return base64.b64encode(mask_source(16)).decode("ascii")


def accept_value(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer for ``key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _check_value(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"value of header {name!r} must be a str, not {type(value).__name__}")
    if _BAD_VALUE.search(value):
        raise ValueError(f"invalid value for header {name!r}: control characters are not allowed")
    return value


def build_request(
    uri: WebSocketURI,
    key: str,
    *,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    origin: str | None = None,
    user_agent: str | None = None,
) -> bytes:
    """Serialise the upgrade request (RFC 6455 section 4.1).

    ``headers`` are extra ``(name, value)`` pairs; a ``Host``, ``Origin``, ``User-Agent`` or
    ``Authorization`` among them replaces the generated one.  Headers that define the upgrade
    (``Upgrade``, ``Connection``, ``Sec-WebSocket-*``, ``Content-Length``,
    ``Transfer-Encoding``) cannot be given there: :class:`ValueError`, as for a name that is not
    a token or a value with control characters.  Without an ``Authorization`` header, the URL's
    user-info becomes HTTP Basic credentials (RFC 7617, UTF-8).
    """
    extra: list[tuple[str, str]] = []
    for name, value in headers:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _RESERVED:
            raise ValueError(f"header {name!r} is set by qtws and cannot be given")
        extra.append((name, _check_value(name, value)))
    given = {name.lower() for name, _ in extra}

    for protocol in subprotocols:
        # RFC 6455 section 4.1: each subprotocol is a token.
        if not isinstance(protocol, str) or not _TOKEN.fullmatch(protocol):
            raise ValueError(f"invalid subprotocol {protocol!r}")

    lines = [f"GET {uri.resource_name} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {uri.authority}")
    lines += [
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None and "origin" not in given:
        lines.append(f"Origin: {_check_value('Origin', origin)}")
    if subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
    if extensions:
        lines.append(
            f"Sec-WebSocket-Extensions: {_check_value('Sec-WebSocket-Extensions', extensions)}"
        )
    if uri.user_info is not None and "authorization" not in given:
        credentials = ":".join(uri.user_info).encode("utf-8")
        lines.append(f"Authorization: Basic {base64.b64encode(credentials).decode('ascii')}")
    if user_agent is not None and "user-agent" not in given:
        lines.append(f"User-Agent: {_check_value('User-Agent', user_agent)}")
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def parse_extensions(value: str) -> list[ExtensionHeader]:
    """Parse one ``Sec-WebSocket-Extensions`` value (RFC 6455 section 9.1).

    Quoted parameter values are unescaped and must then be tokens (section 9.1).  Empty list
    elements are skipped (RFC 7230 section 7).  Raises :class:`~qtws.errors.InvalidHeader`.
    """
    result: list[ExtensionHeader] = []
    pos = 0
    end = len(value)

    def fail(msg: str) -> InvalidHeader:
        return InvalidHeader("Sec-WebSocket-Extensions", value, f"{msg} at position {pos}")

    def token() -> str:
        nonlocal pos
        match = _TOKEN.match(value, pos)
        if match is None:
            raise fail("expected a token")
        pos = match.end()
        return match.group()

    def skip_ows() -> None:
        nonlocal pos
        pos = _OWS.match(value, pos).end()  # type: ignore[union-attr]  # [ \t]* always matches

    while True:
        skip_ows()
        if pos < end and value[pos] == ",":  # an empty element
            pos += 1
            continue
        if pos == end:
            break
        name = token()
        params: list[tuple[str, str | None]] = []
        skip_ows()
        while pos < end and value[pos] == ";":
            pos += 1
            skip_ows()
            param = token()
            skip_ows()
            param_value: str | None = None
            if pos < end and value[pos] == "=":
                pos += 1
                skip_ows()
                quoted = _QUOTED.match(value, pos)
                if quoted is not None:
                    param_value = re.sub(r"\\(.)", r"\1", quoted.group(1))
                    if not _TOKEN.fullmatch(param_value):
                        raise fail("quoted parameter value is not a token")
                    pos = quoted.end()
                else:
                    param_value = token()
                skip_ows()
            params.append((param, param_value))
        result.append((name, tuple(params)))
        if pos < end and value[pos] != ",":
            raise fail("expected ',' or ';'")
    return result


def resolve_redirect(uri: WebSocketURI, status: int, location: str | None) -> str | None:
    """The absolute WebSocket URL a 301/302/303/307/308 answer points to, else ``None``.

    A relative ``Location`` is resolved against the request URL (RFC 7231 section 7.1.2);
    ``http`` becomes ``ws`` and ``https`` becomes ``wss``.  ``None`` when the status is not a
    redirect, the location is missing, has another scheme, or is not a valid URL.  The result is
    normalised and carries no user-info: credentials are never forwarded to another URL.  From a
    ``ws+unix`` URL, a relative location stays on the same socket.
    """
    if status not in REDIRECT_STATUSES or not location:
        return None
    if uri.unix_path is not None and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:|//", location.strip()):
        same = resolve_redirect(replace(uri, unix_path=None), status, location)
        return replace(parse_uri(same), unix_path=uri.unix_path).url if same else None
    base = ("https://" if uri.secure else "http://") + uri.authority + uri.resource_name
    try:
        target = urllib.parse.urljoin(base, location.strip())
        target, _ = urllib.parse.urldefrag(target)
    except ValueError:
        return None
    scheme, sep, rest = target.partition("://")
    mapped = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme.lower())
    if mapped is None or not sep:
        return None
    try:
        return parse_uri(f"{mapped}://{rest}").url
    except ValueError:
        return None


@dataclass(frozen=True)
class HandshakeResponse:
    """A validated 101 answer.

    ``headers`` are the response headers as received; ``subprotocol`` the one the server chose
    (``None`` if none); ``extensions`` the parsed ``Sec-WebSocket-Extensions`` elements, in
    order: ``(name, ((param, value or None), ...))``.
    """

    headers: tuple[tuple[str, str], ...] = field(repr=False)
    subprotocol: str | None
    extensions: tuple[ExtensionHeader, ...]


def _comma_items(values: list[str]) -> list[str]:
    """The non-empty elements of comma-separated header values (RFC 7230 section 7)."""
    return [item.strip(" \t") for value in values for item in value.split(",") if item.strip(" \t")]


def _comma_tokens(values: list[str]) -> list[str]:
    """Like :func:`_comma_items`, lower-cased, for case-insensitive tokens."""
    return [item.lower() for item in _comma_items(values)]


# What a status line starts with (RFC 7230 section 3.1.2): version, space, three digits.
_STATUS_START = re.compile(rb"HTTP/[0-9]\.[0-9] ([0-9]{3})(?: |$)")
_NAME_PREFIX = 256  # bytes kept of each line: enough for its header name and status code
# Header lines of all the heads of one response.  h11 parses a head in one call, at tens of
# microseconds a line: 64 KiB of tiny headers would hold the loop's thread for a second.
MAX_HEADER_LINES = 1000


class _LineScanner:
    """Checks the lines of the response heads as the bytes arrive, before h11 buffers them.

    h11 only parses a head once its blank line arrived, so on its own an over-long line would
    be found only at the header block limit (and then without its name), and an answer that is
    not HTTP only at ``open_timeout``.  This scanner follows the status line and the header
    lines of each head (the 1xx heads before the final one too) and stops at the end of the
    last head: what follows is a body or WebSocket frames.  A line longer than the limit fails
    as soon as the limit is passed; its header is named, its value never shown.
    """

    def __init__(self, max_line_size: int) -> None:
        self._limit = max_line_size
        self._done = False
        self._status_line = True  # the current line is the first of a head
        self._at_start = True  # no byte of the current physical line seen yet
        self._length = 0  # of the current logical line (folded lines included)
        self._start = b""  # its first _NAME_PREFIX bytes
        self._cr = False  # the last byte seen of the current physical line is a CR
        self._final = False  # the status of the current head is not 1xx (or is 101)
        self._lines = 0  # header lines so far, all heads together

    def scan(self, data: bytes) -> None:
        """Follow ``data``; raises :class:`~qtws.errors.HandshakeError` for a bad line."""
        pos = 0
        end = len(data)
        while not self._done and pos < end:
            newline = data.find(b"\n", pos)
            stop = end if newline < 0 else newline
            if self._at_start:
                self._at_start = False
                # RFC 7230 section 3.2.4: a line starting with SP/HT continues the header.
                folded = not self._status_line and data[pos : pos + 1] in (b" ", b"\t")
                self._cr = False
                if not folded:
                    self._length = 0
                    self._start = b""
            self._length += stop - pos
            if stop > pos:
                self._cr = data[stop - 1] == 13  # b"\r"
            if len(self._start) < _NAME_PREFIX:
                self._start += data[pos : min(stop, pos + _NAME_PREFIX - len(self._start))]
            if self._status_line and not b"HTTP/".startswith(self._start[:5]):
                raise HandshakeError("invalid HTTP response: not HTTP")
            if newline < 0:
                # The line is at least this long (a CR seen last may end it).
                if self._length - self._cr > self._limit:
                    raise self._too_long()
                return
            pos = newline + 1
            self._at_start = True
            self._line_done()

    def _line_done(self) -> None:
        length = self._length - self._cr  # the line without its CR LF
        if length > self._limit:
            raise self._too_long()
        if self._status_line:
            match = _STATUS_START.match(self._start[:length])
            if match is None:
                raise HandshakeError("invalid HTTP response: illegal status line")
            status = int(match.group(1))
            if status < 100:
                raise HandshakeError("invalid HTTP response: illegal status line")
            self._final = status >= 200 or status == 101
            self._status_line = False
        elif length == 0:  # the blank line: end of this head
            self._done = self._final
            self._status_line = True
        else:
            self._lines += 1
            if self._lines > MAX_HEADER_LINES:
                raise HandshakeError(f"response has more than {MAX_HEADER_LINES} header lines")

    def _too_long(self) -> HandshakeError:
        limit = self._limit
        if self._status_line:
            return HandshakeError(f"status line longer than {limit} bytes")
        name, colon, _ = self._start.partition(b":")
        if colon and _TOKEN.fullmatch(name.decode("latin-1")):
            # The value may be a secret (a cookie, a token) and is huge anyway: not shown.
            return InvalidHeader(name.decode("latin-1"), None, f"line longer than {limit} bytes")
        return HandshakeError(f"header line longer than {limit} bytes")


class ResponseParser:
    """Incremental parser and validator of the server's answer to the upgrade request.

    Feed it bytes with :meth:`feed` until it returns a :class:`HandshakeResponse` (then
    :attr:`leftover` holds the bytes that followed the response: the first frames) or raises a
    :class:`~qtws.errors.HandshakeError`.

    * Informational answers other than 101 (100, 103...) are skipped as RFC 7231 section 6.2
      requires.
    * Any final status is :class:`~qtws.errors.InvalidStatus`, raised once the body is complete
      or :data:`BODY_EXCERPT_SIZE` bytes of it arrived (or at :meth:`feed_eof`).
    * The header block may not exceed ``max_header_size`` bytes, nor any single line
      ``max_line_size`` bytes (not counting its CRLF; a folded header counts as one line), nor
      all heads together :data:`MAX_HEADER_LINES` header lines.
      Lines are checked as they arrive: an answer that is not HTTP, a bad status line or an
      over-long line fails at once, naming the header but never showing its value.
    * If ``extensions`` (the names offered) is given, an extension the server chose that was not
      offered, or chose twice, is a :class:`~qtws.errors.NegotiationError`; with ``None`` the
      caller checks the names itself.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        key: str,
        subprotocols: Sequence[str] = (),
        max_header_size: int = 64 * 1024,
        max_line_size: int = 8 * 1024,
        extensions: Sequence[str] | None = None,
    ) -> None:
        self.uri = uri
        self.leftover = b""
        self._key = key
        self._subprotocols = tuple(subprotocols)
        self._extensions = None if extensions is None else tuple(extensions)
        self._max_header_size = max_header_size
        self._max_line_size = max_line_size
        self._done = False
        self._eof = False
        self._status: h11.Response | None = None
        self._body = bytearray()
        self._lines = _LineScanner(max_line_size)
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_size)
        # h11 must see the request to know that a 101 switches protocols (and that the answer
        # is to a GET); the bytes it produces are discarded, build_request() makes the real ones.
        request_headers = [
            ("Host", uri.authority),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
        ]
        self._conn.send(h11.Request(method="GET", target="/", headers=request_headers))
        self._conn.send(h11.EndOfMessage())

    def feed(self, data: bytes | bytearray | memoryview) -> HandshakeResponse | None:
        """Parse more bytes; the response when complete, ``None`` while more are needed.

        Raises a :class:`~qtws.errors.HandshakeError` subclass for a bad or non-101 answer.
        """
        if self._done:
            raise RuntimeError("the handshake response was already parsed or rejected")
        if not data:  # h11 would take b"" for the end of the stream
            return None
        data = bytes(data)
        try:
            self._lines.scan(data)
        except HandshakeError:
            self._done = True
            raise
        self._conn.receive_data(data)
        return self._process()

    def feed_eof(self) -> None:
        """The connection ended before a complete response: always raises HandshakeError
        (:class:`~qtws.errors.InvalidStatus` with the partial body after a final status line)."""
        if self._done:
            raise RuntimeError("the handshake response was already parsed or rejected")
        self._eof = True
        self._conn.receive_data(b"")
        self._process()
        # h11 never answers NEED_DATA after EOF, so _process() has raised.
        raise AssertionError("unreachable")  # pragma: no cover

    def rejection(self) -> InvalidStatus | None:
        """The final non-101 answer whose body has not ended yet (body cut where it stands),
        or ``None`` before its headers are complete or once :meth:`feed` raised."""
        if self._status is None or self._done:
            return None
        return self._invalid_status()

    def redirect_location(self, exc: InvalidStatus) -> str | None:
        """Where a redirect answer points, as an absolute ws/wss URL (see
        :func:`resolve_redirect`), or ``None``."""
        return resolve_redirect(self.uri, exc.status, exc.location)

    def _process(self) -> HandshakeResponse | None:
        try:
            return self._next()
        except HandshakeError:
            self._done = True
            raise

    def _next(self) -> HandshakeResponse | None:
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self._status is not None:  # body framing broken or cut: report the status
                    raise self._invalid_status() from None
                if exc.error_status_hint == 431:
                    msg = f"response headers exceed {self._max_header_size} bytes"
                elif self._eof:
                    msg = "connection closed before the handshake response was complete"
                else:
                    # h11's text ends with the offending bytes (a header value, maybe a
                    # secret): keep only what it says is wrong.
                    msg = f"invalid HTTP response: {str(exc).partition(':')[0]}"
                raise HandshakeError(msg) from None
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    response = self._accept(event)
                    self._done = True
                    self.leftover = bytes(self._conn.trailing_data[0])
                    return response
                continue  # RFC 7231 section 6.2: skip unexpected 1xx answers
            if isinstance(event, h11.Response):
                self._status = event
            elif isinstance(event, h11.Data):
                self._body += event.data[: BODY_EXCERPT_SIZE - len(self._body)]
                if len(self._body) >= BODY_EXCERPT_SIZE:
                    raise self._invalid_status()
            else:  # EndOfMessage (ConnectionClosed comes only after it)
                raise self._invalid_status()

    def _invalid_status(self) -> InvalidStatus:
        assert self._status is not None
        return InvalidStatus(
            self._status.status_code,
            _decode_headers(self._status),
            bytes(self._body),
            self._status.reason.decode("latin-1"),
        )

    def _accept(self, event: h11.InformationalResponse) -> HandshakeResponse:
        headers = _decode_headers(event)

        def values(name: str) -> list[str]:
            return [v for k, v in headers if k.lower() == name]

        # RFC 6455 section 4.1, items 2-6 of the client's checks of the server's response.
        upgrade = values("upgrade")
        if not upgrade:
            raise InvalidHeader("Upgrade")
        if _comma_tokens(upgrade) != ["websocket"]:
            raise InvalidHeader("Upgrade", ", ".join(upgrade))
        connection = values("connection")
        if not connection:
            raise InvalidHeader("Connection")
        if "upgrade" not in _comma_tokens(connection):
            raise InvalidHeader("Connection", ", ".join(connection))
        accept = values("sec-websocket-accept")
        if not accept:
            raise InvalidHeader("Sec-WebSocket-Accept")
        if len(accept) > 1 or accept[0].strip() != accept_value(self._key):
            raise InvalidHeader("Sec-WebSocket-Accept", ", ".join(accept))

        subprotocol: str | None = None
        protocol_values = values("sec-websocket-protocol")
        if protocol_values:
            # Subprotocol tokens compare case-sensitively (RFC 6455 section 11.3.4): keep case.
            chosen = _comma_items(protocol_values)
            if len(chosen) != 1:
                raise NegotiationError(
                    f"server must choose one subprotocol, got {', '.join(protocol_values)!r}"
                )
            subprotocol = chosen[0]
            if subprotocol not in self._subprotocols:
                raise NegotiationError(f"server chose subprotocol {subprotocol!r}, not offered")

        extensions: list[ExtensionHeader] = []
        for value in values("sec-websocket-extensions"):
            extensions += parse_extensions(value)
        if self._extensions is not None:
            seen: set[str] = set()
            for name, _ in extensions:
                # RFC 6455 section 9.1: the server may only choose extensions the client offered.
                if name not in self._extensions:
                    raise NegotiationError(f"server chose extension {name!r}, not offered")
                if name in seen:
                    raise NegotiationError(f"server chose extension {name!r} twice")
                seen.add(name)
        return HandshakeResponse(tuple(headers), subprotocol, tuple(extensions))


def _decode_headers(event: h11.InformationalResponse | h11.Response) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items()]
