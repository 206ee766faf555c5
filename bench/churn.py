"""``python -m bench.churn``: what a reconnecting WebSocket delivers while its server is killed.

A `websockets` server in a child process logs every message it receives (one unbuffered
write each, so a message it read survives its death); it is killed with SIGKILL and started
again on the same port ``--kills`` times while the application keeps sending: from the GUI
thread (a QTimer) and from ``--threads`` other threads.  At the end the WebSocket closes
cleanly, so the last server reads everything that is left.

Reported: messages accepted by ``send()``, delivered (once), duplicated, counted as unsent
(``stats.messages_unsent``) and lost without a word.  Lost messages can only be ones whose
bytes were handed to the kernel before the kill (at-most-once for written bytes, as for every
WebSocket); the README's delivery section says how an application makes that exactly-once.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

SERVER = """
import os, sys
from websockets.sync.server import serve
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
def log(ws):
    try:
        for m in ws:
            os.write(fd, (m + "\\n").encode())
    except Exception:
        pass
with serve(log, "127.0.0.1", int(sys.argv[1])) as s:
    print("ready", flush=True)
    s.serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        for _ in range(200):  # the port may still be held for a moment after a kill
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(self.port), str(self.log)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert proc.stdout is not None
            if proc.stdout.readline().strip() == "ready":
                self.proc = proc
                return
            proc.wait()
            time.sleep(0.05)
        raise RuntimeError("the churn server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def _audit_writes() -> set[str | bytes]:
    """Record every message whose last byte the kernel took (an internal hook, for this
    measurement only): a lost message must be one of them."""
    from qtws.writequeue import WriteQueue

    written: set[str | bytes] = set()
    flush = WriteQueue.flush

    def audited(self: WriteQueue) -> None:
        before = list(self._tags)
        flush(self)
        written.update(msg for end, msg in before if end <= self.written)

    WriteQueue.flush = audited  # type: ignore[method-assign]
    return written


def run(kills: int, threads: int, interval: float) -> dict[str, int]:
    from PyQt6.QtCore import QCoreApplication, QTimer

    import qtws

    written = _audit_writes()
    app = QCoreApplication.instance() or QCoreApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "received.log"
        server = _Server(_free_port(), log)
        server.start()
        policy = qtws.ReconnectPolicy(initial_delay=0.02, max_delay=0.1, jitter=0.5)
        ws = qtws.WebSocket(
            f"ws://127.0.0.1:{server.port}/",
            config=qtws.Config(ping_interval=None, proxy=None, reconnect=policy),
        )
        accepted: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def send(msg: str) -> None:
            try:
                ws.send(msg)
            except qtws.BufferFull:
                return  # refused, not accepted: nothing to deliver
            with lock:
                accepted.append(msg)

        gui_n = 0

        def gui_send() -> None:
            nonlocal gui_n
            for _ in range(5):
                send(f"g{gui_n}")
                gui_n += 1

        def worker(k: int) -> None:
            n = 0
            while not stop.is_set():
                send(f"t{k}-{n}")
                n += 1
                time.sleep(0.0005)

        timer = QTimer()
        timer.timeout.connect(gui_send)
        ws.open()
        qtws.run_event_loop(until=lambda: ws.ready_state is qtws.ReadyState.OPEN)
        timer.start(1)
        workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for _ in range(kills):
            deadline = time.monotonic() + interval

            def due(d: float = deadline) -> bool:
                return time.monotonic() > d

            qtws.run_event_loop(until=due)
            server.kill()
            server.start()
        deadline = time.monotonic() + interval
        qtws.run_event_loop(until=lambda: time.monotonic() > deadline)
        stop.set()
        timer.stop()
        for w in workers:
            w.join()
        # Sends from the threads may still wait to be marshalled to this thread.
        deadline = time.monotonic() + 0.5
        qtws.run_event_loop(until=lambda: time.monotonic() > deadline)
        # Drain: open again, nothing waiting, then a clean close the server acknowledges.
        qtws.run_event_loop(
            until=lambda: ws.ready_state is qtws.ReadyState.OPEN and ws.buffered_amount == 0
        )
        ws.close()
        qtws.run_event_loop(until=lambda: ws.ready_state is qtws.ReadyState.CLOSED)
        time.sleep(0.2)  # the server writes its log line for the last message
        server.kill()
        received = log.read_text().split()
    counts = Counter(received)
    accepted_set = set(accepted)
    del app
    return {
        "kills": kills,
        "sender threads": threads,
        "accepted": len(accepted),
        "delivered": len(accepted_set & counts.keys()),
        "duplicated": sum(c - 1 for c in counts.values() if c > 1),
        "unexpected": len(counts.keys() - accepted_set),
        "counted unsent": ws.stats.messages_unsent,
        "lost": len(accepted_set - counts.keys()),
        "lost, never written": len(accepted_set - counts.keys() - written),
        "reconnects": ws.stats.reconnects,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.churn", description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4, help="sender threads besides the GUI")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between kills")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    result = run(args.kills, args.threads, args.interval)
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    bad = result["duplicated"] + result["unexpected"] + result["lost, never written"]
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
