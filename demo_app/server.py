"""The embedded chat server: the ``websockets`` asyncio server on a background thread.

It speaks the protocol of :mod:`demo_app.protocol`. :meth:`ChatServer.stop` and
:meth:`ChatServer.start` can be repeated, and a restart binds the same port again, so the
clients' reconnect logic can be shown (and tested) against a server that goes away and
comes back.

Files (see the protocol) are relayed chunk by chunk, never stored: a chunk goes to every
recipient (awaiting each one's write buffer, so a slow reader slows the sender through TCP
instead of growing the server's memory) before the sender's next message is read.  Sizes are
bounded by :data:`demo_app.protocol.MAX_FILE` (20 MiB) and ``MAX_TRANSFERS`` files per client.

Stopping closes every client (code 1001, "going away") unless ``abrupt`` is set, in which
case the TCP connections are dropped without a closing handshake. The clients usually run
on the caller's thread (the Qt GUI thread): a caller that must keep its event loop
running while the server says goodbye uses ``stop(wait=False)`` and polls
:attr:`ChatServer.running`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from .protocol import (
    MAX_CHUNK,
    MAX_FILE,
    MAX_TRANSFERS,
    ClientFile,
    ClientFileDone,
    ClientJoin,
    ClientSay,
    Invalid,
    decode_chunk,
    encode_chat,
    encode_chunk,
    encode_file,
    encode_file_cancel,
    encode_file_end,
    encode_file_refused,
    encode_joined,
    encode_left,
    encode_presence,
    parse_client_message,
)

# Messages a connection may send before it joins; they wait for the join (see protocol.py).
_MAX_PENDING = 100
# Chat lines replayed to a client right after its join, so one that was away catches up.
HISTORY = 50


@dataclass
class _Relay:
    """A file on its way through the server: the sender's id -> ours, and who gets it."""

    id: int
    size: int
    targets: list[ServerConnection]
    received: int = 0


@dataclass
class _Client:
    ws: ServerConnection | None = None
    nick: str | None = None
    pending: list[str] = field(default_factory=list)
    files: dict[int, _Relay] = field(default_factory=dict)  # by the sender's id


