"""The dashboard's command line, its headless session and ``--serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

import qtws
from dashboard_app.app import build_parser
from dashboard_app.headless import run_scripted_session
from demo_app.qt import QImage

ROOT = Path(__file__).resolve().parents[2]


def test_options_parse() -> None:
    args = build_parser().parse_args(["--symbols", "50", "--rate", "100", "--interval", "0.1"])
    assert (args.symbols, args.rate, args.interval, args.url) == (50, 100.0, 0.1, None)
    assert build_parser().parse_args(["--serve"]).serve == 0
    for bad in (
        ["--url", "http://x"],
        ["--symbols", "0"],
        ["--rate", "fast"],
        ["--serve", "70000"],
        ["--serve", "1", "--url", "ws://x/"],
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def _distinct_colours(image: QImage) -> int:
    return len(
        {image.pixel(x, y) for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)}
    )


def test_headless_session_restarts_the_server_and_saves_a_screenshot(
    qapp: object, tmp_path: Path
) -> None:
    shot = tmp_path / "dash.png"
    lines: list[str] = []
    rc = run_scripted_session(shot, symbols=40, rate=800, live_seconds=0.3, out=lines.append)
    assert rc == 0, lines
    assert any("after the restart" in line for line in lines)
    assert lines[-1] == "[dashboard] session complete"
    image = QImage(str(shot))
    assert image.width() > 300 and _distinct_colours(image) > 20


def test_headless_session_reports_a_failed_step(
    qapp: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = run_scripted_session(tmp_path / "x.png", symbols=40, rate=800, timeout=0.0)
    assert rc == 1
    assert "did not happen in time" in capsys.readouterr().err


def test_cli_without_a_display_runs_the_headless_session(tmp_path: Path) -> None:
    shot = tmp_path / "cli.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    out = subprocess.run(
        [sys.executable, "-m", "dashboard_app", "--symbols", "30", "--rate", "600",
         "--screenshot", str(shot)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "running the scripted headless session" in out.stdout
    assert shot.exists()


def test_serve_prints_the_port_and_stops_on_ctrl_c() -> None:
    # A suite started in the background (`cmd &`) inherits SIGINT ignored, and the child
    # would keep it ignored: give it the default disposition a terminal has (issue 17).
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard_app", "--serve", "--symbols", "5"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{port}/") as ws:
            ws.send('{"type": "subscribe", "symbols": "*"}')
            assert '"s"' in str(ws.recv(timeout=5))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(5)


def test_start_gui_starts_its_server_and_shows_the_window(
    qtbot: QtBot, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard_app.app import start_gui

    started = start_gui(None, 12, 300, 1 / 30)
    assert started is not None
    window, server = started
    qtbot.addWidget(window)
    try:
        assert window.isVisible() and server is not None and server.running
        assert "tick server on ws://127.0.0.1:" in capsys.readouterr().out
        qtbot.waitUntil(lambda: len(window.model.rows) == 12, timeout=10000)
        assert window.menuBar().actions()  # the Server menu
    finally:
        window.close()
        qtbot.waitUntil(lambda: window.ws.ready_state is qtws.ReadyState.CLOSED, timeout=5000)
        server.stop()


def test_start_gui_reports_a_server_that_cannot_start(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dashboard_app.server as server

    def refuse(self: object) -> str:
        raise OSError("port taken")

    monkeypatch.setattr(server.TickServerProcess, "start", refuse)
    from dashboard_app.app import run_gui

    assert run_gui(None, 5, 10, 0.1) == 1
    assert "cannot start the tick server: port taken" in capsys.readouterr().err


def test_main_dispatches_by_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dashboard_app.app as app
    import dashboard_app.headless as headless
    import dashboard_app.server as server

    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(app, "display_problem", lambda: "")
    monkeypatch.setattr(app, "run_gui", lambda *a: calls.append(("gui", a)) or 0)
    monkeypatch.setattr(
        headless, "run_scripted_session", lambda shot, **kw: calls.append(("headless", shot)) or 0
    )
    monkeypatch.setattr(server, "main", lambda argv: calls.append(("serve", argv)) or 0)
    assert app.main(["--url", "ws://h:1/", "--interval", "0.5"]) == 0
    assert app.main(["--headless", "--screenshot", str(tmp_path / "s.png")]) == 0
    assert app.main(["--serve", "9", "--symbols", "3"]) == 0
    assert calls == [
        ("gui", ("ws://h:1/", 300, 3000.0, 0.5)),
        ("headless", tmp_path / "s.png"),
        ("serve", ["--port", "9", "--symbols", "3", "--rate", "3000"]),
    ]
