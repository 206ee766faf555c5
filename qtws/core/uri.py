"""Parsing of ``ws://`` and ``wss://`` URLs (RFC 6455 section 3), and ``ws+unix://``.

:func:`parse_uri` validates the URL once, up front, and returns a normalised
:class:`WebSocketURI`: lower-case IDNA host, explicit port, percent-encoded request target.

``ws+unix:///run/app.sock`` connects to a unix socket; the HTTP request path follows a colon,
``ws+unix:///run/app.sock:/chat?room=1`` (the spelling of Node's ``ws`` library; a ``:`` in the
socket path is written ``%3A``).  The ``Host`` header is ``localhost``.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field

from ..errors import InvalidURI

__all__ = ["DEFAULT_PORTS", "WebSocketURI", "parse_uri"]

DEFAULT_PORTS = {False: 80, True: 443}

# A DNS label as resolvers accept it: letters, digits, hyphen, and the underscore that
# internal names (containers, service records) use; 1-63 octets (RFC 1035 2.3.4).
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")
_MAX_NAME = 253  # octets of a name in dotted form, without the root's dot (RFC 1035 2.3.4)
# The user-info of a URL, for masking the password in error messages.
_USER_INFO = re.compile(r"^([^:/?#]*://[^:@/?#]*):[^@]*@")
# Characters left alone when percent-encoding the path and query: every reserved character and
# "%" (so existing escapes survive); everything else outside unreserved is encoded (UTF-8).
_PATH_SAFE = "!$%&'()*+,/:;=?@[]~"
# Control characters: urlsplit() silently drops tab/CR/LF, so a URL carrying them is rejected
# instead of being quietly turned into a different URL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class WebSocketURI:
    """A validated WebSocket URL.

    ``host`` is lower case, IDNA-encoded, and an IPv6 literal is stored without brackets
    (``"::1"``, ready for ``getaddrinfo``); ``resource_name`` is the path plus query sent in the
    request line (``"/"`` when empty); ``user_info`` is the percent-decoded ``(user, password)``
    for HTTP Basic authentication (``password`` is ``""`` when the URL had none).
    """

    secure: bool
    host: str
    port: int
    resource_name: str = "/"
    user_info: tuple[str, str] | None = field(default=None, repr=False)  # never log secrets
    unix_path: str | None = None  # ws+unix: the socket's path (host is "localhost")

    @property
    def scheme(self) -> str:
        """``"wss"``, ``"ws"`` or ``"ws+unix"``."""
        if self.unix_path is not None:
            return "ws+unix"
        return "wss" if self.secure else "ws"

    @property
    def authority(self) -> str:
        """``host[:port]`` as used in the ``Host`` header and :attr:`url`: IPv6 in brackets,
        port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.secure]:
            return host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The normalised URL, without user-info."""
        if self.unix_path is not None:
            path = urllib.parse.quote(self.unix_path, safe="/")
            return f"ws+unix://{path}:{self.resource_name}"
        return f"{self.scheme}://{self.authority}{self.resource_name}"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URL; raise :class:`~qtws.errors.InvalidURI` if invalid.

    Only ``ws`` and ``wss`` are accepted (``http``/``https`` are rejected: redirects are mapped
    by the handshake code, not here).  Fragments are forbidden (RFC 6455 section 3).
    """
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a str, not {type(uri).__name__}")
    try:
        return _parse(uri)
    except InvalidURI as exc:
        # The URL in the message and in ``exc.uri`` never shows a password.
        masked = _mask(uri)
        if masked == uri:
            raise
        raise InvalidURI(masked, str(exc).rpartition("is not a valid WebSocket URI: ")[2]) from None
    except UnicodeError:
        # Lone surrogates (from os.fsdecode, say) cannot be percent-encoded as UTF-8.
        raise InvalidURI(_mask(uri), "contains characters that are not valid Unicode") from None


def _mask(uri: str) -> str:
    """``uri`` with the password of its user-info replaced by ``***``."""
    return _USER_INFO.sub(r"\1:***@", uri, count=1)


def _parse(uri: str) -> WebSocketURI:
    if _CONTROL.search(uri):
        raise InvalidURI(uri, "contains control characters")
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError as exc:  # e.g. an unbalanced "[" in the netloc
        raise InvalidURI(uri, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "ws+unix"):
        raise InvalidURI(uri, "scheme must be ws, wss or ws+unix")
    secure = scheme == "wss"
    # RFC 6455 section 3: fragment identifiers are meaningless and MUST NOT be used.
    if "#" in uri:
        raise InvalidURI(uri, "fragments are not allowed")
    if scheme == "ws+unix":
        return _parse_unix(uri, parts)

    netloc = parts.netloc
    user_info: tuple[str, str] | None = None
    if "@" in netloc:
        raw_user_info, _, hostport = netloc.rpartition("@")
        raw_user, _, raw_password = raw_user_info.partition(":")
        try:
            user = urllib.parse.unquote(raw_user, errors="strict")
            password = urllib.parse.unquote(raw_password, errors="strict")
        except UnicodeDecodeError:
            raise InvalidURI(uri, "user-info is not valid percent-encoded UTF-8") from None
        if ":" in user:
            # RFC 7617 section 2: a user-id containing a colon is invalid for Basic auth.
            raise InvalidURI(uri, "user name must not contain ':'")
        (user + password).encode()  # UnicodeError for lone surrogates, here not at send time
        user_info = (user, password)
    else:
        hostport = netloc

    host, port = _split_host_port(uri, hostport, secure)
    resource_name = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        resource_name += "?" + urllib.parse.quote(parts.query, safe=_PATH_SAFE)
    return WebSocketURI(secure, host, port, resource_name, user_info)


