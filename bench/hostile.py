"""``python -m bench.hostile``: client memory and GUI responsiveness against hostile servers.

Each case runs the qtws client in a fresh child process (PyQt6 event loop, nothing else
imported) against a crafted server in another child process, so the figures are the client's
alone: its peak RSS is ``ru_maxrss`` of the child as ``os.wait4`` reports it.

* ``idle``: a connected client doing nothing (the baseline the others compare with);
* ``zip bomb, binary unread``: the server sends deflated 16 MiB binary messages (16 KiB each
  on the wire) without end; the app listens only to ``text_message``, so every message waits
  unread: the byte budget (``Config.max_queued_bytes``) must pause reading;
* ``zip bomb, nested event loop``: the same flood while the app's first ``message`` slot runs
  a nested ``QEventLoop`` (what ``QMessageBox.exec()`` does);
* ``15 MiB in 2-byte fragments``: a legal message of 7.9 million fragments;
* ``40 deflated 16 MiB messages`` and ``send 16 MiB compressible``: a 10 ms ``QTimer`` ticks
  meanwhile; the p50 and worst gaps between its ticks are reported (inflating and deflating
  must happen in bounded steps per loop turn).

``--quick`` shrinks every size (a smoke run, numbers meaningless); ``--json`` prints the rows
as JSON instead of a Markdown table.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

MiB = 2**20
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class Sizes:
    """What each case sends; ``quick`` shrinks everything."""

    bomb_size: int = 16 * MiB  # inflated size of one zip-bomb message
    bomb_count: int = 1000  # zip-bomb messages offered (16 GiB inflated, 16 MiB on the wire)
    hold: float = 2.0  # seconds the flood runs against the unread / nested client
    fragmented: int = 15 * MiB  # the message sent in 2-byte fragments
    gap_count: int = 40  # deflated messages received under the timer
    send_size: int = 16 * MiB  # the compressible message sent under the timer
    idle: float = 1.0  # seconds the idle client stays connected


QUICK = Sizes(
    bomb_size=MiB, bomb_count=200, hold=0.3, fragmented=MiB, gap_count=4, send_size=MiB, idle=0.2
)


@dataclass
class Result:
    """One case: the child's peak RSS and what it saw."""

    case: str
    rss_mib: float
    messages: int  # messages the application got (its slot ran)
    received_mib: float  # their inflated bytes
    gap_p50_ms: float | None = None
    gap_max_ms: float | None = None
    ticks: int = 0
    server_sent: int = 0  # messages the server wrote before TCP pushed back (floods)
    error: str = ""


# ------------------------------------------------------------------------- the hostile server
def _frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """An unmasked server frame (RFC 6455 section 5.2)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


def _deflated(data: bytes) -> bytes:
    """``data`` as one permessage-deflate payload (RFC 7692 section 7.2.1): raw DEFLATE,
    sync-flushed, without its final 00 00 ff ff."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(min(n - len(data), MiB))
        if not chunk:
            raise ConnectionError("the client went away")
        data += chunk
    return bytes(data)


def _upgrade(conn: socket.socket) -> None:
    """Answer the upgrade; permessage-deflate with ``server_no_context_takeover`` when offered,
    so that one prebuilt compressed frame may be sent again and again."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("no upgrade request")
        head += chunk
    key = b""
    deflate = False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
        elif name.strip().lower() == b"sec-websocket-extensions":
            deflate = deflate or b"permessage-deflate" in value
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept,
    ]
    if deflate:
        lines.append(b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover")
    conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n")


def _wait_for_eof(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


def _flood(frame: bytes, count: int, sent: list[int]) -> Callable[[socket.socket], None]:
    """Send ``frame`` ``count`` times (``sent[0]`` counts the writes the kernel took)."""

    def behaviour(conn: socket.socket) -> None:
        for _ in range(count):
            conn.sendall(frame)  # blocks while the client does not read
            sent[0] += 1
        _wait_for_eof(conn)

    return behaviour


def _fragments(size: int) -> Callable[[socket.socket], None]:
    """One binary message of ``size`` bytes (even, >= 4) in 2-byte fragments."""

    def behaviour(conn: socket.socket) -> None:
        middle = b"\x00\x02ab" * (size // 2 - 2)
        conn.sendall(b"\x02\x02ab" + middle + b"\x80\x02ab")
        _wait_for_eof(conn)

    return behaviour


def _sink(conn: socket.socket) -> None:
    """Read one data message from the client (masked frames, payloads skipped), answer "ok"."""
    while True:
        b0, b1 = _read_exact(conn, 2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(_read_exact(conn, 2), "big")
        elif n == 127:
            n = int.from_bytes(_read_exact(conn, 8), "big")
        _read_exact(conn, 4 + n)  # mask and payload
        if b0 & 0x80 and b0 & 0x0F in (0, 1, 2):
            break
    conn.sendall(_frame(1, b"ok"))
    _wait_for_eof(conn)


class _Server:
    """Accept one client on 127.0.0.1, upgrade it and run ``behaviour`` in a thread."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self._behaviour = behaviour
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self._sock.accept()
            self._conn = conn
            _upgrade(conn)
            self._behaviour(conn)

    def close(self) -> None:
        for sock in (self._sock, self._conn):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._thread.join(5)


