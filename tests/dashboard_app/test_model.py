"""The dashboard's table model and chart: rows, dataChanged runs, flashing, painting."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from dashboard_app.chart import POINTS, PriceChart
from dashboard_app.model import COLUMNS, FLASH, TickTableModel, _runs
from demo_app.qt import QModelIndex, Qt


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def tick(s: str, p: float, n: int = 1) -> dict[str, Any]:
    return {"s": s, "p": p, "n": n}


def model_with_signals(qapp: Any) -> tuple[TickTableModel, Clock, list[tuple[int, int]], list[Any]]:
    clock = Clock()
    m = TickTableModel(clock)
    changed: list[tuple[int, int]] = []
    inserted: list[Any] = []
    m.dataChanged.connect(lambda a, b, roles=None: changed.append((a.row(), b.row())))
    m.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    return m, clock, changed, inserted


def cell(m: TickTableModel, row: int, col: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    return m.data(m.index(row, col), role)


def test_new_symbols_become_rows_and_changes_are_runs(qapp: Any) -> None:
    m, _, changed, inserted = model_with_signals(qapp)
    assert m.apply({s: tick(s, 10.0) for s in "ABCDE"}) == 5
    assert inserted == [(0, 4)] and m.rowCount() == 5 and m.columnCount() == len(COLUMNS)
    assert [cell(m, r, 0) for r in range(5)] == list("ABCDE")
    changed.clear()
    assert m.apply({"A": tick("A", 11, 2), "B": tick("B", 9, 2), "D": tick("D", 10.5, 2)}) == 3
    assert changed == [(0, 1), (3, 3)]  # one dataChanged per run of adjacent rows
    assert cell(m, 0, 1) == "11.00" and cell(m, 0, 2) == "+1.00" and cell(m, 0, 3) == "+10.00%"
    assert cell(m, 1, 2) == "-1.00" and cell(m, 0, 4) == "2" and cell(m, 0, 5) == "2"
    assert m.row_of("D") == 3 and m.row_of("Z") is None


def test_changed_rows_flash_and_fade(qapp: Any) -> None:
    m, clock, changed, _ = model_with_signals(qapp)
    m.apply({"A": tick("A", 10), "B": tick("B", 10)})
    bg = Qt.ItemDataRole.BackgroundRole
    assert cell(m, 0, 0, bg) is None  # new rows do not flash (no previous price)
    m.apply({"A": tick("A", 12), "B": tick("B", 8)})
    up, down = cell(m, 0, 0, bg), cell(m, 1, 0, bg)
    assert up.green() > up.red() and down.red() > down.green()
    clock.now += FLASH / 2
    changed.clear()
    m.fade()  # once per frame: the colours fade, the flashing rows are repainted
    assert changed == [(0, 1)]
    assert 0 < cell(m, 0, 0, bg).alpha() < up.alpha()
    clock.now += FLASH
    changed.clear()
    m.fade()  # the last repaint, in the normal colour; then no more
    assert cell(m, 0, 0, bg) is None and cell(m, 1, 0, bg) is None
    m.fade()
    assert changed == [(0, 1)]
    fg = Qt.ItemDataRole.ForegroundRole
    assert cell(m, 0, 2, fg).green() > cell(m, 0, 2, fg).red()
    assert cell(m, 0, 0, fg) is None


def test_bad_ticks_are_ignored_and_counted(qapp: Any) -> None:
    m, *_ = model_with_signals(qapp)
    bad = [None, "x", {"s": 1, "p": 1, "n": 1}, {"s": "A", "p": True, "n": 1},
           {"s": "A", "p": 1, "n": "1"}, {"s": "A", "p": "1", "n": 1}]  # fmt: skip
    assert m.apply(dict(enumerate(bad))) == 0
    assert m.ignored == len(bad) and m.rowCount() == 0


def test_model_api_edges(qapp: Any) -> None:
    m, *_ = model_with_signals(qapp)
    m.apply({"A": tick("A", 0.0)})
    assert cell(m, 0, 3) == "—"  # no percentage from a zero open
    h = Qt.Orientation.Horizontal
    assert m.headerData(0, h) == "Symbol" and m.headerData(99, h) is None
    assert m.headerData(0, Qt.Orientation.Vertical) is None
    assert m.headerData(0, h, Qt.ItemDataRole.ToolTipRole) is None
    assert m.data(QModelIndex()) is None and m.data(m.index(5, 0)) is None
    assert cell(m, 0, 1, Qt.ItemDataRole.TextAlignmentRole) is not None
    assert cell(m, 0, 0, Qt.ItemDataRole.TextAlignmentRole) is None
    assert cell(m, 0, 0, Qt.ItemDataRole.ToolTipRole) is None
    assert m.rowCount(m.index(0, 0)) == 0 and m.columnCount(m.index(0, 0)) == 0
    assert _runs([]) == [] and _runs([1, 2, 4, 5, 6, 9]) == [(1, 2), (4, 6), (9, 9)]


def test_chart_keeps_the_last_points_and_paints(qtbot: QtBot) -> None:
    chart = PriceChart()
    qtbot.addWidget(chart)
    chart.resize(400, 200)
    empty = chart.grab().toImage()
    chart.show_symbol("AAA", 10.0)
    assert list(chart.prices) == [10.0]
    for i in range(POINTS + 50):
        chart.add(10.0 + (i % 7))
    assert len(chart.prices) == POINTS
    chart.frame()
    chart.frame()  # nothing new: no repaint requested
    painted = chart.grab().toImage()
    assert painted != empty
    chart.show_symbol("BBB")
    assert chart.symbol == "BBB" and not chart.prices
    chart.show_symbol("BBB", 5.0)
    chart.add(4.0)
    falling = chart.grab().toImage()
    assert falling != painted
    chart.resize(40, 20)  # too small for a plot area: only the title
    chart.grab()
