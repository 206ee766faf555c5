"""Smoke test of the benchmark harness: ``python -m bench --quick`` runs end to end (codec,
real sockets, Qt, the child-process echo server) and reports ratio rows.  Timings are never
asserted: speed is the benchmark's business, not the test suite's."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from bench.report import Row, markdown

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_reports_ratios(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", "--output-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
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
    # Every client produced a number in every scenario; QWebSocket has no permessage-deflate.
    for row in e2e:
        for client, value in row["values"].items():
            if client == "QWebSocket" and "deflate" in row["name"]:
                assert value is None
            else:
                assert value is not None, (row["name"], client)
    ratios = [v for r in rows for v in r["ratios"].values() if v is not None]
    assert len(ratios) >= len(rows)
    saved = (tmp_path / "latest.md").read_text(encoding="utf-8")
    for label in ("qtws vs websockets", "qtws vs wsproto", "qtws Qt vs QWebSocket"):
        assert f" {label} |" in saved, label
    assert json.loads((tmp_path / "latest.json").read_text(encoding="utf-8")) == result


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


_INFO = ("cpu", "platform", "python", "qtws", "pyqt6", "qt", "websockets", "wsproto", "numpy")
