"""The binding choice of qtws._qt (QT_API, an imported binding, PyQt6, PySide6) and its errors."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

import qtws
from qtws import _qt

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if k != "QT_API"}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=full
    )


def test_qtws_exposes_the_binding_in_use() -> None:
    assert qtws.QT_API == _qt.QT_API
    assert qtws.QT_API in ("pyqt6", "pyside6")
    package = _qt.BINDINGS[qtws.QT_API]
    assert _qt.QObject.__module__.startswith(package)
    # The signal class of that binding (pyqtSignal or Signal).
    assert type(qtws.WebSocket.opened).__module__.startswith(package)


@pytest.mark.parametrize("spell", [str.lower, str.upper, lambda s: f" {s} "])
def test_qt_api_variable_is_case_and_space_insensitive(spell: Callable[[str], str]) -> None:
    api = qtws.QT_API  # the binding of this run is installed
    assert _qt.choose_api({"QT_API": spell(_qt.BINDINGS[api])}) == api


@pytest.mark.parametrize("value", ["pyqt5", "pyside2", "tk"])
def test_unsupported_qt_api_is_an_import_error_naming_the_choices(value: str) -> None:
    with pytest.raises(ImportError, match=r"QT_API=.*'pyqt6' or 'pyside6'"):
        _qt.choose_api({"QT_API": value})


def test_an_already_imported_binding_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stand-ins: only sys.modules is consulted, so no second binding needs to be loaded.
    for package in ("PyQt6", "PySide6"):
        monkeypatch.delitem(sys.modules, f"{package}.QtCore", raising=False)
    monkeypatch.setitem(sys.modules, "PySide6.QtCore", types.ModuleType("PySide6.QtCore"))
    assert _qt.choose_api({}) == "pyside6"
    monkeypatch.setitem(sys.modules, "PyQt6.QtCore", types.ModuleType("PyQt6.QtCore"))
    assert _qt.choose_api({}) == "pyqt6"  # both imported: the documented order decides
    assert _qt.choose_api({"QT_API": "pyqt6"}) == "pyqt6"


def test_installed_order_pyqt6_then_pyside6(monkeypatch: pytest.MonkeyPatch) -> None:
    for package in ("PyQt6", "PySide6"):
        monkeypatch.delitem(sys.modules, f"{package}.QtCore", raising=False)
    installed = {"PyQt6": True, "PySide6": True}
    monkeypatch.setattr(
        _qt.importlib.util,
        "find_spec",
        lambda name: object() if installed.get(name) else None,
    )
    assert _qt.choose_api({}) == "pyqt6"
    installed["PyQt6"] = False
    assert _qt.choose_api({}) == "pyside6"
    installed["PySide6"] = False
    with pytest.raises(ImportError, match=r"qtws\[pyqt6\].*qtws\[pyside6\]"):
        _qt.choose_api({})


def test_no_binding_installed_names_both_extras() -> None:
    code = (
        "import sys; sys.modules['PyQt6'] = sys.modules['PySide6'] = None\n"
        "import qtws, qtws.core\n"  # still fine: no Qt needed
        "try:\n"
        "    qtws.WebSocket\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "qtws[pyqt6]" in out.stdout and "qtws[pyside6]" in out.stdout


def test_qt_api_naming_a_missing_binding_is_an_import_error() -> None:
    code = (
        "import sys; sys.modules['PySide6'] = None\n"
        "import qtws\n"
        "try:\n"
        "    qtws.QT_API\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = _run(code, QT_API="pyside6")
    assert out.returncode == 0, out.stderr
    assert "PySide6 is not installed" in out.stdout and "qtws[pyside6]" in out.stdout


def test_is_deleted_follows_the_cpp_object(qapp: object) -> None:
    parent = _qt.QObject()
    child = _qt.QObject(parent)
    assert not _qt.is_deleted(child)
    del parent  # the parent's C++ object deletes its children
    assert _qt.is_deleted(child)


# Test modules that may name a binding themselves: this file's stand-ins are strings, and the
# interop peer QWebSocketServer runs in a process of its own (it is PyQt6's server).
_OWN_BINDING = {"tests/interop/qt_server.py"}
# Modules no qtws._qt name stands for, imported only when qtws runs on that binding.
_BINDING_ONLY = {"PySide6.QtAsyncio"}  # tests/test_aio.py, under QT_API=pyside6


def test_tests_import_qt_only_through_qtws_qt() -> None:
    """Two bindings in one process load two Qt libraries (a crash, or an undefined symbol):
    a test gets its Qt names from qtws._qt, so the suite runs under either binding."""
    import ast

    bindings = {"PyQt6", "PySide6", "sip", "shiboken6"}
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in _OWN_BINDING:
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            names = [n for n in names if n not in _BINDING_ONLY]
            bad += [f"{rel}:{node.lineno} {n}" for n in names if n.split(".")[0] in bindings]
    assert not bad, f"import Qt names from qtws._qt instead: {bad}"
