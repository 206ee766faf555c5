"""The dashboard's tick server: protocol, rates, restarts on the same port, child process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from dashboard_app.server import Market, TickServer, TickServerProcess, main, make_symbols


def subscribe(ws: ClientConnection, symbols: Any = "*") -> None:
    ws.send(json.dumps({"type": "subscribe", "symbols": symbols}))


def recv(ws: ClientConnection) -> dict[str, Any]:
    msg = ws.recv(timeout=5)
    assert isinstance(msg, str)
    value = json.loads(msg)
    assert isinstance(value, dict)
    return value


def test_symbols_are_distinct_and_reproducible() -> None:
    names = make_symbols(500)
    assert len(set(names)) == 500 and names == make_symbols(500)
    assert all(n.isalpha() and n.isupper() and len(n) in (3, 4) for n in names)


def test_market_walks_and_counts() -> None:
    m = Market(["AAA", "BBB"])
    ticks = [json.loads(t) for t in m.ticks(100)]
    assert {t["s"] for t in ticks} == {"AAA", "BBB"}
    for s in ("AAA", "BBB"):
        seqs = [t["n"] for t in ticks if t["s"] == s]
        assert seqs == list(range(1, len(seqs) + 1))
    assert all(t["p"] > 0 for t in ticks)
    assert m.ticks(5, []) == []
    assert [json.loads(t)["s"] for t in m.snapshot(["BBB", "nope"])] == ["BBB"]


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        TickServer(symbols=0)
    with pytest.raises(ValueError):
        TickServer(rate=-1)


def test_snapshot_then_ticks_for_the_subscribed_symbols() -> None:
    with TickServer(symbols=20, rate=2000) as srv:
        with connect(srv.url) as ws:
            subscribe(ws)
            snapshot = [recv(ws) for _ in range(20)]
            assert sorted(t["s"] for t in snapshot) == sorted(srv.market.symbols)
            ticks = [recv(ws) for _ in range(200)]
            assert all(set(t) == {"s", "p", "n"} for t in ticks)
            some = srv.market.symbols[:2]
            subscribe(ws, some)
            # Once the server has the second subscription only those two symbols come: ticks
            # already in flight may precede it (how many depends on the machine's load), so
            # read until 100 in a row are of those symbols, within a bound.
            run = 0
            for _ in range(20_000):
                run = run + 1 if recv(ws)["s"] in some else 0
                if run == 100:
                    break
            assert run == 100
            assert all(recv(ws)["s"] in some for _ in range(200))
        assert srv.subscriptions == 2


def test_bad_requests_get_an_error_and_keep_the_connection() -> None:
    with TickServer(symbols=3, rate=0) as srv, connect(srv.url) as ws:
        for bad in ("not json", "[]", '{"type": "subscribe", "symbols": 5}', '{"type": "x"}'):
            ws.send(bad)
            assert recv(ws) == {"type": "error", "text": "bad request"}
        subscribe(ws, ["nope"])
        subscribe(ws, [srv.market.symbols[0]])
        assert recv(ws)["s"] == srv.market.symbols[0]


def test_restart_on_the_same_port_drops_clients() -> None:
    srv = TickServer(symbols=5, rate=500)
    url = srv.start()
    try:
        with pytest.raises(RuntimeError):
            srv.start()
        with connect(url) as ws:
            subscribe(ws)
            recv(ws)
            srv.stop()
            assert not srv.running
            with pytest.raises(Exception):  # noqa: B017 - the drop, however websockets names it
                for _ in range(10_000):
                    ws.recv(timeout=5)
        assert srv.start() == url
        with connect(url) as ws:
            subscribe(ws)
            assert recv(ws)["s"] in srv.market.symbols
    finally:
        srv.stop()


def test_port_in_use_is_an_oserror() -> None:
    with TickServer(symbols=1, rate=0) as first, pytest.raises(OSError):
        TickServer(port=first.port, symbols=1).start()


def test_child_process_server_restarts_on_its_port() -> None:
    srv = TickServerProcess(symbols=10, rate=1000)
    url = srv.start()
    try:
        assert srv.running
        with pytest.raises(RuntimeError):
            srv.start()
        with connect(url) as ws:
            subscribe(ws)
            assert len({recv(ws)["s"] for _ in range(10)}) == 10
        srv.stop()
        assert not srv.running
        assert srv.start() == url
        with connect(url) as ws:
            subscribe(ws)
            recv(ws)
    finally:
        srv.stop()
    srv.stop()  # twice is harmless


def test_child_process_that_cannot_listen_is_an_oserror() -> None:
    with TickServer(symbols=1, rate=0) as taken, pytest.raises(OSError, match="did not start"):
        TickServerProcess(port=taken.port).start()


def test_main_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with TickServer(symbols=1, rate=0) as taken:
        assert main(["--port", str(taken.port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_stop_drops_clients_that_have_not_subscribed_yet() -> None:
    from websockets.exceptions import ConnectionClosed

    server = TickServer(symbols=3, rate=10)
    server.start()
    try:
        with connect(server.url) as ws:  # connected, its subscribe not sent yet
            server.stop()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            # Dropped like the subscribed ones (a crash, for the reconnect), not closed 1001.
            assert info.value.rcvd is None
    finally:
        server.stop()