class ChatServer:
    """A chat server on ``host:port`` (port 0: a free one, kept across restarts)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._log = log
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_request: asyncio.Event | None = None
        self._abrupt = False
        self._stopped = threading.Event()
        self._stopped.set()
        self._startup_error: BaseException | None = None
        self._clients: dict[ServerConnection, _Client] = {}
        self._lock = threading.Lock()
        # Kept across stop/start, like a real server's store; the random prefix keeps ids
        # unique against another server process on the same port.
        self._history: collections.deque[str] = collections.deque(maxlen=HISTORY)
        self._id_prefix = secrets.token_hex(3)
        self._next_id = 0
        self._next_file = 0

    # -- public API ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port/``; valid once started (the port is known then)."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the server thread has finished after :meth:`stop`."""
        return not self._stopped.is_set()

    def nicks(self) -> list[str]:
        """The nicks joined right now, in join order (a snapshot, safe from any thread)."""
        with self._lock:
            return [c.nick for c in self._clients.values() if c.nick is not None]

    def start(self, timeout: float = 5.0) -> str:
        """Listen (again) and return the URL; raises OSError when the port cannot be bound."""
        if self.running:
            raise RuntimeError("the chat server is already running")
        if self._thread is not None:
            self._thread.join()
        ready = threading.Event()
        self._startup_error = None
        self._abrupt = False
        self._stopped.clear()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="demo-chat-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the chat server did not start in time")
        error = self._failure()
        if error is not None:
            self._stopped.wait()
            raise error
        return self.url

    def stop(self, *, abrupt: bool = False, wait: bool = True, timeout: float = 5.0) -> None:
        """Close every client and stop listening; idempotent.

        ``abrupt``: drop TCP without a closing handshake (like a crash or a lost network).
        ``wait``: block until the server thread ended. Do not wait from the thread that runs
        the clients' event loop with a graceful stop: the clients could not answer.
        """
        loop, request = self._loop, self._stop_request
        if loop is not None and request is not None and self.running:
            self._abrupt = abrupt
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(request.set)
        if wait and not self._stopped.wait(timeout):
            raise TimeoutError("the chat server did not stop in time")

    def send_raw(self, text: str) -> None:
        """Send ``text`` as is to every connected client (announcements; tests of bad input)."""
        loop = self._loop
        if loop is None or not self.running:
            raise RuntimeError("the chat server is not running")
        loop.call_soon_threadsafe(self._broadcast, text, False)

    def serve_forever(self) -> None:
        """Block until Ctrl-C (SIGINT), then stop (used by ``--serve``, on the main thread)."""
        # Ctrl-C only asks the server thread to stop: a KeyboardInterrupt raised inside
        # Event.wait() can leave the event's lock held, and the final stop() then waited
        # for it forever.
        previous = signal.signal(signal.SIGINT, lambda *_: self.stop(wait=False))
        try:
            while self.running:
                self._stopped.wait(0.5)
        finally:
            signal.signal(signal.SIGINT, previous)
            self.stop()

    def __enter__(self) -> ChatServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the server thread --------------------------------------------------------------

    def _failure(self) -> BaseException | None:
        # A method, not the attribute: mypy would keep it narrowed to None after the reset.
        return self._startup_error

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:
            self._startup_error = self._startup_error or exc
        finally:
            self._loop = None
            with self._lock:
                self._clients.clear()
            self._stopped.set()
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_request = asyncio.Event()
        try:
            server: Server = await serve(
                self._handle, self.host, self.port, close_timeout=2.0,
                max_size=MAX_CHUNK + 4096,  # a file chunk and its id; text is far smaller
            )  # fmt: skip
        except OSError as exc:
            self._startup_error = exc
            return
        self.port = server.sockets[0].getsockname()[1]
        self._say(f"chat server listening on {self.url}")
        ready.set()
        await self._stop_request.wait()
        if self._abrupt:
            for conn in list(server.connections):
                conn.transport.abort()
        server.close(code=1001, reason="server shutting down")
        await server.wait_closed()
        self._say("chat server stopped")

    def _broadcast(self, text: str, joined_only: bool = True) -> None:
        with self._lock:
            targets = [ws for ws, c in self._clients.items() if c.nick or not joined_only]
        broadcast(targets, text)

    def _presence(self) -> None:
        self._broadcast(encode_presence(self.nicks()))

    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client()
        client.ws = ws
        with self._lock:
            self._clients[ws] = client
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    await self._on_chunk(client, raw)
                else:
                    self._on_text(client, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.pop(ws, None)
            for file_id in list(client.files):
                self._end_file(client, file_id, f"{client.nick or 'the sender'} left")
            if client.nick is not None:
                self._say(f"{client.nick} left")
                self._broadcast(encode_left(client.nick))
                self._presence()

    def _on_text(self, client: _Client, raw: str) -> None:
        event = parse_client_message(raw)
        if isinstance(event, ClientJoin):
            old = client.nick
            if old == event.nick:
                self._presence()
                return
            with self._lock:
                client.nick = event.nick
            if old is not None:
                self._broadcast(encode_left(old))
            self._say(f"{event.nick} joined")
            self._broadcast(encode_joined(event.nick))
            self._presence()
            if client.ws is not None:
                for line in self._history:
                    broadcast([client.ws], line)
            pending, client.pending = client.pending, []
            for text in pending:
                self._chat(event.nick, text)
        elif isinstance(event, ClientSay):
            if client.nick is None:
                if len(client.pending) < _MAX_PENDING:
                    client.pending.append(event.text)
                return
            self._chat(client.nick, event.text)
        elif isinstance(event, ClientFile):
            self._offer_file(client, event)
        elif isinstance(event, ClientFileDone):
            relay = client.files.get(event.id)
            if relay is None:
                return  # refused before, or never announced
            if event.cancelled:
                self._end_file(client, event.id, f"{client.nick} cancelled")
            elif relay.received != relay.size:
                self._end_file(client, event.id, "incomplete", refuse=True)
            else:
                del client.files[event.id]
                broadcast(relay.targets, encode_file_end(relay.id))
        elif isinstance(event, Invalid):
            self._say(
                f"ignored a bad message from {client.nick or 'a new client'}: {event.problem}"
            )

    def _offer_file(self, client: _Client, offer: ClientFile) -> None:
        problem = ""
        if client.nick is None:
            problem = "join first"
        elif not 0 <= offer.size <= MAX_FILE:
            problem = f"over {MAX_FILE // 2**20} MiB"
        elif offer.id in client.files:
            problem = "that id is already in use"
        elif len(client.files) >= MAX_TRANSFERS:
            problem = f"at most {MAX_TRANSFERS} files at once"
        if problem or client.nick is None or client.ws is None:
            if client.ws is not None:
                broadcast([client.ws], encode_file_refused(offer.id, problem))
            return
        self._next_file = (self._next_file + 1) % 2**32
        with self._lock:
            targets = [ws for ws, c in self._clients.items() if c.nick and c is not client]
        client.files[offer.id] = _Relay(self._next_file, offer.size, targets)
        self._say(f"{client.nick} sends {offer.name} ({offer.size:,} bytes)")
        broadcast(targets, encode_file(self._next_file, offer.name, offer.size, client.nick))

    async def _on_chunk(self, client: _Client, raw: bytes) -> None:
        decoded = decode_chunk(raw)
        if decoded is None:
            return
        file_id, data = decoded
        relay = client.files.get(file_id)
        if relay is None:
            return  # refused (the sender was told) or never announced
        relay.received += len(data)
        if relay.received > relay.size or len(data) > MAX_CHUNK:
            self._end_file(client, file_id, "more bytes than announced", refuse=True)
            return
        message = encode_chunk(relay.id, data)
        await asyncio.gather(*(self._send_quietly(ws, message) for ws in relay.targets))

    @staticmethod
    async def _send_quietly(ws: ServerConnection, message: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):  # that recipient left: the others go on
            await ws.send(message)

    def _end_file(self, client: _Client, file_id: int, reason: str, refuse: bool = False) -> None:
        relay = client.files.pop(file_id)
        broadcast(relay.targets, encode_file_cancel(relay.id, reason))
        if refuse and client.ws is not None:
            broadcast([client.ws], encode_file_refused(file_id, reason))

    def _chat(self, nick: str, text: str) -> None:
        self._say(f"{nick}: {text}")
        self._next_id += 1
        line = encode_chat(nick, text, id=f"{self._id_prefix}:{self._next_id}")
        self._history.append(line)
        self._broadcast(line)
