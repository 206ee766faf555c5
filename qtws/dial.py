"""Dialing: from a URL to a connected (and, for ``wss``, TLS-wrapped) socket, never blocking.

How it works
------------
A :class:`Dialer` is one pipeline on the loop's thread, driven by the event-loop proxy:

1. **resolve** the server's (or the proxy's) host name off-thread (``EventLoopProxy.resolve``);
   for ``proxy="system"`` first ask the system which proxy (a
   :class:`~qtws.proxy.SystemLookup`, on a worker thread: it may evaluate a PAC script);
2. **connect**: each address in turn, non-blocking; the writer notifier says when ``connect``
   finished, ``SO_ERROR`` whether it worked; a refused address moves on to the next one;
3. **proxy**: through an HTTP proxy, a ``CONNECT host:port`` request, its answer parsed with
   h11 (a non-2xx answer is :class:`~qtws.InvalidStatus`, interim 1xx answers are skipped, a
   malformed or over-long one is an ``OSError`` naming the proxy); **socks**: through a SOCKS proxy,
   the handshake of :mod:`qtws.socks` (socksio).  For ``socks5://`` and ``socks4://`` the
   server's name is resolved here first, the proxy gets the address;
4. **tls** for ``wss``: SNI, certificate and hostname checked (in pinned mode, and when
   probing a rejected certificate for ``certificate_error``, the leaf's SHA-256 instead: see
   :mod:`qtws.certificates`), the handshake driven by the
   reader/writer notifiers.

It ends in exactly one report to ``done``: the connected socket, or an exception.  Network
failures are ``OSError`` whose message names the phase and the peer (the server or the
proxy); an end-of-file or reset in any phase ends the attempt at once.  ``cancel()`` stops the
pipeline without a report.  The loop registrations are the dialer's own and are all gone when
it reports, so the connection driver starts from a clean socket.

This module is over 400 lines because the four phases share one state (the socket, its
registrations, the deadline and which peer to name in an error) and hand over to each other
without a report in between; the proxy protocols' framing is in :mod:`qtws.proxy` and
:mod:`qtws.socks`, certificate checks in :mod:`qtws.certificates`.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import ipaddress
import os
import queue
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h11

from .certificates import PinMismatchError, fingerprint, pinning_context
from .config import Config
from .core import WebSocketURI
from .errors import InvalidStatus
from .loop.base import AddrInfo, EventLoopProxy, Handle
from .proxy import ProxySpec, SystemLookup

if TYPE_CHECKING:
    from .socks import SocksHandshake

__all__ = ["Dialer", "DoneCallback", "default_ssl_context", "preload", "system_ssl_context"]

# The answer of a CONNECT proxy is a status line and a few headers.
_PROXY_RESPONSE_LIMIT = 16 * 1024

# Called once with the connected socket, or with the exception that ended the attempt.
DoneCallback = Callable[[socket.socket | BaseException], None]

_PHASES = {
    "proxy-lookup": "looking up the system proxy",
    "resolving": "resolving the host name",
    "connecting": "connecting",
    "proxy": "the HTTP proxy's CONNECT",
    "socks": "the SOCKS proxy's handshake",
    "tls": "the TLS handshake",
}


class Dialer:
    """Resolve, connect, proxy CONNECT, TLS: see the module docstring."""

    def __init__(
        self,
        loop: EventLoopProxy,
        uri: WebSocketURI,
        config: Config,
        proxy: ProxySpec | SystemLookup | None,
        done: DoneCallback,
        *,
        pins: frozenset[str] | None = None,
        probe: bool = False,
    ) -> None:
        self._pins = pins
        self._probe = probe
        self._loop = loop
        self._uri = uri
        self._config = config
        self._lookup = proxy if isinstance(proxy, SystemLookup) else None
        self._proxy = proxy if isinstance(proxy, ProxySpec) else None
        self._done: DoneCallback | None = done
        self.phase = "idle"
        self._sock: socket.socket | None = None
        self._pending: Handle | None = None
        self._reader: Handle | None = None
        self._writer: Handle | None = None
        self._addrs: list[AddrInfo] = []  # ws+unix: one (AF_UNIX, ..., path) entry
        self._last_error: BaseException | None = None
        self._parser: h11.Connection | None = None
        self._socks: SocksHandshake | None = None
        self._socks_address = uri.host
        self._request = b""
        self._answer_start = b""  # the proxy's first bytes, until they spell "HTTP/"

    @property
    def phase_description(self) -> str:
        """The current phase in words (for timeout messages)."""
        return _PHASES.get(self.phase, "opening")

    @property
    def proxy(self) -> ProxySpec | SystemLookup | None:
        """The proxy: once the system lookup answered, its answer (a re-dial skips it)."""
        return self._lookup or self._proxy

    @property
    def _peer(self) -> str:
        if self._proxy is not None:
            return self._proxy.name
        if self._uri.unix_path is not None:
            return self._uri.unix_path
        return f"{self._uri.host}:{self._uri.port}"

    def start(self) -> None:
        """Begin resolving; returns at once."""
        if self._uri.unix_path is not None:
            # ws+unix: nothing to resolve, never a proxy.
            self.phase = "connecting"
            family = getattr(socket, "AF_UNIX", None)
            if family is None:  # Windows' CPython has no AF_UNIX
                self._last_error = OSError(
                    errno.EAFNOSUPPORT, f"this Python has no unix sockets (ws+unix: {self._peer})"
                )
            else:
                unix: Any = (family, socket.SOCK_STREAM, 0, "", self._uri.unix_path)
                self._addrs = [unix]
            self._pending = self._loop.call_soon(self._guard(self._try_next_address))
            return
        if self._lookup is not None:
            self.phase = "proxy-lookup"
            self._pending = _run_off_thread(
                self._loop, self._lookup, self._guard(self._on_proxy_looked_up)
            )
            return
        self._resolve()

    def _on_proxy_looked_up(self, result: ProxySpec | BaseException | None) -> None:
        self._pending = None
        if isinstance(result, BaseException):
            self._report(result)
            return
        self._lookup = None
        self._proxy = result
        self._resolve()

    def _resolve(self) -> None:
        self.phase = "resolving"
        proxy = self._proxy
        if (
            proxy is not None
            and proxy.socks
            and not proxy.remote_dns
            and not _is_ip(self._uri.host)
        ):
            # socks5:// and socks4:// send an address: resolve the server's name here first.
            self._pending = self._loop.resolve(
                self._uri.host, self._uri.port, self._guard(self._on_target_resolved)
            )
            return
        self._resolve_first_hop()

    def _resolve_first_hop(self) -> None:
        target = self._proxy or self._uri
        self._pending = self._loop.resolve(
            target.host.strip("[]"), target.port, self._guard(self._on_resolved)
        )

    def _on_target_resolved(self, result: list[AddrInfo] | BaseException) -> None:
        self._pending = None
        assert self._proxy is not None
        where = f"{self._uri.host}:{self._uri.port} (for the {self._proxy.name})"
        if isinstance(result, BaseException):
            if isinstance(result, OSError):
                result = _renamed(result, f"resolving {where}")
            self._report(result)
            return
        families = (
            (socket.AF_INET,)
            if self._proxy.scheme == "socks4"
            else (socket.AF_INET, socket.AF_INET6)
        )
        addrs = [str(info[4][0]) for info in result if info[0] in families]
        if not addrs:
            self._report(OSError(f"no usable address found for {where}"))
            return
        self._socks_address = addrs[0]
        self._resolve_first_hop()

    def cancel(self) -> None:
        """Stop dialing without a report and close the socket."""
        self._done = None
        self._teardown(close=True)

    # ------------------------------------------------------------------ phases
    def _on_resolved(self, result: list[AddrInfo] | BaseException) -> None:
        self._pending = None
        if isinstance(result, BaseException):
            if isinstance(result, OSError):
                result = _renamed(result, f"resolving {self._peer}")
            self._report(result)
            return
        if not result:
            self._report(OSError(f"no address found for {self._peer}"))
            return
        self._addrs = list(result)
        self.phase = "connecting"
        self._try_next_address()

    def _try_next_address(self) -> None:
        self._teardown(close=True)
        while self._addrs:
            family, kind, proto, _, addr = self._addrs.pop(0)
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                self._last_error = exc
                continue
            sock.setblocking(False)
            if family != getattr(socket, "AF_UNIX", None):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                self._last_error = self._connect_error(err, addr)
                sock.close()
                continue
            self._sock = sock
            self._writer = self._loop.add_writer(sock.fileno(), self._guard(self._on_connected))
            self._addr = addr
            return
        self._report(self._last_error or OSError(f"cannot connect to {self._peer}"))

    def _connect_error(self, err: int, addr: Any) -> OSError:
        where = addr if isinstance(addr, str) else f"{addr[0]}:{addr[1]}"
        if self._proxy is not None:
            where = f"{self._proxy.name} at {where}"
        # OSError(errno, ...) builds the matching subclass (ConnectionRefusedError...).
        return OSError(err, f"{os.strerror(err)} (connecting to {where})")

    def _on_connected(self) -> None:
        sock = self._sock
        assert sock is not None
        self._cancel_writer()
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._last_error = self._connect_error(err, self._addr)
            self._try_next_address()
            return
        self._addrs = []
        if self._proxy is not None and self._proxy.socks:
            self._start_socks(self._proxy)
        elif self._proxy is not None:
            self._start_proxy(self._proxy)
        else:
            self._after_tcp()

    def _after_tcp(self) -> None:
        if self._uri.secure:
            self._start_tls()
        else:
            self._succeed()

    def _start_proxy(self, proxy: ProxySpec) -> None:
        sock = self._sock
        assert sock is not None
        self.phase = "proxy"
        authority = f"{self._uri.host}:{self._uri.port}"
        headers = [("Host", authority)]
        if proxy.auth:
            headers.append(("Proxy-Authorization", proxy.auth))
        parser = h11.Connection(
            our_role=h11.CLIENT, max_incomplete_event_size=_PROXY_RESPONSE_LIMIT
        )
        self._parser = parser
        self._request = parser.send(
            h11.Request(method="CONNECT", target=authority, headers=headers)
        )
        self._reader = self._loop.add_reader(sock.fileno(), self._guard(self._on_proxy_readable))
        self._send_request()

    def _send_request(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            n = sock.send(self._request)
        except (BlockingIOError, InterruptedError):
            n = 0
        self._request = self._request[n:]
        if self._request and self._writer is None:
            self._writer = self._loop.add_writer(sock.fileno(), self._guard(self._send_request))
        elif not self._request:
            self._cancel_writer()

    def _on_proxy_readable(self) -> None:
        sock = self._sock
        parser = self._parser
        assert sock is not None and parser is not None
        try:
            data = sock.recv(_PROXY_RESPONSE_LIMIT)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self._report(ConnectionResetError(f"{self._peer} closed the connection during CONNECT"))
            return
        if len(self._answer_start) < 5:
            # Garbage without a blank line would keep h11 waiting until open_timeout.
            self._answer_start += data[: 5 - len(self._answer_start)]
            if not b"HTTP/".startswith(self._answer_start[:5]):
                self._report(
                    OSError(
                        f"{self._peer} sent an invalid answer to CONNECT: not HTTP "
                        f"({data[:16].hex(' ')})"
                    )
                )
                return
        parser.receive_data(data)
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                # Garbage, an over-long line or header block (_PROXY_RESPONSE_LIMIT)...
                self._report(OSError(f"{self._peer} sent an invalid answer to CONNECT: {exc}"))
                return
            if event is h11.NEED_DATA:
                return
            # A client ignores interim responses it did not ask for (RFC 9110 section 15.2);
            # h11 itself rejects a 101, which no CONNECT asks for.
            if not isinstance(event, h11.InformationalResponse):
                break
        assert isinstance(event, h11.Response)
        if 200 <= event.status_code < 300:
            leftover, _closed = parser.trailing_data
            self._parser = None
            self._cancel_reader()
            if leftover:
                self._report(OSError(f"{self._peer} sent data after its CONNECT response"))
                return
            self._after_tcp()
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        refused = InvalidStatus(event.status_code, headers, b"", event.reason.decode("latin-1"))
        refused.args = (
            f"{self._peer} refused CONNECT to {self._uri.host}:{self._uri.port}: "
            f"{event.status_code} {event.reason.decode('latin-1')}",
        )
        self._report(refused)

    def _start_socks(self, proxy: ProxySpec) -> None:
        from .socks import SocksHandshake  # socksio is optional: loaded only when used

        sock = self._sock
        assert sock is not None
        self.phase = "socks"
        self._socks = SocksHandshake(proxy, self._uri.host, self._uri.port, self._socks_address)
        self._request = self._socks.data_to_send()
        self._reader = self._loop.add_reader(sock.fileno(), self._guard(self._on_socks_readable))
        self._send_request()

    def _on_socks_readable(self) -> None:
        sock = self._sock
        handshake = self._socks
        assert sock is not None and handshake is not None
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self._report(
                ConnectionResetError(
                    f"{self._peer} closed the connection during the SOCKS handshake"
                )
            )
            return
        done = handshake.receive_data(data)
        self._request += handshake.data_to_send()
        if self._request:
            self._send_request()
        if not done:
            return
        self._socks = None
        self._cancel_reader()
        if handshake.leftover:
            self._report(OSError(f"{self._peer} sent data after its SOCKS reply"))
            return
        self._after_tcp()

    def _start_tls(self) -> None:
        sock = self._sock
        assert sock is not None
        self.phase = "tls"
        if self._pins is not None or self._probe:
            ctx = pinning_context()  # the fingerprint is checked after the handshake
        else:
            ctx = self._config.ssl_context or (
                system_ssl_context() if self._config.trust == "system" else default_ssl_context()
            )
        host = self._uri.host.strip("[]")
        tls = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        self._sock = tls
        self._reader = self._loop.add_reader(tls.fileno(), self._guard(self._do_handshake))
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
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError) as exc:
            self._report(
                ConnectionResetError(
                    f"{self._uri.host}:{self._uri.port} closed the connection during the TLS "
                    f"handshake ({exc})"
                )
            )
            return
        if self._pins is not None and not self._probe:
            der = sock.getpeercert(binary_form=True) or b""
            if fingerprint(der) not in self._pins:
                self._report(PinMismatchError(self._uri.host, self._uri.port, der))
                return
        self._succeed()

    # ------------------------------------------------------------------ the end
    def _succeed(self) -> None:
        sock = self._sock
        assert sock is not None
        self._teardown(close=False)
        self._sock = None
        self._finish(sock)

    def _report(self, exc: BaseException) -> None:
        self._teardown(close=True)
        self._finish(exc)

    def _finish(self, result: socket.socket | BaseException) -> None:
        done, self._done = self._done, None
        self.phase = "done"
        if done is not None:
            done(result)
        elif isinstance(result, socket.socket):
            result.close()

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a loop callback: an exception ends the attempt with a report, never escapes."""

        def wrapper(*args: Any) -> None:
            if self._done is None:
                return
            try:
                fn(*args)
            except Exception as exc:
                if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
                    exc = _renamed(exc, f"{self.phase_description} ({self._peer})")
                self._report(exc)

        return wrapper

    def _cancel_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    def _cancel_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def _teardown(self, *, close: bool) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._cancel_reader()
        self._cancel_writer()
        if close and self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


