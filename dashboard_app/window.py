"""The dashboard window: a live table fed by a ``qtws.Conflator``, a chart, a status bar.

Data path: ``WebSocket.batch_received`` (one slot call per dispatch slice) → ``Conflator``
(latest tick per symbol, ``updated`` at most once per frame) → :class:`TickTableModel`
(``dataChanged`` per run of changed rows) and :class:`PriceChart` (the selected symbol).
A frame timer (60 Hz) fades the flashing cells, repaints the chart and measures the gap
between its own ticks: the GUI frame time shown in the status bar with the message and
update rates.  After a reconnect the ``opened`` slot subscribes again.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

import qtws
from demo_app.qt import (
    QAbstractItemView,
    QAction,
    QCloseEvent,
    QHeaderView,
    QItemSelection,
    QLabel,
    QMainWindow,
    QSplitter,
    Qt,
    QTableView,
    QTimer,
)

from .chart import PriceChart
from .model import TickTableModel

FRAME_MS = 16  # the frame timer: about 60 Hz


class Restartable(Protocol):
    """What the Server menu needs of a tick server."""

    def start(self) -> str: ...
    def stop(self) -> None: ...


def default_config() -> qtws.Config:
    """Reconnect quickly (a dashboard wants its data back) and keep the connection alive."""
    return qtws.Config(
        ping_interval=5.0,
        ping_timeout=10.0,
        proxy=None,
        reconnect=qtws.ReconnectPolicy(initial_delay=0.2, max_delay=2.0),
    )


def symbol_of(tick: Any) -> Any:
    """The Conflator's key: the tick's symbol (a KeyError/TypeError counts as an error)."""
    return tick["s"]


class RateMeter:
    """Counts per second, over the last whole second."""

    def __init__(self, now: float) -> None:
        self.start = now
        self.count = 0
        self.rate = 0.0

    def add(self, n: int) -> None:
        self.count += n

    def roll(self, now: float) -> None:
        span = now - self.start
        if span > 0:
            self.rate = self.count / span
        self.start, self.count = now, 0


class DashboardWindow(QMainWindow):
    """Live prices from ``url``; ``server``, when given, gets a Server menu (restart)."""

    def __init__(
        self,
        url: str,
        *,
        config: qtws.Config | None = None,
        server: Restartable | None = None,
        interval: float = 1 / 60,
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"qtws live dashboard — {url}")
        self.server = server
        self.ws = qtws.WebSocket(url, config=config or default_config(), parent=self)
        self.conflator = qtws.Conflator(self.ws, key=symbol_of, parse=json.loads, interval=interval)
        self.model = TickTableModel(time.monotonic, self)
        self.chart = PriceChart()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        rows = self.table.verticalHeader()
        assert rows is not None
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(  # type: ignore[union-attr]
            QHeaderView.ResizeMode.Stretch
        )
        self.table.selectionModel().selectionChanged.connect(  # type: ignore[union-attr]
            self._on_selection
        )
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.chart)
        split.setSizes([420, 220])
        self.setCentralWidget(split)

        self.state_label = QLabel("connecting …")
        self.rates_label = QLabel("")
        bar = self.statusBar()
        assert bar is not None
        bar.addWidget(self.state_label, 1)
        bar.addPermanentWidget(self.rates_label)
        if server is not None:
            menu = self.menuBar().addMenu("&Server")  # type: ignore[union-attr]
            assert menu is not None
            restart = QAction("&Restart the tick server", self)
            restart.triggered.connect(self.restart_server)
            menu.addAction(restart)

        now = time.monotonic()
        self.messages = RateMeter(now)
        self.updates = RateMeter(now)
        self.frame_gap = 0.0  # seconds between the last two frame ticks
        self.frames = 0  # frame ticks in the current second
        self.mean_gap = 0.0  # mean gap between frame ticks over the last second
        self.worst_gap = 0.0  # worst gap in the last second
        self.worst_gap_ever = 0.0
        self.opens = 0
        self._shown_worst = 0.0
        self._last_frame = now
        self._last_roll = now
        self._messages_seen = 0

        self.ws.opened.connect(self._on_opened)
        self.ws.reconnecting.connect(self._on_reconnecting)
        self.ws.closed.connect(lambda ev: self.state_label.setText(f"closed ({ev.code})"))
        self.conflator.updated.connect(self._on_update)
        self.frame_timer = QTimer(self)
        self.frame_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.frame_timer.timeout.connect(self._on_frame)
        self.frame_timer.start(FRAME_MS)
        self.resize(760, 680)
        self.ws.open()

    # ------------------------------------------------------------------ data
    def _on_opened(self) -> None:
        self.opens += 1
        self.ws.send(json.dumps({"type": "subscribe", "symbols": "*"}))
        again = " (resubscribed)" if self.opens > 1 else ""
        self.state_label.setText(f"live: {self.ws.url}{again}")

    def _on_reconnecting(self, attempt: int, delay: float) -> None:
        self.state_label.setText(f"connection lost: reconnect #{attempt} in {delay:.1f} s")

    def _on_update(self, changed: dict[Any, Any]) -> None:
        self.model.apply(changed)
        self.updates.add(len(changed))
        symbol = self.chart.symbol
        if symbol is not None:
            tick = changed.get(symbol)
            if isinstance(tick, dict) and isinstance(tick.get("p"), (int, float)):
                self.chart.add(float(tick["p"]))
        if self.table.selectionModel().hasSelection() is False and self.model.rows:  # type: ignore[union-attr]
            self.table.selectRow(0)

    def _on_selection(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        rows = {i.row() for i in selected.indexes()}
        if rows:
            row = self.model.rows[min(rows)]
            self.chart.show_symbol(row.symbol, row.last)

    def select_symbol(self, symbol: str) -> bool:
        """Chart ``symbol`` (select its row); False when it has no row yet."""
        row = self.model.row_of(symbol)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    # ------------------------------------------------------------------ frames and status
    def _on_frame(self) -> None:
        now = time.monotonic()
        self.frame_gap = now - self._last_frame
        self._last_frame = now
        self.worst_gap = max(self.worst_gap, self.frame_gap)
        self.worst_gap_ever = max(self.worst_gap_ever, self.frame_gap)
        self.frames += 1
        self.model.fade()
        self.chart.frame()
        if now - self._last_roll >= 1.0:
            seen = self.ws.stats.messages_in
            self.messages.add(seen - self._messages_seen)
            self._messages_seen = seen
            self.mean_gap = (now - self._last_roll) / self.frames
            self.frames = 0
            self.messages.roll(now)
            self.updates.roll(now)
            self._last_roll = now
            self._shown_worst, self.worst_gap = self.worst_gap, 0.0
            self.rates_label.setText(self.status_text())

    def status_text(self) -> str:
        """The figures of the status bar."""
        return (
            f"{self.messages.rate:,.0f} msg/s  ·  {self.updates.rate:,.0f} updates/s  ·  "
            f"frame {self.mean_gap * 1000:.1f} ms (worst {self._shown_worst * 1000:.0f} ms)"
        )

    # ------------------------------------------------------------------ server menu
    def restart_server(self) -> None:
        """Stop the tick server and start it again on the same port (off the GUI thread:
        a child process takes a moment to start)."""
        server = self.server
        if server is None:
            return
        self.state_label.setText("restarting the tick server …")

        def restart() -> None:
            server.stop()
            server.start()

        threading.Thread(target=restart, name="dashboard-restart", daemon=True).start()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.frame_timer.stop()
        if self.ws.ready_state is not qtws.ReadyState.CLOSED:
            self.ws.close()
        super().closeEvent(event)
