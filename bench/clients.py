"""The WebSocket clients under test, behind one small interface.

* ``qtws Qt``: :class:`qtws.WebSocket` with signals, inside the Qt event loop;
* ``qtws Qt batch``: the same, taking messages from ``batch_received`` (a slot per slice);
* ``qtws blocking``: :class:`qtws.WebSocket`'s blocking API on the built-in selectors proxy;
* ``QWebSocket``: PyQt6's ``QtWebSockets.QWebSocket`` (C++), inside the same Qt event loop;
* ``picows`` and ``aiohttp``: asyncio clients (picows is written in Cython, aiohttp has C
  speedups);
* ``websockets asyncio`` and ``websockets sync``: the ``websockets`` library's clients;
* ``websocket-client``: the threaded, synchronous ``websocket`` package.

Every client checks each message it receives for equality with the one expected, so a client
that drops, truncates or garbles data fails the run instead of looking fast.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import picows
import websocket as wsclient
from PyQt6.QtCore import QEventLoop, QTimer, QUrl
from PyQt6.QtNetwork import QSslConfiguration, QSslSocket
from PyQt6.QtWebSockets import QWebSocket
from websockets.asyncio.client import ClientConnection as AsyncClient
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import ClientConnection as SyncClient
from websockets.sync.client import connect as sync_connect

import qtws
from qtws.loop import SelectorsProxy

Message = str | bytes
TIMEOUT = 60.0  # seconds; a stuck run fails instead of hanging the benchmark


class Client:
    """One WebSocket client implementation under test."""

    name = ""
    #: Measured only where the server pushes messages (receive, GUI flood).
    receive_only = False

    def open(self, url: str, compression: bool) -> None:
        """Connect; NotImplementedError when the client lacks permessage-deflate."""
        raise NotImplementedError

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        """Send ``messages`` back to back while receiving; return the seconds until ``expect``
        messages equal to ``expected`` have arrived."""
        raise NotImplementedError

    def round_trips(self, payload: Message, n: int) -> list[float]:
        """Send ``payload`` and wait for its echo, ``n`` times; the round trips in seconds."""
        raise NotImplementedError

    def tls_connect(self, url: str, cafile: str) -> float:
        """Open a new TLS connection to ``url`` (trusting ``cafile``), wait until it is open,
        close it; the seconds until open (GUI clients only)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


@functools.cache
def tls_context(cafile: str) -> ssl.SSLContext:
    """One context per CA file, shared like qtws's default one (loading it is not measured)."""
    return ssl.create_default_context(cafile=cafile)


class _Tally:
    """Counts received messages, checks each one, and calls ``done`` at the ``n``-th."""

    def __init__(self, n: int, expected: Message, done: Callable[[BaseException | None], None]):
        self.n = n
        self.count = 0
        self.expected = expected
        self.done = done

    def __call__(self, message: Any) -> None:
        # Nothing may escape a Qt slot under PyQt6 (it would abort the process).
        try:
            if message != self.expected:
                raise RuntimeError(f"received {len(message)} unexpected bytes")
            self.count += 1
            if self.count == self.n:
                self.done(None)
        except BaseException as exc:
            self.done(exc)


# -- Qt clients -----------------------------------------------------------------------------


class QtWait:
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


class _QtClient(Client):
    """Shared exchange/round-trip logic of the two Qt clients."""

    def _send(self, message: Message) -> None:
        raise NotImplementedError

    def _listen(self, slot: Callable[[Any], None], connect: bool) -> None:
        raise NotImplementedError

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        wait = QtWait()
        slot = _Tally(expect, expected, wait.finish)
        self._listen(slot, True)
        t0 = time.perf_counter()
        try:
            for message in messages:
                self._send(message)
            wait.run(f"{self.name} exchange")
        finally:
            self._listen(slot, False)
        return time.perf_counter() - t0

    def round_trips(self, payload: Message, n: int) -> list[float]:
        wait = QtWait()
        rtts: list[float] = []
        t0 = 0.0

        def start() -> None:
            nonlocal t0
            t0 = time.perf_counter()
            self._send(payload)

        def on_message(message: Any) -> None:
            try:
                rtts.append(time.perf_counter() - t0)
                if message != payload:
                    raise RuntimeError("bad echo")
                if len(rtts) >= n:
                    wait.finish()
                else:
                    start()
            except BaseException as exc:
                wait.finish(exc)

        self._listen(on_message, True)
        try:
            start()
            wait.run(f"{self.name} round trips")
        finally:
            self._listen(on_message, False)
        return rtts


