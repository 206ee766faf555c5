"""The qtws exception hierarchy.

::

    Exception
     +-- WebSocketError                 base of every qtws error
          +-- InvalidURI                the URL is not a valid ws:// or wss:// URL
          +-- InvalidState              wrong state for the call (e.g. send after close)
          |    +-- BufferFull           send(): outbox or write buffer at its limit
          +-- ConnectionClosed          the connection is closed (and, for reads, drained)
          +-- ProtocolError             the peer broke RFC 6455/7692; carries the close code
          |    +-- PayloadTooBig        a message or frame exceeded a configured limit (1009)
          +-- HandshakeError            the opening handshake failed
               +-- InvalidStatus        the server answered with a status other than 101
               +-- InvalidHeader        a required header is missing or wrong
               +-- NegotiationError     a subprotocol or extension was not offered / is invalid

Network failures stay :class:`OSError` (``ConnectionRefusedError``, ``ssl.SSLError``, ...)
and timeouts are :class:`TimeoutError`, so ``except OSError`` keeps working as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BufferFull",
    "ConnectionClosed",
    "HandshakeError",
    "InvalidHeader",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "WebSocketError",
]


class WebSocketError(Exception):
    """Base class of every exception raised by qtws."""


class InvalidURI(WebSocketError, ValueError):
    """The URL is not a valid ``ws://`` or ``wss://`` URL (also a ``ValueError``)."""

    def __init__(self, uri: str, msg: str) -> None:
        super().__init__(f"{uri!r} is not a valid WebSocket URI: {msg}")
        self.uri = uri


class InvalidState(WebSocketError):
    """The operation is not allowed in the current state (e.g. ``send()`` after close)."""


class BufferFull(InvalidState):
    """``send()`` refused a message: the outbox holds ``outbox_limit`` messages, or the bytes
    waiting to be written exceed ``Config.max_buffered_bytes``.  Nothing was queued; wait for
    ``drained`` (or watch ``buffered_amount``) and send again."""


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code``/``reason``/``was_clean`` tell how."""

    def __init__(self, code: int = 1006, reason: str = "", was_clean: bool = False) -> None:
        super().__init__(f"connection closed: code {code}" + (f" ({reason})" if reason else ""))
        self.code = code
        self.reason = reason
        self.was_clean = was_clean


class ProtocolError(WebSocketError):
    """The peer violated the protocol; ``code`` is the close code sent (1002, 1007, 1009...)."""

    def __init__(self, msg: str, code: int = 1002) -> None:
        super().__init__(msg)
        self.code = code


class PayloadTooBig(ProtocolError):
    """A frame or message exceeded ``max_frame_size``/``max_message_size`` (close code 1009)."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, 1009)


class HandshakeError(WebSocketError):
    """The opening handshake failed."""


class InvalidHeader(HandshakeError):
    """A handshake header is missing or has a wrong value.

    ``value`` is the value received; ``None`` when the header is missing, or when ``msg`` says
    what is wrong with a value that is not shown (a line too long to print, maybe a secret).
    """

    def __init__(self, name: str, value: str | None = None, msg: str = "") -> None:
        if value is not None:
            text = f"invalid {name} header: {value!r}"
        else:
            text = f"invalid {name} header" if msg else f"missing {name} header"
        super().__init__(text + (f": {msg}" if msg else ""))
        self.name = name
        self.value = value


class InvalidStatus(HandshakeError):
    """The server answered the upgrade with a status other than 101.

    ``headers`` are the response headers, ``body`` a bounded excerpt of the body and
    ``location`` the ``Location`` header of a redirect (else ``None``).
    """

    def __init__(
        self,
        status: int,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        reason: str = "",
    ) -> None:
        text = f"server rejected WebSocket connection: HTTP {status} {reason}".rstrip()
        if 200 <= status < 300:  # a plain web page or API answered: the URL's path is wrong
            text += " (a WebSocket server answers 101 Switching Protocols: not a WebSocket URL?)"
        super().__init__(text)
        self.status = status
        self.headers = tuple(headers)
        self.body = body
        self.location: str | None = next(
            (v for k, v in self.headers if k.lower() == "location"), None
        )


class NegotiationError(HandshakeError):
    """The server chose a subprotocol or extension the client did not offer, or bad parameters."""
