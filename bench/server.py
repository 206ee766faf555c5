"""The peer of the end-to-end benchmarks, run in a child process so that it does not share the
client's GIL.

:class:`EchoServer` starts Node's ``ws`` package (``bench/node_echo.js``, with bufferutil, the
fastest common server) when ``node`` and ``npm`` are available (``npm ci`` installs it once
into the git-ignored ``bench/node_modules``), else this module's ``websockets`` asyncio server
(``python -m bench.server``).  Either serves on 127.0.0.1 a plain server, one with
permessage-deflate and, given a certificate (made with ``trustme``), one with TLS; prints
``<plain port> <deflate port> [<tls port>]`` on one line, and exits when its standard input
reaches EOF (the parent closes it, or dies).  Every message is echoed, except these text
commands:

* ``!flood N SIZE``: the server sends N text messages of SIZE bytes at once.  On the plain
  server the frames are built once and written straight to the transport, so that the
  server's own per-message cost does not cap what a client can receive.
* ``!sink N``: the server swallows the next N messages and answers ``!done N``: what a
  client can send.
* ``!blob N``: the server sends one binary message of N zero bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
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
                if command == "!blob":
                    await ws.send(bytes(int(args[0])))
                    continue
            await ws.send(message)


async def _plain(ws: ServerConnection) -> None:
    await _serve(ws, raw=True)


async def _deflate(ws: ServerConnection) -> None:
    await _serve(ws, raw=False)


async def _main(cert: list[str]) -> None:
    common = {"max_size": None, "ping_interval": None}
    async with contextlib.AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(
                serve(_plain, "127.0.0.1", 0, compression=None, **common)  # type: ignore[arg-type]
            ),
            await stack.enter_async_context(
                serve(_deflate, "127.0.0.1", 0, compression="deflate", **common)  # type: ignore[arg-type]
            ),
        ]
        if cert:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(cert[0], cert[1])
            servers.append(
                await stack.enter_async_context(
                    serve(_deflate, "127.0.0.1", 0, ssl=tls, compression=None, **common)  # type: ignore[arg-type]
                )
            )
        ports = [next(iter(s.sockets)).getsockname()[1] for s in servers]
        print(*ports, flush=True)
        # Blocks in a worker thread until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


BENCH = Path(__file__).resolve().parent


@functools.cache
def node_unavailable() -> str | None:
    """Why the Node ``ws`` server cannot run here (then the websockets server is used)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are not both installed"
    if not (BENCH / "node_modules" / "ws" / "package.json").exists():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=BENCH,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return f"`npm ci` in bench/ failed: {done.stderr.strip()[-300:]}"
    return None


def _node_version() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return out.stdout.strip()


def _make_cert(directory: str) -> tuple[str, str, str] | None:
    """A trustme CA and a certificate for 127.0.0.1: (cert, key, CA) files, None without
    trustme."""
    try:
        import trustme
    except ImportError:
        return None
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    paths = [os.path.join(directory, name) for name in ("cert.pem", "key.pem", "ca.pem")]
    leaf.private_key_and_cert_chain_pem.write_to_path(paths[0])
    leaf.private_key_pem.write_to_path(paths[1])
    ca.cert_pem.write_to_path(paths[2])
    return paths[0], paths[1], paths[2]


class EchoServer:
    """Start the benchmark peer in a child process; ``url``, ``deflate_url`` and (with trustme)
    ``tls_url`` and ``cafile`` once entered.  ``kind``: "auto" (Node when available),
    "node" or "python"; ``description`` names the server that runs."""

    def __init__(self, kind: str = "auto") -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.kind = kind
        self.url = ""
        self.deflate_url = ""
        self.tls_url = ""
        self.cafile = ""
        self.description = ""

    def __enter__(self) -> EchoServer:
        use_node = self.kind == "node" or (self.kind == "auto" and node_unavailable() is None)
        if self.kind == "node" and node_unavailable() is not None:
            raise RuntimeError(f"the Node server cannot run: {node_unavailable()}")
        self._tmp = tempfile.TemporaryDirectory(prefix="qtws-bench-")
        cert = _make_cert(self._tmp.name)
        cert_args = list(cert[:2]) if cert is not None else []
        if use_node:
            cmd = ["node", str(BENCH / "node_echo.js"), *cert_args]
            self.description = f"Node {_node_version()} ws 8.23.0 + bufferutil (one process)"
        else:
            from importlib.metadata import version

            cmd = [sys.executable, "-m", "bench.server", *cert_args]
            self.description = f"websockets {version('websockets')} asyncio (one process)"
        self._proc = subprocess.Popen(
            cmd,
            cwd=BENCH.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if len(line) < 2:
            self.__exit__(None, None, None)
            raise RuntimeError("the benchmark echo server did not start")
        self.url = f"ws://127.0.0.1:{line[0]}/"
        self.deflate_url = f"ws://127.0.0.1:{line[1]}/"
        if len(line) > 2 and cert is not None:
            self.tls_url = f"wss://127.0.0.1:{line[2]}/"
            self.cafile = cert[2]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        self._proc = None
        if proc is not None:
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
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(sys.argv[1:]))
