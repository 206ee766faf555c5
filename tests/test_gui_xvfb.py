"""The two GUI demos under a real X server (issue 17.5): ``python3 .ci/dev.py demo`` and
``demo --dashboard`` run with ``DISPLAY`` set to an Xvfb the test starts on a free display.

Each run goes through ``.ci/dev.py`` as a user's does, so its xcb platform probe (which
installs what the xcb plugin lacks when root) must pass first; then the window must be mapped
and painted, the chat window must really be connected (a second client sees it in the
presence list), and closing the window the way a window manager does (``WM_DELETE_WINDOW``)
must end the process with status 0, no traceback or Qt warning, and no process left behind
(the dashboard's tick server runs in a child process).

Xvfb is needed: ``python3 .ci/dev.py test`` installs it when run as root; otherwise these
tests fail naming the install line rather than skipping.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests import x11

ROOT = Path(__file__).resolve().parent.parent
# A window appears within seconds; this only bounds a hang (busy CI machine), never asserted.
PATIENCE = 120.0

# Qt warnings a demo may print (none today): every other warning fails the test.
KNOWN_WARNINGS: set[str] = set()

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is the Linux desktop"),
    pytest.mark.timeout(4 * PATIENCE),
]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    try:
        with x11.xvfb() as name:
            yield name
    except FileNotFoundError as exc:  # not a skip: the GUI would go unchecked
        pytest.fail(f"{exc} (python3 .ci/dev.py test installs it when run as root)")


@pytest.fixture
def xclient(display: str) -> Iterator[x11.XClient]:
    client = x11.XClient(display)
    yield client
    client.close()
    assert client.errors == []


class Demo:
    """``python3 .ci/dev.py demo ARGS`` on ``display``, in a session of its own."""

    def __init__(self, display: str, args: list[str], logs: Path) -> None:
        env = {
            k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")
        }
        # QTWS_DEV_NO_INSTALL: a pip install under the running suite would pull its files away.
        env.update(DISPLAY=display, QT_API="pyqt6", PYTHONUNBUFFERED="1", QTWS_DEV_NO_INSTALL="1")
        self.out, self.err = logs / "stdout.txt", logs / "stderr.txt"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            # This interpreter runs dev.py, so it uses this environment (.venv or .venv-3.X).
            cmd = [sys.executable, str(ROOT / ".ci" / "dev.py"), "demo", *args]
            self.proc = subprocess.Popen(
                cmd, cwd=logs, env=env, stdout=out, stderr=err, start_new_session=True
            )

    def logs(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"

    def stdout_match(self, pattern: str) -> str:
        deadline = time.monotonic() + PATIENCE
        while (found := re.search(pattern, self.out.read_text())) is None:
            assert self.proc.poll() is None, (
                f"the demo ended ({self.proc.returncode})\n{self.logs()}"
            )
            assert time.monotonic() < deadline, f"no {pattern!r} printed\n{self.logs()}"
            time.sleep(0.1)
        return found.group(1)

    def window(self, client: x11.XClient, title: str) -> x11.TopLevel:
        """The mapped top-level whose title contains ``title``, once Qt has painted it."""
        deadline = time.monotonic() + PATIENCE
        while True:
            assert self.proc.poll() is None, (
                f"the demo ended ({self.proc.returncode})\n{self.logs()}"
            )
            for w in client.windows():
                # A freshly mapped window is one flat colour until its first paint.
                if title in w.title and w.viewable and client.colours(w) > 20:
                    return w
            assert time.monotonic() < deadline, f"no {title!r} window\n{client.windows()}"
            time.sleep(0.2)

    def ends_cleanly(self) -> None:
        try:
            rc = self.proc.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"closing the window did not end the demo\n{self.logs()}")
        assert rc == 0, self.logs()
        err = self.err.read_text()
        assert "Traceback" not in err, err
        warnings = [line for line in err.splitlines() if line.startswith(("qt.", "QObject"))]
        assert [w for w in warnings if w not in KNOWN_WARNINGS] == [], err
        deadline = time.monotonic() + PATIENCE
        while _session_alive(self.proc.pid):  # a child (tick server) still running
            assert time.monotonic() < deadline, "a process of the demo outlived its window"
            time.sleep(0.1)

    def kill(self) -> None:
        if _session_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _session_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_chat_demo_opens_connects_and_closes_under_x(
    display: str, xclient: x11.XClient, tmp_path: Path
) -> None:
    demo = Demo(display, [], tmp_path)
    try:
        window = demo.window(xclient, "alice — qtws chat — ws://")
        assert (window.width, window.height) >= (400, 300)
        url = demo.stdout_match(r"embedded chat server on (ws://\S+)")
        # The window's WebSocket really is connected: a second client sees alice online.
        with connect(url, proxy=None, open_timeout=PATIENCE) as peer:
            peer.send(json.dumps({"type": "join", "nick": "xvfb-probe"}))
            nicks: list[str] = []
            while "alice" not in nicks:
                event = json.loads(peer.recv(timeout=PATIENCE))
                if event["type"] == "presence":
                    nicks = event["nicks"]
        xclient.request_close(window)
        demo.ends_cleanly()
    finally:
        demo.kill()


def test_the_dashboard_demo_opens_and_closes_under_x(
    display: str, xclient: x11.XClient, tmp_path: Path
) -> None:
    demo = Demo(display, ["--dashboard"], tmp_path)
    try:
        window = demo.window(xclient, "qtws live dashboard — ws://")
        assert (window.width, window.height) >= (400, 300)
        demo.stdout_match(r"tick server on (ws://\S+)")
        xclient.request_close(window)
        demo.ends_cleanly()  # the tick server's child process ended too
    finally:
        demo.kill()
