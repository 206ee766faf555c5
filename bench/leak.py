"""``python -m bench.leak``: memory over many open/echo/close cycles in a plain script.

No QCoreApplication: the selectors proxy runs each blocking call, as in a script or a worker.
A `websockets` echo server runs in a child process (its memory is not measured).  Reported:
RSS after a warm-up and after ``--cycles`` more, and the growth per cycle.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

SERVER = """
from websockets.sync.server import serve
def echo(ws):
    for m in ws:
        ws.send(m)
with serve(echo, "127.0.0.1", 0) as s:
    print(s.socket.getsockname()[1], flush=True)
    s.serve_forever()
"""


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leak", description=__doc__)
    parser.add_argument("--cycles", type=int, default=15_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--trim", action="store_true", help="also after glibc's malloc_trim(0)")
    parser.add_argument("--no-compression", action="store_true", help="without permessage-deflate")
    args = parser.parse_args(argv)

    import qtws

    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = f"ws://127.0.0.1:{proc.stdout.readline().strip()}/"
    config = qtws.Config(ping_interval=None, proxy=None, compression=not args.no_compression)

    def cycle() -> None:
        ws = qtws.WebSocket(url, config=config)
        ws.connect(timeout=10)
        ws.send("ping")
        assert ws.wait_for_next_message(timeout=10) == "ping"
        ws.close()
        qtws.run_event_loop(until=lambda: ws.ready_state is qtws.ReadyState.CLOSED)

    try:
        for _ in range(args.warmup):
            cycle()
        before = _rss_kib()
        for _ in range(args.cycles):
            cycle()
        after = _rss_kib()
        if args.trim:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
            trimmed = _rss_kib()
    finally:
        proc.kill()
        proc.wait()
    print(f"RSS after {args.warmup} warm-up cycles: {before} KiB")
    print(f"RSS after {args.cycles} more cycles:   {after} KiB")
    print(f"growth per cycle: {(after - before) / args.cycles:.3f} KiB")
    if args.trim:
        print(f"RSS after malloc_trim(0):  {trimmed} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
