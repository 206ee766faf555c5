"""End-to-end benchmarks over real loopback sockets.

Every client talks to the same ``websockets`` echo server, which runs in a child process
(:mod:`bench.server`) so that it does not compete for the client's GIL.  Clients:

* ``qtws Qt``: :class:`qtws.WebSocket` with signals, inside the Qt event loop;
* ``QWebSocket``: PyQt6's ``QtWebSockets.QWebSocket``, inside the same Qt event loop;
* ``qtws blocking``: :class:`qtws.WebSocket`'s blocking API on the built-in selectors proxy;
* ``websockets asyncio`` and ``websockets sync``: the ``websockets`` library's clients.

All connections are open at the same time and the clients take turns: for every scenario
each client gets a warm-up run, then the repeats go round-robin so that a slow patch of the
machine does not hit one client only.  permessage-deflate is off everywhere except in the
scenario named for it (QWebSocket does not implement it).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass

from PyQt6.QtCore import QCoreApplication, QEventLoop, QTimer, QUrl
from PyQt6.QtWebSockets import QWebSocket
from websockets.asyncio.client import ClientConnection as AsyncClient
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import ClientConnection as SyncClient
from websockets.sync.client import connect as sync_connect

import qtws
from qtws.loop import SelectorsProxy

from .report import Row
from .server import EchoServer

Message = str | bytes
TIMEOUT = 60.0  # seconds; a stuck run fails instead of hanging the benchmark


class Client:
    """One WebSocket client implementation under test."""

    name = ""

    def open(self, url: str, compression: bool) -> None:
        raise NotImplementedError

    def burst(self, payload: Message, n: int) -> float:
        """Send ``n`` copies of ``payload`` as fast as possible, receive all ``n`` echoes;
        return the elapsed seconds (the caller also reads the process CPU time)."""
        raise NotImplementedError

    def round_trips(self, payload: Message, n: int) -> list[float]:
        """Send ``payload`` and wait for its echo, ``n`` times; the round trips in seconds."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


# -- Qt clients -----------------------------------------------------------------------------


class _QtWait:
    """Run a QEventLoop until :meth:`finish` (or fail after TIMEOUT)."""

    def __init__(self) -> None:
        self.loop = QEventLoop()
        self.done = False
        self.error: BaseException | None = None
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.loop.quit)

    def finish(self, error: BaseException | None = None) -> None:
        self.done = True
        self.error = self.error or error
        self.loop.quit()

    def run(self, what: str) -> None:
        if not self.done:
            self.timer.start(int(TIMEOUT * 1000))
            self.loop.exec()
            self.timer.stop()
        if self.error is not None:
            raise RuntimeError(f"{what}: {self.error!r}") from self.error
        if not self.done:
            raise TimeoutError(f"{what}: no answer within {TIMEOUT} s")


class _Counter:
    """Slot that counts messages and finishes a wait at ``n``, or chains round trips."""

    def __init__(self, wait: _QtWait, n: int, expect_len: int) -> None:
        self.wait = wait
        self.n = n
        self.count = 0
        self.expect_len = expect_len

    def __call__(self, message: Sized) -> None:
        # Nothing may escape a slot under PyQt6 (it would abort the process).
        try:
            self.count += 1
            if len(message) != self.expect_len:
                raise RuntimeError(f"echo of {len(message)} bytes, expected {self.expect_len}")
            if self.count >= self.n:
                self.wait.finish()
        except BaseException as exc:
            self.wait.finish(exc)


class _Chain(_Counter):
    """Slot for round trips: record the time, send the next message."""

    def __init__(
        self, wait: _QtWait, n: int, payload: Message, send: Callable[[Message], object]
    ) -> None:
        super().__init__(wait, n, len(payload))
        self.payload = payload
        self.send = send
        self.rtts: list[float] = []
        self.t0 = 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.send(self.payload)

    def __call__(self, message: Sized) -> None:
        try:
            self.rtts.append(time.perf_counter() - self.t0)
            if len(message) != self.expect_len:
                raise RuntimeError("bad echo")
            if len(self.rtts) >= self.n:
                self.wait.finish()
            else:
                self.start()
        except BaseException as exc:
            self.wait.finish(exc)


