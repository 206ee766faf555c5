"""Helpers shared by the loop tests."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable


def after(event: threading.Event, action: Callable[[], object]) -> threading.Thread:
    """Start a thread that runs ``action()`` once ``event`` is set (i.e. the loop runs)."""

    def body() -> None:
        event.wait()
        action()

    t = threading.Thread(target=body)
    t.start()
    return t


def send_sigusr1(target: str) -> None:
    """``process``: ``os.kill`` (Linux hands it to the main thread, interrupting its wait);
    ``thread``: to the calling thread only, so nothing interrupts the main thread's wait and
    only the loop's wake-up fd (``signal.set_wakeup_fd``) lets the Python handler run."""
    if target == "process":
        os.kill(os.getpid(), signal.SIGUSR1)
    else:
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
