"""run_event_loop / exit_event_loop, the per-thread registry and the default proxy."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

import qtws
from qtws.errors import InvalidState
from qtws.loop import (
    EventLoopProxy,
    SelectorsProxy,
    active_count,
    exit_event_loop,
    get_event_loop_proxy,
    register_active,
    run_event_loop,
    set_event_loop_proxy,
    unregister_active,
)
from tests.loop.helpers import after, send_sigusr1

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


class Dummy:
    """Stands in for a websocket."""


@pytest.fixture
def current(proxy: EventLoopProxy) -> Iterator[EventLoopProxy]:
    set_event_loop_proxy(proxy)
    yield proxy
    set_event_loop_proxy(None)


@pytest.fixture
def safety(current: EventLoopProxy) -> Iterator[list[object]]:
    """Unregisters everything after WAIT seconds, so a broken test fails instead of hanging."""
    registered: list[object] = []
    fired: list[object] = []

    def give_up() -> None:
        fired.append(True)
        for obj in registered:
            unregister_active(obj)

    handle = current.call_later(WAIT, give_up)
    yield registered
    handle.cancel()
    for obj in registered:
        unregister_active(obj)
    assert not fired, "the loop had to be rescued by the safety timer"


def test_run_event_loop_returns_when_all_are_unregistered(
    current: EventLoopProxy, safety: list[object]
) -> None:
    objs = [Dummy(), Dummy(), Dummy()]
    for i, obj in enumerate(objs):
        register_active(obj)
        safety.append(obj)
        current.call_later(0.01 * (i + 1), lambda o=obj: unregister_active(o))  # type: ignore[misc]
    assert active_count() == 3
    run_event_loop()
    assert active_count() == 0


def test_run_event_loop_returns_at_once_when_nothing_is_registered(
    current: EventLoopProxy,
) -> None:
    assert active_count() == 0
    run_event_loop()


def test_run_event_loop_until(current: EventLoopProxy, safety: list[object]) -> None:
    obj = Dummy()
    register_active(obj)
    safety.append(obj)
    flag: list[int] = []
    current.call_later(0.01, lambda: flag.append(1))
    run_event_loop(until=lambda: bool(flag))
    assert active_count() == 1


def test_exit_event_loop_from_another_thread(current: EventLoopProxy, safety: list[object]) -> None:
    obj = Dummy()
    register_active(obj)
    safety.append(obj)
    in_loop = threading.Event()
    current.call_soon(in_loop.set)
    t = after(in_loop, lambda: exit_event_loop())
    run_event_loop()
    t.join()
    assert active_count() == 1


@pytest.mark.parametrize("target", ["process", "thread"])
def test_exit_event_loop_from_a_signal_handler(
    current: EventLoopProxy, safety: list[object], target: str
) -> None:
    obj = Dummy()
    register_active(obj)
    safety.append(obj)
    handled: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        handled.append(signum)
        exit_event_loop()

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        in_loop = threading.Event()
        current.call_soon(in_loop.set)
        t = after(in_loop, lambda: send_sigusr1(target))
        run_event_loop()
        t.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert handled == [signal.SIGUSR1]


def test_unregister_from_another_thread_wakes_the_loop(
    current: EventLoopProxy, safety: list[object]
) -> None:
    obj = Dummy()
    register_active(obj)
    safety.append(obj)
    in_loop = threading.Event()
    current.call_soon(in_loop.set)
    t = after(in_loop, lambda: unregister_active(obj))
    run_event_loop()
    t.join()
    assert active_count() == 0


@pytest.mark.parametrize("kind", ["SelectorsProxy", "QtProxy"])
def test_exit_event_loop_stops_loops_in_every_thread(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Two plain threads in run_event_loop; one exit_event_loop ends both.  With a
    QApplication the threads' default is a QtProxy (Qt adopts them)."""
    if kind == "QtProxy":
        request.getfixturevalue("qapp")
    started = threading.Barrier(3)
    returned: list[int] = []
    objs: list[Dummy] = []

    def worker() -> None:
        obj = Dummy()
        objs.append(obj)
        register_active(obj)
        if kind == "SelectorsProxy":
            set_event_loop_proxy(SelectorsProxy())
        proxy = get_event_loop_proxy()
        assert type(proxy).__name__ == kind

        def wait_started() -> None:
            started.wait(WAIT)

        proxy.call_soon(wait_started)
        rescue = proxy.call_later(WAIT, lambda: unregister_active(obj))
        run_event_loop()
        rescue.cancel()
        returned.append(active_count())
        unregister_active(obj)
        proxy.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait(WAIT)
    exit_event_loop()
    for t in threads:
        t.join()
    assert returned == [1, 1]


