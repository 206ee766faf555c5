"""The value types a :class:`~qtws.WebSocket` reports: ready state, close event, counters."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CloseEvent", "ReadyState", "Stats"]


class ReadyState(enum.IntEnum):
    """The browser's readyState values; ``str()`` gives the name (``"OPEN"``)."""

    CONNECTING = 0  #: created, connecting, or waiting to reconnect
    OPEN = 1  #: open: messages flow both ways
    CLOSING = 2  #: the closing handshake is in progress
    CLOSED = 3  #: closed, or the connection could not be opened

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class CloseEvent:
    """How a connection ended: ``code`` and ``reason`` of the close frame (1005 when the
    frame had no code, 1006 when there was no closing handshake), and whether the closing
    handshake completed (``was_clean``)."""

    code: int
    reason: str
    was_clean: bool


@dataclass(frozen=True)
class Stats:
    """Counters since the WebSocket was created: messages and bytes (on the wire, after
    compression and framing) in each direction, reconnect attempts, and ``messages_unsent``:
    messages accepted by ``send()`` that could not be sent because the WebSocket closed first
    (each is also logged as a warning)."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    reconnects: int = 0
    messages_unsent: int = 0
