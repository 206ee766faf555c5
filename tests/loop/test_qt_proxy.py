"""What only the Qt proxy has: thread affinity, QThreads, Qt's own loops, the slot barrier."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from qtws._qt import QCoreApplication, QThread, QTimer
from qtws.errors import InvalidState
from qtws.loop import get_event_loop_proxy, set_event_loop_proxy
from qtws.loop.qt import QtProxy

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


@pytest.fixture
def qt_proxy(qapp: QCoreApplication, qtbot: QtBot) -> Iterator[QtProxy]:
    proxy = QtProxy()
    yield proxy
    proxy.close()


def in_thread(fn: Callable[[], object]) -> object:
    """Run ``fn`` in a plain thread; return its result or the exception it raised."""
    out: list[object] = []

    def body() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return out[0]


@pytest.mark.parametrize(
    "call",
    [
        lambda p, fd: p.add_reader(fd, lambda: None),
        lambda p, fd: p.add_writer(fd, lambda: None),
        lambda p, fd: p.call_soon(lambda: None),
        lambda p, fd: p.call_later(0.1, lambda: None),
        lambda p, fd: p.run_until(lambda: True),
        lambda p, fd: p.resolve("localhost", 80, lambda r: None),
    ],
    ids=["add_reader", "add_writer", "call_soon", "call_later", "run_until", "resolve"],
)
def test_wrong_thread_raises_invalid_state(
    qt_proxy: QtProxy,
    sockpair: tuple[socket.socket, socket.socket],
    call: Callable[[QtProxy, int], object],
) -> None:
    result = in_thread(lambda: call(qt_proxy, sockpair[0].fileno()))
    assert isinstance(result, InvalidState)
    assert "call_soon_threadsafe" in str(result)


def test_cancel_from_another_thread_is_marshalled(
    qt_proxy: QtProxy, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = sockpair
    calls: list[int] = []
    handle = qt_proxy.add_reader(b.fileno(), lambda: calls.append(1))
    assert in_thread(handle.cancel) is None
    a.send(b"x")  # readable now, but the registration is gone
    ticks: list[int] = []
    qt_proxy.call_later(0.05, lambda: ticks.append(1))
    assert qt_proxy.run_until(lambda: bool(ticks), timeout=WAIT)
    assert calls == []


def test_callbacks_run_under_any_qt_loop(qt_proxy: QtProxy, qtbot: QtBot) -> None:
    """No run_until needed: the application's own loop (here pytest-qt's) serves the proxy."""
    ran: list[str] = []
    qt_proxy.call_soon(lambda: ran.append("soon"))
    qt_proxy.call_later(0.01, lambda: ran.append("later"))
    t = threading.Thread(target=lambda: qt_proxy.call_soon_threadsafe(lambda: ran.append("ts")))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(ran) == 3, timeout=int(WAIT * 1000))
    assert sorted(ran) == ["later", "soon", "ts"]


def test_predicate_changed_by_a_plain_qt_slot_is_noticed(qt_proxy: QtProxy) -> None:
    """A QTimer of the application (not of the proxy) flips the predicate: run_until notices
    when the dispatcher is about to block, with no proxy callback involved."""
    flag: list[int] = []
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: flag.append(1))
    timer.start(10)
    rescued: list[int] = []
    qt_proxy.call_later(WAIT, lambda: rescued.append(1))
    assert qt_proxy.run_until(lambda: bool(flag or rescued))
    assert flag
    assert not rescued


class _Worker(QThread):
    def __init__(self) -> None:
        super().__init__()
        self.proxy: QtProxy | None = None
        self.ready = threading.Event()
        self.seen: list[tuple[str, int]] = []
        self.ident = 0
        self.result = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.ident = threading.get_ident()
            proxy = get_event_loop_proxy()  # a QThread's default is its own Qt proxy
            assert isinstance(proxy, QtProxy)
            self.proxy = proxy
            a, b = socket.socketpair()
            a.send(b"x")

            def on_read() -> None:
                b.recv(10)
                self.seen.append(("reader", threading.get_ident()))
                handle.cancel()

            handle = proxy.add_reader(b.fileno(), on_read)
            proxy.call_later(0.01, lambda: self.seen.append(("timer", threading.get_ident())))
            self.ready.set()
            self.result = proxy.run_until(lambda: len(self.seen) == 3, timeout=WAIT)
            a.close()
            b.close()
            proxy.close()
        except BaseException as exc:
            self.error = exc
        finally:
            set_event_loop_proxy(None)
            self.ready.set()


def test_a_proxy_created_in_a_qthread_serves_that_thread(qt_proxy: QtProxy) -> None:
    worker = _Worker()
    worker.start()
    assert worker.ready.wait(WAIT)
    assert worker.proxy is not None and worker.proxy is not qt_proxy
    assert worker.proxy.thread_id == worker.ident
    worker.proxy.call_soon_threadsafe(
        lambda: worker.seen.append(("threadsafe", threading.get_ident()))
    )
    assert worker.wait(int(WAIT * 1000))
    assert worker.error is None
    assert worker.result
    assert sorted(name for name, _ in worker.seen) == ["reader", "threadsafe", "timer"]
    assert {ident for _, ident in worker.seen} == {worker.ident}
    assert worker.ident != threading.get_ident()


def _child_env() -> dict[str, str]:
    """A child process on this run's binding (QT_API), offscreen."""
    import os

    from qtws._qt import QT_API

    return {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "QT_API": QT_API,
            "PYTHONPATH": os.environ.get("PYTHONPATH", "")}  # fmt: skip


