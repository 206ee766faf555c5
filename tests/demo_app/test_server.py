"""The embedded chat server, spoken to by the `websockets` sync client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from demo_app.server import ChatServer


def recv(ws: ClientConnection) -> dict[str, Any]:
    data = json.loads(ws.recv(timeout=5))
    assert isinstance(data, dict)
    return data


def join(ws: ClientConnection, nick: str) -> ClientConnection:
    ws.send(json.dumps({"type": "join", "nick": nick}))
    assert recv(ws) == {"type": "joined", "nick": nick}
    assert recv(ws)["type"] == "presence"
    return ws


def test_join_message_presence_and_leave() -> None:
    with ChatServer() as server, connect(server.url) as alice, connect(server.url) as bob:
        join(alice, "alice")
        join(bob, "bob")
        assert recv(alice) == {"type": "joined", "nick": "bob"}
        assert recv(alice) == {"type": "presence", "nicks": ["alice", "bob"]}
        bob.send(json.dumps({"type": "message", "text": "hi"}))
        for ws in (alice, bob):
            msg = recv(ws)
            assert (msg["type"], msg["nick"], msg["text"]) == ("message", "bob", "hi")
            assert "T" in msg["time"]
        bob.close()
        assert recv(alice) == {"type": "left", "nick": "bob"}
        assert recv(alice) == {"type": "presence", "nicks": ["alice"]}
        assert server.nicks() == ["alice"]


def test_message_before_join_waits_for_the_join() -> None:
    with ChatServer() as server, connect(server.url) as ws:
        ws.send(json.dumps({"type": "message", "text": "from the outbox"}))
        ws.send("not json")  # ignored, not fatal
        ws.send(json.dumps({"type": "join", "nick": "carol"}))
        assert [recv(ws)["type"] for _ in range(3)] == ["joined", "presence", "message"]


def test_stop_and_restart_on_the_same_port() -> None:
    server = ChatServer()
    server.start()
    port = server.port
    with connect(server.url) as ws:
        join(ws, "alice")
        server.stop()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert not server.running
    server.start()
    assert server.port == port
    with connect(server.url) as again:
        join(again, "alice")
        server.stop(abrupt=True)
        with pytest.raises(ConnectionClosed) as info:
            again.recv(timeout=5)
        assert info.value.rcvd is None  # no closing handshake: the TCP connection was dropped


def test_send_raw_reaches_clients_and_bad_port_fails_clearly() -> None:
    with ChatServer() as server:
        with connect(server.url) as ws:
            join(ws, "alice")
            server.send_raw("{oops")
            assert ws.recv(timeout=5) == "{oops"
        with pytest.raises(OSError):
            ChatServer(port=server.port).start()
