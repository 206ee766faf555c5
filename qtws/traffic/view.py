"""The inspector's widget: a table of a :class:`~qtws.traffic.TrafficModel` with a filter bar."""

from __future__ import annotations

from typing import Any

from .._qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGuiApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QModelIndex,
    QPushButton,
    QSortFilterProxyModel,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from .model import TrafficModel

__all__ = ["TrafficView"]

KINDS = ("text", "binary", "continuation", "ping", "pong", "close", "http", "end", "error")


class _Filter(QSortFilterProxyModel):
    """Rows matching the text (in the preview, connection or type), direction and type."""

    def __init__(self, model: TrafficModel, parent: QWidget) -> None:
        super().__init__(parent)
        self.traffic = model
        self.text = ""
        self.direction = ""
        self.kind = ""
        self.setSourceModel(model)

    def set(self, **changes: str) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        rec = self.traffic.record(row)
        if self.direction and rec.direction != self.direction:
            return False
        if self.kind and rec.kind != self.kind:
            return False
        text = self.text.lower()
        return not text or any(
            text in field.lower() for field in (rec.preview, rec.connection, rec.kind)
        )


class TrafficView(QWidget):
    """A ready-made inspector: the table, a text filter, direction and type filters, Pause,
    Clear, Copy (the selected rows as JSON lines) and Save (JSON lines)."""

    def __init__(self, model: TrafficModel | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else TrafficModel(self)
        self.filter = _Filter(self.model, self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("filter: text in the preview, connection or type")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda text: self.filter.set(text=text))
        self.direction = QComboBox(self)
        self.direction.addItems(["both ways", "in", "out"])
        self.direction.currentIndexChanged.connect(self._on_direction)
        self.kind = QComboBox(self)
        self.kind.addItems(["all types", *KINDS])
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.pause = QCheckBox("Pause", self)
        self.pause.toggled.connect(self._on_pause)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.clicked.connect(self.model.clear)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.clicked.connect(self.copy_selection)
        self.save_button = QPushButton("Save…", self)
        self.save_button.clicked.connect(self._on_save)
        self.status = QLabel(self)
        self.table = QTableView(self)
        self.table.setModel(self.filter)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        rows = self.table.verticalHeader()
        header = self.table.horizontalHeader()
        assert rows is not None and header is not None  # a QTableView always has both
        rows.setVisible(False)
        rows.setDefaultSectionSize(20)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        for column, width in enumerate((90, 170, 55, 100, 50, 55, 330, 90, 65)):
            self.table.setColumnWidth(column, width)
        bar = QHBoxLayout()
        widgets: tuple[QWidget, ...] = (self.search, self.direction, self.kind, self.pause)
        for widget in (*widgets, self.clear_button, self.copy_button, self.save_button):
            bar.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        self.model.recorded.connect(self._on_recorded)
        self.model.modelReset.connect(self._show_status)
        self._show_status()

    # ------------------------------------------------------------------ actions
    def selected_rows(self) -> list[int]:
        """The model rows selected in the table, in order."""
        selection = self.table.selectionModel()
        assert selection is not None  # set with the model
        return sorted({self.filter.mapToSource(i).row() for i in selection.selectedRows()})

    def copy_selection(self) -> str:
        """Copy the selected rows (all shown rows if none) to the clipboard as JSON lines."""
        rows = self.selected_rows() or [
            self.filter.mapToSource(self.filter.index(r, 0)).row()
            for r in range(self.filter.rowCount())
        ]
        text = self.model.to_json_lines(rows)
        clipboard = QGuiApplication.clipboard()
        assert clipboard is not None  # a widget exists, so an application does
        clipboard.setText(text)
        return text

    def save_as(self, path: str) -> None:
        """Save every row to ``path`` as JSON lines."""
        self.model.save(path)
        self.status.setText(f"saved {self.model.rowCount()} rows to {path}")

    def closeEvent(self, event: Any) -> None:
        """Closing the window stops the recording (the model may be shown again)."""
        self.model.detach_all()
        super().closeEvent(event)

    # ------------------------------------------------------------------ slots
    def _on_direction(self, index: int) -> None:
        self.filter.set(direction=("", "in", "out")[index])

    def _on_kind(self, index: int) -> None:
        self.filter.set(kind="" if index == 0 else KINDS[index - 1])

    def _on_pause(self, paused: bool) -> None:
        self.model.paused = paused
        self._show_status()

    def _on_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save traffic", "traffic.jsonl", "JSON lines (*.jsonl)"
        )
        if path:
            self.save_as(path)

    def _on_recorded(self, count: int) -> None:
        bar = self.table.verticalScrollBar()
        # Follow new rows unless the user scrolled up to read older ones.
        follow = bar is None or bar.value() >= bar.maximum() - 2
        self._show_status()
        if follow:
            self.table.scrollToBottom()

    def _show_status(self) -> None:
        model = self.model
        text = f"{model.rowCount()} rows (last {model.max_rows} kept)"
        if model.paused or model.dropped:
            text += f"; paused: {model.dropped} frames not recorded"
        self.status.setText(text)
