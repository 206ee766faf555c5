"""The connection driver: one WebSocket connection, from dialing to the final close.

How it works
------------
A :class:`Connection` lives on one thread and does everything through an
:class:`~qtws.loop.base.EventLoopProxy`, so it never blocks that thread:

1. ``start()`` arms the open timer (DNS + TCP + proxy + TLS + upgrade together) and hands the
   URL to a :class:`~qtws.dial.Dialer` (:mod:`qtws.dial`), which reports a connected socket or
   an error.
2. The core's handshake request goes out; from then on every readable event feeds
   :meth:`ClientConnection.receive_data` (within a byte budget per callback, for the bytes
   read and for those inflated) and the events are handed to the :class:`Sink` in order.
   When the core stops early, a close or failure held for the messages before it takes
   effect as soon as they are handed out (what their slots sent goes first); the rest of an
   inflate is processed one budget per loop callback, paused like reading, and the socket is
   not read meanwhile.  After each TLS read the driver keeps reading
   while the TLS layer holds decrypted bytes, since the socket notifier will not fire for them.
3. Dispatch never recurses: while a slot runs (perhaps a nested event loop, a modal dialog),
   newly read messages wait and only keep-alive replies are handled; a flood is handed out in
   slices of about ``_DISPATCH_BUDGET`` seconds with reading stopped meanwhile.  When asked
   (:meth:`Connection.report_batches`), the messages of each slice also go to the sink as one
   list once the slice ends: a batch is exactly what one slice handed out, in the same order.
4. A redirect (3xx to the upgrade) tears the socket down and dials the new URL.

Writes go through the one :class:`~qtws.writequeue.WriteQueue`; keep-alive and inactivity are
timed by :class:`~qtws.keepalive.KeepAlive`; the open and close timers are here.

Every failure ends the same way: the sink's ``on_close`` is called exactly once, with the
exception for abnormal closures.

This module is over 400 lines because reading, dispatching and the end of a connection share
one state (what was read, what was handed out, whether the closing handshake completed):
split apart, each piece would need the others' internals.
"""

from __future__ import annotations

import collections
import contextlib
import http.cookiejar
import importlib
import logging
import os
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from .certificates import PinMismatchError, UntrustedCertificate
from .config import Config
from .cookies import cookie_header, store_cookies
from .core import (
    BinaryMessage,
    ClientConnection,
    ConnectionFailed,
    Event,
    HandshakeComplete,
    Ping,
    Pong,
    Redirect,
    State,
    TextMessage,
    WebSocketURI,
    parse_uri,
)
from .core.mask import NUMPY_THRESHOLD
from .dial import Dialer, preload, tls_ready
from .errors import ConnectionClosed, HandshakeError, InvalidState, WebSocketError
from .keepalive import KeepAlive
from .loop.base import EventLoopProxy, Handle
from .proxy import ProxySpec, SystemLookup, proxy_for
from .writequeue import WriteQueue

__all__ = ["Connection", "Observer", "Sink", "dispatching"]

_log = logging.getLogger("qtws")
# Per thread: how many connections are handing events to their sinks (nested loops nest).
_thread_state = threading.local()

# Bytes per recv(): a TLS record's size.  Small, so that a read of tiny frames yields at most
# ~500 events (see _read_now); a large message takes up to _READ_BUDGET per callback.
_READ_SIZE = 16 * 1024
# Bytes read per readable callback before yielding to the loop, so a 16 MiB message does
# not stall a GUI thread's timers.
_READ_BUDGET = 64 * 1024
# Reads (of _READ_SIZE) of what a peer sent before it reset the connection we were writing to.
_READS_AFTER_WRITE_ERROR = 64
# Payload bytes of waiting messages the core frames per loop turn (see _produce).
_PRODUCE_BUDGET = 128 * 1024
# Bytes inflated (permessage-deflate) per loop callback: a zip bomb or a compressed flood
# keeps the loop's timers running like uncompressed data.
_INFLATE_BUDGET = 64 * 1024
# Seconds of event dispatch per loop callback before yielding (a flood of small messages).
# A loop turn may run two such callbacks (the socket's and a scheduled one): 2 x 4 ms plus
# the parse keeps a 10 ms GUI timer near 10 ms and leaves most of a 60 Hz frame to painting,
# while CPU per message stays flat down to ~3 ms slices (it rises by ~15 % at 1 ms).
_DISPATCH_BUDGET = 0.004
# Received events waiting for dispatch beyond which reading stops until they are handed out.
_BACKLOG_LIMIT = 20_000
# Bytes of pongs (the core's automatic replies) waiting unwritten beyond which reading stops
# until the write queue drains: a server that floods pings and never reads would otherwise
# grow the write queue without bound (TCP then makes it wait instead).
_REPLY_LIMIT = 256 * 1024
# Request headers dropped when a redirect leads to another scheme, host or port.
_CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization"}


# numpy masks large frames (qtws.core.mask), but importing it takes 0.1-0.4 s, most of it
# holding the GIL.  It is imported on a daemon thread when the first large message is sent
# (never at `import qtws`, never for an application that sends none); meanwhile that message
# and those after it wait in the driver, so the GUI thread never waits on the import lock.
_numpy_done = threading.Event()
_numpy_start = threading.Lock()
_numpy_thread: list[threading.Thread] = []  # the import's thread, once started


def _warm_numpy() -> None:
    try:
        importlib.import_module("numpy")
    except Exception:
        pass
    finally:
        _numpy_done.set()


