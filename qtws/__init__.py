"""qtws: a WebSocket client for Qt (PyQt6 or PySide6) desktop applications.

One :class:`WebSocket` object offers Qt signals, browser-style callbacks and a blocking API,
runs inside whichever event loop the application uses (Qt, the built-in selectors loop, asyncio)
through an event-loop proxy, and sits on :mod:`qtws.core`, a sans-IO RFC 6455 / RFC 7692 codec.

Names are imported lazily so that ``import qtws`` stays cheap (the Qt binding, PyQt6 or
PySide6, loads on first use of :class:`WebSocket` or ``qtws.QT_API``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._qt import QT_API as QT_API
    from .certificates import PinMismatchError as PinMismatchError
    from .certificates import UntrustedCertificate as UntrustedCertificate
    from .config import Config as Config
    from .config import ReconnectPolicy as ReconnectPolicy
    from .core import COMPILED as COMPILED
    from .errors import BufferFull as BufferFull
    from .errors import ConnectionClosed as ConnectionClosed
    from .errors import HandshakeError as HandshakeError
    from .errors import InvalidHeader as InvalidHeader
    from .errors import InvalidState as InvalidState
    from .errors import InvalidStatus as InvalidStatus
    from .errors import InvalidURI as InvalidURI
    from .errors import NegotiationError as NegotiationError
    from .errors import PayloadTooBig as PayloadTooBig
    from .errors import ProtocolError as ProtocolError
    from .errors import WebSocketError as WebSocketError
    from .live import Conflator as Conflator
    from .loop import exit_event_loop as exit_event_loop
    from .loop import get_event_loop_proxy as get_event_loop_proxy
    from .loop import run_event_loop as run_event_loop
    from .loop import set_event_loop_proxy as set_event_loop_proxy
    from .state import CloseEvent as CloseEvent
    from .state import ReadyState as ReadyState
    from .state import Stats as Stats
    from .websocket import WebSocket as WebSocket

_LAZY = {
    "QT_API": "_qt",
    "COMPILED": "core",
    "Config": "config",
    "ReconnectPolicy": "config",
    "WebSocket": "websocket",
    "CloseEvent": "state",
    "ReadyState": "state",
    "Stats": "state",
    "set_event_loop_proxy": "loop",
    "get_event_loop_proxy": "loop",
    "run_event_loop": "loop",
    "exit_event_loop": "loop",
    "WebSocketError": "errors",
    "BufferFull": "errors",
    "InvalidURI": "errors",
    "InvalidState": "errors",
    "ConnectionClosed": "errors",
    "ProtocolError": "errors",
    "PayloadTooBig": "errors",
    "HandshakeError": "errors",
    "InvalidStatus": "errors",
    "InvalidHeader": "errors",
    "NegotiationError": "errors",
    "UntrustedCertificate": "certificates",
    "Conflator": "live",
    "PinMismatchError": "certificates",
}

__all__ = [
    "COMPILED",
    "QT_API",
    "BufferFull",
    "CloseEvent",
    "Config",
    "Conflator",
    "ConnectionClosed",
    "HandshakeError",
    "InvalidHeader",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "NegotiationError",
    "PayloadTooBig",
    "PinMismatchError",
    "ProtocolError",
    "ReadyState",
    "ReconnectPolicy",
    "Stats",
    "UntrustedCertificate",
    "WebSocket",
    "WebSocketError",
    "exit_event_loop",
    "get_event_loop_proxy",
    "run_event_loop",
    "set_event_loop_proxy",
]


_SUBMODULES = (
    "blocking",
    "certificates",
    "config",
    "connection",
    "cookies",
    "core",
    "dial",
    "errors",
    "keepalive",
    "live",
    "loop",
    "proxy",
    "reconnect",
    "socks",
    "state",
    "traffic",
    "websocket",
    "writequeue",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # `qtws.loop.QtProxy` works after a bare `import qtws`
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qtws' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