class _OffThread:
    """A job for the lookup thread; ``cancel()`` drops its result (the job itself runs on)."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _LookupThread:
    """One daemon thread (started on demand) running the system-proxy lookups in turn.

    One is enough: Qt serialises ``proxyForQuery`` under its own mutex, so more threads
    would only wait there, and pile up behind a PAC script that hangs.  A daemon thread
    never delays the interpreter's exit."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._lock = threading.Lock()
        self._started = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self.jobs.put(job)
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._work, name="qtws-proxy-lookup", daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job()  # never raises: _run_off_thread's jobs catch everything
            finally:
                self.jobs.task_done()


_lookups = _LookupThread()


def _run_off_thread(
    loop: EventLoopProxy,
    job: Callable[[], ProxySpec | None],
    callback: Callable[[ProxySpec | BaseException | None], None],
) -> Handle:
    """Run the blocking ``job`` on the lookup thread and hand its result, or its exception,
    to ``callback`` on the loop's thread (unless the handle was cancelled by then)."""
    handle = _OffThread()

    def deliver(result: ProxySpec | BaseException | None) -> None:
        if not handle.cancelled:
            handle.cancelled = True
            callback(result)

    def work() -> None:
        result: ProxySpec | BaseException | None
        try:
            result = None if handle.cancelled else job()
        except Exception as exc:
            result = exc
        with contextlib.suppress(Exception):  # the loop may be gone by now
            loop.call_soon_threadsafe(lambda: deliver(result))

    _lookups.submit(work)
    return handle


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _renamed(exc: OSError, where: str) -> OSError:
    """The same kind of ``OSError`` with ``where`` in its message."""
    if exc.errno is None or exc.strerror is None:
        return exc
    new = type(exc)(exc.errno, f"{exc.strerror} ({where})")
    new.__cause__ = exc
    return new


