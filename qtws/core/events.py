"""Events produced by :class:`qtws.core.ClientConnection` (frozen dataclasses)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

__all__ = [
    "BinaryMessage",
    "CloseReceived",
    "ConnectionFailed",
    "Event",
    "HandshakeComplete",
    "Ping",
    "Pong",
    "Redirect",
    "TextMessage",
]


@dataclass(frozen=True)
class HandshakeComplete:
    """The server accepted the upgrade (101); the connection is OPEN."""

    subprotocol: str | None
    extensions: tuple[str, ...]  # names of the negotiated extensions, e.g. ("permessage-deflate",)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Redirect:
    """The server answered 301/302/303/307/308 with a Location; the driver may follow it.
    ``location`` is absolute (resolved against the request URL); ``headers`` are the response's
    (a ``Set-Cookie`` among them is kept by a cookie jar)."""

    status: int
    location: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class TextMessage:
    """A complete text message."""

    data: str


@dataclass(frozen=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    """A ping arrived; the pong is already queued in :meth:`data_to_send`."""

    payload: bytes


@dataclass(frozen=True)
class Pong:
    """A pong arrived."""

    payload: bytes


@dataclass(frozen=True)
class CloseReceived:
    """The peer's close frame arrived (``code`` 1005 when it carried no code).  When the client
    had not started closing, the echo is already queued."""

    code: int
    reason: str


@dataclass(frozen=True)
class ConnectionFailed:
    """The connection failed (peer's protocol violation, bad handshake).  ``exc`` is the
    specific error (a :class:`~qtws.errors.ProtocolError`, :class:`~qtws.errors.HandshakeError`
    ...); ``code`` the close code sent to the peer (1006 if none could be sent)."""

    # builtins.: mypyc resolves a bare builtin class name in a dataclass among the module's
    # globals (KeyError 'Exception' at import); the attribute path works in both builds.
    exc: builtins.Exception
    code: int


Event = (
    HandshakeComplete
    | Redirect
    | TextMessage
    | BinaryMessage
    | Ping
    | Pong
    | CloseReceived
    | ConnectionFailed
)