class QtwsQt(Client):
    name = "qtws Qt"

    def open(self, url: str, compression: bool) -> None:
        config = qtws.Config(compression=compression, max_message_size=None)
        self.ws = qtws.WebSocket(url, config=config)
        wait = _QtWait()
        self.ws.opened.connect(wait.finish)
        self.ws.closed.connect(lambda ev: wait.finish(RuntimeError(f"closed: {ev}")))
        self.ws.open()
        wait.run("qtws open")
        self.ws.opened.disconnect()
        self.ws.closed.disconnect()

    def burst(self, payload: Message, n: int) -> float:
        wait = _QtWait()
        slot = _Counter(wait, n, len(payload))
        self.ws.message.connect(slot)
        t0 = time.perf_counter()
        for _ in range(n):
            self.ws.send(payload)
        wait.run("qtws burst")
        elapsed = time.perf_counter() - t0
        self.ws.message.disconnect(slot)
        return elapsed

    def round_trips(self, payload: Message, n: int) -> list[float]:
        wait = _QtWait()
        slot = _Chain(wait, n, payload, self.ws.send)
        self.ws.message.connect(slot)
        slot.start()
        wait.run("qtws round trips")
        self.ws.message.disconnect(slot)
        return slot.rtts

    def close(self) -> None:
        wait = _QtWait()
        self.ws.closed.connect(lambda ev: wait.finish())
        self.ws.close()
        wait.run("qtws close")


class PyQtWebSocket(Client):
    name = "QWebSocket"

    def open(self, url: str, compression: bool) -> None:
        if compression:
            raise NotImplementedError("QWebSocket does not implement permessage-deflate")
        self.ws = QWebSocket()
        wait = _QtWait()
        self.ws.connected.connect(wait.finish)
        self.ws.errorOccurred.connect(lambda err: wait.finish(RuntimeError(str(err))))
        self.ws.open(QUrl(url))
        wait.run("QWebSocket open")
        self.ws.connected.disconnect()
        self.ws.errorOccurred.disconnect()

    def _send(self, payload: Message) -> None:
        if isinstance(payload, str):
            self.ws.sendTextMessage(payload)
        else:
            self.ws.sendBinaryMessage(payload)

    def _connect(self, slot: _Counter, binary: bool) -> None:
        sig = self.ws.binaryMessageReceived if binary else self.ws.textMessageReceived
        sig.connect(slot)

    def _disconnect(self, slot: _Counter, binary: bool) -> None:
        sig = self.ws.binaryMessageReceived if binary else self.ws.textMessageReceived
        sig.disconnect(slot)

    def burst(self, payload: Message, n: int) -> float:
        wait = _QtWait()
        slot = _Counter(wait, n, len(payload))
        binary = isinstance(payload, bytes)
        self._connect(slot, binary)
        t0 = time.perf_counter()
        for _ in range(n):
            self._send(payload)
        wait.run("QWebSocket burst")
        elapsed = time.perf_counter() - t0
        self._disconnect(slot, binary)
        return elapsed

    def round_trips(self, payload: Message, n: int) -> list[float]:
        wait = _QtWait()
        slot = _Chain(wait, n, payload, self._send)
        binary = isinstance(payload, bytes)
        self._connect(slot, binary)
        slot.start()
        wait.run("QWebSocket round trips")
        self._disconnect(slot, binary)
        return slot.rtts

    def close(self) -> None:
        wait = _QtWait()
        self.ws.disconnected.connect(wait.finish)
        self.ws.close()
        wait.run("QWebSocket close")


# -- qtws blocking API ----------------------------------------------------------------------


class QtwsBlocking(Client):
    name = "qtws blocking"

    def open(self, url: str, compression: bool) -> None:
        config = qtws.Config(compression=compression, max_message_size=None)
        self.ws = qtws.WebSocket(url, config=config, loop=SelectorsProxy())
        self.ws.connect(timeout=TIMEOUT)

    def burst(self, payload: Message, n: int) -> float:
        ws = self.ws
        t0 = time.perf_counter()
        for _ in range(n):
            ws.send(payload)
        for _ in range(n):
            ws.wait_for_next_message(TIMEOUT)
        return time.perf_counter() - t0

    def round_trips(self, payload: Message, n: int) -> list[float]:
        ws = self.ws
        rtts = []
        for _ in range(n):
            t0 = time.perf_counter()
            ws.send(payload)
            ws.wait_for_next_message(TIMEOUT)
            rtts.append(time.perf_counter() - t0)
        return rtts

    def close(self) -> None:
        self.ws.close()
        try:
            while True:
                self.ws.wait_for_next_message(TIMEOUT)
        except qtws.ConnectionClosed:
            pass