def _parse_unix(uri: str, parts: urllib.parse.SplitResult) -> WebSocketURI:
    if parts.netloc:
        raise InvalidURI(uri, "a ws+unix URL has no host: ws+unix:///path/to/socket[:/path]")
    raw_path, colon, target = parts.path.partition(":")
    path = urllib.parse.unquote(raw_path)
    if not path.strip("/"):
        raise InvalidURI(uri, "no socket path: ws+unix:///path/to/socket[:/path]")
    if colon and not target.startswith("/"):
        raise InvalidURI(uri, "the request path after ':' must start with '/'")
    resource_name = urllib.parse.quote(target or "/", safe=_PATH_SAFE)
    if parts.query:
        resource_name += "?" + urllib.parse.quote(parts.query, safe=_PATH_SAFE)
    return WebSocketURI(False, "localhost", DEFAULT_PORTS[False], resource_name, None, path)


def _split_host_port(uri: str, hostport: str, secure: bool) -> tuple[str, int]:
    if hostport.startswith("["):
        # Without "]" the whole rest is taken as the literal and fails to parse.
        literal, _, rest = hostport[1:].partition("]")
        try:
            host = ipaddress.IPv6Address(literal).compressed
        except ValueError:
            raise InvalidURI(uri, f"invalid IPv6 address {literal!r}") from None
        if rest and not rest.startswith(":"):
            raise InvalidURI(uri, "junk after the IPv6 literal")
        port_text = rest[1:] if rest else ""
        has_port = bool(rest)
    else:
        host, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
        host = _normalise_host(uri, host)

    if not has_port or port_text == "":  # RFC 3986 section 3.2.3: an empty port is the default
        return host, DEFAULT_PORTS[secure]
    if not port_text.isascii() or not port_text.isdigit():
        # Not quoted when the URL has user-info: a password with a "/" ends up here.
        raise InvalidURI(uri, "invalid port" if "@" in uri else f"invalid port {port_text!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise InvalidURI(uri, f"port {port} out of range 1-65535")
    return host, port


_HEX = frozenset("0123456789abcdef")


def _normalise_host(uri: str, host: str) -> str:
    """Validate a host name and return it in the form the resolver gets: percent-escapes
    decoded (RFC 3986 3.2.2), Unicode names IDNA-encoded, lower case; InvalidURI for a name
    that can never resolve (a bad escape, an empty or over-long label, a name over 253
    octets, a character no DNS name carries, a name ending in a number that is no dotted-quad
    IPv4 address)."""
    if not host:
        raise InvalidURI(uri, "empty host")
    if "%" in host:
        try:
            decoded = urllib.parse.unquote(host, errors="strict")
        except UnicodeDecodeError:
            decoded = "%"
        if "%" in decoded:  # an escape that is not %XX UTF-8, or one that decodes to "%"
            raise InvalidURI(uri, f"invalid percent-encoding in the host {host!r}")
        host = decoded
    if not host.isascii():
        try:
            # IDNA 2003 via the stdlib codec (the only one available without extra packages).
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURI(uri, f"invalid internationalised host {host!r}") from None
    name = host[:-1] if host.endswith(".") else host  # a single trailing dot (FQDN) is fine
    labels = name.split(".")
    if len(name) > _MAX_NAME:
        raise InvalidURI(uri, f"host name longer than {_MAX_NAME} characters")
    for label in labels:
        if not _LABEL.fullmatch(label):
            what = "an empty" if not label else "a too long" if len(label) > 63 else "an invalid"
            raise InvalidURI(uri, f"invalid host {host!r}: {what} label")
        if label[:4].lower() == "xn--":
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise InvalidURI(uri, f"invalid host {host!r}: a bad IDNA label") from None
    # The resolver (inet_aton) reads a name ending in a number as an IPv4 address, in
    # shorthand too ("127.1", "0x7f.1", octal "010.0.0.1"); as the WHATWG URL standard does,
    # such a name must be a plain dotted-quad, else it would reach another host than it says.
    last = labels[-1].lower()
    if last.isdigit() or (last.startswith("0x") and all(c in _HEX for c in last[2:])):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise InvalidURI(uri, f"invalid IPv4 address {host!r}") from None
    return host.lower()
