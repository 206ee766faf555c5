"""The client side of a SOCKS ``CONNECT`` (SOCKS5 RFC 1928 + RFC 1929, SOCKS4 and 4a), no I/O.

How it works
------------
``socksio`` builds the requests and parses the replies, the way h11 serves the HTTP
``CONNECT`` path; it expects each reply whole, so :class:`SocksHandshake` frames the bytes the
dialer feeds it (a reply may arrive in pieces) and hands socksio one complete reply at a time:

* SOCKS5: method selection (no authentication, and user name/password when the proxy URL has
  them), then the RFC 1929 sub-negotiation if the proxy picked it, then ``CONNECT``;
* SOCKS4/4a: one ``CONNECT`` request, one 8-byte reply.

A refusal is an ``OSError`` naming the proxy, the server and the proxy's reply (code and
meaning): ``PermissionError`` for rejected credentials or a rule, ``ConnectionRefusedError``
when the server refused the proxy.  A malformed reply (garbage, not a SOCKS proxy, a version
or code that does not exist) is an ``OSError`` naming the proxy and showing the reply's first
bytes.  Replies have a bounded size (at most 262 bytes) and are consumed as they complete,
so whatever a proxy sends, the buffer holds at most one read and one reply.  Passwords
never appear in a message.
"""

from __future__ import annotations

import ipaddress

import socksio

from .proxy import ProxySpec

__all__ = ["SocksHandshake"]

_SOCKS5_REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}
_SOCKS4_REPLIES = {
    0x5B: "request rejected or failed",
    0x5C: "the proxy cannot reach the client's identd",
    0x5D: "the user id was not confirmed by identd",
}
# SOCKS4 needs a user id in every request; socksio refuses an empty one.
_DEFAULT_USER_ID = b"qtws"