# ------------------------------------------------------------------------- the client (child)
def _child(case: str, port: int, sizes: Sizes) -> dict[str, Any]:
    """Run ``case``'s application against the server on ``port``; what it saw, as a dict."""
    from PyQt6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer

    import qtws

    app = QCoreApplication(sys.argv[:1])
    ws = qtws.WebSocket(
        f"ws://127.0.0.1:{port}/", config=qtws.Config(ping_interval=None, proxy=None)
    )
    seen = {"messages": 0, "bytes": 0}
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    errors: list[str] = []
    ws.error.connect(lambda exc: errors.append(f"{type(exc).__name__}: {exc}"))
    ws.closed.connect(lambda event: app.quit())

    def count(message: object) -> None:
        seen["messages"] += 1
        seen["bytes"] += len(message)  # type: ignore[arg-type]

    def later(seconds: float, action: Callable[[], None]) -> None:
        QTimer.singleShot(int(seconds * 1000), action)

    if case == "idle":
        ws.opened.connect(lambda: later(sizes.idle, app.quit))
    elif case == "unread":
        ws.text_message.connect(lambda text: None)  # binary messages wait unread
        ws.opened.connect(lambda: later(sizes.hold, app.quit))
    elif case == "nested":
        nested = QEventLoop()

        def modal(message: object) -> None:
            count(message)
            if seen["messages"] == 1:  # as QMessageBox.exec() would
                later(sizes.hold, nested.quit)
                nested.exec()
                app.quit()

        ws.message.connect(modal)
    elif case == "fragments":

        def whole(message: object) -> None:
            count(message)
            app.quit()

        ws.message.connect(whole)
    elif case == "inflate":
        ws.opened.connect(lambda: timer.start(10))

        def counted(message: object) -> None:
            count(message)
            if seen["messages"] == sizes.gap_count:
                app.quit()

        ws.message.connect(counted)
    elif case == "deflate":
        payload = b'{"symbol": "QTWS", "bid": 101.25, "ask": 101.5}\n' * (sizes.send_size // 48)

        def send() -> None:
            timer.start(10)
            ws.send(payload)

        def answered(text: str) -> None:
            count(text)
            app.quit()

        ws.opened.connect(send)
        ws.text_message.connect(answered)
    else:
        raise ValueError(f"unknown case {case!r}")
    start = [0.0]
    ws.opened.connect(lambda: start.__setitem__(0, time.perf_counter()))
    later(120, app.quit)  # a case that cannot end must not hang the run
    ws.open()
    app.exec()
    end = time.perf_counter()
    timer.stop()
    marks = [start[0], *ticks, end] if ticks else []
    gaps = [(b - a) * 1e3 for a, b in itertools.pairwise(marks)]
    return {**seen, "gaps": gaps, "error": errors[0] if errors else ""}


# ------------------------------------------------------------------------- the parent
CASES: dict[str, str] = {
    "idle": "idle connected client (baseline)",
    "unread": "zip bomb: deflated {bomb} binary flood, app reads text only",
    "nested": "zip bomb: deflated {bomb} binary flood, slot runs a nested event loop",
    "fragments": "{frag} message in 2-byte fragments",
    "inflate": "receive {gaps} deflated {bomb} messages (10 ms QTimer)",
    "deflate": "send a {send} compressible message (10 ms QTimer)",
}


def _mib(n: int) -> str:
    return f"{n / MiB:g} MiB"


def _title(case: str, sizes: Sizes) -> str:
    return CASES[case].format(
        bomb=_mib(sizes.bomb_size),
        frag=_mib(sizes.fragmented),
        gaps=sizes.gap_count,
        send=_mib(sizes.send_size),
    )


def _serve(case: str, sizes: Sizes) -> None:
    """The server process of one case: print the port, serve one client, and once stdin
    reaches EOF print how many flood messages the kernel took."""
    sent = [0]
    bomb = _frame(2, _deflated(bytes(sizes.bomb_size)), rsv1=True)
    behaviours: dict[str, Callable[[socket.socket], None]] = {
        "idle": _wait_for_eof,
        "unread": _flood(bomb, sizes.bomb_count, sent),
        "nested": _flood(bomb, sizes.bomb_count, sent),
        "fragments": _fragments(sizes.fragmented),
        "inflate": _flood(bomb, sizes.gap_count, sent),
        "deflate": _sink,
    }
    server = _Server(behaviours[case])
    print(server.port, flush=True)
    sys.stdin.read()
    server.close()
    print(sent[0], flush=True)


def run_case(case: str, sizes: Sizes, quick: bool) -> Result:
    """Run one case: its server in one child process, the client in another.

    This process stays small on purpose: a child's ``ru_maxrss`` also counts the memory of
    the process it was forked from, up to its ``exec``.
    """
    base = [sys.executable, "-m", "bench.hostile", *(["--quick"] if quick else [])]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    server = subprocess.Popen(
        [*base, "--serve", case], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        port = server.stdout.readline().strip()
        client = subprocess.Popen(
            [*base, "--child", case, "--port", port], stdout=subprocess.PIPE, env=env
        )
        assert client.stdout is not None
        with client.stdout:
            out = client.stdout.read()
            _, status, usage = os.wait4(client.pid, 0)
        client.returncode = os.waitstatus_to_exitcode(status)
        server.stdin.close()
        sent = int(server.stdout.readline() or 0)
    finally:
        if not server.stdin.closed:
            server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
    # ru_maxrss: KiB on Linux, bytes on macOS.
    rss = round(usage.ru_maxrss / (MiB if sys.platform == "darwin" else 1024), 1)
    if client.returncode != 0:
        return Result(case, rss, 0, 0.0, error=f"client exited with {client.returncode}")
    seen = json.loads(out)
    gaps = sorted(seen["gaps"])
    return Result(
        case,
        rss,
        seen["messages"],
        round(seen["bytes"] / MiB, 1),
        gap_p50_ms=round(statistics.median(gaps), 1) if gaps else None,
        gap_max_ms=round(gaps[-1], 1) if gaps else None,
        ticks=len(gaps),
        server_sent=sent,
        error=seen["error"],
    )


def markdown(results: list[Result], sizes: Sizes) -> str:
    """The results as one Markdown table."""
    base = next((r.rss_mib for r in results if r.case == "idle"), None)
    lines = [
        "| case | peak RSS | over idle | delivered | timer gap p50 / worst |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        over = "—" if base is None or r.case == "idle" else f"{r.rss_mib - base:+.0f} MiB"
        delivered = f"{r.messages} ({r.received_mib:g} MiB)"
        if r.server_sent and r.case in ("unread", "nested"):
            delivered += f"; server wrote {r.server_sent} of {sizes.bomb_count}"
        gaps = "—" if r.gap_max_ms is None else f"{r.gap_p50_ms} / {r.gap_max_ms} ms"
        if r.error:
            delivered += f" ({r.error})"
        lines.append(
            f"| {_title(r.case, sizes)} | {r.rss_mib:.0f} MiB | {over} | {delivered} | {gaps} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    parser.add_argument("--only", choices=list(CASES), action="append", help="run these cases")
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.child:
        print(json.dumps(_child(args.child, args.port, sizes)), flush=True)
        return 0
    if args.serve:
        _serve(args.serve, sizes)
        return 0
    results = [run_case(case, sizes, args.quick) for case in args.only or CASES]
    if args.json:
        print(json.dumps([asdict(r) for r in results]))
    else:
        print(markdown(results, sizes), end="")
        command = "python3 -m bench.hostile" + (" --quick" if args.quick else "")
        print(f"\n`{command}`: peak RSS is ru_maxrss of a fresh child process per case;")
        print("timer gaps are on the Qt loop of that child.")
    return 0 if all(not r.error for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
