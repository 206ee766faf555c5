"""The scripted session run when there is no display (or with ``--headless``).

An embedded server and two windows, alice and bob, rendered offscreen. They chat through the
server by typing into their input lines; the server is then stopped and started again while
alice types, to show the reconnect and the outbox; alice then sends bob a picture (paced
chunks, progress bar, a thumbnail on both sides); the transcript goes to stdout and alice's
window and its traffic inspector (View → Traffic) are saved as PNGs. Each step waits for its
result with a deadline, so a broken build fails with a message naming the step instead of
hanging.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import qtws

from ._shell import StepFailed, application, let_close, spin, wait_until
from .qt import (
    QBuffer,
    QByteArray,
    QColor,
    QFont,
    QImage,
    QIODevice,
    QPainter,
    QPointF,
    Qt,
    QTest,
)
from .server import ChatServer
from .window import DEFAULT_SIZE, ChatLine, ChatWindow

DEFAULT_SCREENSHOT = Path("qtws-demo.png")

CONVERSATION = [
    ("alice", "Hi Bob! This window is a qtws.WebSocket talking to a websockets server."),
    ("bob", "Hi Alice, got it. The list on the right shows who is online."),
    ("alice", "The status bar shows the round-trip time of the keep-alive pings."),
    ("bob", "Let's restart the server and see the reconnect."),
]
WHILE_DOWN = ("alice", "I typed this while the server was down; the outbox kept it.")
AFTER = ("bob", "Received after the reconnect. Nothing lost.")


def session_config() -> qtws.Config:
    """Quick keep-alive and reconnect so the whole session takes a few seconds."""
    return qtws.Config(
        ping_interval=1.0,
        ping_timeout=5.0,
        proxy=None,
        reconnect=qtws.ReconnectPolicy(initial_delay=0.2, max_delay=1.0),
    )


def type_line(window: ChatWindow, text: str) -> None:
    """Type ``text`` into the window's input line and press Enter, like a person would."""
    # The stubs declare these static methods as instance methods.
    QTest.keyClicks(window.input, text)  # type: ignore[call-arg, arg-type]
    QTest.keyClick(window.input, Qt.Key.Key_Return)  # type: ignore[call-overload]


