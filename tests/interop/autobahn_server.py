"""Autobahn|Python's asyncio WebSocket server speaking the interop routes (see ``routes.py``).

Autobahn can send half a frame through its own API (``beginMessageFrame`` announces the
length, ``sendMessageFrameData`` sends part of it), so ``/drop`` needs no raw transport here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from autobahn.asyncio.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

from tests.interop.routes import FRAGMENT, LIMIT, PING_PAYLOAD, announce


class Handler(WebSocketServerProtocol):  # type: ignore[misc]
    route = ""
    answered = ""  # the Sec-WebSocket-Extensions value of the response
    params: dict[str, list[str]]

    def onConnect(self, request: Any) -> None:
        self.route = request.path
        self.params = request.params
        if self.route == "/limited":
            self.maxMessagePayloadSize = LIMIT
            self.failByDrop = False  # send the 1009 close frame before dropping TCP
        if self.route == "/echo-tight":  # negotiation runs after onConnect
            self.perMessageCompressionAccept = self.accept_tight

    def accept_tight(self, offers: list[Any]) -> Any:
        """Accept the first offer, imposing client parameters (servers.py: imposed).

        Autobahn announces server_* parameters only when the client asked for them."""
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                accept = PerMessageDeflateOfferAccept(
                    offer, request_no_context_takeover=True, request_max_window_bits=9
                )
                self.answered = accept.get_extension_string()
                return accept
        return None

    def onOpen(self) -> None:
        if self.route == "/echo-tight":
            self.sendMessage(b"extensions:" + self.answered.encode(), isBinary=False)
        elif self.route == "/close":
            self.sendMessage(b"closing", isBinary=False)
            self.sendClose(int(self.params["code"][0]), self.params.get("reason", [""])[0])
        elif self.route == "/ping":
            self.sendPing(PING_PAYLOAD)
        elif self.route == "/drop":
            self.sendMessage(b"before", isBinary=False)
            self.beginMessage(isBinary=True, doNotCompress=True)
            self.beginMessageFrame(1000)
            self.sendMessageFrameData(b"x" * 400)
            self.dropConnection(abort=False)  # TCP closed mid-frame: no closing handshake
        elif self.route == "/drop-fragment":
            self.sendMessage(b"before", isBinary=False)
            self.beginMessage(isBinary=True, doNotCompress=True)
            self.sendMessageFrame(b"x" * 1000)  # a whole frame, FIN clear: more would follow
            self.dropConnection(abort=False)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.route in ("/echo", "/echo-tight", "/limited"):
            self.sendMessage(payload, isBinary=isBinary)
        elif self.route == "/fragments":
            self.beginMessage(isBinary=isBinary)
            for i in range(0, len(payload), FRAGMENT) or (0,):
                self.sendMessageFrame(payload[i : i + FRAGMENT])
            self.endMessage()

    def onPong(self, payload: bytes) -> None:
        if self.route == "/ping":
            self.sendMessage(b"pong:" + payload, isBinary=False)


def accept_deflate(offers: list[Any]) -> Any:
    """Accept the client's first permessage-deflate offer."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


async def main() -> None:
    factory = WebSocketServerFactory()
    factory.protocol = Handler
    factory.setProtocolOptions(perMessageCompressionAccept=accept_deflate)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    announce(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
