"""The servers under test: how to start each one, and what each one offers.

The tests are generated from these declarations (``conftest.py``), and so is the README's
results table (``python -m tests.interop.table``): a feature a server does not offer gets no
test and the cell "not offered".
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"


@dataclass(frozen=True)
class Server:
    """One WebSocket server implementation and the features it offers."""

    name: str
    label: str  # the README column
    argv: tuple[str, ...]
    deflate: bool
    close_codes: tuple[int, ...] = (1000, 1001, 4000)
    fragments: bool = False  # its API sends a message in fragments
    stops_mid_message: bool = False  # its API can send a first fragment and no more
    # permessage-deflate parameters its /echo-tight response imposes (none: cannot)
    imposed: tuple[str, ...] = ()


SERVERS = (
    Server(
        "aiohttp",
        "aiohttp",
        (sys.executable, "-m", "tests.interop.aiohttp_server"),
        deflate=True,
    ),
    Server(
        "tornado",
        "Tornado",
        (sys.executable, "-m", "tests.interop.tornado_server"),
        deflate=True,
    ),
    Server(
        "autobahn",
        "Autobahn (asyncio)",
        (sys.executable, "-m", "tests.interop.autobahn_server"),
        deflate=True,
        close_codes=(1000, 4000),  # sendClose() accepts 1000 and 3000-4999 only
        fragments=True,
        stops_mid_message=True,
        # server_* parameters are announced only when the client asked for them
        imposed=("client_no_context_takeover", "client_max_window_bits=9"),
    ),
    Server(
        "qt",
        "Qt `QWebSocketServer`",
        (sys.executable, "-m", "tests.interop.qt_server"),
        deflate=False,  # Qt WebSockets implements no extension
        fragments=True,  # setOutgoingFrameSize(); a message is always sent whole
    ),
    Server(
        "node",
        "Node `ws`",
        (shutil.which("node") or "node", str(NODE_DIR / "ws_server.js")),
        deflate=True,
        fragments=True,
        stops_mid_message=True,
        imposed=(
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits=10",
            "client_max_window_bits=9",
        ),
    ),
)

# The columns of the results table, in order; close columns are added per code.
FEATURES = (
    "text echo",
    "binary echo",
    "permessage-deflate",
    "permessage-deflate, server-imposed parameters",
    "server-fragmented messages",
    "server close 1000",
    "server close 1001",
    "server close 4000 + reason",
    "server close 1009 (message over its limit)",
    "client close",
    "server ping",
    "client ping",
    "TCP drop mid-frame",
    "TCP drop mid-fragmented-message",
)


def close_feature(code: int) -> str:
    return f"server close {code}" + (" + reason" if code >= 3000 else "")


def offered(server: Server, feature: str) -> bool:
    """Whether ``server`` can do ``feature`` through its public API (else no test for it)."""
    if feature == "permessage-deflate":
        return server.deflate
    if feature == "permessage-deflate, server-imposed parameters":
        return bool(server.imposed)
    if feature == "server-fragmented messages":
        return server.fragments
    if feature == "TCP drop mid-fragmented-message":
        return server.stops_mid_message
    if feature.startswith("server close 1009"):
        return True  # every server here has a message size limit
    if feature.startswith("server close "):
        return any(close_feature(code) == feature for code in server.close_codes)
    return True


class ServerProcess:
    """A server script in a child process; ready once it printed ``PORT <n>``."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.proc = subprocess.Popen(
            server.argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "QT_QPA_PLATFORM": "offscreen"},
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            # A hang guard, not a duration check: the child says when it listens.
            while not line.endswith(b"\n") and sel.select(60):
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
        if not line.startswith(b"PORT "):
            self.stop()
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise RuntimeError(f"{self.server.name} server did not start: {line!r}\n{err}")
        return int(line.split()[1])

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@functools.cache
def unavailable(server: Server) -> str | None:
    """Why ``server`` cannot run on this machine (a skip reason), or None.

    Only the Node server can be missing: it needs ``node``, and the ``ws`` package that
    ``npm ci`` installs (once) from ``tests/interop/node/package-lock.json``."""
    if server.name != "node":
        return None
    if shutil.which("node") is None:
        return "Node.js is not installed (no `node` on PATH): the Node ws server cannot run"
    if (NODE_DIR / "node_modules" / "ws" / "package.json").exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed: the ws package cannot be installed for the Node server"
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--silent"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"`npm ci` in tests/interop/node failed: {done.stderr.strip()[-400:]}"
    return None