def test_registry_is_per_thread() -> None:
    obj = Dummy()
    register_active(obj)
    register_active(obj)  # counted once
    try:
        counts: list[int] = []
        t = threading.Thread(target=lambda: counts.append(active_count()))
        t.start()
        t.join()
        assert counts == [0]
        assert active_count() == 1
    finally:
        unregister_active(obj)
    unregister_active(obj)  # unknown now: ignored
    assert active_count() == 0


def test_set_event_loop_proxy_is_per_thread_and_none_resets() -> None:
    mine = SelectorsProxy()
    try:
        set_event_loop_proxy(mine)
        assert get_event_loop_proxy() is mine
        seen: list[EventLoopProxy] = []
        t = threading.Thread(target=lambda: seen.append(get_event_loop_proxy()))
        t.start()
        t.join()
        assert seen[0] is not mine
        set_event_loop_proxy(None)
        assert get_event_loop_proxy() is not mine
    finally:
        set_event_loop_proxy(None)
        mine.close()


def test_default_is_selectors_without_qt_and_does_not_import_qt() -> None:
    code = (
        "import sys, qtws\n"
        "p = qtws.get_event_loop_proxy()\n"
        "assert p is qtws.get_event_loop_proxy()\n"
        "print(type(p).__name__, any(f'{b}.QtCore' in sys.modules for b in ('PyQt6', 'PySide6')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["SelectorsProxy", "False"]


def test_default_is_qt_when_an_application_exists(qapp: object) -> None:
    from qtws.loop.qt import QtProxy

    set_event_loop_proxy(None)
    proxy = get_event_loop_proxy()
    assert isinstance(proxy, QtProxy)
    assert get_event_loop_proxy() is proxy
    assert qtws.__getattr__("get_event_loop_proxy") is get_event_loop_proxy


def test_default_is_asyncio_inside_a_running_loop_without_qt() -> None:
    code = (
        "import asyncio, qtws\n"
        "async def main():\n"
        "    p = qtws.get_event_loop_proxy()\n"
        "    assert p.loop is asyncio.get_running_loop()\n"
        "    assert p is qtws.get_event_loop_proxy()\n"
        "    return type(p).__name__\n"
        "print(asyncio.run(main()), type(qtws.get_event_loop_proxy()).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["AsyncioProxy", "SelectorsProxy"]


def test_asyncio_run_until_inside_the_running_loop_raises() -> None:
    from qtws.loop.asyncio_proxy import AsyncioProxy

    async def main() -> None:
        proxy = AsyncioProxy()
        with pytest.raises(InvalidState, match="signals or callbacks"):
            proxy.run_until(lambda: True)

    asyncio.run(main())


def test_asyncio_proxy_serves_a_running_loop() -> None:
    from qtws.loop.asyncio_proxy import AsyncioProxy

    async def main() -> list[str]:
        proxy = AsyncioProxy()
        done = asyncio.get_running_loop().create_future()
        order: list[str] = []

        def last() -> None:
            order.append("later")
            done.set_result(None)

        proxy.call_later(0.01, last)
        proxy.call_soon(lambda: order.append("soon"))
        await done
        return order

    assert asyncio.run(main()) == ["soon", "later"]


def test_public_functions_are_documented() -> None:
    import qtws.loop as loop

    names: list[Callable[..., object]] = [
        loop.set_event_loop_proxy,
        loop.get_event_loop_proxy,
        loop.run_event_loop,
        loop.exit_event_loop,
        loop.register_active,
        loop.unregister_active,
        loop.active_count,
    ]
    for fn in names:
        assert fn.__doc__ and fn.__doc__.strip(), fn
