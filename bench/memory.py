"""Memory and idle cost: ``N`` idle connections per client, and the peak RSS of one 64 MiB
echo, each client in a fresh process of its own (``python -m bench.memory --child ...``).

* idle: the client opens one connection (imports, first-use caches), then ``N - 1`` more, all
  open at once on one event loop (one thread) where the client has one; the growth of the
  resident set divided by ``N - 1`` is the memory per connection; then the process's CPU time
  over ``IDLE_SECONDS`` of idling with every connection open (keep-alive timers, busy
  loops) is the idle cost.  Defaults everywhere (keep-alive pings every 20 s for qtws and
  websockets: none fall in the window).
* 64 MiB: one 64 MiB binary message echoed; the process's peak RSS (``ru_maxrss``) and the
  rate, so that a client that copies the payload more often shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

IDLE_CLIENTS = (
    "qtws Qt",
    "qtws blocking",
    "QWebSocket",
    "picows",
    "aiohttp",
    "websockets asyncio",
    "websockets sync",
    "websocket-client",
)
HUGE_CLIENTS = IDLE_CLIENTS
IDLE_SECONDS = 5.0


def _rss_kib() -> int:
    """The current resident set, in KiB (Linux; the peak elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return _peak_kib()


def _peak_kib() -> int:
    """The peak resident set of this process image, in KiB (ru_maxrss survives exec on
    Linux: it would report the parent's peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _settle() -> int:
    gc.collect()
    return _rss_kib()


# -- opening N connections per client, on one loop ------------------------------------------


def _open_qt(kind: str, url: str, n: int) -> tuple[list[Any], Callable[[float], None]]:
    from PyQt6.QtCore import QCoreApplication, QEventLoop, QTimer, QUrl

    app = QCoreApplication.instance() or QCoreApplication([])
    conns: list[Any] = []
    left = [n]
    loop = QEventLoop()

    def one_open(*_: object) -> None:
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for _ in range(n):
        if kind == "qtws Qt":
            import qtws

            ws: Any = qtws.WebSocket(url)
            ws.opened.connect(one_open)
            ws.open()
        else:
            from PyQt6.QtWebSockets import QWebSocket

            ws = QWebSocket()
            ws.connected.connect(one_open)
            ws.open(QUrl(url))
        conns.append(ws)
    QTimer.singleShot(120_000, loop.quit)
    loop.exec()
    if left[0]:
        raise RuntimeError(f"{kind}: {left[0]} connections did not open")

    def idle(seconds: float) -> None:
        QTimer.singleShot(int(seconds * 1000), app.quit)
        app.exec()

    return conns, idle


def _open_selectors(url: str, n: int) -> tuple[list[Any], Callable[[float], None]]:
    import qtws
    from qtws.loop import SelectorsProxy

    proxy = SelectorsProxy()
    conns = [qtws.WebSocket(url, loop=proxy) for _ in range(n)]
    for ws in conns:
        ws.open()
    proxy.run_until(lambda: all(ws.ready_state == qtws.ReadyState.OPEN for ws in conns), 120)

    def idle(seconds: float) -> None:
        proxy.run_until(lambda: False, seconds)

    return conns, idle


def _open_asyncio(kind: str, url: str, n: int) -> tuple[list[Any], Callable[[float], None]]:
    loop = asyncio.new_event_loop()
    extra: list[Any] = []

    async def one() -> Any:
        if kind == "picows":
            import picows

            from bench.clients import _PicowsListener

            transport, _ = await picows.ws_connect(_PicowsListener, url)
            return transport
        if kind == "aiohttp":
            import aiohttp

            if not extra:  # one session, no connection limit (its default is 100)
                extra.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
            return await extra[0].ws_connect(url)
        from websockets.asyncio.client import connect

        return await connect(url)

    async def all_of(count: int) -> list[Any]:
        out: list[Any] = []
        for start in range(0, count, 100):  # not 1,000 handshakes at once
            out += await asyncio.gather(*(one() for _ in range(min(100, count - start))))
        return out

    conns = loop.run_until_complete(all_of(n))
    conns += extra

    def idle(seconds: float) -> None:
        loop.run_until_complete(asyncio.sleep(seconds))

    return conns, idle


def _open_sync(kind: str, url: str, n: int) -> tuple[list[Any], Callable[[float], None]]:
    conns: list[Any] = []
    for _ in range(n):
        if kind == "websockets sync":
            from websockets.sync.client import connect

            conns.append(connect(url))
        else:
            import websocket

            conns.append(websocket.create_connection(url))
    return conns, time.sleep


def _open(kind: str, url: str, n: int) -> tuple[list[Any], Callable[[float], None]]:
    if kind in ("qtws Qt", "QWebSocket"):
        return _open_qt(kind, url, n)
    if kind == "qtws blocking":
        return _open_selectors(url, n)
    if kind in ("picows", "aiohttp", "websockets asyncio"):
        return _open_asyncio(kind, url, n)
    return _open_sync(kind, url, n)


def _idle_child(kind: str, url: str, n: int, seconds: float) -> dict[str, Any]:
    first, _ = _open(kind, url, 1)
    before = _settle()
    rest, idle = _open(kind, url, n - 1)
    idle(0.2)  # handshake leftovers (the last replies, deferred deletions) run now
    after = _settle()
    cpu = time.process_time()
    idle(seconds)
    cpu = time.process_time() - cpu
    return {
        "client": kind,
        "connections": n,
        "kib_per_connection": (after - before) / (n - 1),
        "idle_cpu_ms": cpu * 1e3,
        "alive": len(first) + len(rest),
    }


def _huge_child(kind: str, url: str, mib: int) -> dict[str, Any]:
    from PyQt6.QtCore import QCoreApplication

    from bench.clients import CLIENTS

    app = QCoreApplication.instance() or QCoreApplication([])
    cls = next(c for c in CLIENTS if c.name == kind)
    client = cls()
    client.open(url, False)
    payload = bytes(mib * 2**20)
    before = _settle()
    seconds = sum(client.round_trips(payload, 1))
    peak = _peak_kib()
    client.close()
    del app
    return {
        "client": kind,
        "mb_per_s": len(payload) / 1e6 / seconds,
        "peak_rss_mib": peak / 1024,
        "rss_before_mib": before / 1024,
    }


def _spawn(args: list[str], timeout: float) -> dict[str, Any]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.memory {' '.join(args[:2])} failed: {out.stderr[-600:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def idle(
    url: str,
    n: int,
    seconds: float,
    log: Callable[[str], None],
    clients: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The idle figures of ``clients`` (a fresh process each)."""
    results = []
    for kind in clients:
        log(f"memory: {n:,} idle connections, {kind}")
        results.append(_spawn(["idle", kind, url, str(n), str(seconds)], 300))
    return results


def huge(
    url: str, mib: int, log: Callable[[str], None], clients: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The large echo of ``clients`` (a fresh process each)."""
    results = []
    for kind in clients:
        log(f"memory: one {mib} MiB echo, {kind}")
        results.append(_spawn(["huge", kind, url, str(mib)], 300))
    return results


GROUP = "Memory and idle cost (each client in a fresh process)"
NOTES = {
    GROUP: [
        "*idle*: after one connection is open, N - 1 more are opened (all at once on one "
        "loop and thread, except the synchronous clients), the resident set's growth ÷ "
        "(N - 1), then the process's CPU time while all idle (default settings).  *64 MiB "
        "echo*: one 64 MiB binary message sent and received back; the process's peak RSS "
        "includes the 64 MiB payload the client holds.",
    ],
}


#: The clients of a --quick run (a smoke run: two fresh processes each).
QUICK_CLIENTS = ("qtws Qt", "aiohttp")


def rows(
    url: str,
    n: int,
    seconds: float,
    mib: int,
    log: Callable[[str], None],
    quick: bool = False,
) -> list[Any]:
    """The memory rows of the report (lower is better, except the echo's rate)."""
    from bench.report import Row

    from .clients import QTWS

    names = list(QUICK_CLIENTS if quick else IDLE_CLIENTS)
    per = dict.fromkeys(names)
    cpu = dict.fromkeys(names)
    for r in idle(url, n, seconds, log, tuple(names)):
        per[r["client"]] = max(r["kib_per_connection"], 0.01)
        cpu[r["client"]] = max(r["idle_cpu_ms"], 0.001)
    peak = dict.fromkeys(names)
    rate = dict.fromkeys(names)
    for r in huge(url, mib, log, tuple(names)):
        peak[r["client"]] = r["peak_rss_mib"]
        rate[r["client"]] = r["mb_per_s"]
    pairs = [("qtws Qt", "QWebSocket")] if "QWebSocket" in names else []
    return [
        Row(
            GROUP,
            f"{n:,} idle connections: memory per connection",
            "KiB",
            False,
            per,
            pairs,
            mine=QTWS,
        ),
        Row(
            GROUP,
            f"{n:,} idle connections: CPU in {seconds:g} s idle",
            "ms",
            False,
            cpu,
            pairs,
            mine=QTWS,
        ),
        Row(
            GROUP,
            f"one {mib} MiB echo: peak RSS of the process",
            "MiB",
            False,
            peak,
            pairs,
            mine=QTWS,
        ),
        Row(GROUP, f"one {mib} MiB echo", "MB/s", True, rate, pairs, mine=QTWS),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--child", nargs="+")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=IDLE_SECONDS)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args(argv)
    if args.child:
        what, kind, url, *rest = args.child
        if what == "idle":
            result = _idle_child(kind, url, int(rest[0]), float(rest[1]))
        else:
            result = _huge_child(kind, url, int(rest[0]))
        print(json.dumps(result))
        os._exit(0)  # no orderly close of 1,000 connections: the peer sees them drop
    from bench.server import EchoServer

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    with EchoServer() as server:
        for r in idle(server.url, args.n, args.seconds, log, IDLE_CLIENTS):
            print(r)
        for r in huge(server.url, args.mib, log, HUGE_CLIENTS):
            print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
