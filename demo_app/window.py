"""The chat window: one :class:`qtws.WebSocket`, a history, a presence list and a status bar.

Everything the window learns comes from the WebSocket's signals: ``opened`` (send our
``join``, again after every reconnect), ``text_message`` (decoded with
:mod:`demo_app.protocol`), ``state_changed``, ``reconnecting`` (attempt and delay, shown as a
countdown), ``error``, ``closed`` and ``pong_received`` (the live round-trip time). What is
typed while the connection is down goes to qtws's outbox and is sent after the reconnect.

Files (drag-and-drop onto the window, or *Send file…*) go out through a paced
:class:`~demo_app.transfer.FileSender` with a progress bar and Cancel; received files show
inline, images as a thumbnail, others as "name (size) — Save…".

Over 400 lines: one window class whose slots, view helpers and rendering read best together;
the file transfer logic lives in :mod:`demo_app.transfer`.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import qtws
import qtws.traffic

from . import protocol
from .qt import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QFileDialog,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QPushButton,
    QSize,
    QSplitter,
    QStatusBar,
    Qt,
    QTextBlockFormat,
    QTextBrowser,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextImageFormat,
    QTimer,
    QUrl,
    QVBoxLayout,
    QWidget,
    Signal,
)
from .server import ChatServer
from .transfer import FileSender, IncomingFile, ReceivedFile, TransferRow, human_size, load_image

# Own messages in blue on a light-blue band; others get a stable colour picked from the nick.
OWN_COLOR = "#1d4ed8"
OWN_BACKGROUND = "#eaf1fe"
NICK_COLORS = ("#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#a21caf")
SYSTEM_COLOR = "#6b7280"
WARN_COLOR = "#b45309"
ERROR_COLOR = "#b91c1c"
ERROR_BACKGROUND = "#fdecec"
STATE_COLORS = {
    "connecting": "#d97706",
    "open": "#16a34a",
    "reconnecting": "#d97706",
    "closing": "#d97706",
    "closed": "#dc2626",
}

DEFAULT_SIZE = QSize(720, 480)
THUMBNAIL = 160  # pixels: the longest side of an image shown in the history


def default_config() -> qtws.Config:
    """Keep-alive every 2 s (a live round-trip time) and reconnection within 5 s at most."""
    return qtws.Config(
        ping_interval=2.0,
        ping_timeout=10.0,
        reconnect=qtws.ReconnectPolicy(initial_delay=0.5, max_delay=5.0),
    )


def nick_color(nick: str, own: bool = False) -> str:
    """The preferred colour of ``nick`` (a window may pick another: see ``ColorBook``)."""
    if own:
        return OWN_COLOR
    return NICK_COLORS[zlib.crc32(nick.encode()) % len(NICK_COLORS)]


class ColorBook:
    """The colours of the nicks one window shows: each nick keeps the colour it first got, and
    no two nicks share one while the palette has a free colour (a hash alone collides)."""

    def __init__(self) -> None:
        self._colors: dict[str, str] = {}

    def color(self, nick: str) -> str:
        """``nick``'s colour in this window, assigned on first sight."""
        found = self._colors.get(nick)
        if found is None:
            taken = set(self._colors.values())
            preferred = NICK_COLORS.index(nick_color(nick))
            ring = NICK_COLORS[preferred:] + NICK_COLORS[:preferred]
            found = next((c for c in ring if c not in taken), ring[0])
            self._colors[nick] = found
        return found


@dataclass(frozen=True)
class ChatLine:
    """One line of the history; ``kind``: chat, own, echo, file, text, system, warn or error.

    ``file``: for a ``file`` line, the index of the file in :attr:`ChatWindow.files`."""

    kind: str
    time: datetime
    nick: str
    text: str
    file: int | None = None

    def __str__(self) -> str:
        stamp = self.time.strftime("%H:%M:%S")
        if self.kind in ("chat", "own", "echo"):
            return f"{stamp}  {self.nick}: {self.text}"
        if self.kind == "file":
            return f"{stamp}  {self.nick}: [file] {self.text}"
        if self.kind == "error":
            return f"{stamp}  ! {self.text}"
        return f"{stamp}  * {self.text}"


