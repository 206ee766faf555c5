"""The tick server of the dashboard: a ``websockets`` asyncio server publishing prices.

Protocol (one JSON object per text message):

=================  =====================================================================
client → server    ``{"type": "subscribe", "symbols": "*"}`` or a list of symbols
server → client    ``{"s": "QTX", "p": 101.25, "n": 1734}`` a tick: symbol, price, sequence
=================  =====================================================================

Right after a subscribe the server sends the current price of every subscribed symbol (so a
table fills at once), then ticks at ``rate`` per second in total, in steps of 10 ms.  Prices
are random walks from a seeded generator; sequence numbers grow per symbol (across restarts
of one :class:`TickServer`), so a client can check that they never go back.

:class:`TickServer` runs in a thread (tests, ``--serve``); :class:`TickServerProcess` runs it
in a child process, so publishing thousands of ticks a second never holds the GUI's GIL, and
restarts it on the same port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import string
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

STEP = 0.01  # seconds between two publishing steps
MAX_SYMBOLS = 5000
MAX_RATE = 200_000


def make_symbols(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct three- or four-letter ticker symbols, the same for a seed."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        size = 3 if len(out) < 10_000 and rng.random() < 0.6 else 4
        out["".join(rng.choice(string.ascii_uppercase) for _ in range(size))] = None
    return list(out)


class Market:
    """Prices of ``symbols`` as random walks; ``ticks(k)`` moves k random symbols."""

    def __init__(self, symbols: Sequence[str], seed: int = 11) -> None:
        self._rng = random.Random(seed)
        self.symbols = list(symbols)
        self.prices = {s: round(self._rng.uniform(5, 500), 2) for s in self.symbols}
        self.seq = dict.fromkeys(self.symbols, 0)

    def tick(self, symbol: str) -> str:
        """Move ``symbol``'s price and return the tick message."""
        price = self.prices[symbol]
        price = max(0.01, round(price * (1 + self._rng.gauss(0, 0.002)), 2))
        self.prices[symbol] = price
        self.seq[symbol] += 1
        return json.dumps({"s": symbol, "p": price, "n": self.seq[symbol]})

    def ticks(self, count: int, among: Sequence[str] | None = None) -> list[str]:
        pool = self.symbols if among is None else among
        return [self.tick(self._rng.choice(pool)) for _ in range(count)] if pool else []

    def snapshot(self, symbols: Sequence[str]) -> list[str]:
        return [
            json.dumps({"s": s, "p": self.prices[s], "n": self.seq[s]})
            for s in symbols
            if s in self.prices
        ]


class TickServer:
    """Publishes ticks of ``symbols`` symbols at ``rate`` per second; restartable, same port."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, symbols: int = 300, rate: float = 3000
    ) -> None:
        if not 1 <= symbols <= MAX_SYMBOLS:
            raise ValueError(f"symbols must be 1..{MAX_SYMBOLS}")
        if not 0 <= rate <= MAX_RATE:
            raise ValueError(f"rate must be 0..{MAX_RATE} ticks per second")
        self.host = host
        self.port = port
        self.rate = rate
        self.market = Market(make_symbols(symbols))
        self.subscriptions = 0  # subscribe messages handled, over all runs
        self.sent = 0  # tick messages sent, over all runs
        self._subs: dict[ServerConnection, list[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 5.0) -> str:
        """Listen (again) and return the URL; OSError when the port cannot be bound."""
        if self.running:
            raise RuntimeError("the tick server is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="dashboard-ticks", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the tick server did not start in time")
        error = self._failure()
        if error is not None:
            self._thread.join()
            raise error
        return self.url

    def _failure(self) -> BaseException | None:
        """What stopped the server thread from listening, if anything."""
        return self._error

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and drop every client (no closing handshake: a crash, for the
        clients' reconnect)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self.running:
            with contextlib.suppress(RuntimeError):  # the loop just ended
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def serve_forever(self) -> None:
        """Block until the server thread ends (Ctrl-C in ``--serve``)."""
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.2)

    def __enter__(self) -> TickServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the asyncio side
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); a thread must not die silently
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handler, self.host, self.port, compression=None, max_size=2**16
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            publisher = asyncio.create_task(self._publish())
            await self._stop.wait()
            publisher.cancel()
            self._drop_all(server)
        self._subs.clear()

    def _drop_all(self, server: Server) -> None:
        # Every connection, subscribed or not yet: one whose subscribe was still on its way
        # was left open, then closed cleanly (1001) on the way out, and a clean close is not
        # reconnected (a test that stopped the server right after `opened` saw it under load).
        for conn in list(server.connections):
            conn.transport.abort()
        server.close(close_connections=False)

    async def _handler(self, conn: ServerConnection) -> None:
        try:
            async for message in conn:
                symbols = self._parse_subscribe(message)
                if symbols is None:
                    await conn.send(json.dumps({"type": "error", "text": "bad request"}))
                    continue
                self.subscriptions += 1
                self._subs[conn] = symbols
                for tick in self.market.snapshot(symbols):
                    await conn.send(tick)
        except ConnectionClosed:
            pass
        finally:
            self._subs.pop(conn, None)

    def _parse_subscribe(self, message: str | bytes) -> list[str] | None:
        try:
            request = json.loads(message)
        except ValueError:
            return None
        if not isinstance(request, dict) or request.get("type") != "subscribe":
            return None
        wanted = request.get("symbols")
        if wanted == "*":
            return list(self.market.symbols)
        if isinstance(wanted, list) and all(isinstance(s, str) for s in wanted):
            return [s for s in wanted if s in self.market.prices]
        return None

    async def _publish(self) -> None:
        loop = asyncio.get_running_loop()
        owed = 0.0
        last = loop.time()
        while True:
            await asyncio.sleep(STEP)
            now = loop.time()
            owed += (now - last) * self.rate
            last = now
            count = int(owed)
            owed -= count
            for conn, symbols in list(self._subs.items()):
                for tick in self.market.ticks(count, symbols):
                    try:
                        await conn.send(tick)  # waits only when the client's buffer is full
                    except ConnectionClosed:
                        break
                    self.sent += 1


class TickServerProcess:
    """:class:`TickServer` in a child process (``python -m dashboard_app.server``)."""

    def __init__(self, port: int = 0, *, symbols: int = 300, rate: float = 3000) -> None:
        self.port = port
        self.symbols = symbols
        self.rate = rate
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> str:
        """Start the child (on the same port as before, after a stop) and return the URL."""
        if self.running:
            raise RuntimeError("the tick server is already running")
        cmd = [sys.executable, "-m", "dashboard_app.server", "--port", str(self.port)]
        cmd += ["--symbols", str(self.symbols), "--rate", str(self.rate)]
        # The demo runs from a clone (it is not installed): the child finds it the same way.
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise OSError(f"the tick server did not start (port {self.port})")
        self.port = int(line)
        return self.url

    def stop(self) -> None:
        """Kill the child (its clients see the TCP connection drop)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dashboard_app.server``: print the port, then publish until killed."""
    p = argparse.ArgumentParser(prog="python -m dashboard_app.server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--symbols", type=int, default=300)
    p.add_argument("--rate", type=float, default=3000)
    args = p.parse_args(argv)
    server = TickServer(args.host, args.port, symbols=args.symbols, rate=args.rate)
    try:
        server.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(server.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
