"""``python -m bench``: run the benchmarks, print a Markdown table (or JSON with ``--json``)
and save both under ``bench/results/`` (git-ignored)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import codec, e2e, live, memory
from .clients import CLIENTS
from .report import Row, as_json, chart, machine_info, markdown

RESULTS = Path(__file__).resolve().parent / "results"


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="qtws benchmarks side by side with QWebSocket, picows, aiohttp, "
        "websockets, websocket-client and wsproto.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repeat (a smoke run, ~10 s)"
    )
    parser.add_argument(
        "--only",
        choices=("codec", "e2e", "memory", "live"),
        action="append",
        help="run only this part (repeatable); live (batch, Conflator, QWebSocket on a tick "
        "flood) runs only when named",
    )
    parser.add_argument(
        "--clients",
        help="comma-separated client names for the end-to-end part (default: all of "
        + ", ".join(c.name for c in CLIENTS)
        + ")",
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="run one end-to-end scenario (receive, send, rtt, large, huge, deflate, gui) once "
        "under cProfile for one client (--clients, default 'qtws Qt') and print where the "
        "time goes, instead of the benchmarks",
    )
    parser.add_argument(
        "--server",
        choices=("auto", "node", "python"),
        default="auto",
        help="the end-to-end peer: Node's ws (needs node and npm), the websockets server, or "
        "auto (Node when available)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON on stdout instead of Markdown"
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS,
        help=f"where latest.md and latest.json go (default {RESULTS})",
    )
    parser.add_argument("--chart-to", type=Path, help="also write the PNG chart of the ratios here")
    args = parser.parse_args(argv)
    parts = args.only or ["codec", "e2e", "memory"]
    sizes = e2e.QUICK if args.quick else e2e.FULL
    only = set(args.clients.split(",")) if args.clients else None
    unknown = (only or set()) - {c.name for c in CLIENTS}
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    if args.profile:
        print(e2e.profile(args.profile, args.clients or "qtws Qt", sizes, _log))
        return 0

    started = time.perf_counter()
    rows: list[Row] = []
    notes: dict[str, list[str]] = {}
    if "live" in parts:  # first: it needs a QApplication (a view), e2e a QCoreApplication
        rows += live.run(args.quick, _log)
        notes.update(live.NOTES)
    if "codec" in parts:
        rows += codec.run(args.quick, _log)
        notes.update(codec.NOTES)
    if "e2e" in parts:
        rows += e2e.run(sizes, _log, only, args.server)
        notes.update(e2e.NOTES)
    if "memory" in parts:
        from .server import EchoServer

        with EchoServer(args.server) as server:
            e2e.SERVER["description"] = e2e.SERVER["description"] or server.description
            n, seconds = (20, 0.5) if args.quick else (1000, memory.IDLE_SECONDS)
            mib = 4 if args.quick else 64
            rows += memory.rows(server.url, n, seconds, mib, _log, args.quick)
        notes.update(memory.NOTES)
    info = machine_info()
    info["server"] = e2e.SERVER["description"]
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["mode"] = "quick" if args.quick else "full"

    text = markdown(rows, info, notes)
    data = json.dumps(as_json(rows, info, notes), indent=2, ensure_ascii=False)
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(text, encoding="utf-8")
    (out / "latest.json").write_text(data + "\n", encoding="utf-8")
    if chart(rows, info, out / "chart.png"):
        _log(f"chart: {out / 'chart.png'} (--chart-to PATH: another copy)")
    if args.chart_to is not None:
        chart(rows, info, args.chart_to)
    print(data if args.json else text)
    _log(f"done in {info['seconds']} s; saved {out / 'latest.md'} and {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
