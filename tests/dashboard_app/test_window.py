"""The dashboard window against a real tick server: table, chart, status, restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

import qtws
from dashboard_app.server import TickServer
from dashboard_app.window import DashboardWindow, RateMeter, symbol_of

SYMBOLS = 25


@pytest.fixture
def server() -> Iterator[TickServer]:
    srv = TickServer(symbols=SYMBOLS, rate=1500)
    srv.start()
    yield srv
    srv.stop()


def config() -> qtws.Config:
    return qtws.Config(
        ping_interval=None,
        proxy=None,
        reconnect=qtws.ReconnectPolicy(initial_delay=0.05, max_delay=0.2),
    )


@pytest.fixture
def window(qtbot: QtBot, server: TickServer) -> Iterator[DashboardWindow]:
    w = DashboardWindow(server.url, config=config(), server=server)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    qtbot.waitUntil(lambda: w.ws.ready_state is qtws.ReadyState.CLOSED, timeout=5000)


def test_table_fills_conflated_and_chart_follows_the_selection(
    qtbot: QtBot, window: DashboardWindow
) -> None:
    w = window
    qtbot.waitUntil(lambda: len(w.model.rows) == SYMBOLS, timeout=10000)
    qtbot.waitUntil(lambda: w.chart.symbol == w.model.rows[0].symbol, timeout=5000)
    other = w.model.rows[3].symbol
    assert w.select_symbol(other) and not w.select_symbol("nope")
    assert w.chart.symbol == other
    qtbot.waitUntil(lambda: len(w.chart.prices) >= 5, timeout=10000)
    qtbot.waitUntil(lambda: "msg/s" in w.rates_label.text(), timeout=5000)
    c = w.conflator
    # Every message reached the table or was conflated away (none is in flight when the
    # Conflator has nothing pending and the counters are read in one go).
    qtbot.waitUntil(lambda: c.emitted > 10, timeout=10000)
    received = w.ws.stats.messages_in
    assert c.errors == 0 and c.dropped > 0
    assert c.emitted < received  # fewer table updates than messages
    assert sum(r.updates for r in w.model.rows) <= received
    assert w.state_label.text().startswith("live: ")


def test_server_restart_reconnects_and_resubscribes(
    qtbot: QtBot, window: DashboardWindow, server: TickServer
) -> None:
    w = window
    qtbot.waitUntil(lambda: len(w.model.rows) == SYMBOLS, timeout=10000)
    w.restart_server()
    qtbot.waitUntil(lambda: w.opens >= 2 and server.subscriptions >= 2, timeout=10000)
    seq = {r.symbol: r.seq for r in w.model.rows}
    qtbot.waitUntil(
        lambda: sum(r.seq > seq[r.symbol] for r in w.model.rows) > SYMBOLS // 2, timeout=10000
    )
    assert "resubscribed" in w.state_label.text()
    assert w.ws.stats.reconnects >= 1


def test_reconnecting_and_closed_are_shown(
    qtbot: QtBot, window: DashboardWindow, server: TickServer
) -> None:
    w = window
    qtbot.waitUntil(lambda: w.opens == 1, timeout=10000)
    server.stop()
    qtbot.waitUntil(lambda: "reconnect #" in w.state_label.text(), timeout=10000)
    with qtbot.waitSignal(w.ws.closed, timeout=5000):
        w.ws.close()
    assert w.state_label.text().startswith("closed")


def test_no_server_menu_without_a_server(qtbot: QtBot, server: TickServer) -> None:
    w = DashboardWindow(server.url, config=config())
    qtbot.addWidget(w)
    assert w.menuBar().actions() == []  # type: ignore[union-attr]
    w.restart_server()  # nothing to restart: no effect
    w.close()
    qtbot.waitUntil(lambda: w.ws.ready_state is qtws.ReadyState.CLOSED, timeout=5000)


def test_helpers() -> None:
    meter = RateMeter(10.0)
    meter.add(30)
    meter.roll(12.0)
    assert meter.rate == 15 and meter.count == 0
    meter.roll(12.0)  # no time passed: the rate stays
    assert meter.rate == 15
    assert symbol_of({"s": "A"}) == "A"
    with pytest.raises(KeyError):
        symbol_of({})
