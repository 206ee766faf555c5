"""Live-data delivery in a GUI: one tick flood into the Qt event loop, taken five ways.

``python -m bench --only live`` (``python3 .ci/dev.py bench --only live``).  A child process
(``python -m bench.live serve``) floods N ticks of 32 bytes, ``{"s":"S123","p":101.25,"n":
1234}`` over 300 symbols, as prebuilt frames written straight to its socket (so the server's
own per-message cost does not cap the client), while a 10 ms ``QTimer`` ticks in the client.
Each way parses every tick (``json.loads``) and keeps the latest per symbol:

* ``text_message slot``: qtws, one slot call per message;
* ``batch_received slot``: qtws, one slot call per dispatch slice;
* ``Conflator → model``: qtws's ``Conflator`` (300 keys, 1/60 s) feeding the dashboard's
  ``TickTableModel.apply`` (``dataChanged`` per run of changed rows, no view);
* ``dashboard (model + view)``: the same with the model shown in a ``QTableView`` (offscreen),
  the dashboard demo's data path;
* ``QWebSocket``: PyQt6's ``QWebSocket``, one ``textMessageReceived`` slot call per message.

Reported per way: the process's CPU time per message (the GUI thread is the only busy one:
the server is another process), messages per second (N ÷ wall seconds until the last tick was
handled), GUI slot calls per 1,000 messages, and the median and worst gap between timer ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .report import Row
from .server import EchoServer, _frame

if TYPE_CHECKING:
    from .clients import QtWait

# bench.clients and bench.e2e (PyQt6) are imported where used: the tick format and the table
# layout stay importable from a process on another binding (the test suite under PySide6).
Log = Callable[[str], None]
GROUP = "Live data in a GUI: a 32 B tick flood over 300 symbols, 10 ms QTimer (Qt event loop)"
SYMBOLS = 300
FULL, QUICK = 50_000, 2_000
WAYS = (
    "text_message slot",
    "batch_received slot",
    "Conflator → model",
    "dashboard (model + view)",
    "QWebSocket",
)
PAIRS = [(w, "QWebSocket") for w in WAYS[:4]]
NOTES = {
    GROUP: [
        "Each way parses every tick with `json.loads` and keeps the latest per symbol; the "
        "Conflator ways hand at most one dict per 1/60 s to the dashboard's `TickTableModel` "
        "(the last with the model in an offscreen `QTableView`, as in the dashboard demo). "
        "*CPU per message*: process CPU time ÷ N (the peer is another process). *slot calls*: "
        "GUI slot calls per 1,000 messages. Timer gaps over all repeats; 10 ms means the GUI "
        "never waited. Ratios: against QWebSocket.",
    ]
}


def tick(i: int) -> str:
    """The ``i``-th tick of a flood: exactly 32 bytes of JSON."""
    symbol, price, seq = i % SYMBOLS, 100 + (i % 10_000) / 100, 1000 + i % 9000
    text = f'{{"s":"S{symbol:03d}","p":{price:.2f},"n":{seq}}}'
    assert len(text) == 32, text
    return text


# -- the flooding peer (child process) -------------------------------------------------------


async def _serve_floods() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def handle(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                count = int(message)
                data = b"".join(_frame(tick(i).encode()) for i in range(count))
                for start in range(0, len(data), 2**20):
                    async with ws.send_context():  # waits while the transport's buffer is full
                        ws.transport.write(data[start : start + 2**20])

    async with serve(handle, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF


class FloodServer(EchoServer):
    """:func:`_serve_floods` in a child process; send it N (as text) to get N ticks.  The
    child's lifetime is bench.server's (it ends when its stdin closes)."""

    def __enter__(self) -> FloodServer:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.live", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = f"ws://127.0.0.1:{int(self._proc.stdout.readline())}/"
        return self


# -- the ways of taking the flood ------------------------------------------------------------


@dataclass
class Run:
    """One flood taken one way: what a slot saw and the figures of the run."""

    n: int
    latest: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    slot_calls: int = 0
    cpu: float = 0.0
    wait: QtWait = field(default_factory=lambda: _clients().QtWait())

    def take(self, raw: str) -> None:
        msg = json.loads(raw)
        self.latest[msg["s"]] = msg
        self.count += 1

    def check_done(self) -> None:
        if self.count >= self.n:
            self.wait.finish()


class Way:
    """Connects its slots to a connection for one run (and disconnects them after)."""

    def __init__(self, name: str, client: Any, view: Any = None) -> None:
        self.name = name
        self.client = client
        self.view = view  # the QTableView of the dashboard way

    def attach(self, run: Run) -> Callable[[], None]:
        """Connect the slots that feed ``run``; returns what disconnects them."""
        ws = self.client.ws
        if self.name in ("text_message slot", "QWebSocket"):
            signal = ws.text_message if self.name != "QWebSocket" else ws.textMessageReceived

            def on_text(raw: str) -> None:
                run.slot_calls += 1
                run.take(raw)
                run.check_done()

            signal.connect(on_text)
            return lambda: signal.disconnect(on_text)
        if self.name == "batch_received slot":

            def on_batch(batch: list[Any]) -> None:
                run.slot_calls += 1
                for raw in batch:
                    run.take(raw)
                run.check_done()

            ws.batch_received.connect(on_batch)
            return lambda: ws.batch_received.disconnect(on_batch)
        import qtws
        from dashboard_app.model import TickTableModel

        model = TickTableModel(time.monotonic)
        if self.view is not None:
            self.view.setModel(model)
        conflator = qtws.Conflator(ws, key=lambda t: t["s"], parse=json.loads, interval=1 / 60)
        delivered = 0

        def on_updated(changed: dict[Any, Any]) -> None:
            nonlocal delivered
            run.slot_calls += 1
            model.apply(changed)
            run.latest.update(changed)
            delivered += len(changed)
            run.count = delivered + conflator.dropped  # every tick: shown or superseded
            run.check_done()

        conflator.updated.connect(on_updated)

        def detach() -> None:
            ws.batch_received.disconnect(conflator.feed)
            conflator.updated.disconnect(on_updated)
            conflator.clear()
            conflator.setParent(None)
            conflator.deleteLater()
            if self.view is not None:
                self.view.setModel(None)
            model.deleteLater()

        return detach


def _clients() -> Any:
    from . import clients

    return clients


def flood(way: Way, n: int) -> tuple[Run, float, list[float]]:
    """Take one flood of ``n`` ticks ``way``; the run, its wall seconds and timer gaps."""
    from .e2e import timer_gaps

    run = Run(n)
    detach = way.attach(run)

    def op(_client: object) -> float:
        cpu0, t0 = time.process_time(), time.perf_counter()
        _send(way.client, str(n))
        run.wait.run(f"{way.name}: flood of {n}")
        run.cpu = time.process_time() - cpu0
        return time.perf_counter() - t0

    try:
        elapsed, gaps = timer_gaps(way.client, op)
    finally:
        detach()
    expected = {tick(i)[6:10]: json.loads(tick(i)) for i in range(max(0, n - SYMBOLS), n)}
    if run.latest != expected or run.count != n:
        raise RuntimeError(f"{way.name}: the latest ticks differ from the last ones sent")
    return run, elapsed, gaps


def _send(client: Any, text: str) -> None:
    if isinstance(client, _clients().PyQtWebSocket):
        client.ws.sendTextMessage(text)
    else:
        client.ws.send(text)


def run(quick: bool, log: Log) -> list[Row]:
    """The live-data rows (quick: a small flood, one repeat)."""
    from qtws._qt import QtWidgets

    from .clients import PyQtWebSocket, QtwsQt
    from .e2e import gap_summary

    app = QtWidgets.QApplication.instance()
    view = None
    if app is None:
        app = QtWidgets.QApplication([sys.argv[0] if sys.argv else "bench"])
    if isinstance(app, QtWidgets.QApplication):
        view = QtWidgets.QTableView()
        view.resize(900, 700)
        view.show()
    n, repeats = (QUICK, 1) if quick else (FULL, 3)
    log(f"live: {n:,} ticks over {SYMBOLS} symbols, taken {len(WAYS)} ways, {repeats} repeats")
    stats: dict[str, dict[str, list[float]]] = {}
    gaps: dict[str, list[list[float]]] = {}
    with FloodServer() as server:
        qtws_client, qt_client = QtwsQt(), PyQtWebSocket()
        qtws_client.open(server.url, False)
        qt_client.open(server.url, False)
        ways = [Way(name, qt_client if name == "QWebSocket" else qtws_client) for name in WAYS]
        if view is None:  # a QCoreApplication from an earlier part: no widgets
            ways = [w for w in ways if not w.name.startswith("dashboard")]
        else:
            ways[3].view = view
        try:
            for way in ways:
                flood(way, max(1, n // 10))  # warm-up
            for _ in range(repeats):
                for way in ways:  # round-robin: a slow patch of the machine hits every way
                    result, elapsed, run_gaps = flood(way, n)
                    s = stats.setdefault(way.name, {"cpu": [], "rate": [], "calls": []})
                    s["cpu"].append(result.cpu / n * 1e6)
                    s["rate"].append(n / elapsed)
                    s["calls"].append(result.slot_calls * 1000 / n)
                    gaps.setdefault(way.name, []).append(run_gaps)
        finally:
            qtws_client.close()
            qt_client.close()
            if view is not None:
                view.close()
    med = {name: {k: statistics.median(v) for k, v in s.items()} for name, s in stats.items()}
    summary = {name: gap_summary(g) for name, g in gaps.items()}

    def row(
        what: str, unit: str, higher: bool, values: dict[str, float], ratios: bool = True
    ) -> Row:
        pairs = PAIRS if ratios else []
        return Row(GROUP, f"{n:,} x 32 B: {what}", unit, higher, dict(values), pairs)

    return [
        row("CPU per message", "µs", False, {k: v["cpu"] for k, v in med.items()}),
        row("message rate", "msg/s", True, {k: v["rate"] for k, v in med.items()}),
        row(
            "slot calls per 1,000 messages",
            "calls",
            False,
            {k: v["calls"] for k, v in med.items()},
            ratios=False,  # a count, not a speed
        ),
        row("median timer gap", "ms", False, {k: s["p50"] for k, s in summary.items()}),
        row("worst timer gap", "ms", False, {k: s["max"] for k, s in summary.items()}),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_floods())
    else:
        sys.exit("usage: python -m bench --only live   (python -m bench.live serve: the peer)")
