"""qtws.Conflator: latest value per key, paced by the loop proxy's timers.

Unit tests drive a fake clock through a stand-in proxy (only timers and time are used);
the end-to-end tests run a real server's flood through a WebSocket and the Qt loop."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws.live import Conflator
from qtws.loop.base import EventLoopProxy, Handle, ResolveCallback
from tests.servers import ChildEchoServer, ws_server

FAST = qtws.Config(ping_interval=None, open_timeout=5, close_timeout=2, proxy=None)


class _Timer:
    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock(EventLoopProxy):
    """A proxy whose time moves only when the test says so; timers run in due order."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        assert delay >= 0
        timer = _Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def call_soon(self, callback: Callable[[], None]) -> Handle:
        return self.call_later(0, callback)

    def armed(self) -> list[float]:
        """Due times of the live timers, relative to now."""
        return [t.due - self.now for t in self.timers if not t.cancelled]

    def advance(self, seconds: float) -> None:
        """Move the clock, running each timer that falls due, in order."""
        end = self.now + seconds
        while True:
            live = [t for t in self.timers if not t.cancelled and t.due <= end]
            if not live:
                break
            timer = min(live, key=lambda t: t.due)
            self.timers.remove(timer)
            self.now = max(self.now, timer.due)
            timer.callback()
        self.now = end

    # Not used by the Conflator.
    def add_reader(self, fd: int, callback: Callable[[], None]) -> Handle:
        raise NotImplementedError

    def add_writer(self, fd: int, callback: Callable[[], None]) -> Handle:
        raise NotImplementedError

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError

    def run_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def resolve(self, host: str, port: int, callback: ResolveCallback) -> Handle:
        raise NotImplementedError


def make(clock: FakeClock, **kw: Any) -> tuple[Conflator, list[dict[Any, Any]], list[float]]:
    c = Conflator(loop=clock, **kw)
    out: list[dict[Any, Any]] = []
    when: list[float] = []
    c.updated.connect(lambda d: (out.append(d), when.append(clock.now)))
    return c, out, when


def by_symbol(message: Any) -> Any:
    return message.split(":")[0]


def test_latest_per_key_in_first_change_order(qapp: Any) -> None:
    clock = FakeClock()
    c, out, _ = make(clock, key=by_symbol, interval=0.1)
    c.feed(["A:1", "B:1", "A:2", "C:1", "B:2", "A:3"])
    assert out == []  # never inside feed(): the next loop turn at the earliest
    assert c.pending == 3 and c.dropped == 3
    clock.advance(0)
    assert out == [{"A": "A:3", "B": "B:2", "C": "C:1"}]
    assert list(out[0]) == ["A", "B", "C"]
    assert c.pending == 0 and c.emitted == 1


def test_at_most_once_per_interval_and_nothing_when_nothing_changed(qapp: Any) -> None:
    clock = FakeClock()
    c, out, when = make(clock, key=by_symbol, interval=0.1)
    c.feed(["A:1"])
    clock.advance(0)
    assert when == [1000.0]
    c.feed(["A:2"])
    c.feed(["B:1"])
    assert clock.armed() == [pytest.approx(0.1)]  # waits out the interval
    clock.advance(0.05)
    c.feed(["A:3"])
    assert len(out) == 1
    clock.advance(0.0499)
    assert len(out) == 1
    clock.advance(0.0002)
    assert out[1] == {"A": "A:3", "B": "B:1"}
    assert when[1] == pytest.approx(1000.1)
    clock.advance(10)  # quiet: no emission, no timer
    assert len(out) == 2 and clock.armed() == []
    c.feed(["C:1"])  # first change after a quiet period: at once
    assert clock.armed() == [0.0]
    clock.advance(0)
    assert out[2] == {"C": "C:1"} and c.emitted == 3


def test_gaps_between_emissions_never_shorter_than_the_interval(qapp: Any) -> None:
    clock = FakeClock()
    c, out, when = make(clock, key=by_symbol, interval=1 / 60)
    sent: list[str] = []
    for i in range(600):  # a tick every 2 ms for 1.2 s
        msg = f"S{i % 7}:{i}"
        sent.append(msg)
        c.feed([msg])
        clock.advance(0.002)
    clock.advance(1)
    gaps = [b - a for a, b in itertools.pairwise(when)]
    assert min(gaps) >= 1 / 60 - 1e-9
    assert len(out) <= 1.2 * 60 + 2
    # Per key, the values delivered are a subsequence of what was sent, in order,
    # and the last one sent is delivered.
    for k in range(7):
        mine = [m for m in sent if m.startswith(f"S{k}:")]
        got = [d[f"S{k}"] for d in out if f"S{k}" in d]
        it = iter(mine)
        assert all(g in it for g in got)
        assert got[-1] == mine[-1]
    assert c.dropped == len(sent) - sum(map(len, out))


def test_key_none_keeps_the_latest_message_only(qapp: Any) -> None:
    clock = FakeClock()
    c, out, _ = make(clock, interval=0.5)
    c.feed([b"1", b"2", b"3"])
    clock.advance(0)
    assert out == [{None: b"3"}] and c.dropped == 2