class QtwsQt(_QtClient):
    name = "qtws Qt"

    def open(self, url: str, compression: bool) -> None:
        config = qtws.Config(compression=compression, max_message_size=None)
        self.ws = qtws.WebSocket(url, config=config)
        wait = QtWait()
        self.ws.opened.connect(wait.finish)
        self.ws.closed.connect(lambda ev: wait.finish(RuntimeError(f"closed: {ev}")))
        self.ws.open()
        wait.run("qtws open")
        self.ws.opened.disconnect()
        self.ws.closed.disconnect()

    def _send(self, message: Message) -> None:
        self.ws.send(message)

    def _listen(self, slot: Callable[[Any], None], connect: bool) -> None:
        if connect:
            self.ws.message.connect(slot)
        else:
            self.ws.message.disconnect(slot)

    def close(self) -> None:
        wait = QtWait()
        self.ws.closed.connect(lambda ev: wait.finish())
        self.ws.close()
        wait.run("qtws close")

    def tls_connect(self, url: str, cafile: str) -> float:
        config = qtws.Config(ssl_context=tls_context(cafile), compression=False)
        ws = qtws.WebSocket(url, config=config)
        wait = QtWait()
        ws.opened.connect(wait.finish)
        ws.closed.connect(lambda ev: wait.finish(RuntimeError(f"closed: {ev}")))
        t0 = time.perf_counter()
        ws.open()
        wait.run("qtws TLS open")
        elapsed = time.perf_counter() - t0
        ws.opened.disconnect()
        ws.closed.disconnect()
        done = QtWait()
        ws.closed.connect(lambda ev: done.finish())
        ws.close()
        done.run("qtws TLS close")
        return elapsed


class QtwsQtBatch(QtwsQt):
    """qtws in the Qt loop with one slot per dispatch slice (``batch_received``), the way a
    live-data GUI takes a flood."""

    name = "qtws Qt batch"
    receive_only = True

    def _listen(self, slot: Callable[[Any], None], connect: bool) -> None:
        batch_slot = self._batch_slots.pop(slot, None) if not connect else None
        if connect:

            def batch_slot(batch: list[Message]) -> None:
                for message in batch:
                    slot(message)

            self._batch_slots[slot] = batch_slot
            self.ws.batch_received.connect(batch_slot)
        elif batch_slot is not None:
            self.ws.batch_received.disconnect(batch_slot)

    def open(self, url: str, compression: bool) -> None:
        self._batch_slots: dict[Callable[[Any], None], Callable[[list[Message]], None]] = {}
        super().open(url, compression)


class PyQtWebSocket(_QtClient):
    name = "QWebSocket"

    def open(self, url: str, compression: bool) -> None:
        if compression:
            raise NotImplementedError("QWebSocket does not implement permessage-deflate")
        self.ws = QWebSocket()
        wait = QtWait()
        self.ws.connected.connect(wait.finish)
        self.ws.errorOccurred.connect(lambda err: wait.finish(RuntimeError(str(err))))
        self.ws.open(QUrl(url))
        wait.run("QWebSocket open")
        self.ws.connected.disconnect()
        self.ws.errorOccurred.disconnect()

    def _send(self, message: Message) -> None:
        if isinstance(message, str):
            self.ws.sendTextMessage(message)
        else:
            self.ws.sendBinaryMessage(message)

    def _listen(self, slot: Callable[[Any], None], connect: bool) -> None:
        for signal in (self.ws.textMessageReceived, self.ws.binaryMessageReceived):
            if connect:
                signal.connect(slot)
            else:
                signal.disconnect(slot)

    def close(self) -> None:
        wait = QtWait()
        self.ws.disconnected.connect(wait.finish)
        self.ws.close()
        wait.run("QWebSocket close")

    def tls_connect(self, url: str, cafile: str) -> float:
        if not QSslSocket.supportsSsl():
            raise NotImplementedError("Qt has no TLS backend here")
        ws = QWebSocket()
        conf = QSslConfiguration.defaultConfiguration()
        conf.addCaCertificates(cafile)
        ws.setSslConfiguration(conf)
        wait = QtWait()
        ws.connected.connect(wait.finish)
        ws.errorOccurred.connect(lambda err: wait.finish(RuntimeError(str(err))))
        ws.sslErrors.connect(lambda errors: wait.finish(RuntimeError(str(errors))))
        t0 = time.perf_counter()
        ws.open(QUrl(url))
        wait.run("QWebSocket TLS open")
        elapsed = time.perf_counter() - t0
        done = QtWait()
        ws.disconnected.connect(done.finish)
        ws.close()
        done.run("QWebSocket TLS close")
        ws.deleteLater()
        return elapsed


