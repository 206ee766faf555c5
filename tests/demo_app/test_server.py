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


def file_msg(kind: str, file_id: int, **extra: Any) -> str:
    return json.dumps({"type": kind, "id": file_id, **extra})


def test_files_are_relayed_to_the_others_under_the_servers_id() -> None:
    from demo_app import protocol as p

    with ChatServer() as server, connect(server.url) as alice, connect(server.url) as bob:
        join(alice, "alice")
        join(bob, "bob")
        recv(alice), recv(alice)  # bob's joined + presence
        alice.send(file_msg("file", 7, name="../../etc/x.bin", size=6))
        offer = recv(bob)
        assert (offer["type"], offer["nick"], offer["name"], offer["size"]) == (
            "file", "alice", "x.bin", 6,
        )  # fmt: skip
        alice.send(p.encode_chunk(7, b"abc"))
        alice.send(p.encode_chunk(7, b"def"))
        alice.send(file_msg("file_end", 7))
        chunks = [p.decode_chunk(bob.recv(timeout=5)) for _ in range(2)]  # type: ignore[arg-type]
        assert [(c[0], bytes(c[1])) for c in chunks if c] == [
            (offer["id"], b"abc"),
            (offer["id"], b"def"),
        ]
        assert recv(bob) == {"type": "file_end", "id": offer["id"]}
        # The sender gets nothing back: a chat line is the next thing alice hears.
        alice.send(json.dumps({"type": "message", "text": "done"}))
        assert recv(alice)["text"] == "done"


def test_file_limits_are_refused_to_the_sender() -> None:
    from demo_app import protocol as p

    with ChatServer() as server, connect(server.url) as alice, connect(server.url) as bob:
        alice.send(file_msg("file", 1, name="a", size=1))  # before joining
        assert recv(alice) == {"type": "file_refused", "id": 1, "reason": "join first"}
        join(alice, "alice")
        join(bob, "bob")
        recv(alice), recv(alice)
        alice.send(file_msg("file", 2, name="a", size=p.MAX_FILE + 1))
        assert recv(alice) == {"type": "file_refused", "id": 2, "reason": "over 20 MiB"}
        for i in range(p.MAX_TRANSFERS):
            alice.send(file_msg("file", 10 + i, name="a", size=1))
            assert recv(bob)["type"] == "file"
        alice.send(file_msg("file", 10, name="again", size=1))
        assert recv(alice)["reason"] == "that id is already in use"
        alice.send(file_msg("file", 20, name="a", size=1))
        assert recv(alice)["reason"] == f"at most {p.MAX_TRANSFERS} files at once"
        alice.send(p.encode_chunk(500, b"?"))  # unknown id: ignored
        alice.send(b"\x00")  # too short for an id: ignored
        alice.send(file_msg("file_end", 10))  # nothing arrived: incomplete
        assert recv(alice) == {"type": "file_refused", "id": 10, "reason": "incomplete"}
        first = recv(bob)
        assert (first["type"], first["reason"]) == ("file_cancel", "incomplete")
        alice.send(file_msg("file_cancel", 11))
        assert recv(bob)["reason"] == "alice cancelled"
        alice.send(p.encode_chunk(12, b"xx"))  # one byte announced
        assert recv(alice) == {
            "type": "file_refused",
            "id": 12,
            "reason": "more bytes than announced",
        }
        assert recv(bob)["reason"] == "more bytes than announced"
        alice.close()  # file 13 still open: the others hear it is over
        cancel = recv(bob)
        assert (cancel["type"], cancel["reason"]) == ("file_cancel", "alice left")
