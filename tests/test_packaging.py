"""Packaging (issue 17.14): the wheel holds ``qtws`` only, with its licence and metadata, and
an installed qtws is visible to ``mypy`` from outside the repository.

The wheel is built offline (no build isolation, no dependencies) from a copy of the sources,
so the test leaves nothing behind in the clone and needs only the ``setuptools`` of the
``test`` extra.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _build_wheel(tmp_path_factory: pytest.TempPathFactory, compile: bool) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "_compiled.sha256")
    for folder in ("qtws", "demo_app", "bench", "tests"):  # the flat layout, as in a clone
        shutil.copytree(ROOT / folder, src / folder, ignore=junk)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    # QTWS_NO_COMPILE: the fallback to the pure-Python core (mypyc would take ~40 s here);
    # the compiled wheel is built by the slow test below.
    env = {**os.environ, "QTWS_NO_COMPILE": "0" if compile else "1"}
    built = subprocess.run(
        [*cmd, "-w", str(out), str(src)], capture_output=True, text=True, env=env
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("qtws-*.whl")
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return _build_wheel(tmp_path_factory, compile=False)


def _metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_the_wheel_installs_the_qtws_package_only(wheel: zipfile.ZipFile) -> None:
    version = PYPROJECT["project"]["version"]
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert top == {"qtws", f"qtws-{version}.dist-info"}
    shipped = {n for n in wheel.namelist() if n.startswith("qtws/")}
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "qtws").rglob("*.py")}
    assert sources <= shipped  # every module of the library, its subpackages included
    assert "qtws/py.typed" in shipped  # PEP 561: type checkers use the inline hints


def test_the_wheel_carries_the_license_and_metadata(wheel: zipfile.ZipFile) -> None:
    meta = _metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    licence = [n for n in wheel.namelist() if n.endswith("dist-info/licenses/LICENSE")]
    assert licence and wheel.read(licence[0]) == (ROOT / "LICENSE").read_bytes()
    assert b"MIT License" in (ROOT / "LICENSE").read_bytes()
    requires = meta.get_all("Requires-Dist") or []
    # The tests rely on websockets 17 behaviour (issue 17.11): the pin must say so.
    assert any(r.startswith("websockets>=17") and 'extra == "test"' in r for r in requires)


def test_mypy_sees_the_installed_qtws_from_outside_the_repository(tmp_path: Path) -> None:
    # pip's default editable install hides the package behind an import hook that mypy
    # cannot follow; .ci/dev.py installs in setuptools' "strict" editable mode instead.
    program = tmp_path / "app.py"
    program.write_text(
        "import qtws\n"
        "config: qtws.Config = qtws.Config(ping_interval=5.0)\n"
        "wrong: int = qtws.Config()\n"
    )
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(program)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    # Exactly the deliberate mistake: qtws itself was found and is typed.
    assert out.stdout.count("error:") == 1, out.stdout + out.stderr
    assert 'app.py:3: error: Incompatible types in assignment (expression has type "Config"' in (
        out.stdout
    )


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^#)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '### {title}' section"
    return match.group(1)


def test_the_project_urls_are_the_readmes_and_no_placeholders(wheel: zipfile.ZipFile) -> None:
    # qtws has no public home yet: the metadata must not invent one (PyPI shows these links),
    # and the README says where the source, docs, changelog and issues are instead.  When a
    # public home exists, the same URLs go into [project.urls] and README's "Project links".
    urls = dict(value.split(", ", 1) for value in _metadata(wheel).get_all("Project-URL") or [])
    section = _readme_section("Project links")
    assert set(urls.values()) == set(re.findall(r"https?://[^\s)>`]+", section))
    if urls:
        assert {"Homepage", "Source", "Documentation", "Issues", "Changelog"} <= set(urls)
    else:
        assert "no public home yet" in section
        for where in ("docs/", "python3 .ci/dev.py docs", "CHANGELOG.md"):
            assert where in section
        assert (ROOT / "CHANGELOG.md").is_file() and (ROOT / "docs" / "index.rst").is_file()


def test_the_readmes_install_lines_name_a_qt_binding() -> None:
    # No binding is a base dependency (a PySide6 app must not pull in PyQt6): a README line
    # installing plain qtws would give a qtws that cannot be imported.
    deps = " ".join(PYPROJECT["project"]["dependencies"])
    assert "PyQt6" not in deps and "PySide6" not in deps
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    lines = [
        line
        for line in _readme_section("Installing qtws in your project").splitlines()
        if line.startswith("pip install")
    ]
    assert len(lines) >= 2
    for line in lines:
        named = re.search(r"qtws\[([a-z0-9,]+)\]", line)
        assert named, f"installs qtws without a binding: {line}"
        chosen = set(named.group(1).split(","))
        assert chosen <= extras and chosen & {"pyqt6", "pyside6"}, line


def test_the_pure_wheel_has_no_extension_modules(wheel: zipfile.ZipFile) -> None:
    assert not [n for n in wheel.namelist() if n.endswith((".so", ".pyd", ".sha256"))]
    assert wheel.filename is not None and wheel.filename.endswith("-py3-none-any.whl")


@pytest.mark.slow
@pytest.mark.timeout(600)  # mypyc and the C compiler: ~40 s on an idle 2-core machine
def test_the_compiled_wheel_holds_the_core_compiled_and_its_sources(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from qtws.core import _native

    compiled = _build_wheel(tmp_path_factory, compile=True)
    names = compiled.namelist()
    version = PYPROJECT["project"]["version"]
    assert {name.split("/")[0] for name in names} == {"qtws", f"qtws-{version}.dist-info"}
    for module in _native.MODULES:
        assert f"qtws/core/{module}.py" in names  # the source ships too (QTWS_PURE=1)
        assert any(n.startswith(f"qtws/core/{module}.cpython-") for n in names)
    assert any(n.startswith(f"qtws/{_native.SHARED}.") for n in names)
    assert f"qtws/core/{_native.RECORD}" in names
    # Installed, it is used, and QTWS_PURE=1 switches to the sources.
    compiled.extractall(tmp_path / "site")
    code = "import qtws, qtws.core.protocol as p; print(qtws.COMPILED, p.__file__.endswith('.py'))"
    for pure, expected in (("0", f"{_native.MODULES} False"), ("1", "() True")):
        env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "QTWS_PURE": pure}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert out.stdout.strip() == expected, out.stderr
