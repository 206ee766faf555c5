"""Tornado's WebSocket server speaking the interop routes (see ``routes.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets
from tornado.web import Application
from tornado.websocket import WebSocketHandler

from tests.interop.routes import DROP_TAIL, LIMIT, PING_PAYLOAD, announce, close_args


class Handler(WebSocketHandler):
    def get_compression_options(self) -> dict[str, Any]:
        return {}  # accept permessage-deflate when the client offers it

    @property
    def max_message_size(self) -> int:
        return LIMIT if self.request.path == "/limited" else 64 * 2**20

    async def open(self, *args: str) -> None:
        route = self.request.path
        if route == "/close":
            code, reason = close_args(self.request.query)
            await self.write_message("closing")
            self.close(code, reason)
        elif route == "/ping":
            self.ping(PING_PAYLOAD)
        elif route == "/drop":
            await self.write_message("before")
            conn = self.ws_connection
            assert conn is not None
            stream: IOStream = conn.stream  # type: ignore[attr-defined]
            await stream.write(DROP_TAIL)
            stream.close()  # TCP closed with half a frame sent: no closing handshake

    async def on_message(self, message: str | bytes) -> None:
        if self.request.path in ("/echo", "/limited"):
            await self.write_message(message, binary=isinstance(message, bytes))

    def on_pong(self, data: bytes) -> None:
        if self.request.path == "/ping":
            self.write_message("pong:" + data.decode())


async def main() -> None:
    app = Application([(r"/.*", Handler)], websocket_max_message_size=64 * 2**20)
    sockets = bind_sockets(0, "127.0.0.1")
    HTTPServer(app).add_sockets(sockets)
    announce(sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
