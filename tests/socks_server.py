"""Small real proxies for the tests (threads, 127.0.0.1 only): SOCKS4/4a/5, and HTTP CONNECT.

It speaks the server side of RFC 1928 (CONNECT), RFC 1929 (user name/password) and SOCKS4/4a,
relays bytes to the server it connected to, records every request, and can be told to refuse
targets with a given reply code.  Host names are resolved to IPv4 (the test servers listen on
127.0.0.1), the names of ``TEST_HOSTS`` included, which proxy.py (tests/servers.HttpProxy)
cannot do: :class:`ConnectProxy` is the HTTP proxy for tests that need a non-loopback name."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass


@dataclass
class SocksRequest:
    version: int  # 4 or 5
    kind: str  # "ipv4", "ipv6" or "name"
    host: str
    port: int
    user: str | None


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _recv_until_nul(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\0"):
        data += _recv_exact(conn, 1)
    return data[:-1]


# Names the test proxy resolves itself (socks5h): a non-loopback name for a local server, so
# environment proxies (which never apply to loopback targets) are exercised.
TEST_HOSTS = {"feed.qtws.test": "127.0.0.1"}


class SocksServer:
    """``users``: ``{name: password}`` required for SOCKS5 (none: no authentication);
    ``refuse``: ``{host: reply code}`` answered instead of connecting; ``after_reply``: bytes
    sent right after a successful reply (a misbehaving proxy)."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        refuse: dict[str, int] | None = None,
        after_reply: bytes = b"",
    ) -> None:
        self.users = users
        self.refuse = refuse or {}
        self.after_reply = after_reply
        self.requests: list[SocksRequest] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, scheme: str, user: str | None = None, password: str | None = None) -> str:
        """This proxy's URL with ``scheme`` (``socks5h``..., ``http`` for a ConnectProxy)."""
        auth = ""
        if user is not None:
            auth = user + (f":{password}" if password is not None else "") + "@"
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            version = _recv_exact(conn, 1)[0]
            if version == 5:
                upstream = self._socks5(conn)
            elif version == 4:
                upstream = self._socks4(conn)
            else:
                return
            if upstream is not None:
                self._relay(conn, upstream)

    def _socks5(self, conn: socket.socket) -> socket.socket | None:
        methods = _recv_exact(conn, _recv_exact(conn, 1)[0])
        user = None
        if self.users is not None:
            if 2 not in methods:
                conn.sendall(b"\x05\xff")
                return None
            conn.sendall(b"\x05\x02")
            _recv_exact(conn, 1)  # sub-negotiation version 1
            user = _recv_exact(conn, _recv_exact(conn, 1)[0]).decode()
            password = _recv_exact(conn, _recv_exact(conn, 1)[0]).decode()
            if self.users.get(user) != password:
                conn.sendall(b"\x01\x01")
                return None
            conn.sendall(b"\x01\x00")
        elif 0 in methods:
            conn.sendall(b"\x05\x00")
        else:
            conn.sendall(b"\x05\xff")
            return None
        _ver, _cmd, _rsv, atype = _recv_exact(conn, 4)
        if atype == 1:
            host, kind = socket.inet_ntop(socket.AF_INET, _recv_exact(conn, 4)), "ipv4"
        elif atype == 4:
            host, kind = socket.inet_ntop(socket.AF_INET6, _recv_exact(conn, 16)), "ipv6"
        else:
            host, kind = _recv_exact(conn, _recv_exact(conn, 1)[0]).decode(), "name"
        port = struct.unpack("!H", _recv_exact(conn, 2))[0]
        self.requests.append(SocksRequest(5, kind, host, port, user))
        code = self.refuse.get(host)
        upstream = None if code is not None else self._connect(host, port)
        if upstream is None:
            conn.sendall(bytes([5, code or 5, 0, 1, 0, 0, 0, 0, 0, 0]))
            return None
        # The bound address as a domain name: exercises the client's reply framing.
        conn.sendall(b"\x05\x00\x00\x03\x09localhost" + struct.pack("!H", port) + self.after_reply)
        return upstream

    def _socks4(self, conn: socket.socket) -> socket.socket | None:
        _cmd, port, raw_ip = struct.unpack("!BH4s", _recv_exact(conn, 7))
        user = _recv_until_nul(conn).decode()
        ip = ipaddress.IPv4Address(raw_ip)
        if raw_ip[:3] == b"\0\0\0" and raw_ip[3]:  # SOCKS4a: the name follows
            host, kind = _recv_until_nul(conn).decode(), "name"
        else:
            host, kind = str(ip), "ipv4"
        self.requests.append(SocksRequest(4, kind, host, port, user))
        code = self.refuse.get(host)
        upstream = None if code is not None else self._connect(host, port)
        if upstream is None:
            conn.sendall(bytes([0, code or 0x5B]) + b"\0" * 6)
            return None
        conn.sendall(b"\x00\x5a" + struct.pack("!H", port) + raw_ip + self.after_reply)
        return upstream

    def _connect(self, host: str, port: int) -> socket.socket | None:
        host = TEST_HOSTS.get(host, host)
        try:
            return socket.create_connection(
                (socket.gethostbyname(host) if ":" not in host else host, port), timeout=5
            )
        except OSError:
            return None

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        a.settimeout(None)
        b.settimeout(None)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=pump, args=(b, a), daemon=True)
        other.start()
        pump(a, b)
        other.join(10)
        b.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.close()

    def __enter__(self) -> SocksServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ConnectProxy(SocksServer):
    """An HTTP ``CONNECT`` proxy (RFC 9110 section 9.3.6) that knows ``TEST_HOSTS``.

    ``users``: ``{name: password}`` for Basic ``Proxy-Authorization`` (407 without).  Each
    request is recorded with ``version`` 0, the user it authenticated as in ``user``."""

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            _method, target, _version = lines[0].split(" ")
            fields = dict(line.split(": ", 1) for line in lines[1:])
            user = self._authenticate(fields.get("Proxy-Authorization", ""))
            if self.users is not None and user is None:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            self.requests.append(SocksRequest(0, "name", host, int(port), user))
            upstream = self._connect(host, int(port))
            if upstream is None:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._relay(conn, upstream)

    def _authenticate(self, value: str) -> str | None:
        import base64

        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user if self.users is None or self.users.get(user) == password else None
