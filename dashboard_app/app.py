"""Command line of the live dashboard demo.

::

    python -m dashboard_app                       # tick server (child process) + the window
    python -m dashboard_app --url ws://host:port/ # watch another tick server
    python -m dashboard_app --serve [PORT]        # only the tick server, until Ctrl-C
    python -m dashboard_app --headless [--screenshot PATH]   # scripted session, PNG, exit code

``--symbols N`` and ``--rate TICKS_PER_SECOND`` shape the embedded server; ``--interval``
is the Conflator's (seconds between table updates).  With no display the scripted session
runs instead, as in the chat demo.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from demo_app._shell import application, display_problem, exec_until_ctrl_c, headless_wanted
from demo_app._shell import ws_url as _ws_url

from .server import MAX_RATE, MAX_SYMBOLS


def _bounded(kind: type[int] | type[float], lo: float, hi: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not lo <= number <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not within {lo}..{hi}")
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    p = argparse.ArgumentParser(
        prog="python -m dashboard_app",
        description="qtws live dashboard: ticks conflated into a table and a chart.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", type=_ws_url, help="watch this tick server instead of one's own")
    where.add_argument(
        "--serve",
        nargs="?",
        const=0,
        type=_bounded(int, 0, 65535),
        metavar="PORT",
        help="run only the tick server (on PORT, default: a free one) until Ctrl-C",
    )
    p.add_argument("--symbols", type=_bounded(int, 1, MAX_SYMBOLS), default=300)
    p.add_argument(
        "--rate", type=_bounded(float, 0, MAX_RATE), default=3000, help="ticks per second"
    )
    p.add_argument(
        "--interval",
        type=_bounded(float, 0, 10),
        default=1 / 60,
        help="seconds between table updates (the Conflator's interval)",
    )
    p.add_argument("--headless", action="store_true", help="run the scripted session and exit")
    p.add_argument("--screenshot", type=Path, metavar="PATH", help="PNG of the headless session")
    return p


def start_gui(
    url: str | None, symbols: int, rate: float, interval: float
) -> tuple[Any, Any] | None:
    """The window, shown, and the tick server it started (``None`` with ``url``); ``None``
    when the server cannot start."""
    from .server import TickServerProcess
    from .window import DashboardWindow

    application("qtws live dashboard")
    server = None
    if url is None:
        server = TickServerProcess(symbols=symbols, rate=rate)
        try:
            url = server.start()
        except OSError as exc:
            print(f"cannot start the tick server: {exc}", file=sys.stderr)
            return None
        print(f"tick server on {url} ({symbols} symbols, {rate:,.0f} ticks/s)", flush=True)
    window = DashboardWindow(url, server=server, interval=interval)
    window.show()
    return window, server


def run_gui(url: str | None, symbols: int, rate: float, interval: float) -> int:
    """The window (and the tick server in a child process unless ``url`` is given) until
    the window closes or Ctrl-C."""
    app = application("qtws live dashboard")
    started = start_gui(url, symbols, rate, interval)
    if started is None:
        return 1
    window, server = started
    try:
        return exec_until_ctrl_c(app)
    finally:
        window.close()
        if server is not None:
            server.stop()


def serve(port: int, symbols: int, rate: float) -> int:
    """``--serve``: the tick server alone, until Ctrl-C."""
    from .server import main as server_main

    return server_main(["--port", str(port), "--symbols", str(symbols), "--rate", str(rate)])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m dashboard_app``."""
    args = build_parser().parse_args(argv)
    if args.serve is not None:
        return serve(args.serve, args.symbols, args.rate)
    if headless_wanted(args.headless, display_problem()):
        from .headless import DEFAULT_SCREENSHOT, run_scripted_session

        return run_scripted_session(
            args.screenshot or DEFAULT_SCREENSHOT, symbols=args.symbols, rate=args.rate
        )
    return run_gui(args.url, args.symbols, args.rate, args.interval)
