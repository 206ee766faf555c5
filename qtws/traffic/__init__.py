"""The traffic inspector: the frames of one or more WebSockets, as browsers' developer tools
show them (time, connection, direction, type, size on the wire and after inflate, a preview,
close code and reason, ping round trips), with secrets masked.

::

    view = qtws.traffic.inspect(ws)          # a window on ws's traffic, from now on
    model = qtws.traffic.TrafficModel()      # or a model for your own view:
    model.attach(ws); model.attach(other_ws, name="prices")

:class:`TrafficModel` is a ``QAbstractTableModel``; :class:`TrafficView` a ready-made widget
(filter by text, direction and type; pause; clear; copy rows; save as JSON lines).  The
frames are cut out of the byte stream by :mod:`qtws.traffic.sniffer`, which needs no Qt.
"""

from __future__ import annotations

from typing import Any

from ..websocket import WebSocket
from .model import COLUMNS, TrafficModel, record_to_json
from .sniffer import TrafficRecord
from .view import TrafficView

__all__ = ["COLUMNS", "TrafficModel", "TrafficRecord", "TrafficView", "inspect", "record_to_json"]


def inspect(*websockets: WebSocket, parent: Any = None) -> TrafficView:
    """Open an inspector window recording ``websockets`` from now on; keep the returned view
    (closing the window detaches them)."""
    view = TrafficView(parent=parent)
    for ws in websockets:
        view.model.attach(ws)
    view.setWindowTitle("qtws traffic")
    view.resize(1100, 480)
    view.show()
    return view
