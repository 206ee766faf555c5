"""The echo server for the end-to-end benchmarks, run in a child process so that it does not
share the client's GIL: ``python -m bench.server``.

It serves two ``websockets`` asyncio echo servers on 127.0.0.1 -- one without
permessage-deflate, one with it -- prints ``<plain port> <deflate port>`` on one line, and
exits when its standard input reaches EOF (the parent closes it, or dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from types import TracebackType

from websockets.asyncio.server import ServerConnection, serve


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            await ws.send(message)


async def _main() -> None:
    common = {"max_size": None, "ping_interval": None}
    async with (
        serve(_echo, "127.0.0.1", 0, compression=None, **common) as plain,  # type: ignore[arg-type]
        serve(_echo, "127.0.0.1", 0, compression="deflate", **common) as deflate,  # type: ignore[arg-type]
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
