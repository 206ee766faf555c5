"""End-to-end benchmarks over real loopback sockets, every client of :mod:`bench.clients`
side by side.

All clients talk to the same peer (:mod:`bench.server`) in a child process, so that it does
not compete for the client's GIL.  All connections are open at the same time and the clients
take turns: for every scenario each client gets a warm-up run, then the repeats go
round-robin so that a slow patch of the machine does not hit one client only.
permessage-deflate is off everywhere except in the scenario named for it.

The GUI rows (:func:`gui_rows`) run a 10 ms ``QTimer`` while a flood arrives and report the
gaps between its ticks: what a live-data window's repaints and animations wait.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PyQt6.QtCore import QCoreApplication, Qt, QTimer

from .clients import CLIENTS, QTWS, Client, Message
from .report import Row, spread_of
from .server import EchoServer, flood_payload

Log = Callable[[str], None]
#: Which qtws client is compared with which competitor (same kind of API and event loop).
PAIRS = [("qtws Qt", "QWebSocket"), ("qtws Qt batch", "QWebSocket")]
GROUP = "End to end (loopback, peer in a child process)"
GUI_GROUP = "GUI responsiveness: a 10 ms QTimer while a flood arrives (Qt event loop)"


@dataclass(frozen=True)
class Sizes:
    receive: int  # 32-byte text messages flooded by the server
    send: int  # 32-byte text messages sent to the server's sink
    pings: int  # round trips per repeat
    mib: int  # 1 MiB round trips per repeat
    mib16: int  # 16 MiB round trips per repeat
    deflate: int  # burst of 1 KiB compressible text messages, echoed
    gui: int  # messages of the GUI flood
    repeats: int
    blob_mib: int = 16  # one message of this many MiB while the GUI timer ticks
    gui_deflate: int = 20_000  # compressed 256 B messages while the GUI timer ticks
    tls: int = 10  # TLS connections opened while the GUI timer ticks


FULL = Sizes(
    receive=50_000, send=20_000, pings=1_000, mib=20, mib16=2, deflate=5_000, gui=100_000, repeats=5
)
QUICK = Sizes(
    receive=1_000,
    send=500,
    pings=50,
    mib=2,
    mib16=1,
    deflate=200,
    gui=2_000,
    repeats=1,
    blob_mib=1,
    gui_deflate=500,
    tls=2,
)


def json_text(size: int) -> str:
    item = '{"symbol": "EURUSD", "bid": 1.08423, "ask": 1.08431, "ts": 1700000000123}, '
    return ("[" + item * (size // len(item) + 1))[:size]


#: One measured operation: runs on a client, returns elapsed seconds.
Op = Callable[[Client], float]


def receive_op(n: int, size: int = 32) -> Op:
    expected = flood_payload(size)
    return lambda c: c.exchange([f"!flood {n} {size}"], n, expected)


def send_op(n: int, payload: Message = "x" * 32) -> Op:
    messages = [f"!sink {n}", *([payload] * n)]
    return lambda c: c.exchange(messages, 1, f"!done {n}")


def blob_op(size: int) -> Op:
    expected = bytes(size)
    return lambda c: c.exchange([f"!blob {size}"], 1, expected)


def burst_op(n: int, payload: Message) -> Op:
    messages = [payload] * n
    return lambda c: c.exchange(messages, n, payload)


def echo_op(n: int, payload: Message) -> Op:
    return lambda c: sum(c.round_trips(payload, n))


@dataclass(frozen=True)
class Scenario:
    """A named operation measured as a rate: ``count`` messages (or ``nbytes``) per run."""

    key: str  # for --profile
    label: str
    count: int
    op: Op
    nbytes: int = 0  # > 0: report MB/s instead of msg/s
    deflate: bool = False
    receive: bool = False  # the server pushes: receive-only clients take part


def scenarios(sizes: Sizes) -> list[Scenario]:
    mib = 2**20
    return [
        Scenario(
            "receive",
            f"receive: {sizes.receive:,} x 32 B text pushed by the server",
            sizes.receive,
            receive_op(sizes.receive),
            receive=True,
        ),
        Scenario(
            "send",
            f"send: {sizes.send:,} x 32 B text to the server",
            sizes.send,
            send_op(sizes.send),
        ),
        Scenario(
            "large",
            f"echo of 1 MiB binary, {sizes.mib} sequential",
            sizes.mib,
            echo_op(sizes.mib, bytes(mib)),
            nbytes=sizes.mib * mib,
        ),
        Scenario(
            "huge",
            f"echo of 16 MiB binary, {sizes.mib16} sequential",
            sizes.mib16,
            echo_op(sizes.mib16, bytes(16 * mib)),
            nbytes=sizes.mib16 * 16 * mib,
        ),
        Scenario(
            "deflate",
            f"permessage-deflate: echo burst of {sizes.deflate:,} x 1 KiB JSON text",
            sizes.deflate,
            burst_op(sizes.deflate, json_text(1024)),
            deflate=True,
        ),
    ]


def _open_all(url: str, compression: bool, log: Log, only: set[str] | None) -> list[Client]:
    clients = []
    for cls in CLIENTS:
        if only is not None and cls.name not in only:
            continue
        client = cls()
        try:
            client.open(url, compression)
        except NotImplementedError:
            continue
        clients.append(client)
    log(f"e2e: {len(clients)} clients connected to {url}")
    return clients


@contextmanager
def _connected(
    url: str, compression: bool, log: Log, only: set[str] | None
) -> Iterator[list[Client]]:
    clients = _open_all(url, compression, log, only)
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def _measure(clients: list[Client], sc: Scenario, repeats: int, log: Log) -> list[Row]:
    log(f"e2e: {sc.label}")
    clients = [c for c in clients if sc.receive or not c.receive_only]
    for client in clients:
        sc.op(client)  # warm-up
    times: dict[str, list[float]] = {c.name: [] for c in clients}
    cpus: dict[str, list[float]] = {c.name: [] for c in clients}
    for _ in range(repeats):
        for client in clients:
            # Process CPU time counts every thread of this process (Qt's, the sync clients'
            # reader threads), and not the peer, which is another process.
            cpu = time.process_time()
            times[client.name].append(sc.op(client))
            cpus[client.name].append(time.process_time() - cpu)
    names = [cls.name for cls in CLIENTS]
    rate: dict[str, float | None] = dict.fromkeys(names)
    cost: dict[str, float | None] = dict.fromkeys(names)
    for name, ts in times.items():
        rate[name] = (sc.nbytes / 1e6 if sc.nbytes else sc.count) / statistics.median(ts)
        cost[name] = statistics.median(cpus[name]) / sc.count * 1e6
    unit = "MB/s" if sc.nbytes else "msg/s"
    return [
        Row(GROUP, sc.label, unit, True, rate, PAIRS, mine=QTWS),
        Row(GROUP, f"{sc.label}: client CPU per message", "µs", False, cost, PAIRS, mine=QTWS),
    ]


def _rtt_rows(clients: list[Client], sizes: Sizes, log: Log) -> list[Row]:
    log("e2e: round trips of 32 bytes")
    clients = [c for c in clients if not c.receive_only]
    payload = "x" * 32
    for client in clients:
        client.round_trips(payload, max(1, sizes.pings // 10))
    rtts: dict[str, list[float]] = {c.name: [] for c in clients}
    for _ in range(sizes.repeats):
        for client in clients:
            rtts[client.name] += client.round_trips(payload, sizes.pings)
    names = [cls.name for cls in CLIENTS]
    median: dict[str, float | None] = dict.fromkeys(names)
    p99: dict[str, float | None] = dict.fromkeys(names)
    for name, samples in rtts.items():
        samples.sort()
        median[name] = statistics.median(samples) * 1e6
        p99[name] = percentile(samples, 0.99) * 1e6
    total = sizes.pings * sizes.repeats
    return [
        Row(
            GROUP,
            f"round trip, 32 B text (median of {total})",
            "µs",
            False,
            median,
            PAIRS,
            mine=QTWS,
        ),
        Row(GROUP, f"round trip, 32 B text (p99 of {total})", "µs", False, p99, PAIRS, mine=QTWS),
    ]


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted samples (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def timer_gaps(client: Client, op: Op, interval_ms: int = 10) -> tuple[float, list[float]]:
    """Run ``op`` on ``client`` while a ``interval_ms`` QTimer ticks; return the op's seconds
    and the gaps between ticks (from the start of the op to its end) in milliseconds."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    start = time.perf_counter()
    timer.start(interval_ms)
    try:
        elapsed = op(client)
    finally:
        timer.stop()
    marks = [start, *ticks, start + elapsed]
    return elapsed, [(b - a) * 1e3 for a, b in itertools.pairwise(marks)]


