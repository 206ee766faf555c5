"""The scripted dashboard session (``--headless``, or automatic with no display).

A tick server in a child process, the window rendered offscreen: the table fills with every
symbol, a symbol is charted, the server is killed and started again on the same port (the
window reconnects and subscribes again, the data flows again), then the figures are printed
and the window saved as a PNG.  Each step waits with a deadline and fails naming the step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import qtws
from demo_app._shell import StepFailed, application, let_close, spin, wait_until

from .server import TickServerProcess
from .window import DashboardWindow, default_config

DEFAULT_SCREENSHOT = Path("qtws-dashboard.png")


def run_scripted_session(
    screenshot: Path = DEFAULT_SCREENSHOT,
    *,
    symbols: int = 300,
    rate: float = 3000,
    live_seconds: float = 2.0,
    timeout: float = 30.0,
    out: Callable[[str], None] = print,
) -> int:
    """Run the session; 0 when every step happened and the PNG was written, else 1."""
    application("qtws live dashboard")
    deadline = time.monotonic() + timeout
    server = TickServerProcess(symbols=symbols, rate=rate)
    window: DashboardWindow | None = None
    try:
        url = server.start()
        out(f"tick server (child process) on {url}: {symbols} symbols, {rate:,.0f} ticks/s")
        window = DashboardWindow(url, config=default_config(), server=server)
        window.show()
        w = window
        wait_until(lambda: len(w.model.rows) == symbols, "the table filling", deadline)
        w.worst_gap_ever = 0.0  # from here on: the live figures
        first = w.model.rows[0].symbol
        w.select_symbol(first)
        wait_until(lambda: len(w.chart.prices) >= 30, f"the chart of {first}", deadline)
        spin(int(live_seconds * 1000))
        out(f"[dashboard] live: {w.status_text()}")
        before = w.ws.stats.messages_in
        out("[dashboard] killing the tick server and starting it again …")
        w.restart_server()  # what the Server menu does (off the GUI thread)
        wait_until(lambda: w.opens >= 2, "the reconnect", deadline)
        wait_until(
            lambda: w.ws.stats.messages_in > before + rate / 10, "ticks after resubscribing",
            deadline,
        )  # fmt: skip
        spin(1200)  # one more status-bar period
        c = w.conflator
        out(f"[dashboard] after the restart: {w.status_text()}")
        out(
            f"[dashboard] {w.ws.stats.messages_in:,} messages → {c.emitted:,} table updates "
            f"({c.dropped:,} ticks conflated away); worst frame gap "
            f"{w.worst_gap_ever * 1000:.0f} ms; reconnects {w.ws.stats.reconnects}"
        )
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        if not w.grab().save(str(screenshot), "PNG"):
            raise StepFailed(f"could not write the screenshot {screenshot}")
        out(f"[dashboard] screenshot saved to {screenshot}")
    except (StepFailed, OSError, qtws.WebSocketError) as exc:
        print(f"headless dashboard FAILED: {exc}", file=sys.stderr)
        _shutdown(window, server)
        return 1
    _shutdown(window, server)
    out("[dashboard] session complete")
    return 0


def _shutdown(window: DashboardWindow | None, server: TickServerProcess) -> None:
    if window is not None:
        window.close()
        let_close([window.ws], 3.0)
        window.deleteLater()
    server.stop()
    spin(0)