class SocksHandshake:
    """One SOCKS ``CONNECT`` to ``host:port`` through ``proxy``.

    ``address`` is what the request names: the server's host name when the proxy resolves it
    (``socks5h``, ``socks4a``), else the address qtws resolved.  Feed what the proxy sends to
    :meth:`receive_data` until it returns True (the tunnel is open; :attr:`leftover` holds any
    bytes after the reply); send what :meth:`data_to_send` returns."""

    def __init__(self, proxy: ProxySpec, host: str, port: int, address: str) -> None:
        self._proxy = proxy
        self._target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._address = address
        self._port = port
        self._buf = b""
        self.leftover = b""
        self._v5: socksio.SOCKS5Connection | None = None
        self._v4: socksio.SOCKS4Connection | None = None
        if proxy.scheme.startswith("socks5"):
            self._v5 = socksio.SOCKS5Connection()
            methods = [socksio.SOCKS5AuthMethod.NO_AUTH_REQUIRED]
            if proxy.username is not None:
                methods.append(socksio.SOCKS5AuthMethod.USERNAME_PASSWORD)
            self._v5.send(socksio.SOCKS5AuthMethodsRequest(methods))
            return
        user_id = proxy.username.encode() if proxy.username else _DEFAULT_USER_ID
        self._v4 = socksio.SOCKS4Connection(user_id=user_id)
        if _ip_version(address) == 4:
            self._v4.send(
                socksio.SOCKS4Request.from_address(socksio.SOCKS4Command.CONNECT, (address, port))
            )
        elif _ip_version(address) == 6 or proxy.scheme == "socks4":
            raise OSError(f"{proxy.name} (SOCKS4) cannot connect to {self._target}: IPv4 only")
        else:
            self._v4.send(
                socksio.SOCKS4ARequest.from_address(socksio.SOCKS4Command.CONNECT, (address, port))
            )

    def data_to_send(self) -> bytes:
        """The bytes to send to the proxy now."""
        conn = self._v5 if self._v5 is not None else self._v4
        assert conn is not None
        return conn.data_to_send()

    def receive_data(self, data: bytes) -> bool:
        """Feed bytes from the proxy; True once the tunnel is open.  Raises ``OSError`` for a
        refusal or a malformed reply."""
        self._buf += data
        while True:
            size = self._reply_size()
            if size is None or len(self._buf) < size:
                return False
            reply, self._buf = self._buf[:size], self._buf[size:]
            if self._handle(reply):
                self.leftover, self._buf = self._buf, b""
                return True

    # ------------------------------------------------------------------ framing
    def _reply_size(self) -> int | None:
        """The size of the reply expected next, ``None`` until enough of it arrived."""
        if self._v4 is not None:
            return 8
        assert self._v5 is not None
        if self._v5.state is not socksio.socks5.SOCKS5State.CLIENT_AUTHENTICATED:
            return 2  # method selection and RFC 1929 replies
        # VER REP RSV ATYP ADDR PORT (RFC 1928 section 6).
        if len(self._buf) < 5:
            return None
        atype = self._buf[3]
        if atype == 1:
            return 10
        if atype == 4:
            return 22
        if atype == 3:
            return 7 + self._buf[4]
        raise self._malformed(self._buf)

    def _handle(self, reply: bytes) -> bool:
        if self._v4 is not None:
            return self._handle_v4(reply)
        conn = self._v5
        assert conn is not None
        state = conn.state
        try:
            event = conn.receive_data(reply)
        except socksio.ProtocolError:
            raise self._malformed(reply) from None
        if isinstance(event, socksio.SOCKS5AuthReply):
            return self._on_method(conn, event.method)
        if state is socksio.socks5.SOCKS5State.SERVER_VERIFY_USERNAME_PASSWORD:
            if conn.state is not socksio.socks5.SOCKS5State.CLIENT_AUTHENTICATED:
                raise PermissionError(
                    f"{self._proxy.name} rejected the user name and password "
                    f"(reply 0x{reply[1]:02x})"
                )
            self._send_connect(conn)
            return False
        assert isinstance(event, socksio.SOCKS5Reply)
        code = reply[1]
        if code == 0:
            return True
        meaning = _SOCKS5_REPLIES[code]  # socksio rejects unknown codes
        kind = {0x02: PermissionError, 0x05: ConnectionRefusedError}.get(code, OSError)
        raise kind(
            f"{self._proxy.name} refused to connect to {self._target}: {meaning} "
            f"(SOCKS5 reply 0x{code:02x})"
        )

    def _on_method(self, conn: socksio.SOCKS5Connection, method: object) -> bool:
        if method is socksio.SOCKS5AuthMethod.NO_AUTH_REQUIRED:
            self._send_connect(conn)
            return False
        if method is socksio.SOCKS5AuthMethod.USERNAME_PASSWORD and self._proxy.username:
            assert self._proxy.password is not None
            conn.send(
                socksio.socks5.SOCKS5UsernamePasswordRequest(
                    self._proxy.username.encode(), self._proxy.password.encode()
                )
            )
            return False
        if method is socksio.SOCKS5AuthMethod.USERNAME_PASSWORD:
            raise PermissionError(
                f"{self._proxy.name} requires a user name and password "
                "(give them in the proxy URL: socks5://user:password@host:port)"
            )
        raise PermissionError(
            f"{self._proxy.name} accepts none of the authentication methods qtws offered "
            f"(no authentication{', user name/password' if self._proxy.username else ''})"
        )

    def _send_connect(self, conn: socksio.SOCKS5Connection) -> None:
        conn.send(
            socksio.SOCKS5CommandRequest.from_address(
                socksio.SOCKS5Command.CONNECT, (self._address, self._port)
            )
        )

    def _handle_v4(self, reply: bytes) -> bool:
        assert self._v4 is not None
        try:
            self._v4.receive_data(reply)
        except socksio.ProtocolError:
            raise self._malformed(reply) from None
        code = reply[1]
        if code == 0x5A:
            return True
        raise PermissionError(
            f"{self._proxy.name} refused to connect to {self._target}: "
            f"{_SOCKS4_REPLIES[code]} (SOCKS4 reply 0x{code:02x})"
        )

    def _malformed(self, reply: bytes) -> OSError:
        return OSError(
            f"malformed reply from {self._proxy.name} (is it a SOCKS proxy?): {reply[:32].hex(' ')}"
        )


def _ip_version(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None
