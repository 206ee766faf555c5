"""Records every signal of a WebSocket in order (shared by the façade and conformance tests)."""

from __future__ import annotations

from typing import Any

import qtws


class Recorder:
    """Every signal of a WebSocket, in order, as ``(name, value)`` pairs."""

    def __init__(self, ws: qtws.WebSocket) -> None:
        self.log: list[tuple[str, Any]] = []
        ws.opened.connect(lambda: self.log.append(("opened", None)))
        ws.message.connect(lambda m: self.log.append(("message", m)))
        ws.error.connect(lambda e: self.log.append(("error", e)))
        ws.closed.connect(lambda e: self.log.append(("closed", e)))
        ws.pong_received.connect(lambda p, rtt: self.log.append(("pong", p)))
        ws.reconnecting.connect(lambda a, d: self.log.append(("reconnecting", a)))

    def names(self) -> list[str]:
        return [n for n, _ in self.log]

    def messages(self) -> list[Any]:
        return [v for n, v in self.log if n == "message"]

    def first(self, name: str) -> Any:
        """The value of the first ``name`` signal, or None."""
        return next((v for n, v in self.log if n == name), None)

    get = first
