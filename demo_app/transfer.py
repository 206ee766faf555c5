"""Files in the chat: a paced sender, the receiving side's bookkeeping and the progress row.

How the sender paces itself
---------------------------
:class:`FileSender` never blocks the GUI and never lets ``ws.buffered_amount`` pass
:data:`HIGH_WATER`: it sends a chunk (at most :data:`~demo_app.protocol.MAX_CHUNK` bytes of
the file) only while the chunk still fits under the mark, and at most ``HIGH_WATER`` bytes per
call, then waits.  The WebSocket's ``bytes_written`` (at most once per loop turn, after bytes
reached the socket) and ``drained`` signals call it again, so chunks follow one another as
the previous ones drain, with the event loop running in between (repaints, typing, other
messages).  Progress is the share of the file that left the write buffer; it reaches 100 on
``drained`` after the last chunk.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field

import qtws

from . import protocol
from .qt import QHBoxLayout, QImage, QLabel, QObject, QProgressBar, QPushButton, QWidget, Signal

HIGH_WATER = 256 * 2**10  # bytes: buffered_amount stays at or under this while sending
OVERHEAD = 64  # a frame header, the chunk's id and what deflate may add to a stored block


def human_size(n: int) -> str:
    """``512 B``, ``3.0 KiB``, ``3.0 MiB``."""
    if n < 1024:
        return f"{n} B"
    if n < 2**20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"


class FileSender(QObject):
    """Sends ``data`` as file ``file_id`` called ``name`` over ``ws``, paced (see above).

    Signals: ``progress(int)`` percent written (monotonic, ends at 100), ``finished()``
    once every byte is written, ``failed(str)`` when cancelled, refused or the connection
    dropped.  Exactly one of ``finished``/``failed`` is emitted.
    """

    progress = Signal(int)
    finished = Signal()
    failed = Signal(str)

    def __init__(
        self,
        ws: qtws.WebSocket,
        file_id: int,
        name: str,
        data: bytes,
        *,
        high_water: int = HIGH_WATER,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if high_water < protocol.MAX_CHUNK + OVERHEAD:
            raise ValueError("high_water must hold at least one chunk")
        self.ws = ws
        self.file_id = file_id
        self.name = name
        self.data = data
        self.high_water = high_water
        self.sent = 0  # bytes of the file handed to ws.send()
        self.percent = 0
        self.done = False
        self._started = False
        self._view = memoryview(data)

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.data)

    def start(self) -> None:
        """Announce the file and send the first chunks (the connection must be OPEN)."""
        self.ws.send(protocol.encode_file(self.file_id, self.name, self.size))
        self._started = True
        self.ws.bytes_written.connect(self._pump)
        self.ws.drained.connect(self._pump)
        self.ws.state_changed.connect(self._on_state)
        self._pump()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop sending; the others are told (what was already buffered still goes out)."""
        if self.done:
            return
        if self.ws.ready_state == qtws.ReadyState.OPEN:
            self.ws.send(protocol.encode_file_cancel(self.file_id, reason))
        self._end()
        self.failed.emit(reason)

    def refused(self, reason: str) -> None:
        """The server refused the file (``file_refused``)."""
        if not self.done:
            self._end()
            self.failed.emit(f"refused by the server: {reason}")

    def _end(self) -> None:
        self.done = True
        if self._started:
            self.ws.bytes_written.disconnect(self._pump)
            self.ws.drained.disconnect(self._pump)
            self.ws.state_changed.disconnect(self._on_state)

    def _on_state(self, state: object) -> None:
        if state != qtws.ReadyState.OPEN and not self.done:
            self._end()  # the server drops a file whose sender left; nothing to send
            self.failed.emit("the connection was lost")

    def _pump(self, *_: object) -> None:
        if self.done:
            return
        ws, size = self.ws, self.size
        budget = self.high_water  # per call: the loop gets control back between rounds
        while self.sent < size and budget > 0:
            piece = min(protocol.MAX_CHUNK, size - self.sent)
            if ws.buffered_amount + piece + OVERHEAD > self.high_water:
                break  # wait for bytes_written / drained
            ws.send(protocol.encode_chunk(self.file_id, self._view[self.sent : self.sent + piece]))
            self.sent += piece
            budget -= piece
            if self.sent == size:
                ws.send(protocol.encode_file_end(self.file_id))
        waiting = ws.buffered_amount
        written = size if not waiting and self.sent == size else max(0, self.sent - waiting)
        percent = 100 if written >= size else written * 100 // max(size, 1)
        if percent > self.percent:
            self.percent = percent
            self.progress.emit(percent)
        if percent == 100:
            self._end()
            self.finished.emit()


@dataclass
class IncomingFile:
    """A file arriving from ``nick``; ``data`` fills chunk by chunk up to ``size`` bytes."""

    id: int
    nick: str
    name: str
    size: int
    data: bytearray = field(default_factory=bytearray)

    def add(self, chunk: memoryview) -> bool:
        """Append a chunk; False (nothing added) when it would pass the announced size."""
        if len(self.data) + len(chunk) > self.size:
            return False
        self.data += chunk
        return True

    @property
    def complete(self) -> bool:
        """Every announced byte arrived."""
        return len(self.data) == self.size


@dataclass(frozen=True)
class ReceivedFile:
    """A file received in full; ``image`` is set when its bytes are an image Qt reads."""

    nick: str
    name: str
    data: bytes
    image: QImage | None

    @property
    def mime(self) -> str:
        """A guess from the name (for the tooltip)."""
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"


def load_image(data: bytes) -> QImage | None:
    """The image in ``data`` when Qt can read one, else None."""
    image = QImage()
    return image if image.loadFromData(data) and not image.isNull() else None


class TransferRow(QWidget):
    """The row under the input line while a file goes out: name, progress bar, Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 0, 8, 4)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop sending this file")
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self._what = ""
        self.hide()

    def begin(self, name: str, size: int, queued: int) -> None:
        """Show the row for a new file (``queued``: how many wait after it)."""
        self._what = f"Sending {name} ({human_size(size)})"
        self.set_queued(queued)
        self.bar.setValue(0)
        self.show()

    def set_queued(self, queued: int) -> None:
        """Say how many files wait after this one."""
        more = f" (+{queued} queued)" if queued else ""
        self.label.setText(self._what + more)