def _run_child(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh process (an abort there cannot take pytest down)."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=50,
        env=_child_env(),
    )


def test_the_process_survives_exceptions_in_every_callback() -> None:
    """Under PyQt6 an exception escaping a slot aborts the process: run it for real."""
    script = textwrap.dedent(
        """
        import logging, socket, threading
        from qtws._qt import QCoreApplication
        from qtws.loop.qt import QtProxy

        logging.disable(logging.CRITICAL)
        app = QCoreApplication([])
        proxy = QtProxy()
        a, b = socket.socketpair()
        a.send(b"x")
        ran = []

        def boom(where):
            def callback():
                ran.append(where)
                raise RuntimeError(where)
            return callback

        handles = []
        def reader():
            handles[0].cancel()
            boom("reader")()
        handles.append(proxy.add_reader(b.fileno(), reader))
        proxy.call_soon(boom("soon"))
        proxy.call_later(0.01, boom("later"))
        threading.Thread(target=lambda: proxy.call_soon_threadsafe(boom("ts"))).start()
        proxy.resolve("localhost", 80, lambda r: boom("resolve")())
        assert proxy.run_until(lambda: len(ran) == 5, timeout=20), ran

        def predicate():
            raise ValueError("predicate")
        proxy.call_soon(lambda: None)
        try:
            proxy.run_until(lambda: bool(ran) and predicate(), timeout=20)
        except ValueError:
            ran.append("predicate")

        def interrupt():
            raise KeyboardInterrupt
        def outer():
            proxy.call_soon(interrupt)
            proxy.run_until(lambda: False)  # nested; the interrupt passes through it
        proxy.call_soon(outer)
        try:
            proxy.run_until(lambda: False, timeout=20)
        except KeyboardInterrupt:
            ran.append("interrupt")
        print(sorted(ran))
        """
    )
    out = _run_child(script)
    assert out.returncode == 0, out.stderr
    expected = ["interrupt", "later", "predicate", "reader", "resolve", "soon", "ts"]
    assert out.stdout.strip() == repr(expected)


