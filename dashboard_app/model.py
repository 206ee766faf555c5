"""The dashboard's table: a ``QAbstractTableModel`` fed with conflated ticks.

:meth:`TickTableModel.apply` takes one ``Conflator.updated`` dict (``{symbol: tick}``): new
symbols are appended as rows, changed cells are reported with one ``dataChanged`` per run of
adjacent rows, and each changed row flashes (green up, red down) for :data:`FLASH` seconds,
fading out.  :meth:`fade` (called once per frame) repaints the rows still flashing, so a row
that stopped changing returns to its normal colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from demo_app.qt import (
    QAbstractTableModel,
    QColor,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

FLASH = 0.6  # seconds a changed row stays highlighted
COLUMNS = ("Symbol", "Last", "Change", "Change %", "Ticks", "Seq")
_UP = QColor(46, 160, 67)
_DOWN = QColor(218, 54, 51)

Index = QModelIndex | QPersistentModelIndex


@dataclass
class Row:
    symbol: str
    open: float
    last: float
    prev: float
    seq: int
    updates: int = 1
    flashed_at: float = -1e9  # loop time of the last change
    text: tuple[str, ...] = ()  # the cells, formatted once per change (data() is hot)

    def format(self) -> None:
        self.text = tuple(_cell(self, col) for col in range(len(COLUMNS)))


class TickTableModel(QAbstractTableModel):
    """One row per symbol; see the module docstring."""

    def __init__(self, clock: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._clock = clock  # () -> seconds; the dashboard's loop time
        self.rows: list[Row] = []
        self._index: dict[str, int] = {}
        self._flashing: set[int] = set()
        self._colours: dict[int, QColor] = {}  # row -> flash colour, set once per frame
        self.ignored = 0  # ticks that were not {"s": str, "p": number, "n": int}

    # ------------------------------------------------------------------ updates
    def apply(self, changed: Mapping[Any, Any]) -> int:
        """Apply ``{symbol: tick}``; returns how many rows changed."""
        now = self._clock()
        touched: list[int] = []
        new: list[Row] = []
        for tick in changed.values():
            parsed = _parse(tick)
            if parsed is None:
                self.ignored += 1
                continue
            symbol, price, seq = parsed
            i = self._index.get(symbol)
            if i is None:
                self._index[symbol] = len(self.rows) + len(new)
                row = Row(symbol, price, price, price, seq, flashed_at=now)
                row.format()
                new.append(row)
                continue
            row = self.rows[i]
            row.prev, row.last, row.seq = row.last, price, seq
            row.updates += 1
            row.flashed_at = now
            row.format()
            touched.append(i)
        if new:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.rows.extend(new)
            self.endInsertRows()
        self._flashing.update(touched)
        for i in touched:
            self._set_colour(i, now)
        self._report(touched)
        return len(touched) + len(new)

    def fade(self) -> None:
        """Repaint the rows whose flash is fading or just ended."""
        if not self._flashing:
            return
        now = self._clock()
        for i in self._flashing:
            self._set_colour(i, now)
        self._report(self._flashing)
        self._flashing = {i for i in self._flashing if i in self._colours}

    def row_of(self, symbol: str) -> int | None:
        return self._index.get(symbol)

    def _report(self, rows: Iterable[int]) -> None:
        last_col = len(COLUMNS) - 1
        for first, last in _runs(sorted(rows)):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_col))

    # ------------------------------------------------------------------ the model API
    def rowCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section] if 0 <= section < len(COLUMNS) else None
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.text[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._colours.get(index.row())
        if role == Qt.ItemDataRole.ForegroundRole and col in (2, 3) and row.last != row.open:
            return _UP if row.last > row.open else _DOWN
        return None

    def _set_colour(self, i: int, now: float) -> None:
        row = self.rows[i]
        age = now - row.flashed_at
        if age > FLASH or row.last == row.prev:
            self._colours.pop(i, None)
            return
        colour = QColor(_UP if row.last > row.prev else _DOWN)
        colour.setAlpha(int(150 * (1 - age / FLASH)))
        self._colours[i] = colour


def _parse(tick: Any) -> tuple[str, float, int] | None:
    if not isinstance(tick, dict):
        return None
    s, p, n = tick.get("s"), tick.get("p"), tick.get("n")
    if not isinstance(s, str) or isinstance(p, bool) or not isinstance(p, (int, float)):
        return None
    if isinstance(n, bool) or not isinstance(n, int):
        return None
    return s, float(p), n


def _cell(row: Row, col: int) -> str:
    change = row.last - row.open
    if col == 0:
        return row.symbol
    if col == 1:
        return f"{row.last:,.2f}"
    if col == 2:
        return f"{change:+,.2f}"
    if col == 3:
        return f"{100 * change / row.open:+.2f}%" if row.open else "—"
    if col == 4:
        return str(row.updates)
    return str(row.seq)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of adjacent rows."""
    runs: list[tuple[int, int]] = []
    for r in rows:
        if runs and r == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    return runs
