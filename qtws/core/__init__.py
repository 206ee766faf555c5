"""qtws.core: the sans-IO WebSocket client codec (RFC 6455, RFC 7692 permessage-deflate).

No sockets, no clock, no Qt: :class:`ClientConnection` turns received bytes into events and
method calls into bytes to send.  numpy is loaded only when a large payload is first masked.
"""

from __future__ import annotations

from .events import (
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
from .protocol import ClientConnection, State
from .uri import WebSocketURI, parse_uri

__all__ = [
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
