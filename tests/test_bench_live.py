"""Smoke test of ``python -m bench --only live``: every way of taking the tick flood produces
its rows (figures are never asserted: speed is the benchmark's business)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from bench.live import SYMBOLS, WAYS, tick

ROOT = Path(__file__).resolve().parent.parent


def test_ticks_are_32_bytes_of_json_over_the_symbols() -> None:
    ticks = [tick(i) for i in range(20_000)]
    assert {len(t.encode()) for t in ticks} == {32}
    assert len({json.loads(t)["s"] for t in ticks}) == SYMBOLS


def test_quick_live_run_reports_every_way(tmp_path: Path) -> None:
    # QWebSocket is PyQt6's: the benchmark runs on PyQt6 whatever the suite's binding.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_API": "pyqt6"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "live", "--quick", "--json",
         "--output-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert [r["unit"] for r in rows] == ["µs", "msg/s", "calls", "ms", "ms"]
    for row in rows:
        assert row["group"].startswith("Live data in a GUI")
        assert tuple(row["values"]) == WAYS, row
        assert all(v > 0 and math.isfinite(v) for v in row["values"].values()), row
    calls = rows[2]["values"]
    # Per-message slots are called per message; a batch or Conflator slot far less often.
    assert calls["text_message slot"] == calls["QWebSocket"] == 1000
    assert calls["batch_received slot"] < 1000 and calls["Conflator → model"] < 1000
    assert (tmp_path / "latest.md").read_text(encoding="utf-8").count("| 2,000 x 32 B") == 5
