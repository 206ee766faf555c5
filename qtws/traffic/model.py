"""The inspector's model: a table of the frames of the attached WebSockets.

How it works
------------
:meth:`TrafficModel.attach` gives the WebSocket a :class:`~qtws.sniffer.Tap`, which its
driver calls with the bytes read and written (see :class:`qtws.connection.Observer`);
unattached WebSockets pay one ``is None`` test per read and per write.  Records are queued and
inserted in one ``beginInsertRows`` per loop turn (a zero-interval single-shot timer), so a
flood of 50,000 messages/s costs the view a few inserts per second of slices, not one per
frame.  The model keeps the last ``max_rows`` records (oldest dropped first).

Rows show the time, the connection (``#<websocket>.<connection> <url>``), direction, frame
type, size on the wire and after inflate, a preview, the close code and reason, and a pong's
round trip.  Secrets are masked (see :mod:`qtws.sniffer`).  Attach only WebSockets that live
in the model's thread.
"""

from __future__ import annotations

import datetime
import json
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._qt import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from ..websocket import WebSocket
from .sniffer import Tap, TrafficRecord

__all__ = ["COLUMNS", "TrafficModel", "record_to_json"]

COLUMNS = ("Time", "Connection", "Dir", "Type", "Wire", "Size", "Preview", "Close", "RTT")
_NUMERIC = {4, 5, 8}


