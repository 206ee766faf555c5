"""The peer of the end-to-end benchmarks, run in a child process so that it does not share the
client's GIL: ``python -m bench.server``.

It serves two ``websockets`` asyncio servers on 127.0.0.1 -- one without permessage-deflate,
one with it -- prints ``<plain port> <deflate port>`` on one line, and exits when its standard
input reaches EOF (the parent closes it, or dies).  Every message is echoed, except two text
commands:

* ``!flood N SIZE``: the server sends N text messages of SIZE bytes at once.  On the plain
  server the frames are built once and written straight to the transport, so that the
  server's own per-message cost does not cap what a client can receive.
* ``!sink N``: the server swallows the next N messages and answers ``!done N``: what a
  client can send.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from types import TracebackType

from websockets.asyncio.server import ServerConnection, serve


def flood_payload(size: int) -> str:
    """The text every flooded message carries (the client checks its length)."""
    return ("0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


async def _flood(ws: ServerConnection, count: int, size: int, raw: bool) -> None:
    payload = flood_payload(size)
    if raw:
        # Unmasked server frames, written in ~1 MiB pieces; websockets writes nothing else
        # meanwhile (the client waits for the whole flood before it sends again).
        frame = _frame(payload.encode())
        per = max(1, 2**20 // len(frame))
        transport = ws.transport
        for start in range(0, count, per):
            async with ws.send_context():  # waits while the transport's buffer is full
                transport.write(frame * min(per, count - start))
        return
    for _ in range(count):
        await ws.send(payload)


async def _serve(ws: ServerConnection, raw: bool) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            if isinstance(message, str) and message.startswith("!"):
                command, *args = message.split()
                if command == "!flood":
                    await _flood(ws, int(args[0]), int(args[1]), raw)
                    continue
                if command == "!sink":
                    for _ in range(int(args[0])):
                        await ws.recv()
                    await ws.send(f"!done {args[0]}")
                    continue
            await ws.send(message)


async def _plain(ws: ServerConnection) -> None:
    await _serve(ws, raw=True)


async def _deflate(ws: ServerConnection) -> None:
    await _serve(ws, raw=False)


async def _main() -> None:
    common = {"max_size": None, "ping_interval": None}
    async with (
        serve(_plain, "127.0.0.1", 0, compression=None, **common) as plain,  # type: ignore[arg-type]
        serve(_deflate, "127.0.0.1", 0, compression="deflate", **common) as deflate,  # type: ignore[arg-type]
    ):
        ports = [next(iter(s.sockets)).getsockname()[1] for s in (plain, deflate)]
        print(*ports, flush=True)
        # Blocks in a worker thread until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class EchoServer:
    """Start :mod:`bench.server` in a child process; ``url`` / ``deflate_url`` once entered."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.deflate_url = ""

    def __enter__(self) -> EchoServer:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if len(line) != 2:
            self.__exit__(None, None, None)
            raise RuntimeError("the benchmark echo server did not start")
        self.url = f"ws://127.0.0.1:{line[0]}/"
        self.deflate_url = f"ws://127.0.0.1:{line[1]}/"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