# -- websockets ----------------------------------------------------------------------------


class WebsocketsAsyncio(Client):
    name = "websockets asyncio"

    def open(self, url: str, compression: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.ws: AsyncClient = self.loop.run_until_complete(
            async_connect(url, compression="deflate" if compression else None, max_size=None)
        )

    def burst(self, payload: Message, n: int) -> float:
        ws = self.ws

        async def receive() -> None:
            for _ in range(n):
                await ws.recv()

        async def run() -> float:
            t0 = time.perf_counter()
            # The echoes must be read while sending, or both sides stall on full buffers.
            reader = asyncio.create_task(receive())
            for _ in range(n):
                await ws.send(payload)
            await asyncio.wait_for(reader, TIMEOUT)
            return time.perf_counter() - t0

        return self.loop.run_until_complete(run())

    def round_trips(self, payload: Message, n: int) -> list[float]:
        ws = self.ws

        async def run() -> list[float]:
            rtts = []
            for _ in range(n):
                t0 = time.perf_counter()
                await ws.send(payload)
                await asyncio.wait_for(ws.recv(), TIMEOUT)
                rtts.append(time.perf_counter() - t0)
            return rtts

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.ws.close())
        self.loop.close()


class WebsocketsSync(Client):
    name = "websockets sync"

    def open(self, url: str, compression: bool) -> None:
        self.ws: SyncClient = sync_connect(
            url, compression="deflate" if compression else None, max_size=None
        )

    def burst(self, payload: Message, n: int) -> float:
        ws = self.ws
        errors: list[BaseException] = []

        def receive() -> None:
            try:
                for _ in range(n):
                    ws.recv(TIMEOUT)
            except BaseException as exc:
                errors.append(exc)

        t0 = time.perf_counter()
        # The echoes must be read while sending, or both sides stall on full buffers.
        reader = threading.Thread(target=receive)
        reader.start()
        for _ in range(n):
            ws.send(payload)
        reader.join()
        elapsed = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return elapsed

    def round_trips(self, payload: Message, n: int) -> list[float]:
        ws = self.ws
        rtts = []
        for _ in range(n):
            t0 = time.perf_counter()
            ws.send(payload)
            ws.recv(TIMEOUT)
            rtts.append(time.perf_counter() - t0)
        return rtts

    def close(self) -> None:
        self.ws.close()


CLIENTS: list[type[Client]] = [
    QtwsQt,
    PyQtWebSocket,
    QtwsBlocking,
    WebsocketsAsyncio,
    WebsocketsSync,
]

#: Which qtws client is compared with which competitor (same kind of API and event loop).
PAIRS = [
    ("qtws Qt", "QWebSocket"),
    ("qtws Qt", "websockets asyncio"),
    ("qtws blocking", "websockets sync"),
]


@dataclass(frozen=True)
class Sizes:
    small: int  # burst of 32-byte text messages
    kib: int  # burst of 1 KiB binary messages
    deflate: int  # burst of 1 KiB compressible text messages
    pings: int  # round trips per repeat
    mib: int  # 1 MiB round trips per repeat
    mib16: int  # 16 MiB round trips per repeat
    repeats: int


FULL = Sizes(small=20_000, kib=10_000, deflate=5_000, pings=1_000, mib=20, mib16=4, repeats=7)
QUICK = Sizes(small=1_000, kib=500, deflate=300, pings=100, mib=2, mib16=1, repeats=1)


