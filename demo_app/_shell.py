"""What the chat demo and the dashboard (``dashboard_app``) share around their windows.

Command-line checks, the "no display: run the scripted session" rule, the QApplication and a
Ctrl-C-aware ``exec()``, and the helpers of the scripted sessions (spin the loop, wait for a
step with a deadline, let the closing handshakes finish).  Qt is imported inside the functions
that need it, so ``--serve`` (a server only) never loads a binding.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import qtws

    from .qt import QApplication


class StepFailed(Exception):
    """A step of a scripted session did not happen in time."""


def ws_url(value: str) -> str:
    """An argparse type: a ws:// or wss:// URL."""
    if not value.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"{value!r} is not a ws:// or wss:// URL")
    return value


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """Why no window can be shown, or "" when a display looks available."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa:
        name = qpa.split(":")[0]
        if name in ("offscreen", "minimal", "vnc"):
            return f"QT_QPA_PLATFORM={qpa} shows no window"
        return ""  # the user picked a platform plugin: trust it
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and not (
        env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")
    ):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return ""


def headless_wanted(asked: bool, problem: str) -> bool:
    """Whether to run the scripted session: ``--headless``, or no display (said on stdout).
    When it runs, Qt renders offscreen whatever the display: that session shows no window."""
    if not asked and problem:
        print(f"{problem}: running the scripted headless session instead.", flush=True)
    if asked or problem:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return True
    return False


_apps: list[QApplication] = []  # a new one is kept: PyQt deletes it with its last reference


def application(name: str) -> QApplication:
    """The QApplication (this process's, or a new one), named, in the Fusion style."""
    from .qt import QApplication

    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        app = QApplication(sys.argv[:1] or [name])
        _apps.append(app)
    app.setApplicationName(name)
    app.setStyle("Fusion")
    return app


def exec_until_ctrl_c(app: QApplication) -> int:
    """``app.exec()``; Ctrl-C in the terminal quits the loop (no traceback)."""
    from .qt import QTimer

    # Qt's loop runs C++ code; a short timer lets Python notice Ctrl-C in the terminal.
    previous = signal.signal(signal.SIGINT, lambda *_: app.quit())
    nudge = QTimer()
    nudge.timeout.connect(lambda: None)
    nudge.start(200)
    try:
        return app.exec()
    finally:
        signal.signal(signal.SIGINT, previous)
        nudge.stop()


def spin(ms: int) -> None:
    """Run the Qt event loop for ``ms`` milliseconds."""
    from .qt import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(predicate: Callable[[], bool], what: str, deadline: float) -> None:
    """Spin the event loop until ``predicate()`` is true; StepFailed at ``deadline``."""
    while not predicate():
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} did not happen in time")
        spin(10)


def let_close(sockets: Iterable[qtws.WebSocket], seconds: float) -> None:
    """Run the loop until every WebSocket is CLOSED (their closing handshakes), at most
    ``seconds``."""
    import qtws

    pending = list(sockets)
    end = time.monotonic() + seconds
    while time.monotonic() < end and any(
        ws.ready_state != qtws.ReadyState.CLOSED for ws in pending
    ):
        spin(10)
