"""The API reference (issue 17.13): ``python3 .ci/dev.py docs`` builds with warnings as errors,
documents every public name, and ``help(qtws.Config)`` describes every field.

When a test here fails after you added public API: document it in ``docs/`` (the page and
group each failure names: signals come from the class docstring's ``Signals`` block or a
``#:`` comment; other members get an ``.. automethod::``/``.. autoproperty::`` line).
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import qtws

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    built = subprocess.run(
        [*cmd, str(ROOT / "docs"), str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stdout + built.stderr  # warnings are errors
    return out


def _documented(site: Path) -> set[str]:
    """Names of the Python objects the site documents, from Sphinx's objects.inv."""
    raw = (site / "objects.inv").read_bytes()
    body = zlib.decompress(raw.split(b"\n", 4)[4]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if " py:" in line}


def test_every_public_name_is_in_the_reference(site: Path) -> None:
    documented = _documented(site)
    missing = {f"qtws.{name}" for name in qtws.__all__} - documented
    assert not missing, f"add to docs/*.rst: {sorted(missing)}"


def test_every_public_member_of_websocket_is_in_the_reference(site: Path) -> None:
    from qtws._qt import QObject

    documented = _documented(site)
    members = {
        name
        for cls in qtws.WebSocket.__mro__
        if cls.__module__.startswith("qtws")
        for name in vars(cls)
        if not name.startswith("_") and not hasattr(QObject, name)  # Qt's own overrides
    }
    missing = {f"qtws.WebSocket.{name}" for name in members} - documented
    assert not missing, f"add to docs/websocket.rst: {sorted(missing)}"


def test_the_pages_follow_arsds_groups(site: Path) -> None:
    page = (site / "websocket.html").read_text()
    for group in ("Signals", "Browser-style API", "Blocking API"):
        assert f">{group}<" in page
    for name, title in [
        ("loops", "Event loops"),
        ("configuration", "Configuration"),
        ("errors", "Errors"),
        ("core", "The sans-IO core"),
    ]:
        assert f">{title}<" in (site / f"{name}.html").read_text()


def test_help_of_config_describes_every_field() -> None:
    doc = inspect.getdoc(qtws.Config) or ""
    undocumented = [f.name for f in dataclasses.fields(qtws.Config) if f"``{f.name}`` (" not in doc]
    assert not undocumented, f"describe in Config's docstring: {undocumented}"