def _numpy_ready() -> bool:
    """True when masking a large frame does not wait for numpy's import (done, failed, or
    done by the application); else start the import off-thread (once) and return False."""
    if _numpy_done.is_set():
        return True
    module = sys.modules.get("numpy")
    spec = getattr(module, "__spec__", None)
    if module is not None and not getattr(spec, "_initializing", False):
        _numpy_done.set()  # imported by the application
        return True
    with _numpy_start:
        if module is None and not _numpy_thread:
            _numpy_thread.append(
                threading.Thread(target=_warm_numpy, name="qtws-numpy", daemon=True)
            )
            _numpy_thread[0].start()
    return False


def dispatching() -> bool:
    """True while a connection of this thread hands events to its sink, i.e. while one of the
    application's slots or callbacks for them runs (a blocking call there would deadlock)."""
    return getattr(_thread_state, "depth", 0) > 0


class Sink(Protocol):
    """What the driver reports to (the façade's private sink)."""

    def on_open(self, subprotocol: str | None, extensions: tuple[str, ...]) -> None: ...
    def on_message(self, data: str | bytes) -> None: ...
    def on_batch(self, messages: list[str | bytes]) -> None: ...
    def on_ping(self, payload: bytes) -> None: ...
    def on_pong(self, payload: bytes, rtt: float | None) -> None: ...
    def on_written(self, nbytes: int, drained: bool) -> None: ...
    def wants_certificate_decision(self) -> bool: ...
    def on_certificate_error(self, cert: UntrustedCertificate) -> None: ...
    def on_close(
        self, code: int, reason: str, was_clean: bool, exc: BaseException | None
    ) -> None: ...


class Observer(Protocol):
    """Sees one connection's traffic (:mod:`qtws.traffic`); called on the connection's thread
    only while attached (an unattached connection pays one ``is None`` test per read and write).

    ``started`` comes first: ``resync`` is ``None`` when the observer sees the stream from its
    start, else ``(tail, remaining, in_message)`` for an attach mid-stream: the bytes of an
    incomplete frame header already read, how many payload bytes of the current frame are
    still to come, and whether a data message is under way (its event is still due)."""

    def started(self, url: str, resync: tuple[bytes, int, bool] | None) -> None: ...
    def received(self, data: bytes) -> None: ...
    def events(self, events: list[Event]) -> None: ...
    def sent(self, data: bytes, message: str | bytes | None) -> None: ...
    def ended(self, code: int, reason: str, was_clean: bool, exc: BaseException | None) -> None: ...


