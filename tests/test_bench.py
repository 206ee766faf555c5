"""Smoke test of the benchmark harness: ``python -m bench --quick`` runs end to end (codec,
real sockets, Qt, the child-process echo server) and reports ratio rows.  Timings are never
asserted: speed is the benchmark's business, not the test suite's."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.e2e import gap_summary, percentile
from bench.report import BEST, Row, markdown
from qtws.loop import SelectorsProxy

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_reports_ratios(tmp_path: Path) -> None:
    # The benchmarks compare with PyQt6's QWebSocket: they run on PyQt6 whatever the binding.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_API": "pyqt6"}
    proc = subprocess.run(
        # The websockets peer: hermetic (the Node one may need `npm ci`, see below).
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--json",
            "--server",
            "python",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["machine"]["cpus"] >= 1
    assert result["machine"]["mode"] == "quick"
    rows = result["rows"]
    groups = {row["group"] for row in rows}
    assert any(g.startswith("Sans-IO codec") for g in groups)
    assert any(g.startswith("Masking") for g in groups)
    assert any(g.startswith("End to end") for g in groups)
    for row in rows:
        assert row["ratios"], row
        measured = [v for v in row["values"].values() if v is not None]
        assert measured and all(v > 0 and math.isfinite(v) for v in measured), row
    e2e = [r for r in rows if r["group"].startswith("End to end")]
    # Every client produced a number in every scenario, except permessage-deflate for the
    # clients that lack it.
    no_deflate = {"QWebSocket", "picows", "websocket-client"}
    assert len(e2e[0]["values"]) == 9
    for row in e2e:
        assert row["best_peer"] not in (None, "qtws Qt", "qtws Qt batch", "qtws blocking"), row
        for client, value in row["values"].items():
            if client in no_deflate and "deflate" in row["name"]:
                assert value is None
            elif client == "qtws Qt batch" and not row["name"].startswith("receive"):
                assert value is None  # measured only where the server pushes
            else:
                assert value is not None, (row["name"], client)
    assert result["machine"]["server"].startswith("websockets")
    gui = [r for r in rows if r["group"].startswith("GUI")]
    flood = [r for r in gui if "x 32 B" in r["name"]]
    assert {tuple(r["values"]) for r in flood} == {("qtws Qt", "qtws Qt batch", "QWebSocket")}
    assert [r["unit"] for r in flood] == ["msg/s", "ms", "ms", "ms"]
    assert all(r["spread"] for r in flood if "median" in r["name"] or "rate" in r["name"])
    kinds = {
        "MiB binary message": ("qtws Qt", "qtws Qt batch", "QWebSocket"),
        "TLS connections": ("qtws Qt", "QWebSocket"),
        "compressed": ("qtws Qt", "qtws Qt batch"),  # QWebSocket has no permessage-deflate
    }
    for kind, clients in kinds.items():
        found = [r for r in gui if kind in r["name"]]
        assert [r["unit"] for r in found] == ["ms", "ms"], kind
        assert {tuple(r["values"]) for r in found} == {clients}, kind
    memory = [r for r in rows if r["group"].startswith("Memory")]
    assert [r["unit"] for r in memory] == ["KiB", "ms", "MiB", "MB/s"]
    for row in memory:  # a fresh process per client (quick: qtws Qt and aiohttp only)
        assert set(row["values"]) == {"qtws Qt", "aiohttp"} and None not in row["values"].values()
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    ratios = [v for r in rows for v in r["ratios"].values() if v is not None]
    assert len(ratios) >= len(rows)
    saved = (tmp_path / "latest.md").read_text(encoding="utf-8")
    for label in ("qtws vs websockets", "qtws vs wsproto", "qtws Qt vs QWebSocket"):
        assert f" {label} |" in saved, label
    for label in ("qtws vs best peer", "picows", "aiohttp", "websocket-client"):
        assert f" {label} |" in saved, label
    assert json.loads((tmp_path / "latest.json").read_text(encoding="utf-8")) == result


def test_node_peer_speaks_the_bench_protocol() -> None:
    """bench/node_echo.js (Node's ws, the default peer where node and npm exist) answers the
    commands the clients rely on, like the websockets peer."""
    import qtws
    from bench.server import EchoServer, flood_payload, node_unavailable

    if shutil.which("node") is None or node_unavailable() is not None:
        pytest.skip(f"the Node peer cannot run here: {node_unavailable()}")
    config = qtws.Config(proxy=None, max_message_size=None)
    with EchoServer("node") as server:
        assert server.description.startswith("Node")
        ws = qtws.WebSocket(server.url, config=config, loop=SelectorsProxy())
        ws.connect(10)
        ws.send("!flood 3 40")
        assert [ws.wait_for_next_message(10) for _ in range(3)] == [flood_payload(40)] * 3
        ws.send("!sink 2")
        ws.send("a")
        ws.send(b"b")
        assert ws.wait_for_next_message(10) == "!done 2"
        ws.send("!blob 70000")
        assert ws.wait_for_next_message(10) == bytes(70000)
        ws.send(b"echo")
        assert ws.wait_for_next_message(10) == b"echo"
        ws.close()
        list(ws)
        assert ws.close_event is not None and ws.close_event.was_clean


def test_ratio_direction() -> None:
    # Rates: qtws ÷ other; times: other ÷ qtws.  Either way > 1 means qtws is faster.
    rate = Row("g", "rate", "msg/s", True, {"qtws": 300.0, "x": 100.0}, [("qtws", "x")])
    time = Row("g", "time", "µs", False, {"qtws": 50.0, "x": 100.0}, [("qtws", "x")])
    missing = Row("g", "n/a", "µs", False, {"qtws": 50.0, "x": None}, [("qtws", "x")])
    assert rate.ratios == {"qtws vs x": 3.0}
    assert time.ratios == {"qtws vs x": 2.0}
    assert missing.ratios == {"qtws vs x": None}
    table = markdown([rate, time, missing], {"cpus": 2, **dict.fromkeys(_INFO, "?")}, {})
    assert "| rate | msg/s | 300 | 100 | **3.00×** |" in table  # noqa: RUF001
    assert "| n/a | µs | 50.0 | — | — |" in table


def test_best_peer_ratio() -> None:
    # The better qtws column against the best other column, which is named.
    values: dict[str, float | None] = {"a": 90.0, "b": 120.0, "p": 100.0, "q": 150.0, "r": None}
    rate = Row("g", "rate", "msg/s", True, values, mine=("a", "b"))
    assert rate.best_peer == "q" and rate.ratios == {BEST: 0.8}
    time = Row("g", "time", "µs", False, values, mine=("a", "b"))
    assert time.best_peer == "p" and time.ratios == {BEST: 100.0 / 90.0}
    alone = Row("g", "alone", "ms", False, {"a": 1.0, "p": None}, mine=("a",))
    assert alone.best_peer is None and alone.ratios == {BEST: None}
    info = {"cpus": 2, **dict.fromkeys(_INFO, "?")}
    assert "| **0.80×** (q) |" in markdown([rate], info, {})  # noqa: RUF001
    assert markdown([alone], info, {}).rstrip().endswith("| alone | ms | 1.00 | — | — |")


def test_gap_statistics() -> None:
    gaps = gap_summary([[10.0] * 98 + [30.0], [12.0, 50.0]])
    assert gaps == {"p50": 10.0, "p99": 30.0, "max": 50.0}
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0


_INFO = (
    "cpu",
    "platform",
    "python",
    "qtws",
    "pyqt6",
    "qt",
    "websockets",
    "wsproto",
    "aiohttp",
    "picows",
    "websocket-client",
    "numpy",
)


def test_hostile_quick_run_reports_every_case() -> None:
    """``python -m bench.hostile --quick``: one row per case, each from its own child process;
    what the application got is checked, never how long it took."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_API": "pyqt6"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.hostile", "--quick", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {row["case"]: row for row in json.loads(proc.stdout)}
    assert list(rows) == ["idle", "unread", "nested", "fragments", "inflate", "deflate"]
    for row in rows.values():
        assert row["rss_mib"] > 0 and not row["error"], row
        assert (row["gap_p50_ms"] is None) == (row["gap_max_ms"] is None) == (row["ticks"] == 0)
    assert rows["idle"]["messages"] == 0
    assert rows["unread"]["messages"] == 0 and rows["unread"]["server_sent"] > 0  # binary unread
    assert rows["nested"]["messages"] >= 1
    assert (rows["fragments"]["messages"], rows["fragments"]["received_mib"]) == (1, 1.0)
    assert (rows["inflate"]["messages"], rows["inflate"]["received_mib"]) == (4, 4.0)
    assert rows["deflate"]["messages"] == 1  # the server's "ok" after the whole message