def test_parse_runs_once_and_the_dict_holds_its_results(qapp: Any) -> None:
    clock = FakeClock()
    parsed: list[str] = []

    def parse(m: str | bytes) -> Any:
        parsed.append(str(m))
        return json.loads(m)

    c, out, _ = make(clock, key=lambda t: t["s"], parse=parse, interval=0)
    c.feed(['{"s": "A", "p": 1}', '{"s": "A", "p": 2}'])
    clock.advance(0)
    assert out == [{"A": {"s": "A", "p": 2}}] and len(parsed) == 2


def test_flush_pause_resume_clear(qapp: Any) -> None:
    clock = FakeClock()
    c, out, _ = make(clock, key=by_symbol, interval=1.0)
    assert c.flush() is False  # nothing pending
    c.feed(["A:1"])
    assert c.flush() is True and out == [{"A": "A:1"}]
    assert clock.armed() == []  # the timer it replaced is gone
    c.pause()
    assert c.paused
    c.feed(["A:2", "B:1"])
    clock.advance(5)
    assert len(out) == 1 and c.pending == 2  # still conflating while paused
    c.feed(["A:3"])
    c.resume()
    clock.advance(0)
    assert out[1] == {"A": "A:3", "B": "B:1"} and not c.paused
    c.pause()
    c.feed(["C:1"])
    assert c.flush() is True and out[2] == {"C": "C:1"}  # flush works while paused
    c.resume()
    c.feed(["D:1", "D:2"])
    c.clear()
    clock.advance(5)
    assert len(out) == 3 and c.dropped == 3 and clock.armed() == []


def test_bad_messages_are_logged_and_counted(qapp: Any, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    c, out, _ = make(clock, key=lambda t: t["s"], parse=json.loads, interval=0)
    with caplog.at_level(logging.ERROR, logger="qtws"):
        c.feed(["not json", '{"p": 1}', '{"s": ["unhashable"]}', '{"s": "A"}'])
    clock.advance(0)
    assert out == [{"A": {"s": "A"}}]
    assert c.errors == 3 and c.dropped == 0
    assert sum("Conflator" in r.getMessage() for r in caplog.records) == 3


@pytest.mark.parametrize(
    ("interval", "exc"),
    [
        (-1, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("1", TypeError),
        (True, TypeError),
    ],
)
def test_invalid_arguments(qapp: Any, interval: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Conflator(interval=interval)


def test_invalid_key_and_parse(qapp: Any) -> None:
    with pytest.raises(TypeError, match="key"):
        Conflator(key="symbol")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parse"):
        Conflator(parse=42)  # type: ignore[arg-type]
    assert Conflator(interval=0.25).interval == 0.25


def test_timer_after_the_object_was_deleted_does_nothing(qapp: Any) -> None:
    from qtws._qt import delete_now

    clock = FakeClock()
    c, out, _ = make(clock, interval=0)
    c.feed(["x"])
    delete_now(c)
    clock.advance(0)  # must not raise into the loop
    assert out == []


def test_end_to_end_flood_through_the_qt_loop(qtbot: QtBot) -> None:
    """50 symbols, 20,000 ticks: per key the last value arrives, nothing out of order, and
    every message is either delivered or counted as dropped."""
    n = 20_000
    with ChildEchoServer() as srv:
        ws = qtws.WebSocket(srv.url, config=FAST)
        c = Conflator(ws, key=lambda m: int(m) % 50, interval=1 / 60)
        assert c.parent() is ws
        out: list[dict[Any, Any]] = []
        c.updated.connect(out.append)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        ws.send(f"flood:{n}")
        qtbot.waitUntil(lambda: any(d.get((n - 1) % 50) == str(n - 1) for d in out), timeout=60000)
        qtbot.waitUntil(lambda: c.pending == 0, timeout=5000)
        last = {k: -1 for k in range(50)}
        for d in out:
            for k, v in d.items():
                assert int(v) % 50 == k and int(v) > last[k]  # in order per key
                last[k] = int(v)
        assert last == {k: n - 50 + k for k in range(50)}  # the final value of each key
        assert sum(map(len, out)) + c.dropped == n
        assert len(out) < n // 50  # conflated: far fewer emissions than messages
        with qtbot.waitSignal(ws.closed, timeout=5000):
            ws.close()


def test_end_to_end_selectors_loop() -> None:
    """Without Qt's loop: the built-in selectors proxy paces the emissions."""
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=FAST, loop=qtws.loop.SelectorsProxy())
        c = Conflator(ws, key=None, interval=0.01)  # paced by the WebSocket's loop
        out: list[dict[Any, Any]] = []
        c.updated.connect(out.append)
        ws.connect(timeout=5)
        for i in range(5):
            ws.send(str(i))
        ws._loop.run_until(lambda: any(d == {None: "4"} for d in out), timeout=10)
        assert out[-1] == {None: "4"}
        ws.close()
        ws._loop.run_until(lambda: ws.ready_state is qtws.ReadyState.CLOSED, timeout=5)
