#!/usr/bin/env python3
"""One-command set-up for qtws: ``demo`` starts the chat demo, ``test`` runs the default suite.

Both create ``.venv`` next to this repository (if missing or stale), install qtws with the
needed extras into it, check that Qt can start offscreen (installing the few Debian system
libraries it needs when run as root), then run.  Only the Python standard library is used
here, so a fresh machine with Python 3.10+ and git is enough.

    python3 .ci/dev.py demo [demo options...]   # chat demo (headless when there is no display)
    python3 .ci/dev.py test [pytest options...] # ruff, mypy --strict, pytest (offscreen)
    python3 .ci/dev.py slow [pytest options...] # the long suites (soak, full conformance)
    python3 .ci/dev.py bench [bench options...] # benchmarks vs QWebSocket, picows, aiohttp, ...
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".qtws-installed"
# Debian packages Qt's offscreen/xcb platform plugins load at run time on a minimal machine.
QT_DEBIAN_LIBS = [
    "libegl1",
    "libgl1",
    "libxkbcommon0",
    "libfontconfig1",
    "libdbus-1-3",
    "libglib2.0-0",
    "libfreetype6",
    "libx11-xcb1",
    "libxkbcommon-x11-0",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-shape0",
    "libxcb-xinerama0",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-image0",
    "fonts-dejavu-core",
]


def say(msg: str) -> None:
    print(f"[qtws] {msg}", flush=True)


def run(cmd: list[str], **kw: object) -> int:
    return subprocess.call(cmd, cwd=ROOT, **kw)  # type: ignore[call-overload,no-any-return]


def ensure_venv(extras: str) -> None:
    """Create .venv and install qtws[extras] unless the stamp says it is current."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        say(f"creating virtual environment {VENV}")
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        except Exception as exc:  # Debian splits venv/ensurepip out of python3
            pkg = f"python3.{sys.version_info.minor}-venv"
            if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
                sys.exit(f"[qtws] cannot create a venv ({exc}); run: sudo apt-get install {pkg}")
            say(f"cannot create a venv ({exc}): installing {pkg} with apt-get")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
            if run(["apt-get", "install", "-y", "-q", pkg], env=env) != 0:
                run(["apt-get", "install", "-y", "-q", "python3-venv"], env=env)
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    say(f"installing qtws[{extras}] into .venv (first run only)")
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    if run([*pip, "install", "--upgrade", "pip"]) != 0:
        sys.exit("[qtws] pip upgrade failed")
    if run([*pip, "install", "-e", f".[{extras}]"]) != 0:
        sys.exit("[qtws] pip install failed")
    STAMP.write_text(digest)


def ensure_qt() -> None:
    """Make sure Qt starts offscreen; install missing system libraries when we are root."""
    probe = [str(PY), "-c", "from PyQt6.QtWidgets import QApplication; QApplication([])"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if run(probe, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
        return
    hint = "apt-get install -y " + " ".join(QT_DEBIAN_LIBS)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        say("Qt cannot start: installing its system libraries with apt-get")
        run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *QT_DEBIAN_LIBS],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=subprocess.DEVNULL,
        )
        if run(probe, env=env) == 0:
            return
    sys.exit(f"[qtws] Qt cannot start offscreen; install its system libraries: sudo {hint}")


def test(args: list[str], slow: bool = False) -> int:
    ensure_venv("dev")
    ensure_qt()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONDONTWRITEBYTECODE": "1"}
    steps: list[tuple[str, list[str]]] = [
        ("ruff check", [str(PY), "-m", "ruff", "check", "."]),
        ("ruff format --check", [str(PY), "-m", "ruff", "format", "--check", "."]),
        ("mypy --strict qtws", [str(PY), "-m", "mypy", "--strict", "qtws"]),
    ]
    marker = ["-m", "slow"] if slow else ["-m", "not slow"]
    # issue 3: 100% branch coverage of the sans-IO core, enforced on the default run.
    cov = (
        []
        if slow
        else [
            "--cov=qtws.core",
            "--cov-branch",
            "--cov-report=term-missing:skip-covered",
            "--cov-fail-under=100",
        ]
    )
    steps.append(("pytest", [str(PY), "-m", "pytest", *marker, *cov, *args]))
    failed = []
    for name, cmd in steps:
        say(f"--- {name}")
        rc = run(cmd, env=env)
        if rc == 5:
            say("pytest collected no tests: that is a failure")
        if rc != 0:
            failed.append(f"{name} (exit {rc})")
    if failed:
        say("FAILED: " + ", ".join(failed))
        return 1
    say("all checks passed")
    return 0


def demo(args: list[str]) -> int:
    ensure_venv("demo")
    ensure_qt()
    return run([str(PY), "-m", "demo_app", *args])


def bench(args: list[str]) -> int:
    ensure_venv("dev")
    ensure_qt()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return run([str(PY), "-m", "bench", *args], env=env)


def main() -> int:
    cmd, *rest = sys.argv[1:] or ["help"]
    if cmd == "test":
        return test(rest)
    if cmd == "slow":
        return test(rest, slow=True)
    if cmd == "demo":
        return demo(rest)
    if cmd == "bench":
        return bench(rest)
    print(__doc__)
    return 0 if cmd in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
