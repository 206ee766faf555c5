"""Events produced by :class:`qtws.core.ClientConnection` (frozen dataclasses).

This module is compiled with mypyc where a C compiler is there (qtws/core/_native.py); the
two writings below that a plain dataclass would not need keep both builds alike and fast:
:class:`_Reducible`'s ``__reduce__`` (pickle and ``copy`` of a compiled frozen class would
otherwise fail on its frozen ``__setattr__``) and the written-out ``__init__`` of the two
message classes (a compiled core then builds one without a Python call).
"""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import dataclass, field
from typing import Any

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


class _Reducible:
    """Pickling and copying by the constructor, as ``TextMessage(data)``."""

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]  # every subclass is one
        return type(self), tuple(getattr(self, f.name) for f in fields)


@dataclass(frozen=True)
class HandshakeComplete(_Reducible):
    """The server accepted the upgrade (101); the connection is OPEN."""

    subprotocol: str | None
    extensions: tuple[str, ...]  # names of the negotiated extensions, e.g. ("permessage-deflate",)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Redirect(_Reducible):
    """The server answered 301/302/303/307/308 with a Location; the driver may follow it.
    ``location`` is absolute (resolved against the request URL); ``headers`` are the response's
    (a ``Set-Cookie`` among them is kept by a cookie jar)."""

    status: int
    location: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, init=False)
class TextMessage(_Reducible):
    """A complete text message."""

    data: str

    def __init__(self, data: str) -> None:
        object.__setattr__(self, "data", data)  # as the dataclass's own (module docstring)


@dataclass(frozen=True, init=False)
class BinaryMessage(_Reducible):
    """A complete binary message."""

    data: bytes

    def __init__(self, data: bytes) -> None:
        object.__setattr__(self, "data", data)  # as the dataclass's own (module docstring)


@dataclass(frozen=True)
class Ping(_Reducible):
    """A ping arrived; the pong is already queued in :meth:`data_to_send`."""

    payload: bytes


@dataclass(frozen=True)
class Pong(_Reducible):
    """A pong arrived."""

    payload: bytes


@dataclass(frozen=True)
class CloseReceived(_Reducible):
    """The peer's close frame arrived (``code`` 1005 when it carried no code).  When the client
    had not started closing, the echo is already queued."""

    code: int
    reason: str


@dataclass(frozen=True)
class ConnectionFailed(_Reducible):
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