# -- synchronous clients ----------------------------------------------------------------------


def _threaded_exchange(
    send: Callable[[Message], object],
    recv: Callable[[], Any],
    messages: Sequence[Message],
    expect: int,
    expected: Message,
) -> float:
    """Receive on a thread while this one sends (or both sides stall on full buffers)."""
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            for _ in range(expect):
                if recv() != expected:
                    raise RuntimeError("unexpected message")
        except BaseException as exc:
            errors.append(exc)

    t0 = time.perf_counter()
    reader = threading.Thread(target=receive)
    reader.start()
    for message in messages:
        send(message)
    reader.join(TIMEOUT)
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    if reader.is_alive():
        raise TimeoutError("no answer in time")
    return elapsed


def _sync_round_trips(
    send: Callable[[Message], object], recv: Callable[[], Any], payload: Message, n: int
) -> list[float]:
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        send(payload)
        if recv() != payload:
            raise RuntimeError("bad echo")
        rtts.append(time.perf_counter() - t0)
    return rtts


class QtwsBlocking(Client):
    name = "qtws blocking"

    def open(self, url: str, compression: bool) -> None:
        config = qtws.Config(compression=compression, max_message_size=None)
        self.ws = qtws.WebSocket(url, config=config, loop=SelectorsProxy())
        self.ws.connect(timeout=TIMEOUT)

    def _recv(self) -> Message:
        return self.ws.wait_for_next_message(TIMEOUT)

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        # send() only queues: one thread can send everything, then receive.
        ws = self.ws
        t0 = time.perf_counter()
        for message in messages:
            ws.send(message)
        for _ in range(expect):
            if ws.wait_for_next_message(TIMEOUT) != expected:
                raise RuntimeError("unexpected message")
        return time.perf_counter() - t0

    def round_trips(self, payload: Message, n: int) -> list[float]:
        return _sync_round_trips(self.ws.send, self._recv, payload, n)

    def close(self) -> None:
        self.ws.close()
        try:
            while True:
                self.ws.wait_for_next_message(TIMEOUT)
        except qtws.ConnectionClosed:
            pass


class WebsocketsSync(Client):
    name = "websockets sync"

    def open(self, url: str, compression: bool) -> None:
        self.ws: SyncClient = sync_connect(
            url, compression="deflate" if compression else None, max_size=None
        )

    def _recv(self) -> Message:
        return self.ws.recv(TIMEOUT)

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        return _threaded_exchange(self.ws.send, self._recv, messages, expect, expected)

    def round_trips(self, payload: Message, n: int) -> list[float]:
        return _sync_round_trips(self.ws.send, self._recv, payload, n)

    def close(self) -> None:
        self.ws.close()


class WebsocketClient(Client):
    name = "websocket-client"

    def open(self, url: str, compression: bool) -> None:
        if compression:
            raise NotImplementedError("websocket-client does not implement permessage-deflate")
        self.ws = wsclient.create_connection(url, timeout=TIMEOUT, enable_multithread=True)

    def _send(self, message: Message) -> None:
        if isinstance(message, str):
            self.ws.send(message)
        else:
            self.ws.send_binary(message)

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        return _threaded_exchange(self._send, self.ws.recv, messages, expect, expected)

    def round_trips(self, payload: Message, n: int) -> list[float]:
        return _sync_round_trips(self._send, self.ws.recv, payload, n)

    def close(self) -> None:
        self.ws.close()


# -- asyncio clients --------------------------------------------------------------------------


class _AsyncClient(Client):
    """An asyncio client on its own event loop, driven with ``run_until_complete``."""

    loop: asyncio.AbstractEventLoop

    async def _send(self, message: Message) -> None:
        raise NotImplementedError

    async def _recv(self) -> Message:
        raise NotImplementedError

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        async def receive() -> None:
            for _ in range(expect):
                if await self._recv() != expected:
                    raise RuntimeError("unexpected message")

        async def run() -> float:
            t0 = time.perf_counter()
            reader = asyncio.create_task(receive())
            for message in messages:
                await self._send(message)
            await asyncio.wait_for(reader, TIMEOUT)
            return time.perf_counter() - t0

        return self.loop.run_until_complete(run())

    def round_trips(self, payload: Message, n: int) -> list[float]:
        async def run() -> list[float]:
            rtts = []
            for _ in range(n):
                t0 = time.perf_counter()
                await self._send(payload)
                if await asyncio.wait_for(self._recv(), TIMEOUT) != payload:
                    raise RuntimeError("bad echo")
                rtts.append(time.perf_counter() - t0)
            return rtts

        return self.loop.run_until_complete(run())