def _time(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def _cell(rec: TrafficRecord, column: int) -> str:
    if column == 0:
        return _time(rec.time)
    if column == 1:
        return rec.connection
    if column == 2:
        return {"in": "↓ in", "out": "↑ out"}.get(rec.direction, "")
    if column == 3:
        flags = ("" if rec.fin else " (more)") + (" (deflate)" if rec.compressed else "")
        return rec.kind + flags
    if column == 4:
        return str(rec.wire_size) if rec.wire_size else ""
    if column == 5:
        return str(rec.size) if rec.kind not in ("end", "error") else ""
    if column == 6:
        return rec.preview
    if column == 7:
        if rec.close_code is None:
            return ""
        return f"{rec.close_code} {rec.close_reason}".strip()
    return f"{rec.rtt * 1000:.1f} ms" if rec.rtt is not None else ""


def record_to_json(rec: TrafficRecord) -> str:
    """One record as a JSON object (the ``save`` format: one per line)."""
    data = rec.to_dict()
    data["time"] = datetime.datetime.fromtimestamp(rec.time).astimezone().isoformat()
    return json.dumps(data, ensure_ascii=False)


class TrafficModel(QAbstractTableModel):
    """A table of the last ``max_rows`` frames of the attached WebSockets (see the module
    docstring).  ``Qt.ItemDataRole.UserRole`` gives a row's :class:`TrafficRecord`."""

    #: Rows were added: how many (one emission per batch; 0: only :attr:`dropped` changed).
    recorded = Signal(int)

    def __init__(
        self, parent: QObject | None = None, *, max_rows: int = 10_000, preview_chars: int = 120
    ) -> None:
        super().__init__(parent)
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        self.max_rows = max_rows
        self.preview_chars = preview_chars
        self._rows: list[TrafficRecord] = []
        self._first = 0  # seq of row 0
        self._next = 0  # seq of the next record
        self._pending: list[TrafficRecord] = []
        self._taps: dict[int, tuple[weakref.ref[WebSocket], Tap]] = {}
        self._numbers = 0
        self._paused = False
        self.dropped = 0  #: records not kept because the model was paused
        self._reported_drops = 0
        self._scheduled = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.flush)

    # ------------------------------------------------------------------ attaching
    def attach(self, ws: WebSocket, name: str | None = None) -> None:
        """Record ``ws``'s traffic from now on (its reconnects too).  ``name`` replaces the
        ``#n`` that tells its rows apart.  ``ValueError`` if another model records it."""
        if not isinstance(ws, WebSocket):
            raise TypeError("attach() needs a qtws.WebSocket")
        if ws.thread() is not self.thread():
            raise ValueError("attach a WebSocket that lives in the model's thread")
        current = ws._observer
        if current is not None:
            if id(ws) in self._taps:
                return
            raise ValueError("another TrafficModel records this WebSocket: detach it there")
        self._numbers += 1
        tap = Tap(name or f"#{self._numbers}", self._add, self._changed, self.preview_chars)
        self._taps[id(ws)] = (weakref.ref(ws), tap)
        ws._set_observer(tap)

    def detach(self, ws: WebSocket) -> None:
        """Stop recording ``ws`` (its rows stay)."""
        entry = self._taps.pop(id(ws), None)
        if entry is not None and ws._observer is entry[1]:
            ws._set_observer(None)

    def detach_all(self) -> None:
        """Stop recording every attached WebSocket."""
        for ref, _tap in list(self._taps.values()):
            ws = ref()
            if ws is not None:
                self.detach(ws)
        self._taps.clear()

    @property
    def attached(self) -> list[WebSocket]:
        """The WebSockets recorded now."""
        return [ws for ref, _ in self._taps.values() if (ws := ref()) is not None]

    # ------------------------------------------------------------------ recording
    @property
    def paused(self) -> bool:
        """While True, new frames are counted in :attr:`dropped` instead of kept."""
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self._paused = bool(value)

    def _add(self, rec: TrafficRecord) -> None:
        if self._paused:
            self.dropped += 1
            if not self._scheduled:  # the count is reported once per loop turn too
                self._scheduled = True
                self._timer.start()
            return
        rec.seq = self._next
        self._next += 1
        self._pending.append(rec)
        if not self._scheduled:  # a flag, not isActive(): no Qt call per frame
            self._scheduled = True
            self._timer.start()

    def _changed(self, rec: TrafficRecord) -> None:
        row = rec.seq - self._first
        if 0 <= row < len(self._rows) and self._rows[row] is rec:
            self.dataChanged.emit(self.index(row, 5), self.index(row, 6))

    def flush(self) -> None:
        """Insert the queued records now (the model does it once per loop turn by itself)."""
        self._timer.stop()
        self._scheduled = False
        pending = self._pending
        if not pending:
            if self.dropped != self._reported_drops:
                self._reported_drops = self.dropped
                self.recorded.emit(0)
            return
        self._pending = []
        if len(pending) > self.max_rows:
            pending = pending[-self.max_rows :]
        excess = len(self._rows) + len(pending) - self.max_rows
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), 0, excess - 1)
            del self._rows[:excess]
            self.endRemoveRows()
        self._first = pending[0].seq - len(self._rows)
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(pending) - 1)
        self._rows.extend(pending)
        self.endInsertRows()
        self.recorded.emit(len(pending))

    def clear(self) -> None:
        """Forget every row (recording goes on)."""
        self.flush()
        self.beginResetModel()
        self._rows.clear()
        self._first = self._next
        self.dropped = 0
        self.endResetModel()

    @property
    def records(self) -> list[TrafficRecord]:
        """The rows, oldest first (queued records not included: see :meth:`flush`)."""
        return list(self._rows)

    def record(self, row: int) -> TrafficRecord:
        """The record shown in ``row``."""
        return self._rows[row]

    def to_json_lines(self, rows: Iterable[int] | None = None) -> str:
        """Rows (all by default) as JSON lines."""
        picked = self._rows if rows is None else [self._rows[r] for r in rows]
        return "".join(record_to_json(rec) + "\n" for rec in picked)

    def save(self, path: str | Path, rows: Iterable[int] | None = None) -> None:
        """Write rows (all by default) to ``path`` as JSON lines (UTF-8)."""
        Path(path).write_text(self.to_json_lines(rows), encoding="utf-8")

    # ------------------------------------------------------------------ QAbstractTableModel
    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        rec = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return _cell(rec, index.column())
        if role == Qt.ItemDataRole.UserRole:
            return rec
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None
