"""First-use stalls: what the first large message and the first ``wss`` connection of a fresh
process cost the GUI thread, side by side with QWebSocket: ``python -m bench.firstuse``.

Each case runs in a new Python process (``--child``), so nothing is imported or cached yet.
A 10 ms ``QTimer`` ticks from before ``open()``; the case reports the worst gap between its
ticks until the case's last event, and the time the calls it makes on the GUI thread took:

* ``send``: in the ``opened`` slot, send one 64 KiB binary message; until its echo arrives.
* ``receive``: in the ``opened`` slot, ask for one 64 KiB text message; until it arrives.
* ``wss``: open a ``wss://`` connection with the default TLS context (the test CA is made
  the default trust with ``SSL_CERT_FILE``); until ``opened``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

CASES = ("send", "receive", "wss")
CLIENTS = ("qtws", "QWebSocket")
SIZE = 64 * 1024


def _child(case: str, client: str, url: str) -> dict[str, Any]:
    t_start = time.perf_counter()
    from PyQt6.QtCore import QCoreApplication, Qt, QTimer, QUrl

    app = QCoreApplication([])
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    calls: list[float] = []  # seconds spent in our calls on the GUI thread
    done: list[str] = []
    expected: bytes | str = bytes(SIZE) if case == "send" else "x"
    if case == "receive":
        from bench.server import flood_payload

        expected = flood_payload(SIZE)

    def finish(what: str) -> None:
        done.append(what)
        app.quit()

    def timed(fn: Any, *args: Any) -> None:
        t = time.perf_counter()
        fn(*args)
        calls.append(time.perf_counter() - t)

    def on_open(send: Any) -> None:
        if case == "wss":
            finish("opened")
        elif case == "send":
            timed(send, bytes(SIZE))
        else:
            timed(send, f"!flood 1 {SIZE}")

    def on_message(message: object) -> None:
        finish("ok" if message == expected else f"unexpected {len(message)} bytes")  # type: ignore[arg-type]

    if client == "qtws":
        import qtws

        ws = qtws.WebSocket(url, config=qtws.Config(compression=False, max_message_size=None))
        ws.opened.connect(lambda: on_open(ws.send))
        ws.message.connect(on_message)
        ws.error.connect(lambda exc: finish(f"error {exc!r}"))
        start = ws.open
    else:
        from PyQt6.QtNetwork import QSslConfiguration
        from PyQt6.QtWebSockets import QWebSocket

        qws = QWebSocket()
        if case == "wss":
            conf = QSslConfiguration.defaultConfiguration()
            conf.addCaCertificates(os.environ["SSL_CERT_FILE"])
            qws.setSslConfiguration(conf)

        def qsend(data: bytes | str) -> None:
            if isinstance(data, bytes):
                qws.sendBinaryMessage(data)
            else:
                qws.sendTextMessage(data)

        qws.connected.connect(lambda: on_open(qsend))
        qws.textMessageReceived.connect(on_message)
        qws.binaryMessageReceived.connect(on_message)
        qws.errorOccurred.connect(lambda err: finish(f"error {err}"))

        def start() -> None:
            qws.open(QUrl(url))

    QTimer.singleShot(20_000, lambda: finish("timeout"))
    t0 = time.perf_counter()
    timer.start(10)
    timed(start)
    app.exec()
    t_end = time.perf_counter()
    timer.stop()
    marks = [t0, *ticks, t_end]
    gaps = [(b - a) * 1e3 for a, b in itertools.pairwise(marks)]
    return {
        "case": case,
        "client": client,
        "result": done[0] if done else "?",
        "worst_gap_ms": max(gaps),
        "calls_ms": [c * 1e3 for c in calls],
        "until_done_ms": (t_end - t0) * 1e3,
        "process_start_to_open_ms": (t0 - t_start) * 1e3,
    }


def run(repeats: int = 3, server_kind: str = "auto") -> list[dict[str, Any]]:
    """Every case and client in fresh processes, ``repeats`` times; medians."""
    from bench.server import EchoServer

    results: list[dict[str, Any]] = []
    with EchoServer(server_kind) as server:
        for case in CASES:
            for client in CLIENTS:
                url = server.tls_url if case == "wss" else server.url
                if not url:
                    continue
                env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
                if case == "wss":
                    env["SSL_CERT_FILE"] = server.cafile
                runs = []
                for _ in range(repeats):
                    out = subprocess.run(
                        [sys.executable, "-m", "bench.firstuse", "--child", case, client, url],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=60,
                        check=False,
                    )
                    if out.returncode != 0:
                        raise RuntimeError(f"{case}/{client} failed: {out.stderr[-500:]}")
                    runs.append(json.loads(out.stdout))
                if any(r["result"] not in ("ok", "opened") for r in runs):
                    raise RuntimeError(f"{case}/{client}: {[r['result'] for r in runs]}")
                results.append(
                    {
                        "case": case,
                        "client": client,
                        "worst_gap_ms": statistics.median(r["worst_gap_ms"] for r in runs),
                        "longest_call_ms": statistics.median(max(r["calls_ms"]) for r in runs),
                        "until_done_ms": statistics.median(r["until_done_ms"] for r in runs),
                        "runs": runs,
                    }
                )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.firstuse", description=__doc__)
    parser.add_argument("--child", nargs=3, metavar=("CASE", "CLIENT", "URL"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server", choices=("auto", "node", "python"), default="auto")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    print("| case | client | worst 10 ms-timer gap | longest call on the GUI thread | until done |")
    print("|---|---|---:|---:|---:|")
    for r in run(args.repeats, args.server):
        print(
            f"| {r['case']} | {r['client']} | {r['worst_gap_ms']:.1f} ms | "
            f"{r['longest_call_ms']:.1f} ms | {r['until_done_ms']:.1f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
