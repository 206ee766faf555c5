"""The command line: options, display detection, the headless run and ``--serve``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.client import connect

from demo_app.app import (
    build_parser,
    display_problem,
    join_command,
    run_gui,
    tile,
    window_nicks,
)
from demo_app.qt import QApplication, QImage, QTimer
from demo_app.window import ChatWindow

ROOT = Path(__file__).resolve().parents[2]


def test_options_parse() -> None:
    args = build_parser().parse_args(["--url", "wss://example.org/chat", "--windows", "3"])
    assert (args.url, args.windows, args.serve) == ("wss://example.org/chat", 3, None)
    assert build_parser().parse_args(["--serve"]).serve == 0
    assert build_parser().parse_args(["--serve", "8765"]).serve == 8765
    for bad in (["--url", "http://x"], ["--windows", "0"], ["--serve", "1", "--url", "ws://x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def test_window_nicks() -> None:
    assert window_nicks(3, None) == ["alice", "bob", "carol"]
    assert window_nicks(2, "bob") == ["bob", "alice"]


def test_display_detection() -> None:
    assert "no display" in display_problem({}, "linux")
    assert display_problem({"DISPLAY": ":0"}, "linux") == ""
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert "offscreen" in display_problem(
        {"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux"
    )
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux") == ""
    assert display_problem({}, "darwin") == ""


def test_join_hint_is_a_command_that_works_from_any_directory(tmp_path: Path) -> None:
    # `python -m demo_app` fails outside the venv (issue 17.9): the hint names .ci/dev.py.
    url = "ws://127.0.0.1:8765/"
    assert join_command(url, cwd=ROOT) == f"python3 .ci/dev.py demo --url {url}"
    assert join_command(url, cwd=ROOT / "tests") == f"python3 ../.ci/dev.py demo --url {url}"
    far = join_command(url, cwd=tmp_path)  # outside the clone: an absolute path
    assert far == f"python3 {ROOT / '.ci' / 'dev.py'} demo --url {url}"


def test_headless_says_which_options_it_ignores(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    png = tmp_path / "shot.png"
    cmd = [sys.executable, "-m", "demo_app", "--headless", "--nick", "zoe", "--windows", "2"]
    out = subprocess.run(
        [*cmd, "--screenshot", str(png)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=45,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "(--nick and --windows ignored: the scripted session runs its own server" in out.stdout


def _distinct_colors(image: QImage) -> int:
    step = 4
    return len(
        {
            image.pixel(x, y)
            for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)
        }
    )


def test_headless_session_writes_a_real_screenshot(tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-m", "demo_app", "--headless", "--screenshot", str(png)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=45,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bob: Hi Alice" in out.stdout
    assert re.search(r"\[  bob\] .*alice: I typed this while the server was down", out.stdout)
    assert re.search(r"\[  bob\] .*alice: \[file\] qtws.png \(\d+\.\d KiB\)", out.stdout)
    steps = re.search(r"progress bar: ([\d ]+)", out.stdout)
    assert steps is not None and steps.group(1).split()[-1] == "100"
    image = QImage(str(png))
    assert not image.isNull()
    assert (image.width(), image.height()) == (720, 480)
    assert _distinct_colors(image) > 20


def test_no_display_falls_back_to_the_headless_session(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    png = tmp_path / "auto.png"
    out = subprocess.run(
        [sys.executable, "-m", "demo_app", "--screenshot", str(png)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=45,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no display" in out.stdout
    assert png.exists()


def test_serve_runs_only_the_server_until_ctrl_c() -> None:
    # A suite started in the background (`cmd &` in a script) inherits SIGINT ignored, and
    # Python then keeps it ignored: give the child the default disposition a terminal has.
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "demo_app", "--serve"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            match = re.search(r"--url (ws://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, proc.stderr.read() if proc.stderr else ""
        with connect(url) as ws:
            ws.send(json.dumps({"type": "join", "nick": "zoe"}))
            assert json.loads(ws.recv(timeout=5)) == {"type": "joined", "nick": "zoe"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_gui_mode_opens_connected_windows_and_quits_when_they_close(qtbot: QtBot) -> None:
    seen: list[list[str]] = []

    def windows() -> list[ChatWindow]:
        return [w for w in QApplication.topLevelWidgets() if isinstance(w, ChatWindow)]

    def check() -> None:
        # Runs inside run_gui's event loop: once everyone is in, close the windows.
        ws = [w for w in windows() if w.isVisible()]
        if len(ws) == 3 and all(len(w.presence()) == 3 for w in ws):
            seen.extend(sorted(w.presence()) for w in ws)
            for w in ws:
                w.close()

    poll = QTimer()
    poll.timeout.connect(check)
    poll.start(20)
    watchdog = QTimer()
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(lambda: [w.close() for w in windows()])
    watchdog.start(20000)
    try:
        assert run_gui(None, "127.0.0.1", window_nicks(3, "zed")) == 0
    finally:
        poll.stop()
        watchdog.stop()
    assert seen == [["alice", "bob", "zed"]] * 3


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("count", range(1, 9))
def test_windows_are_tiled_over_the_screen_not_stacked(count: int) -> None:
    area = (0, 30, 1920, 1050)
    cells = tile(count, area, size=(720, 480), minimum=(420, 300))
    assert len(cells) == count
    for x, y, w, h in cells:
        assert area[0] <= x and x + w <= area[0] + area[2]
        assert area[1] <= y and y + h <= area[1] + area[3]
        assert (w, h) >= (420, 300)
    assert not any(_overlap(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :])


def test_a_small_screen_overlaps_the_windows_evenly_inside_it() -> None:
    cells = tile(4, (0, 0, 800, 600), size=(720, 480), minimum=(420, 300))
    assert {(w, h) for _, _, w, h in cells} == {(420, 300)}
    assert all(x + w <= 800 and y + h <= 600 for x, y, w, h in cells)
    assert len({(x, y) for x, y, _, _ in cells}) == 4  # distinct places, not one stack
