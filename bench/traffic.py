"""``python -m bench.traffic``: what the traffic inspector's hook costs.

The driver tests ``self._observer is None`` once per read and per write; this measures the
receive and send rates of a qtws WebSocket on the Qt loop, unattached and attached to a
:class:`qtws.traffic.TrafficModel`.  To compare with qtws before the hook existed, run this
file with an older checkout first on the path (``--label`` names the row)::

    git worktree add /tmp/qtws-before <commit>
    PYTHONPATH=/tmp/qtws-before python bench/traffic.py --label before --modes unattached
    python bench/traffic.py --label after

Times are reported, never asserted (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # bench.server (after PYTHONPATH)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtWidgets import QApplication

import qtws
from bench.server import EchoServer


def _wait(predicate: object, limit: float = 120.0) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(1)
    end = time.monotonic() + limit

    def check() -> None:
        if predicate() or time.monotonic() > end:  # type: ignore[operator]
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()


def _run(url: str, mode: str, n: int) -> tuple[float, float]:
    """(received, sent) messages per second of this process's CPU time, in ``mode``.

    CPU time, not wall time: the server runs in another process, and on a shared machine the
    wall clock mostly measures the neighbours."""
    config = qtws.Config(ping_interval=None, proxy=None, compression=False)
    ws = qtws.WebSocket(url, config=config)
    model = None
    if mode == "attached":
        from qtws.traffic import TrafficModel

        model = TrafficModel(max_rows=10_000)
        model.attach(ws)
    got = [0]
    done: list[str] = []

    def on_message(message: object) -> None:
        got[0] += 1
        if isinstance(message, str) and message.startswith("!done"):
            done.append(message)

    ws.message.connect(on_message)
    ws.open()
    _wait(lambda: ws.ready_state == qtws.ReadyState.OPEN)
    start = time.process_time()
    ws.send(f"!flood {n} 32")
    _wait(lambda: got[0] >= n)
    received = n / (time.process_time() - start)
    start = time.process_time()
    ws.send(f"!sink {n}")
    payload = "x" * 32
    for _ in range(n):
        ws.send(payload)
    _wait(lambda: bool(done))
    sent = n / (time.process_time() - start)
    ws.close()
    _wait(lambda: ws.ready_state == qtws.ReadyState.CLOSED)
    if model is not None:
        model.detach_all()
    return received, sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.traffic", description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="unattached,attached")
    parser.add_argument("--label", default="", help="a name for this qtws (before/after)")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    where = Path(qtws.__file__).resolve().parent.parent
    print(f"qtws from {where} ({args.label or 'this checkout'}), {args.messages} x 32 B")
    print("| qtws | mode | receive msg/CPU-s (best) | send msg/CPU-s (best) |")
    print("|---|---|---:|---:|")
    with EchoServer() as server:
        for mode in args.modes.split(","):
            runs = [_run(server.url, mode, args.messages) for _ in range(args.repeats)]
            best_in = max(r[0] for r in runs)
            best_out = max(r[1] for r in runs)
            print(f"| {args.label} | {mode} | {best_in:,.0f} | {best_out:,.0f} |", flush=True)
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
