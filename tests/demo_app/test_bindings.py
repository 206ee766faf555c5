"""Both demos run on either Qt binding: they import Qt only through ``demo_app.qt`` (the
binding qtws chose), and their headless sessions pass under PySide6 in a subprocess."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDING_PACKAGES = {"PyQt6", "PySide6", "sip", "shiboken6"}

# Runs a demo's main() and prints which binding packages ended up imported.
RUNNER = """
import importlib, sys
rc = importlib.import_module(sys.argv[1] + ".app").main(sys.argv[2:])
loaded = {m.split(".")[0] for m in sys.modules if m.startswith(("PyQt6", "PySide6"))}
print("bindings:", sorted(loaded))
sys.exit(rc)
"""


def test_the_demos_import_qt_only_through_demo_app_qt() -> None:
    offenders = []
    for path in sorted([*ROOT.glob("demo_app/*.py"), *ROOT.glob("dashboard_app/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in BINDING_PACKAGES]
    assert offenders == []


@pytest.mark.skipif(
    importlib.util.find_spec("PySide6") is None,
    reason="PySide6 is not installed here (QT_API=pyside6 python3 .ci/dev.py test installs it)",
)
@pytest.mark.parametrize(
    ("demo", "args", "done"),
    [
        ("demo_app", [], "[demo] session complete"),
        ("dashboard_app", ["--symbols", "40", "--rate", "800"], "[dashboard] session complete"),
    ],
)
def test_headless_sessions_run_under_pyside6(
    tmp_path: Path, demo: str, args: list[str], done: str
) -> None:
    shot = tmp_path / f"{demo}.png"
    env = {**os.environ, "QT_API": "pyside6", "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, demo, "--headless", "--screenshot", str(shot), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert done in out.stdout
    assert "bindings: ['PySide6']" in out.stdout  # PyQt6 never loaded
    assert shot.stat().st_size > 10_000
