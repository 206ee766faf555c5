"""PyQt6's QWebSocketServer speaking the interop routes (see ``routes.py``), in its own
process so that its Qt event loop is not the test's.

The ``/drop`` route needs the TCP socket under the QWebSocket: connections are accepted by a
QTcpServer and handed to QWebSocketServer.handleConnection(), so the raw socket is known.
"""

from __future__ import annotations

import sys

from PyQt6.QtCore import QCoreApplication, QUrlQuery
from PyQt6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket
from PyQt6.QtWebSockets import QWebSocket, QWebSocketProtocol, QWebSocketServer

from tests.interop.routes import DROP_TAIL, FRAGMENT, LIMIT, PING_PAYLOAD, announce


class Server:
    def __init__(self) -> None:
        self.tcp = QTcpServer()
        self.ws = QWebSocketServer("qtws-interop", QWebSocketServer.SslMode.NonSecureMode)
        self.raw: dict[int, QTcpSocket] = {}  # QWebSocket id -> its TCP socket
        self.pending: list[QTcpSocket] = []
        self.clients: set[QWebSocket] = set()
        self.tcp.newConnection.connect(self.on_tcp)
        self.ws.newConnection.connect(self.on_ws)
        if not self.tcp.listen(QHostAddress(QHostAddress.SpecialAddress.LocalHost), 0):
            sys.exit(self.tcp.errorString())
        announce(self.tcp.serverPort())

    def on_tcp(self) -> None:
        while self.tcp.hasPendingConnections():
            sock = self.tcp.nextPendingConnection()
            assert sock is not None
            self.pending.append(sock)
            self.ws.handleConnection(sock)

    def on_ws(self) -> None:
        while self.ws.hasPendingConnections():
            client = self.ws.nextPendingConnection()
            assert client is not None
            self.clients.add(client)
            client.disconnected.connect(lambda c=client: self.clients.discard(c))
            # Upgrades complete in the order their sockets arrived (one client at a time).
            sock = self.pending.pop(0)
            url = client.requestUrl()
            route = url.path()
            if route == "/fragments":
                client.setOutgoingFrameSize(FRAGMENT)
            if route == "/limited":
                client.setMaxAllowedIncomingMessageSize(LIMIT)
            if route in ("/echo", "/fragments", "/limited"):
                client.textMessageReceived.connect(client.sendTextMessage)
                client.binaryMessageReceived.connect(client.sendBinaryMessage)
            elif route == "/close":
                query = QUrlQuery(url)
                code = int(query.queryItemValue("code"))
                reason = query.queryItemValue("reason")
                client.sendTextMessage("closing")
                client.close(QWebSocketProtocol.CloseCode(code), reason)
            elif route == "/ping":
                client.pong.connect(
                    lambda _ms, payload, c=client: c.sendTextMessage(
                        "pong:" + bytes(payload).decode()
                    )
                )
                client.ping(PING_PAYLOAD)
            elif route == "/drop":
                client.sendTextMessage("before")  # queued on ``sock`` before the raw tail
                sock.write(DROP_TAIL)
                sock.disconnectFromHost()  # TCP closed once written: no closing handshake


def main() -> None:
    app = QCoreApplication(sys.argv)
    server = Server()
    app.exec()
    del server


if __name__ == "__main__":
    main()