def _json_text(size: int) -> str:
    item = '{"symbol": "EURUSD", "bid": 1.08423, "ask": 1.08431, "ts": 1700000000123}, '
    return ("[" + item * (size // len(item) + 1))[:size]


def _open_all(url: str, compression: bool, log: Callable[[str], None]) -> list[Client]:
    clients = []
    for cls in CLIENTS:
        client = cls()
        try:
            client.open(url, compression)
        except NotImplementedError:
            continue
        clients.append(client)
    log(f"e2e: {len(clients)} clients connected to {url}")
    return clients


def _close_all(clients: list[Client]) -> None:
    for client in clients:
        client.close()


def _burst_rows(
    clients: list[Client],
    cases: list[tuple[str, Message, int]],
    repeats: int,
    log: Callable[[str], None],
    group: str,
) -> list[Row]:
    rows = []
    for label, payload, n in cases:
        log(f"e2e: {label}")
        for client in clients:
            client.burst(payload, max(1, n // 10))  # warm-up
        times: dict[str, list[float]] = {c.name: [] for c in clients}
        cpus: dict[str, list[float]] = {c.name: [] for c in clients}
        for _ in range(repeats):
            for client in clients:
                # Process CPU time counts every thread of this process (Qt's, websockets'
                # background thread), and not the echo server, which is another process.
                cpu = time.process_time()
                times[client.name].append(client.burst(payload, n))
                cpus[client.name].append(time.process_time() - cpu)
        rate: dict[str, float | None] = {c.name: None for c in CLIENTS}
        cost: dict[str, float | None] = {c.name: None for c in CLIENTS}
        for name, ts in times.items():
            rate[name] = n / statistics.median(ts)
            cost[name] = statistics.median(cpus[name]) / n * 1e6
        rows.append(Row(group, label, "msg/s", True, rate, PAIRS))
        rows.append(Row(group, f"{label}: client CPU per message", "µs", False, cost, PAIRS))
    return rows


def _rtt_rows(
    clients: list[Client], sizes: Sizes, log: Callable[[str], None], group: str
) -> list[Row]:
    rows = []
    log("e2e: round trips of 32 bytes")
    payload = "x" * 32
    for client in clients:
        client.round_trips(payload, max(1, sizes.pings // 10))
    rtts: dict[str, list[float]] = {c.name: [] for c in clients}
    for _ in range(sizes.repeats):
        for client in clients:
            rtts[client.name] += client.round_trips(payload, sizes.pings)
    median: dict[str, float | None] = {}
    p99: dict[str, float | None] = {}
    for name, samples in rtts.items():
        samples.sort()
        median[name] = statistics.median(samples) * 1e6
        p99[name] = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6
    total = sizes.pings * sizes.repeats
    rows.append(
        Row(group, f"round trip, 32 B text (median of {total})", "µs", False, median, PAIRS)
    )
    rows.append(Row(group, f"round trip, 32 B text (p99 of {total})", "µs", False, p99, PAIRS))

    for label, size, n in (("1 MiB", 2**20, sizes.mib), ("16 MiB", 16 * 2**20, sizes.mib16)):
        log(f"e2e: echo of {label} binary messages")
        big = bytes(size)
        for client in clients:
            client.round_trips(big, 1)
        seconds: dict[str, list[float]] = {c.name: [] for c in clients}
        for _ in range(sizes.repeats):
            for client in clients:
                seconds[client.name].append(sum(client.round_trips(big, n)))
        values: dict[str, float | None] = {
            name: size * n / statistics.median(ts) / 1e6 for name, ts in seconds.items()
        }
        rows.append(Row(group, f"echo of {label} binary, sequential", "MB/s", True, values, PAIRS))
    return rows


NOTES = {
    "End to end (loopback, echo server in a child process)": [
        "Bursts: send N messages back to back, then wait until all N echoes arrived "
        "(median of the repeats); *client CPU per message* is the CPU time of the client "
        "process (all its threads) divided by N: what the client costs, whatever the server's "
        "speed.  MB/s: payload bytes sent ÷ time until the echo is back.  "
        "The Qt clients run in the same QCoreApplication event loop; qtws blocking uses the "
        "built-in selectors loop.  The `websockets` echo server (asyncio, one process) is a "
        "shared ceiling: a client cannot go faster than it echoes.",
    ],
}


def run(sizes: Sizes, log: Callable[[str], None]) -> list[Row]:
    app = QCoreApplication.instance() or QCoreApplication([])
    group = "End to end (loopback, echo server in a child process)"
    rows: list[Row] = []
    with EchoServer() as server:
        clients = _open_all(server.url, False, log)
        try:
            rows += _burst_rows(
                clients,
                [
                    (f"burst of {sizes.small:,} x 32 B text", "x" * 32, sizes.small),
                    (f"burst of {sizes.kib:,} x 1 KiB binary", bytes(1024), sizes.kib),
                ],
                sizes.repeats,
                log,
                group,
            )
            rows += _rtt_rows(clients, sizes, log, group)
        finally:
            _close_all(clients)
        clients = _open_all(server.deflate_url, True, log)
        try:
            rows += _burst_rows(
                clients,
                [
                    (
                        f"permessage-deflate: burst of {sizes.deflate:,} x 1 KiB JSON text",
                        _json_text(1024),
                        sizes.deflate,
                    )
                ],
                sizes.repeats,
                log,
                group,
            )
        finally:
            _close_all(clients)
    del app
    return rows