def gap_summary(gaps: list[list[float]]) -> dict[str, float]:
    """Median, p99 and worst over the gaps of several runs."""
    every = sorted(g for run in gaps for g in run)
    return {"p50": statistics.median(every), "p99": percentile(every, 0.99), "max": every[-1]}


GUI_CLIENTS = ("qtws Qt", "qtws Qt batch", "QWebSocket")


def _gap_rows(
    label: str,
    gaps: dict[str, list[list[float]]],
    with_p99: bool = False,
) -> list[Row]:
    summary = {name: gap_summary(g) for name, g in gaps.items() if g}
    spreads = {
        name: spread_of([statistics.median(run) for run in g]) for name, g in gaps.items() if g
    }
    keys = (
        (("p50", "median"), ("p99", "p99"), ("max", "worst"))
        if with_p99
        else (
            ("p50", "median"),
            ("max", "worst"),
        )
    )
    rows = []
    for key, what in keys:
        row = Row(
            GUI_GROUP,
            f"{label}: {what} timer gap",
            "ms",
            False,
            {name: s[key] for name, s in summary.items()},
            PAIRS,
        )
        if key == "p50":
            row.spread = spreads
        rows.append(row)
    return rows


def gui_rows(clients: list[Client], sizes: Sizes, log: Log) -> list[Row]:
    """The flood of small messages and one 16 MiB message, while a 10 ms timer ticks."""
    qt = [c for c in clients if c.name in GUI_CLIENTS]
    n = sizes.gui
    log(f"gui: 10 ms timer while {n:,} messages arrive")
    op = receive_op(n)
    for client in qt:
        timer_gaps(client, receive_op(max(1, n // 10)))
    gaps: dict[str, list[list[float]]] = {c.name: [] for c in qt}
    rates: dict[str, list[float]] = {c.name: [] for c in qt}
    for _ in range(sizes.repeats):
        for client in qt:
            elapsed, run = timer_gaps(client, op)
            gaps[client.name].append(run)
            rates[client.name].append(n / elapsed)
    rate = Row(
        GUI_GROUP,
        f"{n:,} x 32 B: message rate",
        "msg/s",
        True,
        {name: statistics.median(r) for name, r in rates.items()},
        PAIRS,
        spread={name: spread_of(r) for name, r in rates.items()},
    )
    rows = [rate, *_gap_rows(f"{n:,} x 32 B", gaps, with_p99=True)]

    size = sizes.blob_mib * 2**20
    log(f"gui: 10 ms timer while one {sizes.blob_mib} MiB message arrives")
    blob = blob_op(size)
    big: dict[str, list[list[float]]] = {c.name: [] for c in qt}
    for client in qt:
        timer_gaps(client, blob)
    for _ in range(sizes.repeats):
        for client in qt:
            big[client.name].append(timer_gaps(client, blob)[1])
    rows += _gap_rows(f"one {sizes.blob_mib} MiB binary message", big)
    return rows


def gui_deflate_rows(clients: list[Client], sizes: Sizes, log: Log) -> list[Row]:
    """A compressed flood (permessage-deflate) while a 10 ms timer ticks."""
    qt = [c for c in clients if c.name in GUI_CLIENTS]
    n = sizes.gui_deflate
    log(f"gui: 10 ms timer while {n:,} compressed messages arrive")
    op = receive_op(n, 256)
    gaps: dict[str, list[list[float]]] = {c.name: [] for c in qt}
    for client in qt:
        timer_gaps(client, receive_op(max(1, n // 10), 256))
    for _ in range(sizes.repeats):
        for client in qt:
            gaps[client.name].append(timer_gaps(client, op)[1])
    return _gap_rows(f"{n:,} x 256 B compressed", gaps)


def gui_tls_rows(clients: list[Client], sizes: Sizes, url: str, cafile: str, log: Log) -> list[Row]:
    """TLS connections opened one after the other while a 10 ms timer ticks."""
    qt = [c for c in clients if c.name in ("qtws Qt", "QWebSocket")]
    n = sizes.tls
    log(f"gui: 10 ms timer while {n} TLS connections open")

    def op(client: Client) -> float:
        return sum(client.tls_connect(url, cafile) for _ in range(n))

    gaps: dict[str, list[list[float]]] = {}
    for client in qt:
        try:
            timer_gaps(client, op)
        except NotImplementedError:
            continue
        gaps[client.name] = []
    for _ in range(sizes.repeats):
        for client in qt:
            if client.name in gaps:
                gaps[client.name].append(timer_gaps(client, op)[1])
    return _gap_rows(f"{n} TLS connections, one after the other", gaps)


NOTES = {
    GROUP: [
        "Rates: messages (or payload MB) ÷ median seconds of the repeats. *receive*: the "
        "server writes prebuilt frames straight to its socket, so only the client's cost "
        "counts; *send*: the server swallows N messages and answers once.  *client CPU per "
        "message*: the CPU time of the client process (all its threads) ÷ N, whatever the "
        "peer's speed.  The Qt clients run in the same QCoreApplication event loop; qtws "
        "blocking uses the built-in selectors loop.  The peer (named in the machine line: Node's "
        "`ws` with bufferutil when node and npm are available, else a `websockets` asyncio "
        "server) runs in one process: echo and send rates are capped by its speed.  Every "
        "client compares each message it receives with the one expected.  *qtws vs best "
        "peer*: the best qtws column against the best other client (named).  ±: half the "
        "range of the repeats relative to their median.",
    ],
    GUI_GROUP: [
        "A `Qt.PreciseTimer` of 10 ms runs while the server pushes the messages (or while "
        "TLS connections open one after the other); gaps between its ticks, from the start to "
        "the last message, over all repeats. A gap of 10 ms means the GUI never waited; the "
        "target is a median of 10-11 ms and a worst gap of at most 20 ms.",
    ],
}


#: The peer of the last run (see :class:`bench.server.EchoServer`), for the machine line.
SERVER: dict[str, str] = {"description": ""}


def run(
    sizes: Sizes, log: Log, only: set[str] | None = None, server_kind: str = "auto"
) -> list[Row]:
    app = QCoreApplication.instance() or QCoreApplication([])
    rows: list[Row] = []
    with EchoServer(server_kind) as server:
        SERVER["description"] = server.description
        log(f"e2e: peer {server.description}")
        with _connected(server.url, False, log, only) as clients:
            plain = [s for s in scenarios(sizes) if not s.deflate]
            rows += _measure(clients, plain[0], sizes.repeats, log)
            rows += _measure(clients, plain[1], sizes.repeats, log)
            rows += _rtt_rows(clients, sizes, log)
            for sc in plain[2:]:
                rows += _measure(clients, sc, sizes.repeats, log)
            rows += gui_rows(clients, sizes, log)
            if server.tls_url:
                rows += gui_tls_rows(clients, sizes, server.tls_url, server.cafile, log)
        with _connected(server.deflate_url, True, log, only) as clients:
            for sc in scenarios(sizes):
                if sc.deflate:
                    rows += _measure(clients, sc, sizes.repeats, log)
            rows += gui_deflate_rows(clients, sizes, log)
    del app
    return rows


def profile(key: str, client_name: str, sizes: Sizes, log: Log, top: int = 30) -> str:
    """Run scenario ``key`` (or ``gui``) once on one client under cProfile; the top
    functions by own time, as text."""
    app = QCoreApplication.instance() or QCoreApplication([])
    chosen = {s.key: s for s in scenarios(sizes)}
    if key == "gui":
        sc = Scenario("gui", "gui flood", sizes.gui, receive_op(sizes.gui))
    elif key == "rtt":
        sc = Scenario(
            "rtt", "round trips of 32 B text", sizes.pings, echo_op(sizes.pings, "x" * 32)
        )
    elif key in chosen:
        sc = chosen[key]
    else:
        raise ValueError(f"unknown scenario {key!r}: one of {sorted([*chosen, 'gui', 'rtt'])}")
    with EchoServer() as server:
        url = server.deflate_url if sc.deflate else server.url
        with _connected(url, sc.deflate, log, {client_name}) as clients:
            if not clients:
                raise ValueError(f"{client_name!r} cannot run {key!r}")
            sc.op(clients[0])  # warm-up
            prof = cProfile.Profile()
            prof.enable()
            seconds = sc.op(clients[0])
            prof.disable()
    del app
    out = io.StringIO()
    out.write(f"{client_name}, {sc.label}: {seconds:.3f} s under cProfile\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
