"""Command line and start-up of the chat demo.

From a clone (``python3 .ci/dev.py demo`` runs ``python -m demo_app`` in the project's venv)::

    python3 .ci/dev.py demo                       # embedded server + one chat window
    python3 .ci/dev.py demo --windows 3           # alice, bob and carol, tiled: see broadcast
    python3 .ci/dev.py demo --url ws://host:port  # join another server (an echo server works too)
    python3 .ci/dev.py demo --serve [PORT]        # only the chat server, until Ctrl-C
    python3 .ci/dev.py demo --headless [--screenshot PATH]   # scripted session, PNG, exit code

With no display (Linux without ``DISPLAY``/``WAYLAND_DISPLAY``, or ``QT_QPA_PLATFORM``
set to ``offscreen``) the demo says so and runs the scripted session instead; ``--url``,
``--nick`` and ``--windows`` are ignored there (it starts its own server and clients).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ._shell import application, display_problem, exec_until_ctrl_c, headless_wanted, let_close
from ._shell import ws_url as _ws_url

NICKS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
MAX_WINDOWS = 8


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range")
    return port


def _windows(value: str) -> int:
    n = int(value)
    if not 1 <= n <= MAX_WINDOWS:
        raise argparse.ArgumentTypeError(f"--windows takes 1 to {MAX_WINDOWS}")
    return n


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    p = argparse.ArgumentParser(
        prog="python3 .ci/dev.py demo",
        description="qtws chat demo: Qt chat windows over an embedded websockets server.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--url", type=_ws_url, help="join this server instead of starting one (ws:// or wss://)"
    )
    where.add_argument(
        "--serve",
        nargs="?",
        const=0,
        type=_port,
        metavar="PORT",
        help="run only the chat server (on PORT, default: a free one) until Ctrl-C",
    )
    p.add_argument("--host", default="127.0.0.1", help="address the server binds (127.0.0.1)")
    p.add_argument("--windows", type=_windows, default=1, metavar="N", help="open N windows")
    p.add_argument("--nick", help="nickname of the first window (default: alice)")
    p.add_argument(
        "--headless",
        action="store_true",
        help="run the scripted two-client session offscreen and exit (automatic with no display)",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="where the scripted session saves its PNG (default: ./qtws-demo.png)",
    )
    return p


def join_command(url: str, cwd: Path | None = None) -> str:
    """The command line that joins ``url`` from another terminal in ``cwd``.

    ``python -m demo_app`` only works inside the project's venv and from the clone's root, so
    the hint names ``.ci/dev.py`` (relative to ``cwd`` inside the clone), which works from
    any shell.
    """
    script = Path(__file__).resolve().parent.parent / ".ci" / "dev.py"
    if not script.exists():  # demo_app copied out of its clone
        return f"{shlex.quote(sys.executable)} -m demo_app --url {url}"
    here = (Path.cwd() if cwd is None else cwd).resolve()
    root = script.parent.parent
    inside = here == root or root in here.parents  # else an absolute path reads better
    shown = os.path.relpath(script, here) if inside else str(script)
    return f"python3 {shlex.quote(shown)} demo --url {url}"


def tile(count: int, area: tuple[int, int, int, int], size: tuple[int, int],
         minimum: tuple[int, int]) -> list[tuple[int, int, int, int]]:  # fmt: skip
    """``(x, y, width, height)`` of ``count`` windows tiled over ``area`` (x, y, w, h).

    A grid of about square shape; each window gets its cell, at most ``size`` and at least
    ``minimum`` (on a screen too small for that, the cells overlap evenly instead).
    """
    ax, ay, aw, ah = area
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    cell_w, cell_h = aw // cols, ah // rows
    w = max(minimum[0], min(size[0], cell_w))
    h = max(minimum[1], min(size[1], cell_h))
    step_x = cell_w if cols == 1 else min(cell_w, (aw - w) // (cols - 1))
    step_y = cell_h if rows == 1 else min(cell_h, (ah - h) // (rows - 1))
    return [(ax + (i % cols) * step_x, ay + (i // cols) * step_y, w, h) for i in range(count)]


def window_nicks(count: int, first: str | None) -> list[str]:
    """``count`` distinct nicks, starting with ``first`` when given."""
    nicks = [first] if first else []
    nicks += [n for n in NICKS if n not in nicks]
    while len(nicks) < count:
        nicks.append(f"guest{len(nicks) + 1}")
    return nicks[:count]


def serve(host: str, port: int) -> int:
    """``--serve``: the chat server alone, logging to stdout, until Ctrl-C."""
    from .server import ChatServer

    server = ChatServer(host, port, log=lambda line: print(line, flush=True))
    try:
        url = server.start()
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    print(f"join with: {join_command(url)}   (Ctrl-C stops the server)", flush=True)
    server.serve_forever()
    return 0


def run_gui(url: str | None, host: str, nicks: Sequence[str]) -> int:
    """Open the windows (and the embedded server unless ``url`` is given); run until closed."""
    import qtws

    from .server import ChatServer
    from .window import ChatWindow, default_config

    app = application("qtws chat demo")

    server: ChatServer | None = None
    config = default_config()
    if url is None:
        server = ChatServer(host)
        try:
            url = server.start()
        except OSError as exc:
            print(f"cannot start the chat server: {exc}", file=sys.stderr)
            return 1
        print(f"embedded chat server on {url}", flush=True)
        print(
            f"more clients: {join_command(url)}   (the Server menu stops/starts it)",
            flush=True,
        )
        # Our own server is on the loopback interface: never route it through a proxy.
        config = qtws.Config(ping_interval=2.0, ping_timeout=10.0, proxy=None,
                             reconnect=config.reconnect)  # fmt: skip

    windows = [ChatWindow(url, nick, config=config, server=server) for nick in nicks]
    screen = app.primaryScreen()
    area = screen.availableGeometry() if screen is not None else None
    if area is not None:
        rect = (area.x(), area.y(), area.width(), area.height())
        size = (windows[0].width(), windows[0].height())
        least = (windows[0].minimumWidth(), windows[0].minimumHeight())
        cells = tile(len(windows), rect, size, least)
        for w, (x, y, width, height) in zip(windows, cells, strict=True):
            w.setGeometry(x, y, width, height)
    for w in windows:
        w.show()
    windows[0].raise_()
    windows[0].activateWindow()

    rc = exec_until_ctrl_c(app)
    for w in windows:
        w.close()
    let_close([w.ws for w in windows], 2.0)  # give the closing handshakes a moment
    for w in windows:
        w.deleteLater()
    if server is not None:
        server.stop(abrupt=True)
    return rc


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m demo_app``."""
    args = build_parser().parse_args(argv)
    if args.serve is not None:
        return serve(args.host, args.serve)

    if headless_wanted(args.headless, display_problem()):
        ignored = [f"--{name}" for name in ("url", "nick") if getattr(args, name)]
        ignored += ["--windows"] if args.windows != 1 else []
        if ignored:
            print(
                f"({' and '.join(ignored)} ignored: the scripted session runs its own server "
                "with alice and bob)",
                flush=True,
            )
        from .headless import DEFAULT_SCREENSHOT, run_scripted_session

        return run_scripted_session(args.screenshot or DEFAULT_SCREENSHOT)

    if args.screenshot:
        print("--screenshot is used by the headless session only (add --headless)")
    return run_gui(args.url, args.host, window_nicks(args.windows, args.nick))