class WebsocketsAsyncio(_AsyncClient):
    name = "websockets asyncio"

    def open(self, url: str, compression: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.ws: AsyncClient = self.loop.run_until_complete(
            async_connect(url, compression="deflate" if compression else None, max_size=None)
        )

    async def _send(self, message: Message) -> None:
        await self.ws.send(message)

    async def _recv(self) -> Message:
        return await self.ws.recv()

    def close(self) -> None:
        self.loop.run_until_complete(self.ws.close())
        self.loop.close()


class Aiohttp(_AsyncClient):
    name = "aiohttp"

    def open(self, url: str, compression: bool) -> None:
        self.loop = asyncio.new_event_loop()

        async def connect() -> None:
            self.session = aiohttp.ClientSession()
            self.ws = await self.session.ws_connect(
                url, compress=15 if compression else 0, max_msg_size=0
            )

        self.loop.run_until_complete(connect())

    async def _send(self, message: Message) -> None:
        if isinstance(message, str):
            await self.ws.send_str(message)
        else:
            await self.ws.send_bytes(message)

    async def _recv(self) -> Message:
        msg = await self.ws.receive()
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise RuntimeError(f"aiohttp received {msg.type!r}")
        data: Message = msg.data
        return data

    def close(self) -> None:
        async def close() -> None:
            await self.ws.close()
            await self.session.close()

        self.loop.run_until_complete(close())
        self.loop.close()


class _PicowsListener(picows.WSListener):
    """Messages into an asyncio queue-like list with a waiter (picows calls back per frame)."""

    def __init__(self) -> None:
        self.inbox: list[Message] = []
        self.waiter: asyncio.Future[None] | None = None
        self.want = 0

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self.inbox.append(frame.get_payload_as_utf8_text())
        elif frame.msg_type == picows.WSMsgType.BINARY:
            self.inbox.append(frame.get_payload_as_bytes())
        else:
            return
        if not frame.fin:  # the echo server never fragments
            raise RuntimeError("picows benchmark client: fragmented message")
        if self.waiter is not None and len(self.inbox) >= self.want and not self.waiter.done():
            self.waiter.set_result(None)


class Picows(_AsyncClient):
    name = "picows"

    def open(self, url: str, compression: bool) -> None:
        if compression:
            raise NotImplementedError("picows does not implement permessage-deflate")
        self.loop = asyncio.new_event_loop()
        self.transport, listener = self.loop.run_until_complete(
            picows.ws_connect(_PicowsListener, url, max_frame_size=64 * 2**20)
        )
        assert isinstance(listener, _PicowsListener)
        self.listener = listener

    async def _send(self, message: Message) -> None:
        if isinstance(message, str):
            self.transport.send(picows.WSMsgType.TEXT, message.encode())
        else:
            self.transport.send(picows.WSMsgType.BINARY, message)

    async def _wait(self, n: int) -> None:
        listener = self.listener
        if len(listener.inbox) < n:
            listener.want = n
            listener.waiter = self.loop.create_future()
            await listener.waiter
            listener.waiter = None

    async def _recv(self) -> Message:
        await self._wait(1)
        return self.listener.inbox.pop(0)

    def exchange(self, messages: Sequence[Message], expect: int, expected: Message) -> float:
        # picows has no receive call: its listener collects frames, checked at the end.
        listener = self.listener

        async def run() -> float:
            t0 = time.perf_counter()
            for message in messages:
                await self._send(message)
            await asyncio.wait_for(self._wait(expect), TIMEOUT)
            elapsed = time.perf_counter() - t0
            inbox, listener.inbox = listener.inbox, []
            if len(inbox) != expect or any(m != expected for m in inbox):
                raise RuntimeError("picows: unexpected messages")
            return elapsed

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.transport.send_close()
        self.loop.run_until_complete(self.transport.wait_disconnected())
        self.loop.close()


CLIENTS: list[type[Client]] = [
    QtwsQt,
    QtwsQtBatch,
    QtwsBlocking,
    PyQtWebSocket,
    Picows,
    Aiohttp,
    WebsocketsAsyncio,
    WebsocketsSync,
    WebsocketClient,
]
#: The columns that are qtws (the others are its peers).
QTWS = ("qtws Qt", "qtws Qt batch", "qtws blocking")