def picture(width: int = 640, height: int = 360) -> bytes:
    """A PNG to send, drawn here: a gradient with film grain (so it weighs some 600 KB and
    the progress bar has steps to show) and a caption."""
    import numpy as np

    rng = np.random.default_rng(14)
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    base = np.array([30, 64, 175]) + t * np.array([30, 100, 60])  # blue to teal, top to bottom
    grain = rng.integers(-14, 15, size=(height, width, 3))
    pixels = np.ascontiguousarray(np.clip(base + grain, 0, 255).astype(np.uint8))
    image = QImage(pixels.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    painter = QPainter(image)
    painter.setPen(QColor("#f8fafc"))
    font = QFont()
    font.setPixelSize(height // 5)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(QPointF(width * 0.08, height * 0.6), "qtws ✓")
    painter.end()
    buf = QByteArray()
    device = QBuffer(buf)
    device.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(device, "PNG")
    return bytes(buf.data())


def run_scripted_session(
    screenshot: Path = DEFAULT_SCREENSHOT,
    *,
    timeout: float = 10.0,
    out: Callable[[str], None] = print,
) -> int:
    """Run the session; 0 when every step happened and the PNG was written, else 1."""
    application("qtws chat demo")
    deadline = time.monotonic() + timeout
    server = ChatServer()
    windows: list[ChatWindow] = []
    try:
        url = server.start()
        out(f"embedded chat server on {url}")
        alice = ChatWindow(url, "alice", config=session_config(), server=server)
        bob = ChatWindow(url, "bob", config=session_config(), server=server)
        windows = [alice, bob]
        traffic = alice.show_traffic()  # View → Traffic, from the first byte
        by_nick = {"alice": alice, "bob": bob}
        for w in windows:
            w.resize(DEFAULT_SIZE)
            w.show()
            w.line_added.connect(
                lambda line, nick=w.nick: out(f"[{nick:>5}] {line}") if _shown(line) else None
            )

        wait_until(
            lambda: all(sorted(w.presence()) == ["alice", "bob"] for w in windows),
            "both clients joining",
            deadline,
        )
        said: list[str] = []
        for nick, text in CONVERSATION:
            type_line(by_nick[nick], text)
            said.append(f"{nick}: {text}")
            wait_until(
                lambda: all(w.chat_texts() == said for w in windows),
                f"{nick}'s message reaching both windows",
                deadline,
            )

        out("[demo] stopping the server …")
        server.stop(wait=False)
        wait_until(
            lambda: all(w.state == "reconnecting" for w in windows) and not server.running,
            "both clients noticing the server is gone",
            deadline,
        )
        type_line(alice, WHILE_DOWN[1])
        out("[demo] starting the server again …")
        server.start()
        said.append(f"{WHILE_DOWN[0]}: {WHILE_DOWN[1]}")
        wait_until(
            lambda: all(w.chat_texts() == said for w in windows),
            "the message typed while disconnected arriving after the reconnect",
            deadline,
        )
        type_line(bob, AFTER[1])
        said.append(f"{AFTER[0]}: {AFTER[1]}")
        wait_until(
            lambda: all(w.chat_texts() == said for w in windows),
            "bob's message after the reconnect",
            deadline,
        )
        data = picture()
        out(f"[demo] alice sends bob a picture ({len(data):,} bytes, paced chunks) …")
        steps: list[int] = []
        alice.transfer_row.bar.valueChanged.connect(steps.append)
        alice.send_data("qtws.png", data)
        wait_until(
            lambda: [f.data for f in bob.files] == [data] and len(alice.files) == 1,
            "the picture reaching bob",
            deadline,
        )
        out(f"[demo] progress bar: {' '.join(map(str, steps))}")
        alice.ws.ping(b"rtt")
        wait_until(lambda: alice.ws.latency is not None, "a round-trip time", deadline)
        wait_until(lambda: alice.rtt_label.text() != "RTT —", "the RTT display", deadline)
        wait_until(
            lambda: all(sorted(w.presence()) == ["alice", "bob"] for w in windows),
            "the presence list after the reconnect",
            deadline,
        )

        spin(50)  # let the last repaint settle before grabbing
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        if not alice.grab().save(str(screenshot), "PNG"):
            raise StepFailed(f"could not write the screenshot {screenshot}")
        out(f"[demo] screenshot of alice's window saved to {screenshot}")
        traffic_shot = screenshot.with_name(f"{screenshot.stem}-traffic{screenshot.suffix}")
        traffic.model.flush()
        traffic.table.scrollToBottom()
        spin(50)
        if not traffic.grab().save(str(traffic_shot), "PNG"):
            raise StepFailed(f"could not write the screenshot {traffic_shot}")
        out(f"[demo] screenshot of alice's traffic inspector saved to {traffic_shot}")
    except Exception as exc:
        if not isinstance(exc, (StepFailed, OSError, qtws.WebSocketError)):
            traceback.print_exc()  # a bug, not a timeout: show where
        print(f"headless demo FAILED: {exc}", file=sys.stderr)
        for w in windows:
            print(f"  {w.nick}: {w.status_text()}", file=sys.stderr)
        _shutdown(windows, server)
        return 1
    _shutdown(windows, server)
    out("[demo] session complete")
    return 0


def _shown(line: ChatLine) -> bool:
    # Joins and presence are implied by the rest of the transcript; keep it readable.
    return not (line.kind == "system" and line.text.startswith("connecting to "))


def _shutdown(windows: list[ChatWindow], server: ChatServer) -> None:
    for w in windows:
        w.close()
    let_close([w.ws for w in windows], 3.0)
    server.stop(abrupt=True, wait=True)
    for w in windows:
        w.deleteLater()
    spin(0)