class Connection:
    """One WebSocket connection attempt, from DNS to the final close; see module docstring."""

    def __init__(
        self,
        loop: EventLoopProxy,
        url: str | WebSocketURI,
        config: Config,
        sink: Sink,
        *,
        mask_source: Callable[[int], bytes] = os.urandom,
        accepted: dict[str, set[str]] | None = None,
    ) -> None:
        self.loop = loop
        # Fingerprints accepted through certificate_error, per host (shared by the façade
        # across the reconnects of one open()).
        self._accepted = accepted if accepted is not None else {}
        self.config = config
        self._sink = sink
        # Optional (a sink may offer only on_message): the message report for one dispatch
        # slice, None when nothing is to be done per message (only batches are wanted).
        self._receiver: Callable[[], Callable[[str | bytes], None] | None] | None = getattr(
            sink, "receiver", None
        )
        self.messages_in = 0  # messages handed to the sink
        self._observer: Observer | None = None
        self.mask_source = mask_source
        self.uri = url if isinstance(url, WebSocketURI) else parse_uri(url)
        self._origin = self.uri  # fixed cookies go only to this origin
        self._proxy: ProxySpec | SystemLookup | None = None
        self._dialer: Dialer | None = None
        self._sock: socket.socket | None = None
        self._proto: ClientConnection | None = None
        self._wq = WriteQueue(loop, self.guard, self._on_write_error, self._on_drained)
        self._keepalive = KeepAlive(self)
        self._reader: Handle | None = None
        self._timers: dict[str, Handle] = {}
        self._last_error: BaseException | None = None
        self._phase = "idle"  # idle, dialing, ws, done
        self._redirects: list[str] = [self.uri.url]
        self._events: collections.deque[Event] = collections.deque()  # not yet dispatched
        self._paused = False
        self._reply_bytes = 0  # pong bytes queued since the write queue was last empty
        self._reply_wait = False  # reading stopped by _replies_backlogged()
        self._eof_seen = False
        self._continue_scheduled = False
        self._dispatch_scheduled = False
        self._sliced = False  # a long backlog is being dispatched in slices
        self._dispatch_depth = 0  # > 0 while events are handed to the sink
        # Messages of the slice being dispatched, while batches are reported (report_batches).
        self._batch: list[str | bytes] | None = None
        self._finished = False
        self._shutdown_sent = False
        self._handshake_done = False
        self._bytes_in = 0
        self._read_scheduled = False
        # Messages the core accepted but frames in steps (see _sent), oldest first.
        self._in_core: collections.deque[str | bytes] = collections.deque()
        self._produce_scheduled = False
        # Messages held back while numpy is being imported (see send_message), oldest first.
        self._held: collections.deque[str | bytes] = collections.deque()
        self._held_bytes = 0
        self._tls_waits = 0  # 5 ms waits for the shared TLS context (see _dial)
        self._backlog_bytes = 0  # message bytes read inside a slot's nested loop, waiting
        self._reported_written = 0
        self._progress_scheduled = False
        # Config normalised the headers to (name, value) pairs.
        self._headers: tuple[tuple[str, str], ...] = tuple(config.headers)  # type: ignore[arg-type]
        self.queue_budget = config.queue_budget
        # Messages accepted but not (fully) written when the connection ended.
        self.unsent: list[str | bytes] = []
        self.subprotocol: str | None = None
        self.extensions: tuple[str, ...] = ()

    # ------------------------------------------------------------------ public surface
    @property
    def state(self) -> State:
        """The core's state; CONNECTING until the upgrade completes."""
        if self._finished:
            return State.CLOSED
        return self._proto.state if self._proto is not None else State.CONNECTING

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by :meth:`send_*` but not yet written to the socket."""
        proto = self._proto
        pending = proto.pending_output() if proto is not None else 0
        return self._wq.size + pending + self._held_bytes

    @property
    def bytes_in(self) -> int:
        """Bytes received (on the wire)."""
        return self._bytes_in

    @property
    def bytes_out(self) -> int:
        """Bytes written to the socket (on the wire)."""
        return self._wq.written

    @property
    def last_receive(self) -> float:
        """Loop time of the last bytes received."""
        return self._keepalive.last_receive

    @property
    def finished(self) -> bool:
        """True once ``on_close`` was reported."""
        return self._finished

    @property
    def pending_events(self) -> int:
        """Events received but not yet handed to the sink."""
        return len(self._events)

    def is_open(self) -> bool:
        """True while the core is OPEN and the connection not finished."""
        proto = self._proto
        return proto is not None and proto.state is State.OPEN and not self._finished

    def start(self) -> None:
        """Begin connecting (returns at once; every failure is reported through the sink)."""
        # The CA certificates for wss load off-thread now; numpy only when a large message is
        # first sent (see _numpy_ready).
        preload(
            secure=self.uri.secure and self.config.ssl_context is None,
            trust=self.config.trust,
            numpy=False,
        )
        if self.config.open_timeout is not None:
            self._set_timer("open", self.config.open_timeout, self._on_open_timeout)
        self._dial(self.uri)

    def send_text(self, data: str) -> None:
        """Queue a text message (the core raises InvalidState unless OPEN)."""
        proto = self._require_proto()
        proto.send_text(data)
        self._sent(proto, data)

    def send_binary(self, data: bytes) -> None:
        """Queue a binary message."""
        proto = self._require_proto()
        proto.send_binary(data)
        self._sent(proto, data)

    def set_observer(self, observer: Observer | None) -> None:
        """Report the traffic to ``observer`` from now on (``None``: stop)."""
        self._observer = observer
        if observer is not None:
            proto = self._proto
            resync = None
            if proto is not None and proto.state is not State.CONNECTING:
                # Where the core's parser stands, so frames are told apart from the next byte.
                resync = (proto._tail, proto._frame_remaining, proto._msg_opcode != 0)
            observer.started(self.uri.url, resync)

    def _write_out(self, data: bytes, msg: str | bytes | None = None) -> None:
        """Queue the core's bytes for the socket; ``msg``: the message they end."""
        if not data:
            return
        if self._observer is not None:
            self._observer.sent(data, msg)
        self._wq.write(data, msg)

    def _sent(self, proto: ClientConnection, msg: str | bytes) -> None:
        if not proto.pending_output():
            self._write_out(proto.data_to_send(), msg)
            return
        # The core frames it in steps (a large message to deflate, or one waiting behind it):
        # one step per loop turn, so compressing never holds this thread for long.
        self._flush_proto()  # frames queued before it, if any
        self._in_core.append(msg)
        if not self._produce_scheduled:
            self._produce_scheduled = True
            self.loop.call_soon(self.guard(self._produce))

    def _produce(self) -> None:
        """Let the core frame the next part of the waiting messages (see :meth:`_sent`)."""
        self._produce_scheduled = False
        proto = self._proto
        if self._finished or proto is None:
            return
        start = proto.pending_output()
        # One large step, or many small messages queued behind the large one.
        while self._in_core and start - proto.pending_output() < _PRODUCE_BUDGET:
            done = proto.produce()
            self._write_out(proto.data_to_send(), self._in_core.popleft() if done else None)
            if not proto.pending_output():
                break
        self._after_io()
        if not self._finished and proto.pending_output() and not self._produce_scheduled:
            self._produce_scheduled = True
            self.loop.call_soon(self.guard(self._produce))

    def send_message(self, data: str | bytes) -> bool:
        """Queue a message if the core is OPEN (the façade's one call per send); False, with
        nothing queued, when it is not (closing, finished, not yet open)."""
        proto = self._proto
        if proto is None or self._finished or proto.state is not State.OPEN:
            return False
        if self._held or (len(data) >= NUMPY_THRESHOLD and not _numpy_ready()):
            # The core would mask it with numpy, whose import is running on another thread:
            # wait for it without blocking this thread; the messages after it wait behind.
            self._held.append(data)
            self._held_bytes += len(data)
            if len(self._held) == 1:
                self.loop.call_later(0.005, self.guard(self._release_held))
            return True
        if isinstance(data, str):
            proto.send_text(data)
        else:
            proto.send_binary(data)
        self._sent(proto, data)
        return True

    def _release_held(self, force: bool = False) -> None:
        """Hand the held messages to the core once numpy's import is done (``force``: now,
        before a close frame)."""
        if not force and not _numpy_ready():
            self.loop.call_later(0.005, self.guard(self._release_held))
            return
        proto = self._proto
        held = self._held
        while held and proto is not None and not self._finished and proto.state is State.OPEN:
            msg = held.popleft()
            self._held_bytes -= len(msg)
            if isinstance(msg, str):
                proto.send_text(msg)
            else:
                proto.send_binary(msg)
            self._sent(proto, msg)

    def report_progress(self, enabled: bool) -> None:
        """Report written bytes and a drained queue to the sink (``on_written``), at most
        once per loop turn; off by default (it costs a callback per burst)."""
        self._wq.on_progress = self._progress_made if enabled else None

    def report_batches(self, enabled: bool) -> None:
        """After each dispatch slice, also hand its messages to the sink as one list
        (``on_batch``, after their ``on_message`` calls); off by default."""
        if not enabled:
            self._batch = None
        elif self._batch is None:
            self._batch = []

    def abort_opening(self) -> None:
        """``close()`` before OPEN was reported: abandon the attempt (1006, no error)."""
        if not self._finished:
            self._finish(1006, "closed before the connection opened", False, None)

    def send_ping(self, payload: bytes = b"") -> None:
        """Send a ping; its pong's round trip is reported with ``on_pong``."""
        self._require_proto().send_ping(payload)
        self._keepalive.ping_sent(bytes(payload))
        self._flush_proto()

    def send_pong(self, payload: bytes = b"") -> None:
        """Send an unsolicited pong."""
        self._require_proto().send_pong(payload)
        self._flush_proto()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; before OPEN, abort the attempt (1006)."""
        if self._finished:
            return
        proto = self._proto
        if proto is None or proto.state is State.CONNECTING:
            self._finish(1006, "closed before the connection opened", False, None)
            return
        if proto.state is State.OPEN:
            if self._held:
                self._release_held(force=True)  # messages sent before close() go first
            proto.send_close(code, reason)
            self._flush_proto()
            self._after_io()
            # The server's close frame must be read even if reading was paused; data frames
            # after our close are dropped by the core (RFC 6455 1.4).
            self.resume_reading()

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop the connection now (1006, unclean)."""
        if not self._finished:
            self._finish(1006, "", False, exc)

    def fail(self, exc: BaseException, code: int = 1006) -> None:
        """Fail the connection because of ``exc`` (a local error: timeout, exception)."""
        if self._finished:
            return
        proto = self._proto
        if proto is not None and proto.state is State.OPEN and code != 1006:
            proto.fail(code, str(exc)[:120], exc if isinstance(exc, Exception) else None)
            self._flush_proto()
            self._last_error = exc
            self._after_io()
            return
        self._finish(1006, "", False, exc)

    def data_pending(self) -> bool:
        """True when the TLS layer holds decrypted bytes not yet read."""
        sock = self._sock
        return isinstance(sock, ssl.SSLSocket) and self._phase == "ws" and sock.pending() > 0

    def fileno(self) -> int:
        """The socket's descriptor, or -1."""
        return self._sock.fileno() if self._sock is not None else -1

    def guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a loop callback: any exception fails this connection instead of escaping."""

        def wrapper(*args: Any) -> None:
            if self._finished:
                return
            self._wq.turn += 1
            try:
                fn(*args)
            except Exception as exc:
                if not self._finished:
                    self._finish(1006, "", False, exc)

        return wrapper

    # ------------------------------------------------------------------ connecting
    def _dial(self, uri: WebSocketURI) -> None:
        self.uri = uri
        cfg = self.config
        if uri.secure and cfg.ssl_context is None and not tls_ready(cfg.trust):
            # The CA certificates are loading on the warm-up thread (tens of ms): making the
            # context now would block this thread until they are (it takes the same lock).
            # Dial once they are, within the open timeout; after 1 s, load them here anyway.
            preload(secure=True, trust=cfg.trust, numpy=False)
            self._tls_waits += 1
            if self._tls_waits <= 200:
                self._set_timer("tls", 0.005, lambda: self._dial(uri))
                return
        try:
            self._proxy = proxy_for(uri, self.config.proxy)
        except ValueError as exc:
            failure = exc
            self.loop.call_soon(self.guard(lambda: self._finish(1006, "", False, failure)))
            return
        self._phase = "dialing"
        self._dialer = Dialer(
            self.loop,
            uri,
            self.config,
            self._proxy,
            self.guard(self._on_dialed),
            pins=self._pins_for(uri),
        )
        self._dialer.start()

    def _pins_for(self, uri: WebSocketURI) -> frozenset[str] | None:
        """The fingerprints of pinned mode for ``uri``, or None (CA verification)."""
        pins = set(self._accepted.get(uri.host, ()))
        if uri.host == self._origin.host:
            pins.update(self.config.pinned_certificates)
        return frozenset(pins) if pins and uri.secure else None

    def _on_dialed(self, result: socket.socket | BaseException) -> None:
        assert self._dialer is not None
        self._proxy = self._dialer.proxy  # the system's answer: a probe re-dial reuses it
        self._dialer = None
        if isinstance(result, BaseException):
            if not (
                isinstance(result, ssl.SSLCertVerificationError)
                and self._sink.wants_certificate_decision()
            ):
                self._finish(1006, "", False, result)
            elif isinstance(result, PinMismatchError):
                self._decide(result, result.der)
            else:
                # Read the certificate that failed: dial again, without verification, and
                # close that connection before any HTTP.
                error = result
                self._dialer = Dialer(
                    self.loop,
                    self.uri,
                    self.config,
                    self._proxy,
                    self.guard(lambda probed: self._on_probed(error, probed)),
                    probe=True,
                )
                self._dialer.start()
            return
        self._sock = result
        self._wq.sock = result
        self._reader = self.loop.add_reader(result.fileno(), self.guard(self._on_readable))
        self._phase = "ws"
        cfg = self.config
        headers = list(self._headers)
        if cfg.cookies is not None:
            cookie = cookie_header(cfg.cookies, self.uri, self._origin)  # type: ignore[arg-type]
            if cookie:
                headers.append(("Cookie", cookie))
        self._proto = ClientConnection(
            self.uri,
            subprotocols=cfg.subprotocols,
            headers=headers,
            origin=cfg.origin,
            user_agent=cfg.user_agent,
            compression=cfg.compression,
            max_message_size=cfg.max_message_size,
            max_frame_size=cfg.max_frame_size,
            mask_source=self.mask_source,
        )
        self._flush_proto()
        # TLS may already hold decrypted bytes from the handshake's last read.
        if self.data_pending():
            self._schedule_read()

    def _on_probed(
        self, error: ssl.SSLCertVerificationError, result: socket.socket | BaseException
    ) -> None:
        self._dialer = None
        der = None
        if isinstance(result, socket.socket):
            with contextlib.closing(result):
                if isinstance(result, ssl.SSLSocket):
                    der = result.getpeercert(binary_form=True)
        if der is None:  # the probe failed: report the verification failure itself
            self._finish(1006, "", False, error)
            return
        self._decide(error, der)

    def _decide(self, error: ssl.SSLCertVerificationError, der: bytes) -> None:
        """Offer the certificate to the application; go on pinned to it if accepted."""
        cert = UntrustedCertificate(self.uri.host, self.uri.port, der, error)
        # The user may take their time (a dialog): it does not count against open_timeout.
        self._cancel_timer("open")
        self._phase = "deciding"
        cert._deciding = True
        try:
            self._sink.on_certificate_error(cert)
        finally:
            cert._deciding = False
        if self._finished:
            return
        if not cert.accepted:
            self._finish(1006, "", False, error)
            return
        _log.warning(
            "qtws: the application accepted the certificate of %s:%s (SHA-256 %s)",
            cert.host,
            cert.port,
            cert.fingerprint,
        )
        self._accepted.setdefault(cert.host, set()).add(cert.fingerprint)
        if self.config.open_timeout is not None:
            self._set_timer("open", self.config.open_timeout, self._on_open_timeout)
        self._dial(self.uri)

    # ------------------------------------------------------------------ reading
    def _on_readable(self) -> None:
        if self._finished or self._sock is None:
            return
        if self._paused or self._eof_seen or self._backlog_full() or self._replies_backlogged():
            # Resumed by resume_reading() / once the backlog is dispatched / once the pongs
            # are written: reading more while a flood is being handed out in slices would
            # starve the loop's timers.
            self._cancel_reader()
            return
        self._read_now()

    def _read_now(self) -> None:
        """Read what the socket (and TLS) holds, feed the core and dispatch the events.

        Re-entrant: a slot may run a nested event loop (a modal dialog) during the dispatch;
        the reader stays active in it, so pongs and messages keep flowing as with QWebSocket."""
        sock = self._sock
        assert sock is not None
        if self._proto is not None and self._proto.has_pending_input():
            # What the core holds goes first; TCP pushes back meanwhile.
            self._cancel_reader()
            self._continue_input()
            return
        budget = _READ_BUDGET
        tls = isinstance(sock, ssl.SSLSocket)
        proto = self._proto
        while budget > 0:
            try:
                data = sock.recv(_READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
                break
            except ssl.SSLWantWriteError:
                break
            except OSError as exc:
                self._on_socket_error(exc)
                return
            if not data:
                self._eof_seen = True
                self._cancel_reader()
                self._dispatch()  # the EOF is handled once the events before it are
                return
            budget -= len(data)
            # Each piece is parsed and its messages handed out before the next is read, so at
            # most ~500 small messages' events are alive at once: fewer than the collector's
            # threshold (700 allocations), so a flood triggers almost no collections and
            # promotes nothing to the older generations (whose full collections took
            # 70-90 ms in a PyQt process: the GUI's worst stalls).
            self._deliver([data])
            if self._finished or self._sock is not sock or self._proto is not proto:
                return
            if (
                self._paused
                or self._eof_seen
                or self._backlog_full()
                or (proto is not None and proto.has_pending_input())
            ):
                return  # reading resumes once what was read is handed out
            # A short plain read means the kernel buffer is drained; a TLS read returns one
            # record at a time, so TLS keeps reading until SSLWantReadError (or the budget).
            if len(data) < _READ_SIZE and not tls:
                break
        if budget <= 0 or self.data_pending():
            # More may be waiting (in the kernel or decrypted in TLS): continue after the
            # loop has had a chance to run other work.
            self._schedule_read()

    def _schedule_read(self) -> None:
        """Read on the loop's next turn; once, however many paths ask for it (each read that
        queued another would multiply the reads per turn)."""
        if not self._read_scheduled:
            self._read_scheduled = True
            self.loop.call_soon(self.guard(self._scheduled_read))

    def _scheduled_read(self) -> None:
        self._read_scheduled = False
        self._on_readable()

    def _deliver(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        self._bytes_in += sum(map(len, chunks))
        self._keepalive.last_receive = self.loop.time()
        proto = self._proto
        if proto is None:
            return
        observer = self._observer
        for chunk in chunks:  # no join: a 16 MiB message would be copied once more
            if observer is not None:
                observer.received(chunk)
            # Once the core stops early, later chunks are only queued in it (budget 0).
            proto.receive_data(chunk, 0 if proto.has_pending_input() else _INFLATE_BUDGET)
        self._process_events()

    def _continue_soon(self) -> None:
        if not self._continue_scheduled and not self._paused:
            self._continue_scheduled = True
            self.loop.call_soon(self.guard(self._continue_input))

    def _continue_input(self) -> None:
        """Process one budget of the input the core holds (see the module docstring)."""
        self._continue_scheduled = False
        proto = self._proto
        if (
            self._finished
            or proto is None
            or self._paused
            or self._backlog_full()
            or self._replies_backlogged()
        ):
            return  # resumed by resume_reading() / at the end of the dispatch / when drained
        if not proto.has_pending_input():
            return
        proto.receive_data(b"", _INFLATE_BUDGET)
        self._process_events()
        if self._dispatch_depth and not self._finished and not proto.has_pending_input():
            self._restart_reading()  # inside a slot's nested loop: pongs keep flowing

    def _on_eof(self) -> None:
        if self._proto is None:
            self._finish(
                1006, "", False, ConnectionResetError("connection closed during the handshake")
            )
            return
        proto = self._proto
        proto.receive_eof()  # processes what the core still holds, all of it
        self._process_events()
        # A redirect whose body ended at the EOF has already replaced the connection.
        if not self._finished and not self._events and self._proto is proto:
            self._end_from_proto(eof=True)

    def pause_reading(self) -> None:
        """Stop reading the socket (backpressure: TCP makes the server wait)."""
        if not self._paused:
            self._paused = True
            self._cancel_reader()
            self._keepalive.reading_paused()  # pongs cannot be read while paused

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        if self._paused:
            self._paused = False
            self._restart_reading()

    def _restart_reading(self) -> None:
        sock = self._sock
        if sock is None or self._finished or self._paused or self._phase != "ws":
            return
        if self._proto is not None and self._proto.has_pending_input():
            self._continue_soon()
            return
        if self._eof_seen:
            return
        if self._reader is None:
            self._reader = self.loop.add_reader(sock.fileno(), self.guard(self._on_readable))
        # Bytes may wait in the kernel or, decrypted, in TLS (the notifier misses the latter).
        self._schedule_read()

    def _process_events(self) -> None:
        proto = self._proto
        assert proto is not None
        new = proto.events_received()
        if self._observer is not None and new:
            self._observer.events(new)
        if self._dispatch_depth:
            # Read from inside a slot's nested event loop.  Like Qt's sockets (readyRead is
            # never emitted recursively), messages wait until that slot returns, in order;
            # keep-alive replies are handled now so the connection stays alive meanwhile.
            for event in new:
                if isinstance(event, Pong):
                    self._on_pong(event.payload)
                elif isinstance(event, Ping):  # its pong is already queued
                    self._reply_bytes += len(event.payload) + 6  # the pong frame, masked
                else:
                    self._events.append(event)
                    if isinstance(event, (TextMessage, BinaryMessage)):
                        self._backlog_bytes += len(event.data)
            self._flush_proto()
            if proto.has_pending_input():
                self._continue_soon()  # within the backlog's byte budget
            return
        self._events.extend(new)
        self._dispatch()

    def _schedule_dispatch(self) -> None:
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self.loop.call_soon(self.guard(self._scheduled_dispatch))

    def _scheduled_dispatch(self) -> None:
        self._dispatch_scheduled = False
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand received events to the sink, in order.

        Never re-entered: while a slot runs (perhaps a nested event loop), newly read
        messages wait and only keep-alive replies are handled (see :meth:`_process_events`).
        A long backlog (a flood of small messages) is dispatched in slices of about
        ``_DISPATCH_BUDGET`` seconds, so the loop's other work (a GUI's repaints and timers)
        keeps running; reading stops meanwhile, and while ``_BACKLOG_LIMIT`` events wait."""
        events = self._events
        proto = self._proto
        if self._dispatch_depth:
            return  # inside a slot of an outer dispatch, which goes on when the slot returns
        self._dispatch_depth += 1
        state = _thread_state
        depth = getattr(state, "depth", 0)
        state.depth = depth + 1  # once per slice, not per message (see dispatching())
        try:
            self._dispatch_events(events, proto)
            self._flush_batch()
        finally:
            state.depth = depth
            self._dispatch_depth -= 1
        if self._finished or self._sliced or events or proto is not self._proto:
            return
        if proto is not None and proto.has_pending_input():
            # A close or failure held back for the events just handed out takes effect now,
            # before work posted meanwhile (budget 0: the rest of an inflate waits its turn).
            proto.receive_data(b"", 0)
            if not proto.has_pending_input():
                self._process_events()
                return
        self._backlog_bytes = 0
        self._flush_proto()
        self._after_io()
        if self.finished:
            return
        if self._proto is not None and self._proto.has_pending_input():
            self._cancel_reader()
            self._continue_soon()
        elif self._eof_seen:
            if self._proto is not None and self._proto.state is not State.CLOSED:
                self._on_eof()
            elif self._proto is not None:
                self._end_from_proto(eof=True)
        elif self._reader is None and self._phase == "ws" and not self._paused:
            self._restart_reading()

    def _dispatch_events(
        self, events: collections.deque[Event], proto: ClientConnection | None
    ) -> None:
        deadline = self.loop.time() + _DISPATCH_BUDGET
        count = 0
        batch = self._batch
        receiver = self._receiver
        on_message = receiver() if receiver is not None else self._sink.on_message
        popleft = events.popleft
        while events:
            if self._finished or proto is not self._proto:
                return
            event = popleft()
            # Messages first, by exact type: the core creates these classes only.
            cls = type(event)
            if cls is TextMessage or cls is BinaryMessage:
                data = event.data  # type: ignore[union-attr]
                self.messages_in += 1
                if batch is not None:
                    batch.append(data)
                if on_message is not None:
                    on_message(data)
            else:
                if not self._dispatch_other(event, events):
                    return
                if receiver is not None:
                    # Its slots may have changed where messages go: ask again.
                    on_message = receiver()
            count += 1
            if events and not count & 63 and self.loop.time() > deadline:
                self._sliced = True
                self._flush_proto()
                self._schedule_dispatch()
                return
        self._sliced = False

    def _dispatch_other(self, event: Event, events: collections.deque[Event]) -> bool:
        """Hand one event other than a message to the sink (see :meth:`_dispatch_events`);
        False when the dispatch must stop (a redirect replaced the connection)."""
        if isinstance(event, Ping):
            self._reply_bytes += len(event.payload) + 6  # its pong frame, masked
            self._flush_proto()
            self._sink.on_ping(event.payload)
        elif isinstance(event, Pong):
            self._on_pong(event.payload)
        elif isinstance(event, HandshakeComplete):
            self._keep_cookies(event.headers)
            self._handshake_done = True
            self._cancel_timer("open")
            self.subprotocol = event.subprotocol
            self.extensions = event.extensions
            self._keepalive.start()
            self._sink.on_open(event.subprotocol, event.extensions)
        elif isinstance(event, Redirect):
            self._keep_cookies(event.headers)
            events.clear()
            self._follow_redirect(event)
            return False
        elif isinstance(event, ConnectionFailed) and not isinstance(event.exc, ConnectionClosed):
            self._last_error = event.exc
        # CloseReceived: the echo is queued by the core; the outcome is read at the end.
        return True

    def _flush_batch(self) -> None:
        """Hand the slice's messages to the sink as one batch (a fresh list each time)."""
        batch = self._batch
        if batch:
            self._batch = [] if not self._finished else None
            self._sink.on_batch(batch)

    def _keep_cookies(self, headers: tuple[tuple[str, str], ...]) -> None:
        jar = self.config.cookies
        if isinstance(jar, http.cookiejar.CookieJar):
            store_cookies(jar, self.uri, headers)

    def reading_suspended(self) -> bool:
        """Reading stopped on purpose (backpressure, a backlog, input the core still holds),
        so silence proves nothing."""
        return (
            self._paused
            or self._backlog_full()
            or (self._proto is not None and self._proto.has_pending_input())
        )

    def _replies_backlogged(self) -> bool:
        """More than ``_REPLY_LIMIT`` bytes of pongs wait unwritten: the server sends pings
        and does not read.  RFC 6455 5.5.3 does not require a pong per ping; reading waits
        until the write queue drains."""
        if not self._wq:
            self._reply_bytes = 0
            return False
        if min(self._wq.size, self._reply_bytes) <= _REPLY_LIMIT:
            return False
        self._reply_wait = True
        return True

    def _backlog_full(self) -> bool:
        """Events wait (a flood in slices, or read inside a slot's nested loop) beyond what
        may be read before the application takes them: in count, and in message bytes."""
        return (
            self._sliced
            or len(self._events) >= _BACKLOG_LIMIT
            or self._backlog_bytes >= self.queue_budget
        )

    def poll_input(self) -> None:
        """Read and dispatch what already waits, before a liveness timer decides: after a
        slot that kept the thread busy, the pong may be waiting unread."""
        if self._sock is not None and not self._paused and not self._eof_seen:
            self._read_now()
        if not self._finished:
            self._dispatch()

    def _on_pong(self, payload: bytes) -> None:
        self._sink.on_pong(payload, self._keepalive.pong_received(payload))

    def _follow_redirect(self, event: Redirect) -> None:
        if len(self._redirects) > self.config.max_redirects:
            self._finish(
                1006,
                "",
                False,
                HandshakeError(
                    f"too many redirects (max_redirects={self.config.max_redirects}): "
                    + " -> ".join(self._redirects)
                ),
            )
            return
        try:
            target = parse_uri(event.location)
        except WebSocketError as exc:
            self._finish(1006, "", False, exc)
            return
        if target.url in self._redirects:
            self._finish(
                1006,
                "",
                False,
                HandshakeError("redirect loop: " + " -> ".join([*self._redirects, target.url])),
            )
            return
        if self.uri.secure and not target.secure:
            self._finish(
                1006,
                "",
                False,
                HandshakeError(f"refusing to follow a redirect from wss to ws: {target.url}"),
            )
            return
        self._redirects.append(target.url)
        if (target.secure, target.host.lower(), target.port) != (
            self.uri.secure,
            self.uri.host.lower(),
            self.uri.port,
        ):
            # Credentials never follow a redirect to another origin (as curl and requests do).
            self._headers = tuple(
                (k, v) for k, v in self._headers if k.lower() not in _CREDENTIAL_HEADERS
            )
        self._teardown_io()
        self._events.clear()
        self._eof_seen = self._sliced = False
        self._proto = None
        self._wq.clear()
        self._dial(target)

    def _after_io(self) -> None:
        """Arm the close timer or end the connection as the core's state says."""
        proto = self._proto
        if proto is None or self._finished:
            return
        if proto.close_expected() and "close" not in self._timers:
            self._keepalive.closing()
            if self.config.close_timeout is not None:
                self._set_timer("close", self.config.close_timeout, self._on_close_timeout)
        if proto.should_close_transport() and not self._wq:
            self._end_from_proto(eof=False)

    def _end_from_proto(self, eof: bool) -> None:
        proto = self._proto
        assert proto is not None
        if not eof and proto.was_clean and self._sock is not None:
            # RFC 6455 7.1.1: after the closing handshake the server closes TCP first; the
            # client waits for that (close_timeout bounds the wait) and half-closes its side.
            if not self._shutdown_sent:
                self._shutdown_sent = True
                with contextlib.suppress(OSError):
                    if not isinstance(self._sock, ssl.SSLSocket):
                        self._sock.shutdown(socket.SHUT_WR)
            return
        code = proto.close_code if proto.close_code is not None else 1006
        exc: BaseException | None = None
        if not proto.was_clean:
            exc = proto.failure
            if self._eof_seen and not self._handshake_done and type(exc) is HandshakeError:
                # The server hung up before its 101 was complete: a network failure that
                # names the phase, not a malformed response.
                where = f"{self.uri.host}:{self.uri.port}"
                exc = ConnectionResetError(
                    f"{where} closed the connection during the WebSocket upgrade ({exc})"
                )
            elif exc is None or isinstance(exc, ConnectionClosed):
                # TCP ended without a closing handshake: a network failure, so an OSError.
                exc = self._last_error or ConnectionResetError(
                    "the server closed the TCP connection without a closing handshake"
                )
        self._finish(code, proto.close_reason, proto.was_clean, exc)

    def _flush_proto(self) -> None:
        proto = self._proto
        if proto is None:
            return
        data = proto.data_to_send()
        if data:
            self._write_out(data)

    def _on_write_error(self, exc: OSError) -> None:
        sock = self._sock
        proto = self._proto
        if (
            sock is None
            or proto is None
            or self._phase != "ws"
            or self._eof_seen
            or proto.state is State.CLOSED
        ):
            self._on_socket_error(exc)
            return
        # The server may have sent its close frame (1009 for a message too big, say) and
        # reset the connection while we were still writing: what it sent before the reset is
        # still readable.  Stop writing, read it, and end as at an end of file, so the close
        # reports the server's code (and its messages before it are delivered).
        self._wq.sock = None
        self._last_error = exc
        chunks: list[bytes] = []
        for _ in range(_READS_AFTER_WRITE_ERROR):
            try:
                data = sock.recv(_READ_SIZE)
            except (OSError, ssl.SSLError):
                break
            if not data:
                break
            chunks.append(data)
        self._eof_seen = True
        self._cancel_reader()
        self._deliver(chunks)
        if not self._finished:
            self._dispatch()

    def _on_socket_error(self, exc: OSError) -> None:
        proto = self._proto
        if proto is not None and proto.was_clean:
            # The closing handshake is complete: a reset or EPIPE now (a server that closes
            # with our echo unread) loses nothing, so the close stays clean (RFC 6455 7.1.4).
            self._end_from_proto(eof=True)
            return
        self._finish(1006, "", False, exc)

    def _progress_made(self) -> None:
        if not self._progress_scheduled:
            self._progress_scheduled = True
            self.loop.call_soon(self.guard(self._report_written))

    def _report_written(self) -> None:
        self._progress_scheduled = False
        written = self._wq.written
        delta = written - self._reported_written
        self._reported_written = written
        if delta or not self._wq:
            self._sink.on_written(delta, not self._wq)

    def _on_drained(self) -> None:
        if not self._finished:
            self._after_io()
        if self._reply_wait and not self._finished:
            self._reply_wait = False
            self._reply_bytes = 0
            self._restart_reading()

    # ------------------------------------------------------------------ open and close timers
    def _set_timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer(name)
        self._timers[name] = self.loop.call_later(delay, self.guard(callback))

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _on_open_timeout(self) -> None:
        self._timers.pop("open", None)
        if self.state is State.CONNECTING and self._phase == "ws":
            self.poll_input()  # the answer may be waiting unread (a busy thread)
        if self.state is State.CONNECTING:
            proto = self._proto
            rejection = proto.handshake_rejection() if proto is not None else None
            if rejection is not None:
                # The server refused (its body never ended): say so, not that time ran out.
                self._finish(1006, "", False, rejection)
                return
            dialer = self._dialer
            what = dialer.phase_description if dialer is not None else "the WebSocket upgrade"
            self._finish(
                1006,
                "",
                False,
                TimeoutError(f"open_timeout ({self.config.open_timeout} s) expired during {what}"),
            )

    def _on_close_timeout(self) -> None:
        self._timers.pop("close", None)
        proto = self._proto
        if proto is None or self._finished:
            return
        if proto.state is State.CLOSED or proto.was_clean:
            # The closing handshake completed but the server kept TCP open: drop it (7.1.1).
            self._end_from_proto(eof=True)
            return
        self._finish(
            1006,
            "",
            False,
            self._last_error
            or TimeoutError(
                f"close_timeout ({self.config.close_timeout} s) expired "
                "waiting for the server's close"
            ),
        )

    # ------------------------------------------------------------------ teardown
    def _cancel_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    def _teardown_io(self) -> None:
        if self._dialer is not None:
            self._dialer.cancel()
            self._dialer = None
        self._cancel_reader()
        self._wq.stop()
        self._wq.sock = None
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self._shutdown_sent = False

    def _finish(self, code: int, reason: str, was_clean: bool, exc: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._phase = "done"
        try:
            for name in list(self._timers):
                self._cancel_timer(name)
            self._keepalive.stop()
            self.unsent = [*self._wq.unsent(), *self._in_core, *self._held]
            self._in_core.clear()
            self._held.clear()
            self._held_bytes = 0
            self._teardown_io()
            self._wq.clear()
        finally:
            # Whatever went wrong above, the sink hears about the end exactly once, after
            # the batch of the messages already handed out in this slice.
            try:
                self._flush_batch()
            finally:
                if self._observer is not None:
                    self._observer.ended(code, reason, was_clean, exc)
                self._sink.on_close(code, reason, was_clean, exc)

    def _require_proto(self) -> ClientConnection:
        if self._proto is None or self._finished:
            raise InvalidState("the WebSocket is not open")
        return self._proto
