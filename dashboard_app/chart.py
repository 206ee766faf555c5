"""A price chart of one symbol, painted with ``QPainter``.

Why not QtCharts or pyqtgraph: each is a dependency of its own (PyQt6-Charts is a separate
wheel; pyqtgraph pulls in its scene graph), and what the dashboard draws is one polyline of at
most :data:`POINTS` points, repainted at most once per frame.  A ``QPolygonF`` through
``drawPolyline`` costs well under a millisecond for that, with nothing re-laid-out per point
(QtCharts' ``QLineSeries.append`` re-computes the series on every call).
"""

from __future__ import annotations

import collections

from demo_app.qt import QColor, QPainter, QPaintEvent, QPen, QPointF, QPolygonF, QRectF, Qt, QWidget

POINTS = 600  # prices kept (a minute of one symbol at the demo's default rate)


class PriceChart(QWidget):
    """The last :data:`POINTS` prices of :attr:`symbol`, newest on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.symbol: str | None = None
        self.prices: collections.deque[float] = collections.deque(maxlen=POINTS)
        self.setMinimumSize(320, 160)
        self._dirty = False

    def show_symbol(self, symbol: str, price: float | None = None) -> None:
        """Start charting ``symbol`` (from ``price``, when known)."""
        if symbol != self.symbol:
            self.symbol = symbol
            self.prices.clear()
        if price is not None and not self.prices:
            self.prices.append(price)
        self.update()

    def add(self, price: float) -> None:
        """A new price of the charted symbol; the repaint waits for :meth:`frame`."""
        self.prices.append(price)
        self._dirty = True

    def frame(self) -> None:
        """Once per frame: repaint if a price came since the last one."""
        if self._dirty:
            self._dirty = False
            self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.fillRect(self.rect(), QColor(24, 26, 31))
            p.setPen(QColor(200, 200, 200))
            title = self.symbol or "select a row"
            if self.prices:
                title += f"   {self.prices[-1]:,.2f}"
            area = QRectF(self.rect()).adjusted(48, 28, -12, -12)
            p.drawText(QRectF(12, 4, self.width() - 24, 22), Qt.AlignmentFlag.AlignLeft, title)
            if len(self.prices) < 2 or area.width() <= 0 or area.height() <= 0:
                return
            lo, hi = min(self.prices), max(self.prices)
            span = (hi - lo) or 1.0
            p.setPen(QColor(90, 90, 90))
            p.drawText(QRectF(0, area.top() - 8, 44, 16), Qt.AlignmentFlag.AlignRight, f"{hi:.2f}")
            p.drawText(
                QRectF(0, area.bottom() - 8, 44, 16), Qt.AlignmentFlag.AlignRight, f"{lo:.2f}"
            )
            dx = area.width() / (len(self.prices) - 1)  # the history fills the width
            x0 = area.left()
            line = QPolygonF(
                [
                    QPointF(x0 + i * dx, area.bottom() - (v - lo) / span * area.height())
                    for i, v in enumerate(self.prices)
                ]
            )
            up = self.prices[-1] >= self.prices[0]
            p.setPen(QPen(QColor(46, 160, 67) if up else QColor(218, 54, 51), 1.6))
            p.drawPolyline(line)
        finally:
            p.end()
