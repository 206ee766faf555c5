"""The QObject façade: :class:`WebSocket` with signals, browser-style callbacks and a blocking API.

How it works
------------
A :class:`WebSocket` belongs to the thread that created it and to that thread's event-loop
proxy (:func:`qtws.get_event_loop_proxy`).  ``open()`` starts a
:class:`~qtws.connection.Connection`, which reports back to a private ``_Sink`` (holding the
WebSocket weakly, so no user-visible ``on_*`` attribute can be overwritten by mistake); each
report updates the state *first* and emits *then*, and every emission re-checks the state
afterwards, because a slot may call ``close()``, ``send()`` or ``deleteLater()``.

``send()`` and ``close()`` may be called from any thread: they are marshalled to the owning
thread with the proxy's ``call_soon_threadsafe`` (FIFO, so one producer's messages keep their
order).  While CONNECTING (or waiting to reconnect) messages wait in an outbox bounded by
``Config.outbox_limit``; they are written, in order, right after the ``opened`` slots ran (so
a slot can send a hello or an authentication message ahead of them).

The blocking API (``connect``, ``wait_for_next_message``, iteration...) runs the proxy's loop
until the answer is there, so it works in a plain script (selectors proxy) and in a Qt app.
Received messages are buffered for it when the blocking API is in use or when nothing listens
to the message signals/callback, so no message is dropped silently.

Signal sequences
----------------
* clean close: ``state_changed(CLOSING)``, ``state_changed(CLOSED)``, ``closed(CloseEvent)``.
* failure: ``error(exc)``, ``state_changed(CLOSED)``, ``closed(CloseEvent(code, ..., False))``
  (code 1006 for a lost connection or timeout, else the close code qtws sent, e.g. 1002).
* with a :class:`~qtws.ReconnectPolicy`, a connection that ends without ``close()`` gives
  ``error(exc)`` (if it failed), ``state_changed(CONNECTING)``, ``reconnecting(attempt, delay)``,
  then ``opened`` again on success.  ``closed`` comes once, when the WebSocket stops for good:
  after ``close()``, after ``max_attempts`` failed attempts, or on a permanent error (invalid
  URL, certificate error, refused negotiation, HTTP 4xx other than 408/429).

This module is over 400 lines (the class ~600) because the public API is one object: its
signals, browser-style callbacks and methods are the contract (design.md), and each report
from the driver must update the state and emit in one place that re-checks the state after
every emission.  The reconnect policy (:mod:`qtws.reconnect`), the blocking API
(:mod:`qtws.blocking`) and the value types (:mod:`qtws.state`) live in their own modules.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import loop as _loop
from . import network as _network
from . import system_proxy
from ._qt import QMetaMethod, QObject, QThread, Signal, Slot, is_deleted
from .aio import AsyncAPI
from .blocking import _INBOX_HIGH_WATER, BlockingAPI
from .certificates import UntrustedCertificate
from .config import Config
from .connection import Connection, Observer, dispatching
from .core import State, WebSocketURI, parse_uri
from .errors import BufferFull, InvalidState
from .loop.base import EventLoopProxy
from .reconnect import Outbox, Reconnector
from .state import CloseEvent, ReadyState, Stats

__all__ = ["CloseEvent", "ReadyState", "Stats", "WebSocket"]

_log = logging.getLogger("qtws")
system_proxy.install()  # proxy="system" (and "auto" in a Qt application) asks Qt
_tls = threading.local()  # per-thread depth of qtws signal dispatch (re-entrancy check)

_FORBIDDEN_CODES = {1004, 1005, 1006, 1015}
_COUNTED_SIGNALS = (
    "message",
    "batch_received",
    "text_message",
    "binary_message",
    "bytes_written",
    "drained",
    "certificate_error",
)


# Attributes that decide where a received message goes (mirrored in WebSocket._route).
_ROUTING = frozenset(("onmessage", "onbatch", "_waiting", "_aio_reader"))
# Spellings from other libraries (websocket-client) that would silently do nothing here.
_FOREIGN_CALLBACKS = {
    "on_open": "onopen",
    "on_message": "onmessage",
    "on_error": "onerror",
    "on_close": "onclose",
}


def _validate_close(code: int, reason: str) -> None:
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"close code must be an int, not {type(code).__name__}")
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, not {type(reason).__name__}")
    # RFC 6455 7.4.1/7.4.2: 1004-1006 and 1015 must never be sent; 1016-2999 are unassigned
    # (IANA registry); only 1000-4999 exist.
    if code in _FORBIDDEN_CODES or not (1000 <= code <= 4999) or 1016 <= code <= 2999:
        raise ValueError(f"close code {code} may not be sent (use 1000-1003, 1007-1014, 3000-4999)")
    if len(reason.encode("utf-8")) > 123:
        raise ValueError("close reason is longer than 123 UTF-8 bytes (RFC 6455 5.5)")


class _Sink:
    """The driver's reports to the façade (private: a user's ``ws.on_open = ...`` cannot
    overwrite them).  It holds the WebSocket weakly, so no reference cycle runs through the
    driver."""

    __slots__ = ("_ws",)

    def __init__(self, ws: WebSocket) -> None:
        self._ws = weakref.ref(ws)

    def on_open(self, subprotocol: str | None, extensions: tuple[str, ...]) -> None:
        ws = self._ws()
        if ws is not None:
            ws._report_open(subprotocol, extensions)

    def on_message(self, data: str | bytes) -> None:
        """A complete message (the driver's fallback; it calls :meth:`receiver` instead)."""
        deliver = self.receiver()
        if deliver is not None:
            deliver(data)

    def receiver(self) -> Callable[[str | bytes], None] | None:
        """The report of one message, for the messages of one dispatch slice (``None``: only
        batch listeners, nothing to do per message).  The hottest path, so what the slice's
        messages share is looked up once here (the listener counts, the routing list, the
        thread's dispatch depth) and each message costs only what may change between two of
        them (a slot may connect, disconnect, set ``onmessage``, close or delete the object).
        The driver asks again after any other event, whose slots may change more."""
        ref = self._ws
        ws = ref()
        if ws is None:
            return None
        n = ws._listeners
        route = ws._route
        callback, reader, onbatch = route
        per_message = reader or callback or n["message"] or n["text_message"] or n["binary_message"]
        if not per_message and (n["batch_received"] or onbatch):
            # Only batch listeners, so no code of the application runs between two messages
            # (the driver asks again after any other event): nothing to do per message.
            return None

        def deliver(data: str | bytes) -> None:
            ws = ref()
            if ws is None:
                return
            callback, reader, onbatch = route
            every = n["message"]
            text = type(data) is str
            per_message = callback or every or (n["text_message"] if text else n["binary_message"])
            # Buffered for the blocking API while it waits, for recv() once it was used, and
            # whenever no slot or callback will see this message (so nothing is dropped unseen).
            if reader or not per_message:
                if not per_message and not reader and (n["batch_received"] or onbatch):
                    return  # only batch listeners: the driver hands the slice over when it ends
                ws._buffer_message(data)
                if not per_message:
                    if is_deleted(ws):
                        ws._emit("message")  # handles the deleted object (closes politely)
                    return
            if not every and is_deleted(ws):
                ws._emit("message")  # handles the deleted object (closes politely)
                return
            # The driver marks the slice as a dispatch (see connection.dispatching()), so
            # a blocking call in a slot raises; a deleted object's signals raise RuntimeError
            # (cheaper than asking is_deleted() before each emission).
            try:
                if every:
                    ws.message.emit(data)
                if callback is not None:
                    try:
                        callback(data)
                    except Exception:
                        _log.exception("exception in a qtws callback %r", callback)
                # A slot may have connected or disconnected the typed signal's slots: read
                # the count again.
                if n["text_message"] if text else n["binary_message"]:
                    (ws.text_message if text else ws.binary_message).emit(data)
            except RuntimeError:
                if not is_deleted(ws):
                    raise
                ws._emit("message")  # handles the deleted object (closes politely)

        return deliver

    def on_batch(self, messages: list[str | bytes]) -> None:
        ws = self._ws()
        if ws is not None:
            ws._emit("batch_received", messages, callback=ws.onbatch)

    def on_ping(self, payload: bytes) -> None:
        """A ping arrived (already answered by the core)."""

    def on_pong(self, payload: bytes, rtt: float | None) -> None:
        ws = self._ws()
        if ws is not None:
            ws._report_pong(payload, rtt)

    def on_written(self, nbytes: int, drained: bool) -> None:
        ws = self._ws()
        if ws is not None:
            ws._report_written(nbytes, drained)

    def wants_certificate_decision(self) -> bool:
        ws = self._ws()
        return ws is not None and ws._listeners["certificate_error"] > 0

    def on_certificate_error(self, cert: UntrustedCertificate) -> None:
        ws = self._ws()
        if ws is not None:
            ws._emit("certificate_error", cert)

    def on_close(self, code: int, reason: str, was_clean: bool, exc: BaseException | None) -> None:
        ws = self._ws()
        if ws is not None:
            ws._report_close(code, reason, was_clean, exc)


class _DeletionWatcher(QObject):
    """A child QObject whose slot hears ``destroyed`` of its WebSocket.

    A slot on a receiver QObject (rather than a Python callable) is disconnected by Qt itself
    when the receiver goes, so no Python object can dangle; it holds the WebSocket weakly, so
    no reference cycle needs the cycle collector; and it never raises (PyQt would abort)."""

    def __init__(self, ws: WebSocket) -> None:
        super().__init__(ws)
        self._ws = weakref.ref(ws)

    @Slot()
    def on_destroyed(self) -> None:
        try:
            ws = self._ws()
            if ws is not None:
                ws._on_destroyed()
        except BaseException:
            with contextlib.suppress(BaseException):
                _log.exception("qtws: cleaning up a deleted WebSocket failed")


class WebSocket(BlockingAPI, AsyncAPI, QObject):
    """A WebSocket client connection: Qt signals, browser-style callbacks and a blocking API.

    Signals (emitted on the thread that owns the object)::

        opened()                     the connection is OPEN
        message(object)              a message: str for text, bytes for binary
        text_message(str)            a text message
        binary_message(bytes)        a binary message
        batch_received(list)         every message of one dispatch slice, in order: emitted
                                     once the slice ends, after the slice's per-message
                                     signals (connect only this one: one slot call per slice)
        error(object)                a WebSocketError, OSError or TimeoutError; closed follows
        closed(object)               CloseEvent(code, reason, was_clean); once per open()
        state_changed(object)        the new ReadyState
        pong_received(bytes, float)  a pong answering our ping, and its round trip in seconds
        reconnecting(int, float)     reconnect attempt number and the delay before it
        bytes_written(int)           bytes handed to the socket since the last emission
        drained()                    nothing waits to be written any more (buffered_amount 0)
        certificate_error(object)    a qtws.UntrustedCertificate; call .accept() in the slot to
                                     go on with it (see qtws.certificates)

    Browser-style callbacks ``onopen()``, ``onmessage(str | bytes)``,
    ``onerror(BaseException)``, ``onclose(CloseEvent)``, and ``onbatch(list)``, receive the
    same arguments (setting
    ``on_open``/``on_message``... raises ``AttributeError`` naming the right spelling: those
    are websocket-client's names, with other signatures).  See the module docstring for the
    exact signal sequences.

    This class is over 300 lines because every public call re-checks state after each
    emission (a slot may close, send or delete); its pieces live beside it: the blocking API
    in :mod:`qtws.blocking`, reconnect and outbox in :mod:`qtws.reconnect`.
    """

    #: Browser-style callback: the connection is OPEN.
    onopen: Callable[[], Any] | None = None
    #: Browser-style callback: a message (``str`` or ``bytes``).
    onmessage: Callable[[str | bytes], Any] | None = None
    #: Callback: the messages of one dispatch slice (as ``batch_received``).
    onbatch: Callable[[list[str | bytes]], Any] | None = None
    #: Browser-style callback: an error (a closed call follows).
    onerror: Callable[[BaseException], Any] | None = None
    #: Browser-style callback: the connection closed (a :class:`CloseEvent`).
    onclose: Callable[[CloseEvent], Any] | None = None

    # PySide6 finds QObject's own methods before those of a Python base listed earlier:
    # without this, QObject.connect would shadow the blocking connect().
    connect = BlockingAPI.connect

    opened = Signal()
    message = Signal(object)
    text_message = Signal(str)
    binary_message = Signal(bytes)
    batch_received = Signal(object)  # a list: `list` would make PyQt copy it
    error = Signal(object)
    closed = Signal(object)
    state_changed = Signal(object)
    pong_received = Signal(bytes, float)
    reconnecting = Signal(int, float)
    bytes_written = Signal(int)
    drained = Signal()
    certificate_error = Signal(object)

    def __setattr__(self, name: str, value: Any) -> None:
        # A Python __setattr__ makes every attribute assignment on the WebSocket ~0.4 us
        # slower, so the per-message paths assign none (counters live in dicts and lists).
        if name in _FOREIGN_CALLBACKS:
            raise AttributeError(
                f"qtws.WebSocket has no {name!r}: use ws.{_FOREIGN_CALLBACKS[name]} = callback "
                f"(browser style, called with the event's arguments only) or the signals"
            )
        super().__setattr__(name, value)
        if name in _ROUTING:
            self._update_route()
            if name == "onbatch":
                self._update_progress_reports()

    def __init__(
        self,
        url: str,
        config: Config | None = None,
        parent: QObject | None = None,
        *,
        loop: EventLoopProxy | None = None,
    ) -> None:
        """A WebSocket for ``url`` (``ws://``, ``wss://``, ``ws+unix://``); nothing happens
        before :meth:`open` or :meth:`connect`.

        ``config`` is a :class:`qtws.Config` (defaults when omitted); ``parent`` a QObject that
        owns it (deleting the parent closes it with 1001); ``loop`` an event-loop proxy, else
        the one of the thread that calls :meth:`open`.  A bad ``url`` raises
        :class:`qtws.InvalidURI` here, at once.
        """
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        super().__init__(parent)
        # (onmessage, whether a blocking call or recv() takes every message, onbatch): read
        # once per received message, so kept up to date by __setattr__ instead of looked up.
        self._route: list[Any] = [None, False, None]
        # Connections to the message signals, kept by connectNotify/disconnectNotify so the
        # per-message path neither emits to nobody nor asks Qt for receivers().
        self._listeners = dict.fromkeys(_COUNTED_SIGNALS, 0)
        self._aio_init()
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise TypeError("config must be a qtws.Config")
        self._uri: WebSocketURI = parse_uri(url)  # InvalidURI (a ValueError) at once
        self._config = config
        self._current_url = self._uri.url
        self._given_loop = loop
        self._loop = loop if loop is not None else _loop.get_event_loop_proxy()
        self._thread = threading.get_ident()
        # Deleting the C++ object (deleteLater, parent deleted) must not leave the connection
        # open: the hook holds only the Python side, which outlives the C++ object.
        # A weak reference: the WebSocket must not need the cycle collector to be freed.
        self._watcher = _DeletionWatcher(self)  # held: its slot must outlive GC passes
        # Held to disconnect by handle: by slot name, Qt looks the slot up on a watcher that may
        # be half destroyed at interpreter exit and warns "No such slot".
        self._destroyed_link = self.destroyed.connect(self._watcher.on_destroyed)
        self._state = ReadyState.CONNECTING
        self._started = False
        self._conn: Connection | None = None
        self._outbox = Outbox(config.outbox_limit)
        self._sink = _Sink(self)
        self._opens = 0  # successful opens, for connect()
        self._inflight = 0  # sends marshalled from other threads, not yet run
        self._inflight_lock = threading.Lock()
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._waiting = 0  # depth of blocking calls running the loop for messages
        self._user_closed = False
        self._close_requested = False  # close() called from another thread, not yet run
        # [payload bytes in _inbox] (the byte budget): a list, so that counting assigns no
        # attribute (see __setattr__).
        self._inbox_size = [0]
        self._retry = Reconnector(self._loop, config.reconnect)
        self._accepted: dict[str, set[str]] = {}  # certificates accepted in this open()
        self._close_event: CloseEvent | None = None
        self._last_error: BaseException | None = None
        self._latency: float | None = None
        self._counts = {"mi": 0, "mo": 0, "bi": 0, "bo": 0, "rc": 0, "un": 0}
        self._protocol: str | None = None
        self._extensions: tuple[str, ...] = ()
        self._observer: Observer | None = None  # qtws.traffic, while attached

    # ------------------------------------------------------------------ properties
    @property
    def _inbox_bytes(self) -> int:
        """Payload bytes of the messages in the inbox."""
        return self._inbox_size[0]

    @property
    def ready_state(self) -> ReadyState:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return self._state

    @property
    def url(self) -> str:
        """The URL; after a redirect, the one actually connected to."""
        return self._current_url

    @property
    def config(self) -> Config:
        """The :class:`Config` this WebSocket uses."""
        return self._config

    @property
    def protocol(self) -> str:
        """The negotiated subprotocol, or ``""``."""
        return self._protocol or ""

    @property
    def extensions(self) -> str:
        """The negotiated extensions, comma separated (``""`` when none)."""
        return ", ".join(self._extensions)

    @property
    def buffered_amount(self) -> int:
        """Bytes queued but not yet written to the socket (outbox included)."""
        conn = self._conn
        return self._outbox.nbytes + (conn.buffered_amount if conn is not None else 0)

    @property
    def latency(self) -> float | None:
        """The last ping round trip in seconds, ``None`` until measured."""
        return self._latency

    @property
    def close_event(self) -> CloseEvent | None:
        """How the last connection ended, once CLOSED."""
        return self._close_event

    @property
    def stats(self) -> Stats:
        """A snapshot of the message/byte counters."""
        c = self._counts
        conn = self._conn
        mi, bi, bo = c["mi"], c["bi"], c["bo"]
        if conn is not None and not conn.finished:
            mi += conn.messages_in
            bi += conn.bytes_in
            bo += conn.bytes_out
        return Stats(mi, c["mo"], bi, bo, c["rc"], c["un"])

    # ------------------------------------------------------------------ actions
    def open(self) -> None:
        """Start connecting through the event-loop proxy; returns at once.

        Raises :class:`InvalidState` if already connecting or open.  A closed WebSocket may be
        opened again."""
        self._bind_thread()
        if self._started and self._state is not ReadyState.CLOSED:
            raise InvalidState("open() called twice: the WebSocket is already connecting or open")
        if self._given_loop is None:
            # The loop is the one current when open() runs (a WebSocket made before the
            # QApplication must use Qt's loop, not the selectors loop app.exec() never runs).
            self._loop = _loop.get_event_loop_proxy()
            self._retry.loop = self._loop
        if self._state is ReadyState.CLOSED:
            self._reset()
        self._started = True
        self._user_closed = False
        self._close_requested = False
        self._state = ReadyState.CONNECTING
        _loop.register_active(self)
        self._connect_now()
        self._emit("state_changed", ReadyState.CONNECTING)

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary (bytes-like) message.

        While CONNECTING the message waits in the outbox and is sent on open.  Raises
        :class:`~qtws.BufferFull` when the outbox holds ``outbox_limit`` messages or more than
        ``max_buffered_bytes`` wait to be written (a message is always accepted when nothing
        waits), :class:`InvalidState` after ``close()``.  Safe from any thread."""
        if isinstance(data, str):
            msg: str | bytes = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            msg = bytes(data)
        else:
            raise TypeError(f"send() takes str or bytes-like, not {type(data).__name__}")
        if self._state in (ReadyState.CLOSING, ReadyState.CLOSED) or self._user_closed:
            raise InvalidState(f"cannot send: the WebSocket is {self._state.name}")
        if self._close_requested:
            raise InvalidState("cannot send: close() was called")
        limit = self._config.max_buffered_bytes
        conn = self._conn
        if limit is not None and conn is not None:
            waiting = conn.buffered_amount
            if waiting and waiting + len(msg) > limit:
                raise BufferFull(
                    f"{waiting} bytes wait to be written (max_buffered_bytes={limit}): "
                    "wait for `drained` and send again"
                )
        if threading.get_ident() != self._thread:
            with self._inflight_lock:
                # The outbox limit holds for other threads too: count their queued sends.
                if self._state is ReadyState.CONNECTING:
                    self._outbox.check_room(self._inflight)
                self._inflight += 1
            self._loop.call_soon_threadsafe(lambda: self._send_marshalled(msg))
            return
        self._send_now(msg)

    def _send_marshalled(self, msg: str | bytes) -> None:
        with self._inflight_lock:
            self._inflight -= 1
        try:
            self._send_now(msg, accepted=True)
        except InvalidState as exc:
            # Closed between the call and now: the caller could not be told, so count it.
            self._counts["un"] += 1
            _log.warning("a message sent from another thread was not sent: %s", exc)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with the full closing handshake (``close_timeout`` bounds the wait).

        Invalid codes (1004-1006, 1015, 1016-2999, outside 1000-4999) or a reason over 123 UTF-8
        bytes raise ``ValueError``.  Messages sent before are written first.  Safe from any
        thread; does nothing when already closing or closed."""
        _validate_close(code, reason)
        if threading.get_ident() != self._thread:
            # From now on send() raises in every thread; sends made before still go first.
            self._close_requested = True
            self._loop.call_soon_threadsafe(lambda: self._barrier(self._close_now, code, reason))
            return
        self._close_now(code, reason)

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping (at most 125 bytes); its round trip arrives with ``pong_received``.
        Raises :class:`InvalidState` unless OPEN; ignored while the connection is closing."""
        payload = self._control_payload(payload)
        conn = self._open_conn("ping")
        if conn.state is State.OPEN:
            conn.send_ping(payload)

    def pong(self, payload: bytes = b"") -> None:
        """Send an unsolicited pong (pings are answered automatically)."""
        payload = self._control_payload(payload)
        conn = self._open_conn("pong")
        if conn.state is State.OPEN:
            conn.send_pong(payload)

    def reconnect_now(self) -> bool:
        """If a reconnect is waiting (on its backoff delay, or held while the network is
        down), attempt it now; returns whether one was waiting.  For an app's own signal
        (a resume from sleep, a "retry" button); with ``QNetworkInformation`` qtws does it
        itself when reachability comes back (see :mod:`qtws.network`)."""
        self._check_thread("reconnect_now")
        if self._state is not ReadyState.CONNECTING or self._user_closed or self._conn:
            return False
        if not self._started:
            return False
        self._retry.cancel()
        self._counts["rc"] += 1
        self._connect_now()
        return True

    # ------------------------------------------------------------------ driver reports (via _Sink)
    def _report_open(self, subprotocol: str | None, extensions: tuple[str, ...]) -> None:
        """The upgrade completed."""
        if self._user_closed:
            return  # close() came first: no `opened` (the connection is being abandoned)
        self._retry.reset()
        self._opens += 1
        if self._conn is not None:
            self._current_url = self._conn.uri.url
        self._protocol = subprotocol
        self._extensions = extensions
        self._state = ReadyState.OPEN
        self._aio_notify()
        # `opened` first, so its slots can send a hello/auth message ahead of the outbox.
        if not self._emit("state_changed", ReadyState.OPEN):
            return
        if self._state is ReadyState.OPEN and not self._emit("opened", callback=self.onopen):
            return
        conn = self._conn
        while (
            self._outbox
            and conn is not None
            and not conn.finished
            and self._state is ReadyState.OPEN
        ):
            self._send_now(self._outbox.popleft())

    def _buffer_message(self, data: str | bytes) -> None:
        """Keep a message for the blocking API (or because nobody listens)."""
        self._inbox.append(data)
        size = self._inbox_size
        size[0] += len(data)
        if self._aio_waiters:
            self._aio_notify()  # wakes recv()
        conn = self._conn
        if conn is not None and (
            len(self._inbox) >= _INBOX_HIGH_WATER or size[0] >= self._config.queue_budget
        ):
            # Nobody reads: stop reading the socket (TCP pushes back on the server)
            # rather than buffer without bound; the blocking reads resume it.
            conn.pause_reading()

    def _report_written(self, nbytes: int, drained: bool) -> None:
        """Bytes went out (reported only while bytes_written/drained have listeners or
        send_async() waits)."""
        if self._aio_waiters:
            self._aio_notify()
        if nbytes and self._listeners["bytes_written"] and not self._emit("bytes_written", nbytes):
            return
        if drained and not self._outbox and self._listeners["drained"]:
            self._emit("drained")

    def _report_pong(self, payload: bytes, rtt: float | None) -> None:
        """A pong arrived."""
        if rtt is not None:
            self._latency = rtt
            self._emit("pong_received", payload, rtt)

    def _report_close(
        self, code: int, reason: str, was_clean: bool, exc: BaseException | None
    ) -> None:
        """The connection ended (exactly once per connection)."""
        conn = self._conn
        unsent: list[str | bytes] = []
        if conn is not None:
            self._counts["mi"] += conn.messages_in
            self._counts["bi"] += conn.bytes_in
            self._counts["bo"] += conn.bytes_out
            unsent = conn.unsent
            self._counts["mo"] -= len(unsent)  # they were counted as sent
        self._conn = None
        self._last_error = exc
        if not self._user_closed:
            delay = self._retry.next_delay(exc)
            if delay is not None:
                # Accepted messages whose bytes never left the process go out first after
                # the reconnect, in order (bytes the kernel took may be lost with TCP).
                self._outbox.put_front(unsent)
                self._schedule_reconnect(delay, exc)
                return
        if unsent:
            self._counts["un"] += len(unsent)
            _log.warning("%d message(s) were never written: the connection ended", len(unsent))
        self._final_close(CloseEvent(code, reason, was_clean), exc)

    # ------------------------------------------------------------------ internals
    def _connect_now(self) -> None:
        self._retry.cancel()
        conn = Connection(self._loop, self._uri, self._config, self._sink, accepted=self._accepted)
        self._conn = conn
        self._update_progress_reports()
        if self._observer is not None:
            conn.set_observer(self._observer)
        conn.start()

    def _schedule_reconnect(self, delay: float, exc: BaseException | None) -> None:
        prev = self._state
        self._state = ReadyState.CONNECTING
        self._retry.schedule(delay, lambda: self._barrier(self._do_reconnect))
        _network.watch(self)  # reachability coming back cuts the wait short
        if exc is not None and not self._emit("error", exc, callback=self.onerror):
            return
        if prev is not ReadyState.CONNECTING and not self._emit("state_changed", self._state):
            return
        self._emit("reconnecting", self._retry.attempt, delay)

    def _do_reconnect(self) -> None:
        if self._state is not ReadyState.CONNECTING or self._user_closed:
            return
        if _network.offline(self):
            return  # held, not counted: reconnect_now() runs when the network is back
        self._counts["rc"] += 1
        self._connect_now()

    def _final_close(self, event: CloseEvent, exc: BaseException | None) -> None:
        self._state = ReadyState.CLOSED
        self._close_event = event
        self._aio_notify()
        self._retry.cancel()
        self._counts["un"] += self._outbox.drop_all("the WebSocket closed")
        _loop.unregister_active(self)
        if exc is not None and not self._emit("error", exc, callback=self.onerror):
            return
        if self._state is not ReadyState.CLOSED:
            return  # a slot re-opened it
        if not self._emit("state_changed", ReadyState.CLOSED):
            return
        if self._state is ReadyState.CLOSED:
            self._emit("closed", event, callback=self.onclose)

    def _send_now(self, msg: str | bytes, accepted: bool = False) -> None:
        """Send or queue ``msg``; ``accepted``: a send() from another thread, which passed the
        room checks when it was called, so it is never refused for room now."""
        state = self._state
        conn = self._conn
        if state is ReadyState.OPEN and conn is not None and conn.send_message(msg):
            self._counts["mo"] += 1
            return
        if state is ReadyState.OPEN and conn is not None and not conn.finished:
            # Refused by the driver: the peer's close (or a protocol error) arrived in the read
            # being dispatched, so the connection is closing though `closed` has not been
            # emitted yet.  With a reconnect policy the message waits for the next connection;
            # otherwise, as browsers do in CLOSING, it is dropped (counted and logged), never
            # raised into the slot that sent it.
            if self._config.reconnect is not None and not self._user_closed:
                self._outbox.put(msg, accepted=accepted)
                return
            self._counts["un"] += 1
            _log.warning("message not sent: the connection is closing")
            return
        if state is ReadyState.CONNECTING and not self._user_closed:
            self._outbox.put(msg, accepted=accepted)
            return
        raise InvalidState(f"cannot send: the WebSocket is {state.name}")

    def _close_now(self, code: int, reason: str) -> None:
        if self._state in (ReadyState.CLOSING, ReadyState.CLOSED) or self._user_closed:
            return
        self._user_closed = True
        self._begin_close(code, reason)

    def _begin_close(self, code: int, reason: str) -> None:
        state = self._state
        conn = self._conn
        if state is ReadyState.OPEN and conn is not None:
            self._state = ReadyState.CLOSING
            conn.close(code, reason)
            if self._state is ReadyState.CLOSING:
                self._emit("state_changed", ReadyState.CLOSING)
            return
        if conn is not None:
            # As in browsers, close() while CONNECTING abandons the attempt: no `opened`, the
            # outbox is reported unsent, one `closed(1006)` and no `error`.
            conn.abort_opening()
            return
        # Not started, or waiting to reconnect.
        self._final_close(CloseEvent(1006, "closed before the connection opened", False), None)

    def _abort(self, exc: BaseException | None) -> None:
        self._user_closed = True
        if self._conn is not None:
            self._conn.abort(exc)
        elif self._state is not ReadyState.CLOSED:
            self._final_close(CloseEvent(1006, "", False), exc)

    def _reset(self) -> None:
        self._close_event = None
        self._last_error = None
        self._retry.reset()
        self._accepted = {}
        self._inbox.clear()
        self._inbox_size[0] = 0

    def _emit(self, name: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:
        """Emit signal ``name(*args)``, then ``callback(*args)``; False if the object was deleted
        (a deleted QObject's signals cannot even be looked up)."""
        if is_deleted(self):
            # The C++ object is gone (deleteLater, parent deleted): nobody can close this
            # connection any more, so say goodbye properly (1001 "going away").
            conn = self._conn
            if conn is not None and self._state is ReadyState.OPEN:
                self._state = ReadyState.CLOSING
                self._user_closed = True
                conn.close(1001, "going away")
            return False
        depth = getattr(_tls, "depth", 0)
        _tls.depth = depth + 1
        try:
            getattr(self, name).emit(*args)
            if callback is not None:
                try:
                    callback(*args)
                except Exception:
                    _log.exception("exception in a qtws callback %r", callback)
        finally:
            _tls.depth = depth
        return not is_deleted(self)

    def connectNotify(self, signal: QMetaMethod) -> None:
        """Count connections to the message signals (Qt calls this on connect)."""
        name = bytes(signal.name().data()).decode()
        if name in self._listeners:
            self._listeners[name] += 1
            self._update_progress_reports()

    def disconnectNotify(self, signal: QMetaMethod) -> None:
        """Count disconnections from the message signals."""
        name = bytes(signal.name().data()).decode()
        if self._listeners.get(name, 0) > 0:
            self._listeners[name] -= 1
            self._update_progress_reports()

    def _update_route(self) -> None:
        route = self.__dict__.get("_route")
        if route is not None:  # set first thing in __init__
            route[:] = (
                self.onmessage,
                bool(getattr(self, "_waiting", 0) or getattr(self, "_aio_reader", False)),
                self.onbatch,
            )

    def _set_observer(self, observer: Observer | None) -> None:
        """Report this WebSocket's traffic to ``observer`` (used by :mod:`qtws.traffic`),
        now and on every reconnect; ``None`` detaches."""
        self._observer = observer
        if self._conn is not None:
            self._conn.set_observer(observer)

    def _update_progress_reports(self) -> None:
        conn = getattr(self, "_conn", None)  # onbatch may be set before __init__ ran
        if conn is not None:
            n = self._listeners
            conn.report_progress(bool(n["bytes_written"] or n["drained"] or self._aio_senders))
            conn.report_batches(bool(n["batch_received"] or self.onbatch))

    def _barrier(self, fn: Callable[..., None], *args: Any) -> None:
        """Run a marshalled call; its exceptions are logged, never raised into the loop."""
        try:
            fn(*args)
        except Exception:
            _log.exception("qtws: a call marshalled from another thread failed")

    def _bind_thread(self) -> None:
        """open() binds the WebSocket to the calling thread's loop; after ``moveToThread`` it
        follows the object to its new thread, as QWebSocket does."""
        ident = threading.get_ident()
        if ident == self._thread:
            return
        if self._conn is not None or self._retry.pending:
            raise InvalidState("open() called from another thread while the WebSocket is active")
        if self.thread() is not QThread.currentThread():
            raise InvalidState(
                "open() must be called from the thread the WebSocket lives in "
                "(create it there, or moveToThread() it first)"
            )
        self._thread = ident
        self._loop = (
            self._given_loop if self._given_loop is not None else _loop.get_event_loop_proxy()
        )
        self._retry.loop = self._loop

    def _on_destroyed(self) -> None:
        """The C++ object is being deleted: close politely (1001) or stop connecting."""
        try:
            self._user_closed = True
            self._retry.cancel()
            conn = self._conn
            if conn is not None and self._state is ReadyState.OPEN:
                self._state = ReadyState.CLOSING
                try:
                    conn.close(1001, "going away")
                except Exception:
                    conn.abort(None)
            elif conn is not None:
                conn.abort(None)
            elif self._state is not ReadyState.CLOSED:
                self._state = ReadyState.CLOSED
                self._counts["un"] += self._outbox.drop_all("the WebSocket was deleted")
                _loop.unregister_active(self)
        except Exception:
            _log.exception("qtws: cleaning up a deleted WebSocket failed")

    def _check_thread(self, what: str) -> None:
        if threading.get_ident() != self._thread:
            raise InvalidState(
                f"{what}() must be called from the thread that created the WebSocket"
            )

    def _check_blocking(self, what: str) -> None:
        if (
            threading.get_ident() == self._thread
            and not getattr(_tls, "depth", 0)
            and not dispatching()
        ):
            return  # the common case, once per blocking call (per message of a script)
        self._check_thread(what)
        if getattr(_tls, "depth", 0) > 0 or dispatching():
            raise InvalidState(
                f"{what}() would block inside a qtws signal handler or callback; "
                "use the signals instead"
            )

    def _open_conn(self, what: str) -> Connection:
        self._check_thread(what)
        conn = self._conn
        if self._state is not ReadyState.OPEN or conn is None:
            raise InvalidState(f"the WebSocket is {self._state.name}, not OPEN")
        return conn

    @staticmethod
    def _control_payload(payload: bytes) -> bytes:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError("ping/pong payload must be bytes-like")
        payload = bytes(payload)
        if len(payload) > 125:
            raise ValueError("a ping/pong payload is at most 125 bytes (RFC 6455 5.5)")
        return payload

    def __del__(self) -> None:
        # The Python side is going: the C++ object then needs no clean-up, and PySide6 would
        # run the watcher's slot from the C++ destructor, at interpreter exit too (a crash).
        try:  # noqa: SIM105 - not contextlib: module globals may be gone at interpreter exit
            QObject.disconnect(self._destroyed_link)
        except Exception:  # already deleted
            pass

    def __repr__(self) -> str:
        return f"<qtws.WebSocket {self.url} {self._state.name}>"