_warm_lock = threading.Lock()
_warm_started: set[str] = set()
_ssl_default: ssl.SSLContext | None = None
_ssl_system: ssl.SSLContext | None = None

# Where Linux/BSD distributions keep their CA bundle, for a Python whose OpenSSL looks
# elsewhere (the list truststore and certifi-system-store use).
_CA_FILES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


def tls_ready(trust: str | None) -> bool:
    """Whether the shared context for ``trust`` exists (else making it would block)."""
    return (_ssl_system if trust == "system" else _ssl_default) is not None


def default_ssl_context() -> ssl.SSLContext:
    """The shared default TLS context (``trust=None``: OpenSSL's trust paths, hostname checked).

    Loading the trust store takes tens of milliseconds: done once per process, not once per
    connection, and warmed up off the GUI thread by :func:`preload`."""
    global _ssl_default
    with _warm_lock:
        if _ssl_default is None:
            _ssl_default = ssl.create_default_context()
        return _ssl_default


def system_ssl_context() -> ssl.SSLContext:
    """The shared context for ``trust="system"``, hostname checked.

    On Windows and macOS it is truststore's: the operating system verifies the chain (its
    store, enterprise roots and policies) after each handshake.  Elsewhere the system store
    *is* OpenSSL's paths, or the distribution's CA bundle when this Python's OpenSSL looks in
    the wrong place; qtws loads it once per process (truststore would reload it on every
    connection, ~0.1 s on the GUI thread)."""
    global _ssl_system
    with _warm_lock:
        if _ssl_system is None:
            _ssl_system = _make_system_context()
        return _ssl_system