class ChatWindow(QMainWindow):
    """A chat client window connected to ``url`` as ``nick``.

    ``server``: the embedded :class:`ChatServer`, if any; the window then offers a *Server*
    menu to stop and restart it, which is how the reconnect behaviour is shown.
    """

    line_added = Signal(object)  # ChatLine
    presence_changed = Signal(list)  # list[str]

    def __init__(
        self,
        url: str,
        nick: str,
        *,
        config: qtws.Config | None = None,
        server: ChatServer | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.url = url
        self.nick = protocol.clean_nick(nick) or "guest"
        self.server = server
        self.lines: list[ChatLine] = []
        self._nicks: list[str] = []
        self._state = "connecting"
        self._attempt = 0
        self._retry_at = 0.0
        self._queued = 0
        self._ever_opened = False
        self._open_now = False  # OPEN since the last opened (a loss is then a "lost")
        self._former_nicks: set[str] = set()  # our nicks before a rename: their "left" is us
        self._colors = ColorBook()
        self._echo_noted = False
        self._seen_ids: set[str] = set()
        #: Files shown in the history (received, and our own once sent), in order.
        self.files: list[ReceivedFile] = []
        self.outgoing: FileSender | None = None  # the file going out now
        self._outgoing: list[tuple[str, bytes]] = []  # (name, data) waiting their turn
        self._incoming: dict[int, IncomingFile] = {}  # by the server's transfer id
        self._next_file_id = 0

        self._build_ui()
        self._update_title()

        self.ws = qtws.WebSocket(url, config=config or default_config(), parent=self)
        self.ws.opened.connect(self._on_opened)
        self.ws.text_message.connect(self._on_text)
        self.ws.binary_message.connect(self._on_binary)
        self.ws.error.connect(self._on_error)
        self.ws.closed.connect(self._on_closed)
        self.ws.state_changed.connect(self._on_state_changed)
        self.ws.reconnecting.connect(self._on_reconnecting)
        self.ws.pong_received.connect(self._on_pong)

        # Refreshes the "next try in N s" countdown and the Server menu.
        self._ticker = QTimer(self)
        self._ticker.setInterval(200)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()

        self._set_status("connecting", f"Connecting to {url} …")
        self._add("system", f"connecting to {url} as {self.nick}")
        self.ws.open()

    # -- widgets ------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.resize(DEFAULT_SIZE)
        self.setMinimumSize(QSize(420, 300))
        base = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont)

        header = QFrame()
        header.setObjectName("header")
        header.setStyleSheet(
            "#header { background: #1e293b; } #header QLabel { color: #e2e8f0; }"
            "#header QLineEdit { background: #334155; color: #f8fafc; border: 1px solid #475569;"
            " border-radius: 4px; padding: 2px 6px; }"
        )
        hl = QHBoxLayout(header)
        hl.setContentsMargins(12, 8, 12, 8)
        title = QLabel("qtws chat")
        title_font = QFont(base)
        title_font.setPointSizeF(base.pointSizeF() * 1.25)
        title_font.setBold(True)
        title.setFont(title_font)
        self.url_label = QLabel(self.url)
        self.url_label.setStyleSheet("color: #94a3b8;")
        self.nick_edit = QLineEdit(self.nick)
        self.nick_edit.setMaxLength(protocol.MAX_NICK)
        self.nick_edit.setFixedWidth(140)
        self.nick_edit.setToolTip("Your nickname: edit and press Enter to change it")
        self.nick_edit.returnPressed.connect(self._on_nick_edited)
        hl.addWidget(title)
        hl.addSpacing(8)
        hl.addWidget(self.url_label, 1)
        hl.addWidget(QLabel("Nick:"))
        hl.addWidget(self.nick_edit)

        self.history = QTextBrowser()
        self.history.setOpenExternalLinks(False)
        self.history.setOpenLinks(False)  # "Save…" links are handled by save_file
        self.history.anchorClicked.connect(self._on_anchor)
        self.history.setFrameShape(QFrame.Shape.NoFrame)
        self.history.setStyleSheet("QTextBrowser { background: #ffffff; color: #111827; }")
        history_font = QFont(base)
        history_font.setPointSizeF(base.pointSizeF() * 1.05)
        self.history.setFont(history_font)
        self.history.document().setDocumentMargin(10)  # type: ignore[union-attr]
        self._stamp_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._stamp_font.setPointSizeF(history_font.pointSizeF() * 0.85)
        self._stamp_width = QFontMetricsF(self._stamp_font).horizontalAdvance("00:00:00  ")

        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a message and press Enter")
        self.input.setMaxLength(protocol.MAX_TEXT)
        self.input.returnPressed.connect(self.send_input)
        self.input.setStyleSheet("QLineEdit { padding: 5px 8px; }")
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send_input)
        self.file_button = QPushButton("Send file…")
        self.file_button.setToolTip("Send a file or an image (or drop it onto the window)")
        self.file_button.clicked.connect(self.choose_file)
        # Drops land on the window (dropEvent), not in the line edit as a file:// URL.
        self.input.setAcceptDrops(False)
        self.setAcceptDrops(True)

        input_row = QHBoxLayout()
        input_row.setContentsMargins(8, 6, 8, 8)
        input_row.addWidget(self.input, 1)
        input_row.addWidget(self.send_button)
        input_row.addWidget(self.file_button)
        self.transfer_row = TransferRow()
        self.transfer_row.cancel_button.clicked.connect(self.cancel_file)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(0)
        ll.addWidget(self.history, 1)
        ll.addLayout(input_row)
        ll.addWidget(self.transfer_row)

        right = QWidget()
        right.setObjectName("presence")
        right.setStyleSheet("#presence { background: #f1f5f9; }")
        rl = QVBoxLayout(right)
        rl.setContentsMargins(10, 10, 10, 10)
        self.presence_label = QLabel("Online")
        bold = QFont(base)
        bold.setBold(True)
        self.presence_label.setFont(bold)
        self.presence_list = QListWidget()
        self.presence_list.setFrameShape(QFrame.Shape.NoFrame)
        self.presence_list.setStyleSheet("QListWidget { background: transparent; }")
        self.presence_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        rl.addWidget(self.presence_label)
        rl.addWidget(self.presence_list, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([540, 180])
        splitter.setChildrenCollapsible(False)

        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(header)
        cl.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.state_dot = QLabel("●")
        self.status_label = QLabel()
        self.rtt_label = QLabel("RTT —")
        self.rtt_label.setToolTip("Round-trip time of the last keep-alive ping")
        self.queue_label = QLabel()
        status = QStatusBar()
        self.setStatusBar(status)
        status.addWidget(self.state_dot)
        status.addWidget(self.status_label, 1)
        status.addPermanentWidget(self.queue_label)
        status.addPermanentWidget(self.rtt_label)

        file_menu = QMenu("&File", self)
        self.menuBar().addMenu(file_menu)  # type: ignore[union-attr]
        self.send_file_action = QAction("Send &file…", self)
        self.send_file_action.setShortcut("Ctrl+O")
        self.send_file_action.triggered.connect(self.choose_file)
        file_menu.addAction(self.send_file_action)

        view_menu = QMenu("&View", self)
        self.menuBar().addMenu(view_menu)  # type: ignore[union-attr]
        self.traffic_action = QAction("&Traffic…", self)
        self.traffic_action.setShortcut("Ctrl+Shift+T")
        self.traffic_action.setToolTip("Every frame this window's WebSocket sends and receives")
        self.traffic_action.triggered.connect(self.show_traffic)
        view_menu.addAction(self.traffic_action)
        self.traffic: qtws.traffic.TrafficView | None = None

        if self.server is not None:
            menu = QMenu("&Server", self)
            self.menuBar().addMenu(menu)  # type: ignore[union-attr]
            self.stop_action = QAction("&Stop server (clients see 1001 going away)", self)
            self.stop_action.triggered.connect(lambda: self._stop_server(abrupt=False))
            self.kill_action = QAction("&Kill server (drop TCP, no closing handshake)", self)
            self.kill_action.triggered.connect(lambda: self._stop_server(abrupt=True))
            self.start_action = QAction("S&tart server again", self)
            self.start_action.triggered.connect(self._start_server)
            menu.addActions([self.stop_action, self.kill_action, self.start_action])
        self.input.setFocus()

    def show_traffic(self) -> qtws.traffic.TrafficView:
        """View → Traffic: the qtws inspector on this window's connection (recording starts
        when it is first opened, and goes on until this window closes)."""
        if self.traffic is None:
            self.traffic = qtws.traffic.TrafficView()
            self.traffic.setWindowTitle(f"Traffic — {self.nick} — {self.url}")
            self.traffic.resize(1100, 420)
        if self.ws not in self.traffic.model.attached:
            self.traffic.model.attach(self.ws, name=self.nick)
        self.traffic.show()
        self.traffic.raise_()
        return self.traffic

    # -- what tests and the scripted session read -----------------------------------------

    def presence(self) -> list[str]:
        """The nicks the presence list shows."""
        return list(self._nicks)

    def status_text(self) -> str:
        """The status bar's text."""
        return self.status_label.text()

    @property
    def state(self) -> str:
        """connecting, open, reconnecting, closing or closed."""
        return self._state

    def chat_texts(self) -> list[str]:
        """``nick: text`` of every chat line received so far."""
        return [f"{ln.nick}: {ln.text}" for ln in self.lines if ln.kind in ("chat", "own")]

    # -- actions ------------------------------------------------------------------------

    def send_input(self) -> None:
        """Send what the input line holds (Enter or the Send button)."""
        text = self.input.text().strip()
        if not text:
            return
        try:
            self.ws.send(protocol.encode_say(text))
        except (qtws.WebSocketError, OSError) as exc:
            # Closed for good, or the outbox is full: keep the text so nothing is lost.
            self._add("error", f"not sent: {exc}")
            return
        self.input.clear()
        if self.ws.ready_state != qtws.ReadyState.OPEN:
            self._queued += 1
            self._add("system", f"queued until the connection is back: {text}")
            self._update_queue()

    def choose_file(self) -> None:
        """File → Send file… (or the button): pick a file and send it."""
        path, _ = QFileDialog.getOpenFileName(self, "Send a file")
        if path:
            self.send_file(path)

    def send_file(self, path: str | Path) -> bool:
        """Read the file at ``path`` and send it (after the one going out now, if any)."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > protocol.MAX_FILE:
                limit = human_size(protocol.MAX_FILE)
                raise ValueError(f"{human_size(size)} is over the {limit} limit")
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            self._add("error", f"cannot send {path.name}: {exc}")
            return False
        return self.send_data(path.name, data)

    def send_data(self, name: str, data: bytes) -> bool:
        """Send ``data`` as the file ``name``; it waits while another file is going out or
        the connection is down (then it starts once connected)."""
        if len(data) > protocol.MAX_FILE:
            limit = human_size(protocol.MAX_FILE)
            self._add("error", f"cannot send {name}: over the {limit} limit")
            return False
        self._outgoing.append((protocol.clean_file_name(name), bytes(data)))
        if self.outgoing is not None:
            self.transfer_row.set_queued(len(self._outgoing))
        self._start_next_file()
        return True

    def cancel_file(self) -> None:
        """Cancel the file going out (the ones waiting after it start next)."""
        if self.outgoing is not None:
            self.outgoing.cancel(f"{self.nick} cancelled")

    def save_file(self, index: int, path: str | Path | None = None) -> bool:
        """Write file ``index`` of :attr:`files` to ``path`` (asked with a dialog if None)."""
        received = self.files[index]
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Save the file", received.name)
            if not chosen:
                return False
            path = chosen
        try:
            Path(path).write_bytes(received.data)
        except OSError as exc:
            self._add("error", f"cannot save {received.name}: {exc}")
            return False
        self._add("system", f"saved {received.name} to {path}")
        return True

    def dragEnterEvent(self, event: QDragEnterEvent | None) -> None:
        """Accept a drag that carries local files."""
        mime = event.mimeData() if event is not None else None
        if event is not None and mime is not None and any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent | None) -> None:
        """Send every dropped local file, in order."""
        mime = event.mimeData() if event is not None else None
        if event is None or mime is None:
            return
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        for path in paths:
            self.send_file(path)
        if paths:
            event.acceptProposedAction()

    def _start_next_file(self) -> None:
        if self.outgoing is not None or not self._outgoing:
            return
        if self.ws.ready_state != qtws.ReadyState.OPEN:
            self._add("system", "the file waits until the connection is open")
            return
        name, data = self._outgoing.pop(0)
        self._next_file_id = (self._next_file_id + 1) % 2**32
        sender = FileSender(self.ws, self._next_file_id, name, data, parent=self)
        self.outgoing = sender
        sender.progress.connect(self.transfer_row.bar.setValue)
        sender.finished.connect(lambda: self._file_sent(sender))
        sender.failed.connect(lambda reason: self._file_failed(sender, reason))
        self.transfer_row.begin(name, len(data), len(self._outgoing))
        sender.start()

    def _file_sent(self, sender: FileSender) -> None:
        self._show_file(ReceivedFile(self.nick, sender.name, sender.data, load_image(sender.data)))
        self._file_over(sender)

    def _file_failed(self, sender: FileSender, reason: str) -> None:
        self._add("warn", f"{sender.name} not sent: {reason}")
        self._file_over(sender)

    def _file_over(self, sender: FileSender) -> None:
        if self.outgoing is sender:
            self.outgoing = None
            sender.deleteLater()
        self.transfer_row.hide()
        # Not from inside the sender's own slot: the next file starts on the next loop turn.
        QTimer.singleShot(0, self._start_next_file)

    def _show_file(self, received: ReceivedFile) -> None:
        self.files.append(received)
        text = f"{received.name} ({human_size(len(received.data))})"
        self._add("file", text, nick=received.nick, file=len(self.files) - 1)

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() == "save" and url.path().isdigit():
            self.save_file(int(url.path()))

    def _on_file_event(self, event: protocol.ServerEvent) -> None:
        if isinstance(event, protocol.FileOffer):
            self._incoming[event.id] = IncomingFile(event.id, event.nick, event.name, event.size)
            size = human_size(event.size)
            self._add("system", f"{event.nick} is sending {event.name} ({size}) …")
        elif isinstance(event, protocol.FileEnd):
            incoming = self._incoming.pop(event.id, None)
            if incoming is None:
                return
            if not incoming.complete:
                self._add("error", f"{incoming.name} from {incoming.nick} arrived incomplete")
                return
            data = bytes(incoming.data)
            self._show_file(ReceivedFile(incoming.nick, incoming.name, data, load_image(data)))
        elif isinstance(event, protocol.FileCancel):
            incoming = self._incoming.pop(event.id, None)
            if incoming is not None:
                why = f": {event.reason}" if event.reason else ""
                self._add("warn", f"{incoming.name} from {incoming.nick} was cancelled{why}")
        elif (
            isinstance(event, protocol.FileRefused)
            and self.outgoing is not None
            and self.outgoing.file_id == event.id
        ):
            self.outgoing.refused(event.reason)

    def _on_nick_edited(self) -> None:
        nick = protocol.clean_nick(self.nick_edit.text())
        if not nick or nick == self.nick:
            self.nick_edit.setText(self.nick)
            return
        old, self.nick = self.nick, nick
        self._former_nicks.add(old)
        self._former_nicks.discard(nick)
        self._update_title()
        if self.ws.ready_state == qtws.ReadyState.OPEN:
            self.ws.send(protocol.encode_join(nick))
            self._add("system", f"you are now {nick} (were {old})")
        else:
            self._add(
                "system", f"you are now {nick} (were {old}); the server learns it on reconnect"
            )
        self._refresh_presence()
        self.input.setFocus()

    def _stop_server(self, abrupt: bool) -> None:
        if self.server is not None and self.server.running:
            self._add("system", "killing the server" if abrupt else "stopping the server")
            # wait=False: our own socket must keep answering while the server says goodbye.
            self.server.stop(abrupt=abrupt, wait=False)
            self._tick()

    def _start_server(self) -> None:
        if self.server is None or self.server.running:
            return
        try:
            self.server.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            self._add("error", f"cannot start the server: {exc}")
        else:
            self._add("system", f"server started again on {self.server.url}")
        self._tick()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Say goodbye to the server with a clean close (1000)."""
        if self.ws.ready_state != qtws.ReadyState.CLOSED:
            self.ws.close(1000, "window closed")
        self._ticker.stop()
        if self.traffic is not None:
            self.traffic.close()
        super().closeEvent(event)

    # -- WebSocket signals --------------------------------------------------------------

    def _on_opened(self) -> None:
        self.ws.send(protocol.encode_join(self.nick))
        if self._ever_opened:
            self._add("system", "reconnected")
        else:
            self._add("system", "connected")
        self._ever_opened = True
        self._open_now = True
        self._attempt = 0
        self._queued = 0
        self._update_queue()
        self._set_status("open", f"Connected to {self.url}")
        self._start_next_file()

    def _drop_incoming(self) -> None:
        for incoming in self._incoming.values():
            self._add("warn", f"{incoming.name} from {incoming.nick}: lost with the connection")
        self._incoming.clear()

    def _on_state_changed(self, state: object) -> None:
        if state == qtws.ReadyState.CONNECTING:
            # After a lost connection `reconnecting` follows at once and takes over the bar.
            if self._state != "reconnecting":
                self._set_status("connecting", f"Connecting to {self.url} …")
        elif state == qtws.ReadyState.OPEN:
            self._set_status("open", f"Connected to {self.url}")
        elif state == qtws.ReadyState.CLOSING:
            self._set_status("closing", "Closing …")

    def _on_reconnecting(self, attempt: int, delay: float) -> None:
        self._attempt = attempt
        self._retry_at = time.monotonic() + delay
        if self._open_now:
            what = "connection lost"
        elif self._ever_opened or attempt > 1:
            what = f"attempt {attempt - 1} failed" if attempt > 1 else "connection lost"
        else:
            what = "cannot connect"
        self._open_now = False
        self._drop_incoming()
        self._add("warn", f"{what}; reconnect attempt {attempt} in {delay:.1f} s")
        self._show_countdown()
        self.rtt_label.setText("RTT —")
        # Who is online is unknown until the server tells us again after the rejoin.
        self._nicks = []
        self._refresh_presence()

    def _on_error(self, exc: object) -> None:
        self._add("error", f"connection error: {exc}")

    def _on_closed(self, event: object) -> None:
        code = getattr(event, "code", 1006)
        reason = getattr(event, "reason", "") or "no reason given"
        clean = "clean" if getattr(event, "was_clean", False) else "not clean"
        self._set_status("closed", f"Closed (code {code}, {reason}, {clean})")
        self._add("system", f"closed: code {code}, {reason}")
        self._open_now = False
        self._drop_incoming()
        self.rtt_label.setText("RTT —")
        self._nicks = []
        self._refresh_presence()

    def _on_pong(self, payload: bytes, rtt: float) -> None:
        self.rtt_label.setText(f"RTT {rtt * 1000:.1f} ms")

    def _on_binary(self, data: bytes) -> None:
        chunk = protocol.decode_chunk(data)
        incoming = self._incoming.get(chunk[0]) if chunk is not None else None
        if chunk is None or incoming is None:
            self._add("error", f"unexpected binary message ({len(data)} bytes) ignored")
        elif not incoming.add(chunk[1]):
            del self._incoming[incoming.id]
            self._add("error", f"{incoming.name} from {incoming.nick}: more bytes than announced")

    def _on_text(self, raw: str) -> None:
        event = protocol.parse_server_message(raw)
        if isinstance(event, protocol.Chat):
            if event.id is not None:
                if event.id in self._seen_ids:
                    return  # replayed after a (re)join and already shown
                self._seen_ids.add(event.id)
            stamp = event.time.astimezone() if event.time else datetime.now().astimezone()
            kind = "own" if event.nick == self.nick else "chat"
            self._add(kind, event.text, nick=event.nick, when=stamp)
        elif isinstance(event, protocol.Presence):
            self._nicks = list(event.nicks)
            self._refresh_presence()
        elif isinstance(event, protocol.Joined):
            if event.nick != self.nick:
                self._add("system", f"{event.nick} joined")
        elif isinstance(event, protocol.Left):
            if event.nick in self._former_nicks:
                self._former_nicks.discard(event.nick)  # our own rename, already said
            else:
                self._add("system", f"{event.nick} left")
        elif isinstance(event, protocol.EchoedJoin):
            if not self._echo_noted:
                self._add("system", "the server echoed our join: this is an echo server")
                self._echo_noted = True
            self._nicks = [self.nick]
            self._refresh_presence()
        elif isinstance(event, protocol.EchoedMessage):
            self._add("echo", event.text, nick=f"{self.nick} (echo)")
        elif isinstance(event, protocol.PlainText):
            self._add("text", f"server says: {event.text}")
        elif isinstance(
            event, (protocol.FileOffer, protocol.FileEnd, protocol.FileCancel, protocol.FileRefused)
        ):
            self._on_file_event(event)
        else:
            self._add("error", f"bad message from the server: {event.problem}: {event.raw}")

    # -- view helpers -------------------------------------------------------------------

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.nick} — qtws chat — {self.url}")
        self.nick_edit.setText(self.nick)

    def _set_status(self, state: str, text: str) -> None:
        self._state = state
        self.state_dot.setStyleSheet(f"color: {STATE_COLORS[state]}; padding-left: 6px;")
        self.status_label.setText(text)

    def _show_countdown(self) -> None:
        left = self._retry_at - time.monotonic()
        if left > 0:
            text = f"Reconnecting (attempt {self._attempt}, next try in {left:.1f} s)"
        else:
            text = f"Reconnecting (attempt {self._attempt}, connecting …)"
        self._set_status("reconnecting", text)

    def _tick(self) -> None:
        if self._state == "reconnecting":
            self._show_countdown()
        if self.server is not None:
            running = self.server.running
            self.stop_action.setEnabled(running)
            self.kill_action.setEnabled(running)
            self.start_action.setEnabled(not running)

    def _update_queue(self) -> None:
        self.queue_label.setText(f"{self._queued} queued" if self._queued else "")

    def _refresh_presence(self) -> None:
        self.presence_list.clear()
        for nick in self._nicks:
            own = nick == self.nick
            item = QListWidgetItem(f"●  {nick}" + ("  (you)" if own else ""))
            item.setForeground(QColor(self.color_of(nick)))
            if own:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.presence_list.addItem(item)
        if self._nicks or self._state not in ("reconnecting", "closed"):
            self.presence_label.setText(f"Online ({len(self._nicks)})")
        else:
            self.presence_label.setText("Online (unknown while disconnected)")
        self.presence_changed.emit(list(self._nicks))

    def color_of(self, nick: str) -> str:
        """The colour this window gives ``nick`` (ours is always the own colour)."""
        return OWN_COLOR if nick == self.nick else self._colors.color(nick)

    def _add(
        self,
        kind: str,
        text: str,
        *,
        nick: str = "",
        when: datetime | None = None,
        file: int | None = None,
    ) -> None:
        line = ChatLine(kind, when or datetime.now().astimezone(), nick, text, file)
        self.lines.append(line)
        self._render(line)
        self.line_added.emit(line)

    def _render(self, line: ChatLine) -> None:
        doc = self.history.document()
        assert doc is not None
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        block = QTextBlockFormat()
        block.setTopMargin(2)
        block.setBottomMargin(2)
        if line.kind == "own" or (line.kind == "file" and line.nick == self.nick):
            block.setBackground(QColor(OWN_BACKGROUND))
        elif line.kind == "error":
            block.setBackground(QColor(ERROR_BACKGROUND))
        # A hanging indent keeps wrapped lines clear of the time column.
        block.setLeftMargin(self._stamp_width)
        block.setTextIndent(-self._stamp_width)
        plain = QTextCharFormat()
        plain.setForeground(QColor("#111827"))
        stamp = QTextCharFormat()
        stamp.setForeground(QColor("#9ca3af"))
        stamp.setFont(self._stamp_font)

        if doc.isEmpty():
            cursor.setBlockFormat(block)
        else:
            cursor.insertBlock(block)
        cursor.insertText(line.time.strftime("%H:%M:%S") + "  ", stamp)
        if line.kind in ("chat", "own", "echo"):
            who = QTextCharFormat()
            who.setFontWeight(QFont.Weight.Bold)
            own = line.kind != "chat"
            who.setForeground(QColor(OWN_COLOR if own else self.color_of(line.nick)))
            cursor.insertText(line.nick, who)
            cursor.insertText("  " + line.text, plain)
        elif line.kind == "file" and line.file is not None:
            self._render_file(cursor, line, plain)
        else:
            note = QTextCharFormat()
            if line.kind == "error":
                note.setForeground(QColor(ERROR_COLOR))
            elif line.kind == "warn":
                note.setForeground(QColor(WARN_COLOR))
                note.setFontItalic(True)
            else:
                note.setForeground(QColor(SYSTEM_COLOR))
                note.setFontItalic(line.kind == "system")
            cursor.insertText(line.text, note)
        bar = self.history.verticalScrollBar()
        if bar is not None:
            bar.setValue(bar.maximum())

    def _render_file(self, cursor: QTextCursor, line: ChatLine, plain: QTextCharFormat) -> None:
        assert line.file is not None
        received = self.files[line.file]
        who = QTextCharFormat()
        who.setFontWeight(QFont.Weight.Bold)
        who.setForeground(QColor(self.color_of(line.nick)))
        cursor.insertText(line.nick, who)
        if received.image is not None:
            thumb = received.image.scaled(
                THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )  # fmt: skip
            name = f"thumb:{line.file}"
            doc = self.history.document()
            assert doc is not None
            doc.addResource(QTextDocument.ResourceType.ImageResource.value, QUrl(name), thumb)
            image = QTextImageFormat()
            image.setName(name)
            image.setWidth(thumb.width())
            image.setHeight(thumb.height())
            full = received.image
            image.setToolTip(f"{received.name}, {full.width()} x {full.height()} px")
            cursor.insertText("  ", plain)
            cursor.insertImage(image)
            cursor.insertText("  ", plain)
        else:
            cursor.insertText("  📎 ", plain)
        cursor.insertText(line.text + " — ", plain)
        link = QTextCharFormat()
        link.setAnchor(True)
        link.setAnchorHref(f"save:{line.file}")
        link.setForeground(QColor(OWN_COLOR))
        link.setFontUnderline(True)
        link.setToolTip(f"Save {received.name} ({received.mime})")
        cursor.insertText("Save…", link)
