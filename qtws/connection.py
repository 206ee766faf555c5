"""The non-blocking connection driver: moves bytes between a socket and the sans-IO core.

How it works
------------
A :class:`Connection` lives on one thread and does everything through an
:class:`~qtws.loop.base.EventLoopProxy`, so it never blocks that thread:

1. ``start()`` arms the open timer (DNS + TCP + proxy + TLS + upgrade together) and asks the
   proxy to resolve the host (or the HTTP proxy's host) off-thread.
2. Each resolved address is tried in turn with a non-blocking ``connect``; the writer
   notifier tells when it finished.
3. Through an HTTP proxy, a ``CONNECT`` request is sent and its answer parsed with h11.
4. For ``wss`` the socket is wrapped in TLS (SNI, certificate and hostname checked) and the
   handshake is driven by the reader/writer notifiers.
5. The core's handshake request goes out; from then on every readable event feeds
   :meth:`ClientConnection.receive_data` and every event is handed to the :class:`Sink`.
   After each TLS read the driver keeps reading while the TLS layer holds decrypted bytes,
   since the socket notifier will not fire for them.

There is one write path: bytes go to the ``_out`` queue and the writer notifier is enabled
only while it is not empty.  Under proxies that run continuously (Qt, asyncio) the first write
of a loop turn goes out at once and later ones are batched into one ``send`` at the end of the
turn; the selectors proxy (blocking scripts) writes every message at once.

Every failure ends the same way: the sink's ``on_close`` is called exactly once, with the
exception for abnormal closures.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import errno
import importlib
import logging
import os
import socket
import ssl
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import h11

from .config import Config
from .core import (
    BinaryMessage,
    ClientConnection,
    CloseReceived,
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
from .errors import ConnectionClosed, HandshakeError, InvalidState, InvalidStatus, WebSocketError
from .loop.base import AddrInfo, EventLoopProxy, Handle

__all__ = ["Connection", "Sink", "proxy_for"]

_log = logging.getLogger("qtws")

_READ_SIZE = 64 * 1024
# Bytes read per readable callback before yielding to the loop, so a 16 MiB message does
# not stall a GUI thread's timers.
_READ_BUDGET = 64 * 1024
# Seconds of event dispatch per loop callback before yielding (a flood of small messages).
_DISPATCH_BUDGET = 0.02
_MAX_TRACKED_PINGS = 64
# Received events waiting for dispatch beyond which reading stops until they are handed out.
_BACKLOG_LIMIT = 20_000
_PROXY_RESPONSE_LIMIT = 16 * 1024
# Queued pieces smaller than this are joined into one send; larger ones are sent as they are.
_COALESCE_LIMIT = 64 * 1024


class Sink(Protocol):
    """What the driver reports to (the façade)."""

    def on_open(self, subprotocol: str | None, extensions: tuple[str, ...]) -> None: ...
    def on_message(self, data: str | bytes) -> None: ...
    def on_ping(self, payload: bytes) -> None: ...
    def on_pong(self, payload: bytes, rtt: float | None) -> None: ...
    def on_close(
        self, code: int, reason: str, was_clean: bool, exc: BaseException | None
    ) -> None: ...


@dataclass(frozen=True)
class _HttpProxy:
    host: str
    port: int
    auth: str | None  # value of Proxy-Authorization


# Public in urllib.request but missing from typeshed.
_proxy_bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


def proxy_for(uri: WebSocketURI, setting: str | None) -> _HttpProxy | None:
    """The HTTP CONNECT proxy to use for ``uri`` given ``Config.proxy``.

    ``"auto"`` reads ``https_proxy`` (wss) / ``http_proxy`` (ws) / ``all_proxy`` and honours
    ``no_proxy``, as curl and urllib do.
    """
    if setting is None:
        return None
    if setting == "auto":
        env = urllib.request.getproxies_environment()
        url = env.get("https" if uri.secure else "http") or env.get("all")
        if not url or _proxy_bypass(uri.host, env):
            return None
        # no_proxy entries may carry ports; proxy_bypass_environment checks host:port too.
        if _proxy_bypass(f"{uri.host}:{uri.port}", env):
            return None
        try:
            return _parse_proxy(url)
        except ValueError as exc:
            # An environment set up for other tools (socks5://...) must not break qtws.
            _log.warning("ignoring the proxy from the environment: %s", exc)
            return None
    return _parse_proxy(setting)


def _parse_proxy(url: str) -> _HttpProxy:
    """Parse ``http://[user:password@]host[:port]`` (port 8080 by default)."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported proxy URL {url!r}: only http:// CONNECT proxies")
    auth = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        pw = urllib.parse.unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    try:
        port = parts.port or 8080
    except ValueError as exc:
        raise ValueError(f"invalid proxy URL {url!r}: {exc}") from None
    return _HttpProxy(parts.hostname, port, auth)


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
    ) -> None:
        self._loop = loop
        self._config = config
        self._sink = sink
        self._mask_source = mask_source
        self.uri = url if isinstance(url, WebSocketURI) else parse_uri(url)
        self._http_proxy: _HttpProxy | None = None
        self._sock: socket.socket | None = None
        self._proto: ClientConnection | None = None
        self._out: collections.deque[bytes | memoryview] = collections.deque()
        self._out_size = 0
        self._corked = False
        self._reader: Handle | None = None
        self._writer: Handle | None = None
        self._timers: dict[str, Handle] = {}
        self._pending: Handle | None = None  # resolver or connect attempt
        self._addrs: list[AddrInfo] = []
        self._last_error: BaseException | None = None
        self._phase = "idle"  # idle, resolving, connecting, proxy, tls, ws, done
        self._redirects: list[str] = [self.uri.url]
        self._proxy_parser: h11.Connection | None = None
        self._pings: list[tuple[bytes, float]] = []  # unanswered pings, oldest first
        self._events: collections.deque[Event] = collections.deque()  # not yet dispatched
        self._paused = False
        self._eof_seen = False
        self._dispatch_scheduled = False
        self._sliced = False  # a long backlog is being dispatched in slices
        self._dispatch_depth = 0  # > 0 while events are handed to the sink
        self._awaiting_pong = False
        self._finished = False
        self._shutdown_sent = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.subprotocol: str | None = None
        self.extensions: tuple[str, ...] = ()
        self.last_receive = 0.0

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
        return self._out_size

    @property
    def finished(self) -> bool:
        """True once ``on_close`` was reported."""
        return self._finished

    def start(self) -> None:
        """Begin connecting (returns at once; every failure is reported through the sink)."""
        _preload(secure=self.uri.secure and self._config.ssl_context is None)
        if self._config.open_timeout is not None:
            self._set_timer("open", self._config.open_timeout, self._on_open_timeout)
        try:
            self._http_proxy = proxy_for(self.uri, self._config.proxy)
        except ValueError as exc:
            failure = exc
            self._loop.call_soon(self._guard(lambda: self._finish(1006, "", False, failure)))
            return
        self._begin(self.uri)

    def send_text(self, data: str) -> None:
        """Queue a text message (the core raises InvalidState unless OPEN)."""
        self._require_proto().send_text(data)
        self._flush_proto()

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message."""
        self._require_proto().send_binary(data)
        self._flush_proto()

    def send_ping(self, payload: bytes = b"") -> None:
        """Send a ping; its pong's round trip is reported with ``on_pong``."""
        self._require_proto().send_ping(payload)
        if len(self._pings) >= _MAX_TRACKED_PINGS:
            del self._pings[0]
        self._pings.append((bytes(payload), self._loop.time()))
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

    # ------------------------------------------------------------------ connecting
    def _begin(self, uri: WebSocketURI) -> None:
        self.uri = uri
        self._phase = "resolving"
        target = self._http_proxy or uri
        host = target.host
        self._pending = self._loop.resolve(
            host.strip("[]"), target.port, self._guard(self._on_resolved)
        )

    def _on_resolved(self, result: list[AddrInfo] | BaseException) -> None:
        self._pending = None
        if self._finished:
            return
        if isinstance(result, BaseException):
            self._finish(1006, "", False, result)
            return
        if not result:
            self._finish(1006, "", False, OSError(f"no address found for {self.uri.host}"))
            return
        self._addrs = list(result)
        self._phase = "connecting"
        self._try_next_address()

    def _try_next_address(self) -> None:
        self._close_socket()
        while self._addrs:
            family, kind, proto, _, addr = self._addrs.pop(0)
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                self._last_error = exc
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                self._last_error = OSError(
                    err, f"connect to {addr[0]}:{addr[1]}: {os.strerror(err)}"
                )
                sock.close()
                continue
            self._sock = sock
            self._writer = self._loop.add_writer(sock.fileno(), self._guard(self._on_connected))
            return
        self._finish(
            1006, "", False, self._last_error or OSError(f"cannot connect to {self.uri.host}")
        )

    def _on_connected(self) -> None:
        sock = self._sock
        assert sock is not None
        self._cancel_writer()
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            peer = self.uri.host if self._http_proxy is None else self._http_proxy.host
            # OSError(errno, ...) builds the matching subclass (ConnectionRefusedError...).
            self._last_error = OSError(err, f"{os.strerror(err)} ({peer})")
            self._try_next_address()
            return
        self._addrs = []
        self._reader = self._loop.add_reader(sock.fileno(), self._guard(self._on_readable))
        if self._http_proxy is not None:
            self._start_proxy()
        else:
            self._after_tcp()

    def _after_tcp(self) -> None:
        if self.uri.secure:
            self._start_tls()
        else:
            self._start_ws()

    def _start_proxy(self) -> None:
        assert self._http_proxy is not None
        self._phase = "proxy"
        host = self.uri.host
        authority = f"{host}:{self.uri.port}"
        headers = [("Host", authority)]
        if self._http_proxy.auth:
            headers.append(("Proxy-Authorization", self._http_proxy.auth))
        parser = h11.Connection(
            our_role=h11.CLIENT, max_incomplete_event_size=_PROXY_RESPONSE_LIMIT
        )
        data = parser.send(h11.Request(method="CONNECT", target=authority, headers=headers))
        self._proxy_parser = parser
        self._write(data or b"")

    def _on_proxy_data(self, data: bytes) -> None:
        parser = self._proxy_parser
        assert parser is not None
        parser.receive_data(data)
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as exc:
            self.fail(HandshakeError(f"invalid response from HTTP proxy: {exc}"))
            return
        if event is h11.NEED_DATA:
            if not data:
                self.fail(ConnectionResetError("HTTP proxy closed the connection during CONNECT"))
            return
        if isinstance(event, h11.Response) and 200 <= event.status_code < 300:
            leftover, _closed = parser.trailing_data
            self._proxy_parser = None
            if leftover:
                self.fail(HandshakeError("HTTP proxy sent data after its CONNECT response"))
                return
            self._after_tcp()
            return
        if isinstance(event, (h11.Response, h11.InformationalResponse)):
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
            refused = InvalidStatus(event.status_code, headers, b"", event.reason.decode("latin-1"))
            refused.args = (
                f"HTTP proxy refused CONNECT to {self.uri.host}:{self.uri.port}: "
                f"{event.status_code} {event.reason.decode('latin-1')}",
            )
            self.fail(refused)
            return
        self.fail(HandshakeError(f"unexpected answer from HTTP proxy: {event!r}"))

    def _start_tls(self) -> None:
        sock = self._sock
        assert sock is not None
        self._phase = "tls"
        ctx = self._config.ssl_context or _default_ssl_context()
        # Swap the plain socket for the TLS one; the notifier must follow the same fd.
        self._cancel_reader()
        host = self.uri.host.strip("[]")
        tls = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        self._sock = tls
        self._reader = self._loop.add_reader(tls.fileno(), self._guard(self._on_readable))
        self._do_handshake()

    def _do_handshake(self) -> None:
        sock = self._sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._cancel_writer()
            return
        except ssl.SSLWantWriteError:
            if self._writer is None:
                self._writer = self._loop.add_writer(sock.fileno(), self._guard(self._do_handshake))
            return
        self._cancel_writer()
        self._start_ws()

    def _start_ws(self) -> None:
        self._phase = "ws"
        cfg = self._config
        self._proto = ClientConnection(
            self.uri,
            subprotocols=cfg.subprotocols,
            headers=tuple(cfg.headers),  # type: ignore[arg-type]
            origin=cfg.origin,
            user_agent=cfg.user_agent,
            compression=cfg.compression,
            max_message_size=cfg.max_message_size,
            max_frame_size=cfg.max_frame_size,
            mask_source=self._mask_source,
        )
        self._flush_proto()
        # TLS may already hold decrypted bytes from the handshake's last read.
        if self.data_pending():
            self._loop.call_soon(self._guard(self._on_readable))

    # ------------------------------------------------------------------ I/O
    def _on_readable(self) -> None:
        if self._finished or self._sock is None:
            return
        if self._phase == "tls":
            self._do_handshake()
            return
        if self._paused or self._eof_seen or self._sliced or len(self._events) >= _BACKLOG_LIMIT:
            # Resumed by resume_reading() / once the backlog is dispatched: reading more
            # while a flood is being handed out in slices would starve the loop's timers.
            self._cancel_reader()
            return
        self._read_now()

    def _read_now(self) -> None:
        """Read what the socket (and TLS) holds, feed the core and dispatch the events.

        Re-entrant: a slot may run a nested event loop (a modal dialog) during the dispatch;
        the reader stays active in it, so pongs and messages keep flowing as with QWebSocket."""
        sock = self._sock
        assert sock is not None
        budget = _READ_BUDGET
        chunks: list[bytes] = []
        eof = False
        while budget > 0:
            try:
                data = sock.recv(_READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
                break
            except ssl.SSLWantWriteError:
                break
            except OSError as exc:
                self._deliver(chunks)
                if not self._finished:
                    self._finish(1006, "", False, exc)
                return
            if not data:
                eof = True
                break
            chunks.append(data)
            budget -= len(data)
            # A short plain read means the kernel buffer is drained; a TLS read returns one
            # record at a time, so TLS keeps reading until SSLWantReadError (or the budget).
            if len(data) < _READ_SIZE and not isinstance(sock, ssl.SSLSocket):
                break
        if eof:
            self._eof_seen = True
            self._cancel_reader()
        self._deliver(chunks)
        if self.finished:
            return
        if eof:
            self._dispatch()  # the EOF is handled once the events before it are
        elif budget <= 0 or self.data_pending():
            # More may be waiting (in the kernel or decrypted in TLS): continue after the
            # loop has had a chance to run other work.
            self._loop.call_soon(self._guard(self._on_readable))

    def _deliver(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        self.bytes_in += sum(map(len, chunks))
        self.last_receive = self._loop.time()
        if self._phase == "proxy":
            self._on_proxy_data(b"".join(chunks))
            return
        proto = self._proto
        if proto is None:
            return
        for chunk in chunks:  # no join: a 16 MiB message would be copied once more
            proto.receive_data(chunk)
        self._process_events()

    @property
    def pending_events(self) -> int:
        """Events received but not yet handed to the sink."""
        return len(self._events)

    def _on_eof(self) -> None:
        if self._phase == "proxy":
            self._on_proxy_data(b"")
            if self._finished:
                return
        if self._proto is None:
            self._finish(
                1006, "", False, ConnectionResetError("connection closed during the handshake")
            )
            return
        self._proto.receive_eof()
        self._process_events()
        if not self._finished and not self._events:
            self._end_from_proto(eof=True)

    def pause_reading(self) -> None:
        """Stop reading the socket (backpressure: TCP makes the server wait)."""
        if not self._paused:
            self._paused = True
            self._cancel_reader()
            self._cancel_timer("ping_timeout")  # pongs cannot be read while paused

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        if self._paused:
            self._paused = False
            self._restart_reading()

    def _restart_reading(self) -> None:
        sock = self._sock
        if sock is None or self._finished or self._eof_seen or self._paused:
            return
        if self._phase not in ("proxy", "ws"):
            return
        if self._reader is None:
            self._reader = self._loop.add_reader(sock.fileno(), self._guard(self._on_readable))
        # Bytes may wait in the kernel or, decrypted, in TLS (the notifier misses the latter).
        self._loop.call_soon(self._guard(self._on_readable))

    def _process_events(self) -> None:
        proto = self._proto
        assert proto is not None
        new = proto.events_received()
        if self._dispatch_depth:
            # Read from inside a slot's nested event loop.  Like Qt's sockets (readyRead is
            # never emitted recursively), messages wait until that slot returns, in order;
            # keep-alive replies are handled now so the connection stays alive meanwhile.
            for event in new:
                if isinstance(event, Pong):
                    self._on_pong(event.payload)
                elif not isinstance(event, Ping):  # its pong is already queued
                    self._events.append(event)
            self._flush_proto()
            return
        self._events.extend(new)
        self._dispatch()

    def _schedule_dispatch(self) -> None:
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self._loop.call_soon(self._guard(self._scheduled_dispatch))

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
        try:
            self._dispatch_events(events, proto)
        finally:
            self._dispatch_depth -= 1
        if self._finished or self._sliced or events or proto is not self._proto:
            return
        self._flush_proto()
        self._after_io()
        if self.finished:
            return
        if self._eof_seen:
            if self._proto is not None and self._proto.state is not State.CLOSED:
                self._on_eof()
            elif self._proto is not None:
                self._end_from_proto(eof=True)
        elif self._reader is None and self._phase == "ws" and not self._paused:
            self._restart_reading()

    def _dispatch_events(
        self, events: collections.deque[Event], proto: ClientConnection | None
    ) -> None:
        deadline = self._loop.time() + _DISPATCH_BUDGET
        count = 0
        while events:
            if self._finished or proto is not self._proto:
                return
            event = events.popleft()
            if isinstance(event, (TextMessage, BinaryMessage)):
                self._sink.on_message(event.data)
            elif isinstance(event, Ping):
                self._flush_proto()
                self._sink.on_ping(event.payload)
            elif isinstance(event, Pong):
                self._on_pong(event.payload)
            elif isinstance(event, HandshakeComplete):
                self._cancel_timer("open")
                self.subprotocol = event.subprotocol
                self.extensions = event.extensions
                self.last_receive = self._loop.time()
                self._arm_keepalive()
                self._arm_inactivity()
                self._sink.on_open(event.subprotocol, event.extensions)
            elif isinstance(event, Redirect):
                events.clear()
                self._follow_redirect(event)
                return
            elif isinstance(event, CloseReceived):
                pass  # the echo is queued by the core; the outcome is read at the end
            elif isinstance(event, ConnectionFailed) and not isinstance(
                event.exc, ConnectionClosed
            ):
                self._last_error = event.exc
            count += 1
            if events and not count & 63 and self._loop.time() > deadline:
                self._sliced = True
                self._flush_proto()
                self._schedule_dispatch()
                return
        self._sliced = False

    def _reading_suspended(self) -> bool:
        """Reading stopped on purpose (backpressure or a backlog), so silence proves nothing."""
        return self._paused or self._sliced or len(self._events) >= _BACKLOG_LIMIT

    def _poll_input(self) -> None:
        """Read and dispatch what already waits, before a liveness timer decides: after a
        slot that kept the thread busy, the pong may be waiting unread."""
        if self._sock is not None and not self._paused and not self._eof_seen:
            self._read_now()
        if not self._finished:
            self._dispatch()

    def _on_pong(self, payload: bytes) -> None:
        sent = None
        for i, (p, t) in enumerate(self._pings):
            if p == payload:  # the oldest unanswered ping with this payload
                sent = t
                del self._pings[i]
                break
        if sent is not None:
            self._awaiting_pong = False
            self._cancel_timer("ping_timeout")
        self._sink.on_pong(payload, None if sent is None else self._loop.time() - sent)

    def _follow_redirect(self, event: Redirect) -> None:
        if len(self._redirects) > self._config.max_redirects:
            self._finish(
                1006,
                "",
                False,
                HandshakeError(
                    f"too many redirects (max_redirects={self._config.max_redirects}): "
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
        self._teardown_io()
        self._events.clear()
        self._eof_seen = self._sliced = False
        self._proto = None
        self._out.clear()
        self._out_size = 0
        try:
            self._http_proxy = proxy_for(target, self._config.proxy)
        except ValueError as exc:
            self._finish(1006, "", False, exc)
            return
        self._begin(target)

    def _after_io(self) -> None:
        """Arm the close timer or end the connection as the core's state says."""
        proto = self._proto
        if proto is None or self._finished:
            return
        if proto.close_expected() and "close" not in self._timers:
            self._cancel_timer("ping")
            self._cancel_timer("ping_timeout")
            if self._config.close_timeout is not None:
                self._set_timer("close", self._config.close_timeout, self._on_close_timeout)
        if proto.should_close_transport() and not self._out:
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
            if exc is None or isinstance(exc, ConnectionClosed):
                # TCP ended without a closing handshake: a network failure, so an OSError.
                exc = self._last_error or ConnectionResetError(
                    "the server closed the TCP connection without a closing handshake"
                )
        self._finish(code, proto.close_reason, proto.was_clean, exc)

    def _write(self, data: bytes) -> None:
        if not data:
            return
        self._out.append(data)
        self._out_size += len(data)
        if self._writer is not None or self._corked:
            return  # the writer notifier or the pending uncork sends it
        self._try_write()
        if self._loop.defer_writes and not self._finished:
            # Batch what else is sent during this turn of the loop into one system call; the
            # first message went out at once, so a lone message has no added latency.
            self._corked = True
            self._loop.call_soon(self._guard(self._uncork))

    def _uncork(self) -> None:
        self._corked = False
        if self._writer is None and self._out:
            self._try_write()
            if not self._out:
                self._after_io()

    def _flush_proto(self) -> None:
        proto = self._proto
        if proto is None:
            return
        data = proto.data_to_send()
        if data:
            self._write(data)

    def _next_chunk(self) -> bytes | memoryview:
        """The head of the write queue, small pieces coalesced (one send for a burst)."""
        out = self._out
        head = out[0]
        if len(out) == 1 or len(head) >= _COALESCE_LIMIT:
            return head
        parts = [out.popleft()]
        size = len(head)
        while out and size < _COALESCE_LIMIT and len(out[0]) < _COALESCE_LIMIT:
            piece = out.popleft()
            parts.append(piece)
            size += len(piece)
        joined = b"".join(parts)
        out.appendleft(joined)
        return joined

    def _try_write(self) -> None:
        sock = self._sock
        if sock is None or self._finished:
            return
        out = self._out
        while out:
            chunk = self._next_chunk()
            try:
                n = sock.send(chunk)
            except (BlockingIOError, ssl.SSLWantWriteError, InterruptedError):
                break
            except ssl.SSLWantReadError:
                break
            except OSError as exc:
                self._finish(1006, "", False, exc)
                return
            self.bytes_out += n
            self._out_size -= n
            if n == len(chunk):
                out.popleft()
            else:
                # Partial write: keep the rest without copying (TLS retries need the same
                # buffer contents, which a memoryview slice preserves).
                out[0] = memoryview(chunk)[n:]
                break
        if out:
            if self._writer is None:
                self._writer = self._loop.add_writer(sock.fileno(), self._guard(self._on_writable))
        else:
            self._cancel_writer()

    def _on_writable(self) -> None:
        self._try_write()
        if not self._out and not self._finished:
            self._after_io()

    # ------------------------------------------------------------------ timers
    def _set_timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer(name)
        self._timers[name] = self._loop.call_later(delay, self._guard(callback))

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _on_open_timeout(self) -> None:
        self._timers.pop("open", None)
        if self.state is State.CONNECTING:
            what = {
                "resolving": "resolving the host name",
                "connecting": "connecting",
                "proxy": "the HTTP proxy's CONNECT",
                "tls": "the TLS handshake",
                "ws": "the WebSocket upgrade",
            }.get(self._phase, "opening")
            self._finish(
                1006,
                "",
                False,
                TimeoutError(f"open_timeout ({self._config.open_timeout} s) expired during {what}"),
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
                f"close_timeout ({self._config.close_timeout} s) expired "
                "waiting for the server's close"
            ),
        )

    def _arm_keepalive(self) -> None:
        interval = self._config.ping_interval
        if interval is not None:
            self._set_timer("ping", interval, self._send_keepalive)

    def _send_keepalive(self) -> None:
        self._timers.pop("ping", None)
        proto = self._proto
        if proto is None or proto.state is not State.OPEN or self._finished:
            return
        if self._reading_suspended():
            # Reading is suspended (the application is not consuming): a pong could not be
            # read, so do not measure liveness now.
            self._arm_keepalive()
            return
        payload = self._mask_source(4)
        self.send_ping(payload)
        if self._config.ping_timeout is not None and "ping_timeout" not in self._timers:
            self._awaiting_pong = True
            self._set_timer("ping_timeout", self._config.ping_timeout, self._on_ping_timeout)
        self._arm_keepalive()

    def _on_ping_timeout(self) -> None:
        self._timers.pop("ping_timeout", None)
        self._poll_input()
        if self._finished or not self._awaiting_pong or self._reading_suspended():
            return  # the pong was waiting (or reading is suspended on purpose)
        self.fail(
            TimeoutError(
                f"no pong within ping_timeout ({self._config.ping_timeout} s): connection lost"
            ),
            1006,
        )

    def _arm_inactivity(self) -> None:
        limit = self._config.inactivity_timeout
        if limit is not None:
            self._set_timer("inactivity", limit, self._check_inactivity)

    def _check_inactivity(self) -> None:
        self._timers.pop("inactivity", None)
        limit = self._config.inactivity_timeout
        if limit is None or self._finished:
            return
        self._poll_input()
        if self.finished:
            return
        if self._reading_suspended():
            self.last_receive = self._loop.time()  # not reading is our choice, not idleness
        idle = self._loop.time() - self.last_receive
        if idle >= limit:
            self.fail(TimeoutError(f"nothing received for inactivity_timeout ({limit} s)"))
        else:
            self._set_timer("inactivity", limit - idle, self._check_inactivity)

    # ------------------------------------------------------------------ teardown
    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a loop callback: any exception fails this connection instead of escaping."""

        def wrapper(*args: Any) -> None:
            if self._finished:
                return
            try:
                fn(*args)
            except Exception as exc:
                if not self._finished:
                    self._finish(1006, "", False, exc)

        return wrapper

    def _cancel_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    def _cancel_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def _close_socket(self) -> None:
        self._cancel_reader()
        self._cancel_writer()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _teardown_io(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._close_socket()
        self._shutdown_sent = False

    def _finish(self, code: int, reason: str, was_clean: bool, exc: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._phase = "done"
        try:
            for name in list(self._timers):
                self._cancel_timer(name)
            self._teardown_io()
            self._out.clear()
            self._out_size = 0
        finally:
            # Whatever went wrong above, the sink hears about the end exactly once.
            self._sink.on_close(code, reason, was_clean, exc)

    def _require_proto(self) -> ClientConnection:
        if self._proto is None or self._finished:
            raise InvalidState("the WebSocket is not open")
        return self._proto


_warm_lock = threading.Lock()
_warm_started: set[str] = set()
_ssl_default: ssl.SSLContext | None = None


def _default_ssl_context() -> ssl.SSLContext:
    """The shared default TLS context (system trust store, hostname checked).

    Loading the trust store takes tens of milliseconds: done once per process, not once per
    connection, and warmed up off the GUI thread by :func:`_preload`."""
    global _ssl_default
    with _warm_lock:
        if _ssl_default is None:
            _ssl_default = ssl.create_default_context()
        return _ssl_default


def _preload(*, secure: bool) -> None:
    """Warm up, on a background thread and once per process, what the first connection
    would otherwise pay for on the GUI thread: importing numpy (~0.1 s; it masks large
    payloads) and, for wss, loading the system's CA certificates."""
    jobs: list[Callable[[], object]] = []
    with _warm_lock:
        if "numpy" not in _warm_started and "numpy" not in sys.modules:
            _warm_started.add("numpy")
            jobs.append(lambda: importlib.import_module("numpy"))
        if secure and "ssl" not in _warm_started:
            _warm_started.add("ssl")
            jobs.append(_default_ssl_context)
    if not jobs:
        return

    def run() -> None:
        for job in jobs:
            with contextlib.suppress(Exception):
                job()

    threading.Thread(target=run, name="qtws-warm-up", daemon=True).start()