def _make_system_context() -> ssl.SSLContext:
    if sys.platform in ("win32", "darwin"):
        import truststore

        ctx: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    paths = ssl.get_default_verify_paths()
    if paths.cafile or (paths.capath and any(os.scandir(paths.capath))):
        ctx.set_default_verify_paths()
    else:
        for cafile in _CA_FILES:
            if os.path.isfile(cafile):
                ctx.load_verify_locations(cafile=cafile)
                break
    return ctx


def preload(*, secure: bool, trust: str | None = None, numpy: bool = True) -> None:
    """Warm up, on a background thread and once per process, what the first connection
    would otherwise pay for on the GUI thread: for wss, loading the CA certificates (of
    ``trust``), first; with ``numpy``, importing numpy (~0.1 s; it masks large payloads)."""
    jobs: list[Callable[[], object]] = []
    name = "ssl-system" if trust == "system" else "ssl"
    with _warm_lock:
        if secure and name not in _warm_started:
            _warm_started.add(name)
            jobs.append(system_ssl_context if trust == "system" else default_ssl_context)
        if numpy and "numpy" not in _warm_started and "numpy" not in sys.modules:
            _warm_started.add("numpy")
            jobs.append(lambda: importlib.import_module("numpy"))
    if not jobs:
        return

    def run() -> None:
        for job in jobs:
            with contextlib.suppress(Exception):
                job()

    threading.Thread(target=run, name="qtws-warm-up", daemon=True).start()