def test_a_proxy_collected_on_another_thread_is_deleted_on_its_own() -> None:
    """The cyclic GC may finalize a proxy on any thread (a resolver's, qasync's executor's).
    Its notifiers and armed timer must still be deleted by their own thread: deleted there
    instead, Qt cannot unregister them from the owner's dispatcher, which then calls into
    freed objects (PySide6 crashed the suite in qasync's run_forever).  A child process, as
    the failure is a segfault; Qt's "another thread" warnings count as failures too."""
    script = textwrap.dedent(
        """
        import gc, threading
        from qtws._qt import QCoreApplication, QEventLoop, QTimer
        from qtws.loop import qt

        app = QCoreApplication([])
        gc.disable()  # only the collection started on the other thread frees the proxies
        main = threading.get_ident()
        destroyed_on = []
        for _ in range(20):
            proxy = qt.QtProxy()
            proxy._helper.destroyed.connect(
                lambda *_: destroyed_on.append(threading.get_ident() == main))
            proxy.call_later(0.001, lambda: None)  # the QTimer is armed
            proxy.call_soon_threadsafe(lambda: None)  # a wake-up byte waits
            proxy.cycle = proxy
            del proxy
            collector = threading.Thread(target=gc.collect)
            collector.start()
            collector.join()
            # Until its thread deleted the helper, its wake-up sockets stay open (no notifier
            # may watch a closed fd, whose number the next socket would reuse).
            assert all(r.fileno() != -1 for _, r, _ in qt._orphans.values())
            loop = QEventLoop()
            QTimer.singleShot(5, loop.quit)
            loop.exec()
        qt.QtProxy().close()  # reaps what the loop deleted
        print(len(destroyed_on), all(destroyed_on), len(qt._orphans))
        """
    )
    out = _run_child(script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["20", "True", "0"], out.stderr
    assert "thread" not in out.stderr and "QSocketNotifier" not in out.stderr, out.stderr


def test_run_until_serves_events_between_quit_and_the_end_of_exec() -> None:
    """Between ``app.quit()`` and the return of ``app.exec()`` Qt refuses to start a
    QEventLoop (``exec()`` returns -1 and processes nothing): a blocking call there (the rest
    of the slot that quit, closing its WebSocket on the way out) used to spin
    without serving the thread's wake-ups, notifiers or timers.  Counted, not timed: how many
    ``run_until`` calls it takes (one each), and that every step happened."""
    script = textwrap.dedent(
        """
        import sys, threading
        import qtws
        from qtws._qt import QEventLoop, QTimer, QtWidgets
        from qtws.loop import get_event_loop_proxy

        app = QtWidgets.QApplication([])
        proxy = get_event_loop_proxy()
        calls = []
        run_until = proxy.run_until
        def counting(predicate, timeout=None):
            calls.append(1)
            return run_until(predicate, timeout)
        proxy.run_until = counting
        out = []

        def after_quit():
            app.quit()  # the rest runs before exec() returns
            out.append(("exec refused", QEventLoop().exec()))
            hits = []
            def hit():
                hits.append(1)
            wake = threading.Thread(target=proxy.call_soon_threadsafe, args=(hit,))
            wake.start()
            out.append(("threadsafe", proxy.run_until(lambda: bool(hits), timeout=30), len(calls)))
            ws = qtws.WebSocket(sys.argv[1], config=qtws.Config(ping_interval=None, proxy=None))
            ws.connect(timeout=30)
            ws.send("x")
            out.append(("echo", ws.wait_for_next_message(timeout=30)))
            ws.close()  # an app closing its connection on the way out
            for _ in ws:
                pass
            out.append(("closed", ws.close_event.code))

        QTimer.singleShot(0, after_quit)
        app.exec()
        print(out)
        """
    )
    from tests.servers import ws_server

    with ws_server() as srv:
        out = _run_child(script, srv.url)
    assert out.returncode == 0, out.stderr
    got = eval(out.stdout)  # a printed list of tuples
    assert got[0] == ("exec refused", -1)  # what Qt does: the reason for the fallback
    assert got[1] == ("threadsafe", True, 1)  # served in that one run_until call
    assert got[2:] == [("echo", "x"), ("closed", 1000)], out.stderr


def _sleeping(pid: int) -> bool:
    """Whether the main thread of ``pid`` is asleep (blocked in poll), from /proc."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] == "S"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_during_a_blocking_call_is_a_keyboard_interrupt_not_an_abort() -> None:
    """Ctrl-C while run_until waits in poll: Python's default handler would raise in the
    first Python code Qt runs (the wake-up slot, before any try), and PyQt aborts."""
    script = textwrap.dedent(
        """
        import signal
        from qtws._qt import QCoreApplication
        from qtws.loop.qt import QtProxy

        app = QCoreApplication([])
        proxy = QtProxy()
        proxy.call_soon(lambda: print("in loop", flush=True))
        try:
            proxy.run_until(lambda: False, timeout=120)
            print("returned")
        except KeyboardInterrupt:
            print("interrupted")
        # The application's handler is back: the default one.
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_child_env(),
        # A suite started from a shell with `&` ignores SIGINT: the child must not inherit it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "in loop\n"
        # The callback returned and the loop waits in poll (or the child ended: fails below).
        while proc.poll() is None and not _sleeping(proc.pid):
            pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out == "interrupted\nTrue\n"
