"""qtws.core: the sans-IO WebSocket client codec (RFC 6455, RFC 7692 permessage-deflate).

No sockets, no clock, no Qt: :class:`ClientConnection` turns received bytes into events and
method calls into bytes to send.  numpy is loaded only when a large payload is first masked.

Its hot modules may be mypyc-compiled (see :mod:`qtws.core._native`); :data:`COMPILED` names
those in use.  ``QTWS_PURE=1`` in the environment, read at the first import, makes qtws use the
interpreted ones even when compiled ones are installed.
"""

from __future__ import annotations

from . import _native

_native.select(__name__, __path__[0])

from .events import (  # noqa: E402 (after the choice of build)
    BinaryMessage,
    CloseReceived,
    ConnectionFailed,
    Event,
    HandshakeComplete,
    Ping,
    Pong,
    Redirect,
    TextMessage,
)
from .protocol import ClientConnection, State  # noqa: E402
from .uri import WebSocketURI, parse_uri  # noqa: E402

#: The mypyc-compiled modules of qtws.core in use, e.g. ``("events", "frames", "mask", "utf8",
#: "protocol")``; ``()`` when the core runs as interpreted Python (no C compiler at install
#: time, ``QTWS_NO_COMPILE=1``, or ``QTWS_PURE=1``).
COMPILED: tuple[str, ...] = _native.compiled(__name__)

__all__ = [
    "COMPILED",
    "BinaryMessage",
    "ClientConnection",
    "CloseReceived",
    "ConnectionFailed",
    "Event",
    "HandshakeComplete",
    "Ping",
    "Pong",
    "Redirect",
    "State",
    "TextMessage",
    "WebSocketURI",
    "parse_uri",
]
