"""The layering rules of design.md, checked on the source with ``ast`` and in subprocesses."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "qtws"
STDLIB = sys.stdlib_module_names

# What the core may never import, even though it is standard library.
QT_PACKAGES = {"PyQt6", "PySide6", "sip", "shiboken6"}
CORE_FORBIDDEN = {"socket", "ssl", "selectors", "time", "threading", "asyncio", *QT_PACKAGES}
# The binding module: the one place that imports PyQt6 or PySide6 (design.md).
BINDING = "qtws/_qt.py"
# Modules below the façade that must work without Qt: they may not even import qtws._qt.
QT_FREE = [
    "qtws/loop/base.py",
    "qtws/loop/selectors_proxy.py",
    "qtws/loop/asyncio_proxy.py",
    *(f"qtws/{name}.py" for name in ("connection", "dial", "proxy", "socks", "certificates")),
    *(f"qtws/{name}.py" for name in ("keepalive", "writequeue", "reconnect", "state", "errors")),
    *(f"qtws/{name}.py" for name in ("config", "cookies", "blocking")),
    "qtws/traffic/sniffer.py",
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _relative_targets(path: Path) -> set[str]:
    """Absolute dotted names of the qtws modules that ``path`` imports relatively."""
    tree = ast.parse(path.read_text(), str(path))
    pkg_parts = list(path.relative_to(ROOT).with_suffix("").parts)
    pkg_parts = pkg_parts[:-1]  # the package holding the module (or the __init__)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = pkg_parts[: len(pkg_parts) - (node.level - 1)]
            out.add(".".join([*base, *(node.module.split(".") if node.module else [])]))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qtws"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("qtws"))
    return out


def _files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py")) if sub else sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", _files("core"), ids=lambda p: p.name)
def test_core_imports_only_stdlib_h11_numpy(path: Path) -> None:
    names = _imports(path)
    bad = {n for n in names if n not in STDLIB and n not in {"h11", "numpy", "qtws"}}
    assert not bad, f"{path}: core may not import {bad}"
    assert not names & CORE_FORBIDDEN, f"{path}: core may not import {names & CORE_FORBIDDEN}"
    for target in _relative_targets(path):
        assert target.startswith(("qtws.core", "qtws.errors")), f"{path} imports {target}"


@pytest.mark.parametrize("path", _files(""), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_binding_module_imports_qt(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    if rel != BINDING:
        bad = _imports(path) & QT_PACKAGES
        assert not bad, f"{rel} may not import {bad}: import Qt names from qtws._qt"


def test_the_binding_module_imports_both_bindings_and_nothing_of_qtws() -> None:
    names = _imports(PKG / "_qt.py")
    assert {"PyQt6", "PySide6", "shiboken6"} <= names
    assert all(n in STDLIB or n in QT_PACKAGES for n in names), names


@pytest.mark.parametrize("rel", QT_FREE)
def test_qt_free_modules_never_import_the_binding(rel: str) -> None:
    path = ROOT / rel
    if not path.exists():
        pytest.fail(f"{rel} is missing")
    targets = _relative_targets(path)
    assert "qtws._qt" not in targets, f"{rel} imports qtws._qt"
    assert "qtws.websocket" not in targets and "qtws.loop.qt" not in targets, targets


def test_loop_base_is_stdlib_only() -> None:
    names = _imports(PKG / "loop" / "base.py")
    assert all(n in STDLIB or n == "qtws" for n in names)


# The driver's modules: never Qt, never a concrete proxy, never the façade.
DRIVER = ["connection", "dial", "proxy", "keepalive", "writequeue", "reconnect", "state"]
# What each layer below the façade may import from qtws (design.md's layer table).


@pytest.mark.parametrize("name", DRIVER)
def test_driver_modules_never_touch_qt_or_concrete_proxies(name: str) -> None:
    path = PKG / f"{name}.py"
    if not path.exists():
        pytest.fail(f"qtws/{name}.py is missing")
    names = _imports(path)
    assert not names & QT_PACKAGES
    # dial may use truststore (optional, trust="system" on Windows/macOS).
    extra = {"truststore"} if name == "dial" else set()
    assert all(n in STDLIB or n in {"h11", "qtws", *extra} for n in names), names
    for target in _relative_targets(path):
        assert not target.startswith("qtws.loop.") or target == "qtws.loop.base", target
        assert target not in ("qtws.websocket", "qtws.blocking", "qtws.loop"), target


@pytest.mark.parametrize("name", ["dial", "proxy", "socks", "certificates"])
def test_dialing_depends_on_no_driver_module(name: str) -> None:
    """dial and proxy sit below the driver: stdlib, h11, core, config, errors, loop.base."""
    allowed = {
        "qtws.core",
        "qtws.errors",
        "qtws.config",
        "qtws.loop.base",
        "qtws.proxy",
        "qtws.socks",
        "qtws.certificates",
    }
    for target in _relative_targets(PKG / f"{name}.py"):
        assert target in allowed, f"qtws/{name}.py imports {target}"


def test_socks_imports_only_stdlib_socksio_and_qtws() -> None:
    names = _imports(PKG / "socks.py")
    assert all(n in STDLIB or n in {"socksio", "qtws"} for n in names), names


def test_core_imports_with_both_bindings_blocked() -> None:
    code = (
        "import sys; sys.modules['PyQt6'] = sys.modules['PySide6'] = None\n"
        "import qtws, qtws.core, qtws.errors, qtws.config, qtws.connection\n"
        "qt = [m for m, v in sys.modules.items() if m.startswith(('PyQt6', 'PySide6')) and v]\n"
        "assert not qt, qt\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_import_qtws_is_cheap() -> None:
    code = (
        "import sys, qtws\n"
        "heavy = [m for m in ('PyQt6.QtCore', 'PySide6.QtCore', 'qtws._qt', 'numpy', 'h11')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
