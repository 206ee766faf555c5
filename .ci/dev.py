#!/usr/bin/env python3
"""One-command set-up for qtws: the chat demo, the test gate and the API docs.

    python3 .ci/dev.py demo [demo options...]   # chat demo (headless when there is no display)
    python3 .ci/dev.py demo --dashboard [...]   # live dashboard demo (dashboard_app)
    python3 .ci/dev.py test [pytest options...] # ruff, mypy --strict, pytest on PyQt6, then
                                                # pytest on PySide6 (offscreen)
    python3 .ci/dev.py slow [pytest options...] # the long suites (soak, full conformance)
    python3 .ci/dev.py bench [bench options...] # benchmarks vs QWebSocket, picows, aiohttp, ...
    python3 .ci/dev.py docs                     # API reference (Sphinx) into build/docs/
    python3 .ci/dev.py build                    # mypyc-compile qtws.core's hot modules in place

    --qt pyqt6|pyside6      one binding only: test runs the whole gate on it (the same as
                            QT_API=pyside6); demo, bench and docs use PyQt6 unless told
    --python VERSION|PATH   run with another interpreter, e.g. --python 3.13: it gets its own
                            virtual environment, .venv-3.13 (the default one is .venv)

Every command uses one virtual environment with one install, ``qtws[dev,pyside6]`` (the library
in editable mode, both Qt bindings, the demo, test, bench and docs tools), so switching
commands or bindings never reinstalls; it is installed again only when pyproject.toml or the
list of qtws's files changes. Before the demo or the tests it checks that Qt starts on the
platform that will really be used (``xcb`` when ``DISPLAY`` is set, ``wayland`` when only
``WAYLAND_DISPLAY`` is, else ``offscreen``; the tests always run offscreen) and installs the
Debian libraries that platform lacks when run as root, or prints the exact ``apt-get install``
line otherwise; the tests also need Xvfb (the demos are run under it), installed the same way.

The coverage gate (100 % line and branch coverage of ``qtws.core``) applies to a run of the
whole default suite only: ``test`` with a file, a node id, ``-k``, ``-m``, ``--lf`` or
``--deselect`` runs that subset without it.  When a C compiler is there, ``test`` first
compiles qtws.core's hot modules with mypyc (``build``, skipped while they are current), runs
the whole suite and the coverage gate on the interpreted sources (``QTWS_PURE=1``), then the
core's tests and a few end-to-end files again on the compiled modules.  Only the standard
library is used here, so a fresh machine with Python 3.11+ and git is enough.  Ctrl-C ends any
command quietly (130).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_PYTHON = (3, 11)
# The Qt binding: --qt pyside6 or QT_API=pyside6 picks one; else `test` runs the suite on both
# (PyQt6 with the whole gate, then pytest on PySide6) and the other commands use PyQt6.
QT_PACKAGES = {"pyqt6": "PyQt6", "pyside6": "PySide6"}
QT_API = os.environ.get("QT_API", "").strip().lower()
if QT_API and QT_API not in QT_PACKAGES:
    sys.exit(f"[qtws] QT_API={QT_API!r}: use pyqt6 or pyside6")
QT_PACKAGE = QT_PACKAGES[QT_API or "pyqt6"]  # the one the demo, bench and docs run on
EXTRAS = "dev,pyside6"  # both bindings in one environment: switching never reinstalls
# pip's default editable mode installs an import hook that mypy and other static tools cannot
# follow; setuptools' "strict" mode links the package's files into build/__editable__.* and
# puts that folder on sys.path with a plain .pth file.  It sees edits, not new files: the
# stamp below covers the list of files, so adding a module reinstalls.
EDITABLE = ["--config-settings", "editable_mode=strict"]

# Shared libraries Qt's platform plugins load at run time, and the Debian package of each.
# ldd names the missing ones; the probe (really starting a QApplication) has the last word.
DEBIAN_PACKAGE_OF = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
# What each platform needs on a minimal Debian when ldd cannot tell (no ldd, or the probe
# still fails after installing what ldd named); fonts, for one, are no linked library.
PLATFORM_PACKAGES = {
    "offscreen": ["libegl1", "libgl1", "libxkbcommon0", "libfontconfig1", "libfreetype6",
                  "libdbus-1-3", "libglib2.0-0", "fonts-dejavu-core"],
    "xcb": ["libx11-xcb1", "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4",
            "libxcb-keysyms1", "libxcb-shape0", "libxcb-xinerama0", "libxcb-randr0",
            "libxcb-render-util0", "libxcb-image0"],
    "wayland": ["libwayland-client0", "libwayland-cursor0", "libwayland-egl1"],
}  # fmt: skip
PLATFORM_PACKAGES["xcb"] += PLATFORM_PACKAGES["offscreen"]
PLATFORM_PACKAGES["wayland"] += PLATFORM_PACKAGES["offscreen"]


class Env:
    """One virtual environment: where it is and which interpreter made it."""

    def __init__(self, base_python: str, directory: Path) -> None:
        self.base_python = base_python
        self.dir = directory
        bindir = directory / ("Scripts" if os.name == "nt" else "bin")
        self.py = bindir / ("python.exe" if os.name == "nt" else "python")
        self.stamp = directory / ".qtws-installed"


def say(msg: str) -> None:
    print(f"[qtws] {msg}", flush=True)


def run(cmd: list[str], **kw: object) -> int:
    """Run ``cmd``; on Ctrl-C let it end by itself (it got the same SIGINT), then re-raise."""
    kw.setdefault("cwd", ROOT)
    proc = subprocess.Popen(cmd, **kw)  # type: ignore[call-overload]
    try:
        return int(proc.wait())
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=10)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        raise


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(packages: list[str]) -> bool:
    """Install with apt-get; refresh the package lists only when they are too old for it."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if run(cmd, env=env, **quiet) == 0:
        return True
    run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
    return run(cmd, env=env, stdout=subprocess.DEVNULL) == 0


def python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    major, minor = out.split()
    return int(major), int(minor)


def find_python(spec: str) -> str:
    """The interpreter for ``--python``: a path, or a version found on PATH, pyenv or uv."""
    if os.sep in spec or spec.startswith("python"):
        found = shutil.which(spec)
        if found is None:
            sys.exit(f"[qtws] --python {spec}: no such interpreter")
        return found
    if not re.fullmatch(r"3\.\d+", spec):
        sys.exit(f"[qtws] --python takes a version such as 3.13 or a path, not {spec!r}")
    candidates = [shutil.which(f"python{spec}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{spec}.*/bin/python{spec}"))[::-1]
    if shutil.which("uv"):
        uv = subprocess.run(["uv", "python", "find", spec], capture_output=True, text=True)
        candidates.append(uv.stdout.strip())
    for candidate in candidates:
        if candidate and python_version(candidate) == tuple(map(int, spec.split("."))):
            return candidate
    sys.exit(
        f"[qtws] no Python {spec} found (looked on PATH, in pyenv and uv); install it "
        f"(e.g. `uv python install {spec}` or `sudo apt-get install python{spec}-venv`) "
        "or pass --python /path/to/python"
    )


def select_env(args: list[str]) -> tuple[Env, list[str]]:
    """Take ``--python X`` out of ``args``; the environment that runs the command."""
    spec = None
    rest = []
    it = iter(args)
    for arg in it:
        if arg == "--python":
            spec = next(it, None)
            if spec is None:
                sys.exit("[qtws] --python needs a version or a path")
        elif arg.startswith("--python="):
            spec = arg.partition("=")[2]
        else:
            rest.append(arg)
    if spec is None:
        python = sys.executable
        version = sys.version_info[:2]
        directory = ROOT / ".venv"
        here = Path(sys.prefix)
        if sys.prefix != sys.base_prefix and here.parent == ROOT and here.name.startswith(".venv"):
            directory = here  # run by one of our environments' pythons (a test does): that one
    else:
        python = find_python(spec)
        version = python_version(python) or (0, 0)
        directory = ROOT / f".venv-{version[0]}.{version[1]}"
    if version < MIN_PYTHON:
        want = ".".join(map(str, MIN_PYTHON))
        sys.exit(
            f"[qtws] qtws needs Python {want} or newer; {python} is "
            f"{'.'.join(map(str, version))}. Run this with a newer python3 or add "
            f"--python {want}"
        )
    return Env(python, directory), rest


def create_venv(env: Env) -> None:
    say(f"creating the virtual environment {env.dir.name}/ with {env.base_python}")
    if env.base_python == sys.executable:
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(env.dir)
            return
        except Exception as exc:  # Debian splits venv/ensurepip out of python3
            error: str = str(exc)
    else:
        cmd = [env.base_python, "-m", "venv", "--clear", str(env.dir)]
        if run(cmd) == 0:
            return
        error = f"{env.base_python} -m venv failed"
    pkg = "python3-venv"
    if not is_root():
        sys.exit(f"[qtws] cannot create a venv ({error}); run: sudo apt-get install {pkg}")
    say(f"cannot create a venv ({error}): installing {pkg} with apt-get")
    apt_install([pkg])
    if run([env.base_python, "-m", "venv", "--clear", str(env.dir)]) != 0:
        sys.exit(f"[qtws] cannot create a venv even with {pkg} installed")


def ensure_venv(env: Env) -> None:
    """Create the venv and install qtws[dev] unless the stamp says it is current."""
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "qtws").rglob("*.py*"))
    state = [(ROOT / "pyproject.toml").read_text(), (ROOT / "setup.py").read_text(), EXTRAS]
    state += files
    digest = hashlib.sha256("\n".join(state).encode()).hexdigest()
    linked = any((ROOT / "build").glob("__editable__.qtws-*"))
    current = env.stamp.exists() and env.stamp.read_text() == digest and linked
    if current and env.py.exists():
        return
    if os.environ.get("QTWS_DEV_NO_INSTALL") and env.py.exists():
        return  # tests/test_gui_xvfb.py runs dev.py from inside a suite: never reinstall under it
    if not env.py.exists():
        create_venv(env)
        why = "new environment"
    elif not linked:
        why = "build/__editable__.qtws-* (the editable install's links) is missing"
    elif env.stamp.exists():
        why = "pyproject.toml or the list of qtws's files changed"
    else:
        why = "the last install did not finish"
    env.stamp.unlink(missing_ok=True)
    say(f"installing qtws[{EXTRAS}] into {env.dir.name}/ ({why}; a few minutes)")
    pip = [str(env.py), "-m", "pip", "--disable-pip-version-check", "-q"]
    for what, cmd in [
        ("pip upgrade", [*pip, "install", "--upgrade", "pip"]),
        ("pip install", [*pip, "install", *EDITABLE, "-e", f".[{EXTRAS}]"]),
    ]:
        # The build backend's notices (about the editable mode) are noise on success.
        # The editable install stays interpreted: compile_core() builds in place instead.
        pip_env = {**os.environ, "QTWS_NO_COMPILE": "1"}
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=pip_env)
        if out.returncode != 0:
            print(out.stdout + out.stderr, file=sys.stderr)
            sys.exit(f"[qtws] {what} failed (see above); run the command again to retry")
    env.stamp.write_text(digest)


# issue 16: the core's hot modules compiled with mypyc (setup.py), next to their sources.
# qtws/core/_native.py decides at import time whether a build is current; run with the venv's
# interpreter, whose extension suffix (cpython-311-...) is the one that counts.
_CURRENT = (
    "import importlib.util as u, sys; s = u.spec_from_file_location('n', sys.argv[1]); "
    "m = u.module_from_spec(s); s.loader.exec_module(m); "
    "sys.exit(0 if m.choose(sys.argv[2], {})[0] else 1)"
)
# What runs again on the compiled modules after the gate: the core's tests and end-to-end
# files over real sockets whose traffic goes through every compiled path (~40 s idle; the
# driver's own tests/test_connection.py passes too but adds 20 s).
COMPILED_TESTS = [
    "tests/core",
    "tests/test_conformance_same_read.py",
    "tests/test_blocking.py",
]


def core_is_compiled(env: Env) -> bool:
    """Whether qtws/core holds a complete mypyc build of the current sources."""
    core = ROOT / "qtws" / "core"
    check = [str(env.py), "-c", _CURRENT, str(core / "_native.py"), str(core)]
    return subprocess.run(check, cwd=ROOT).returncode == 0


def compile_core(env: Env) -> bool:
    """Compile qtws.core's hot modules in place unless they are current (or
    ``QTWS_NO_COMPILE=1``); True when a current compiled build is there.  Failing to compile
    is not an error: the interpreted core is complete, and this says why in one line."""
    if os.environ.get("QTWS_NO_COMPILE", "") not in ("", "0"):
        say("QTWS_NO_COMPILE is set: the interpreted core only")
        return False
    if core_is_compiled(env):
        return True
    say("compiling qtws.core with mypyc (setup.py build_ext --inplace; takes ~40 s)")
    start = time.monotonic()
    cmd = [str(env.py), "setup.py", "-q", "build_ext", "--inplace"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    notes = [line for line in out.stderr.splitlines() if line.startswith("qtws build:")]
    if out.returncode == 0 and core_is_compiled(env):
        say(f"compiled in {time.monotonic() - start:.0f} s")
        return True
    tail = (out.stdout + out.stderr).strip().splitlines()[-1:]
    why = notes[-1] if notes else " ".join(tail) or f"exit {out.returncode}"
    say(f"not compiled, the interpreted core only ({why})")
    return False


def build(env: Env, args: list[str]) -> int:
    ensure_venv(env)
    return 0 if compile_core(env) else 1


def qt_platform(environ: dict[str, str] | os._Environ[str], headless: bool) -> str:
    """The Qt platform plugin that will be used, as Qt picks it on Linux."""
    if headless:
        return "offscreen"
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    if chosen:
        return chosen
    wayland = bool(environ.get("WAYLAND_DISPLAY"))
    if environ.get("DISPLAY") and not (wayland and environ.get("XDG_SESSION_TYPE") == "wayland"):
        return "xcb"
    return "wayland" if wayland else "offscreen"


def missing_libraries(env: Env, platform: str) -> list[str]:
    """Shared libraries the platform plugin needs and the dynamic linker cannot find."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return []
    code = "import PyQt6, os; print(os.path.dirname(PyQt6.__file__))"
    out = subprocess.run([str(env.py), "-c", code], capture_output=True, text=True)
    qt = Path(out.stdout.strip()) / "Qt6"
    name = {"xcb": "libqxcb.so", "offscreen": "libqoffscreen.so"}.get(platform, "libqwayland*.so")
    plugins = [*glob.glob(str(qt / "plugins" / "platforms" / name))]
    plugins += glob.glob(str(qt / "lib" / "libQt6Widgets.so*"))
    missing: set[str] = set()
    for plugin in plugins:
        ldd = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
        missing.update(re.findall(r"^\s*(\S+) => not found", ldd, re.MULTILINE))
    return sorted(missing)


def ensure_qt(env: Env, headless: bool = False, package: str = "") -> dict[str, str]:
    """Check that Qt (``package``, default :data:`QT_PACKAGE`) starts on the platform it will
    use; return the environment to run with."""
    run_env = dict(os.environ)
    if headless:
        run_env["QT_QPA_PLATFORM"] = "offscreen"
    platform = qt_platform(run_env, headless)
    probe_env = {**run_env, "QT_QPA_PLATFORM": platform}
    probe_code = f"from {package or QT_PACKAGE}.QtWidgets import QApplication; QApplication([])"
    probe = [str(env.py), "-c", probe_code]

    def works() -> tuple[bool, str]:
        out = subprocess.run(probe, env=probe_env, capture_output=True, text=True, cwd=ROOT)
        return out.returncode == 0, out.stderr.strip()

    ok, error = works()
    if ok:
        return run_env
    libs = missing_libraries(env, platform)
    unknown = [lib for lib in libs if lib not in DEBIAN_PACKAGE_OF]
    packages = sorted({DEBIAN_PACKAGE_OF[lib] for lib in libs if lib in DEBIAN_PACKAGE_OF})
    if not packages:  # ldd found nothing it can name: the usual set for this platform
        packages = PLATFORM_PACKAGES.get(platform, PLATFORM_PACKAGES["offscreen"])
    what = f"missing {', '.join(libs)}" if libs else "see its message below"
    line = "apt-get install -y --no-install-recommends " + " ".join(packages)
    if is_root():
        say(f"Qt cannot start on the {platform} platform ({what}): installing with apt-get")
        say(line)
        apt_install(packages)
        ok, error = works()
        if not ok and packages != PLATFORM_PACKAGES.get(platform):
            apt_install(PLATFORM_PACKAGES.get(platform, PLATFORM_PACKAGES["offscreen"]))
            ok, error = works()
        if ok:
            return run_env
        line = ""
    tail = "\n".join(error.splitlines()[-6:])
    msg = f"[qtws] Qt cannot start on the {platform} platform ({what}).\n{tail}\n"
    if unknown:
        msg += f"[qtws] libraries with no known Debian package: {', '.join(unknown)}\n"
    if line:
        msg += f"[qtws] install its system libraries with:\n    sudo {line}"
    sys.exit(msg.rstrip())


def ensure_xvfb() -> None:
    """tests/test_gui_xvfb.py runs the demos under Xvfb: install it when root, else say how."""
    if not sys.platform.startswith("linux") or shutil.which("Xvfb"):
        return
    line = "apt-get install -y --no-install-recommends xvfb"
    if not is_root():
        say(f"Xvfb is missing, so tests/test_gui_xvfb.py will fail; install it: sudo {line}")
        return
    say(f"installing Xvfb for tests/test_gui_xvfb.py (the demos under X): {line}")
    started = time.monotonic()
    ok = apt_install(["xvfb"])
    say(f"{'installed' if ok else 'could not install'} xvfb in {time.monotonic() - started:.0f} s")


def selects_tests(args: list[str]) -> bool:
    """Whether pytest ``args`` pick a subset of the suite (then the coverage gate is off)."""
    takes_value = {"-p", "-o", "-c", "-W", "--tb", "--timeout", "--maxfail", "--rootdir",
                   "--basetemp", "--junitxml", "--durations", "-n", "--confcutdir",
                   "--log-level", "--hypothesis-seed", "--cov-report", "--import-mode"}  # fmt: skip
    selecting = {"-k", "-m", "--deselect", "--ignore", "--ignore-glob"}
    it = iter(args)
    for arg in it:
        name = arg.split("=")[0]
        if name in selecting or arg in ("--lf", "--last-failed", "--sw", "--stepwise"):
            return True
        if arg[:2] in ("-k", "-m") and len(arg) > 2:  # -kEXPR, as pytest reads it
            return True
        if arg in takes_value:
            next(it, None)
        elif not arg.startswith("-"):
            return True
    return False


def test(env: Env, args: list[str], slow: bool = False) -> int:
    ensure_venv(env)
    compiled = compile_core(env)
    apis = [QT_API] if QT_API else list(QT_PACKAGES)
    if not slow and "pyqt6" in apis:
        ensure_xvfb()
    py = str(env.py)
    steps: list[tuple[str, list[str], str]] = [
        ("ruff check", [py, "-m", "ruff", "check", "."], apis[0]),
        ("ruff format --check", [py, "-m", "ruff", "format", "--check", "."], apis[0]),
        ("mypy --strict qtws", [py, "-m", "mypy", "--strict", "qtws"], apis[0]),
    ]
    marker = ["-m", "slow"] if slow else ["-m", "not slow"]
    # issue 3: 100% branch coverage of the sans-IO core, enforced on a whole default run.
    cov = [
        "--cov=qtws.core",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=100",
    ]
    if slow:
        cov = []
    elif selects_tests(args):
        say("a subset of the suite: no coverage gate (it applies to the whole suite only)")
        cov = []
    pytest = [py, "-m", "pytest", *marker]
    named = len(apis) > 1
    first = apis[0]
    steps.append(
        (f"pytest ({QT_PACKAGES[first]})" if named else "pytest", [*pytest, *cov, *args], first)
    )
    whole = not slow and not selects_tests(args)
    if compiled and whole:
        cmd = [*pytest, "--no-cov", *args, *COMPILED_TESTS]
        steps.append(("pytest on the compiled core", cmd, first))
    for api in apis[1:]:  # the other binding: its pytest only (lint and coverage ran once)
        steps.append((f"pytest ({QT_PACKAGES[api]})", [*pytest, *args], api))
    failed = []
    qt_envs: dict[str, dict[str, str]] = {}
    for name, cmd, api in steps:
        say(f"--- {name}")
        if api not in qt_envs:
            qt_envs[api] = ensure_qt(env, headless=True, package=QT_PACKAGES[api])
        run_env = dict(qt_envs[api])
        run_env["PYTHONDONTWRITEBYTECODE"] = "1"
        run_env.update(QT_API=api, PYTEST_QT_API=api)  # qtws and pytest-qt on one binding
        if "compiled" in name:
            run_env.pop("QTWS_PURE", None)
            run_env["QTWS_EXPECT_COMPILED"] = "1"  # tests/core/test_compiled.py checks it
        else:
            # Coverage traces the .py sources only: the suite and its gate run them interpreted.
            run_env["QTWS_PURE"] = "1"
        if api == "pyside6":
            # PyQt6 only: the benchmarks compare with PyQt6's QWebSocket; the Xvfb runs of the
            # demos need only one binding (the demo tests run on both).
            cmd = [*cmd, "--ignore=tests/test_bench.py", "--ignore=tests/test_gui_xvfb.py"]
        rc = run(cmd, env=run_env)
        if rc == 5:
            say("pytest collected no tests: that is a failure")
        if rc != 0:
            failed.append(f"{name} (exit {rc})")
    if failed:
        say("FAILED: " + ", ".join(failed))
        return 1
    on = " and ".join(QT_PACKAGES[api] for api in apis)
    say(f"all checks passed on Python {'.'.join(map(str, python_version(py) or ()))}, {on}")
    return 0


def demo(env: Env, args: list[str]) -> int:
    ensure_venv(env)
    headless = (
        "--headless" in args or "--serve" in args or any(a.startswith("--serve=") for a in args)
    )
    run_env = ensure_qt(env, headless=headless)
    # Runs in the caller's directory (a relative --screenshot lands there); demo_app is a
    # folder of this clone, not part of the installed package.
    run_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), run_env.get("PYTHONPATH")]))
    module = "demo_app"
    if "--dashboard" in args:  # the live dashboard demo (dashboard_app)
        module = "dashboard_app"
        args = [a for a in args if a != "--dashboard"]
    return run([str(env.py), "-m", module, *args], env=run_env, cwd=os.getcwd())


def bench(env: Env, args: list[str]) -> int:
    ensure_venv(env)
    compile_core(env)  # what an install gets; QTWS_PURE=1 measures the interpreted core
    return run([str(env.py), "-m", "bench", *args], env=ensure_qt(env, headless=True))


def docs(env: Env, args: list[str]) -> int:
    ensure_venv(env)
    out = ROOT / "build" / "docs"
    cmd = [str(env.py), "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    rc = run([*cmd, *args, "docs", str(out)], env=ensure_qt(env, headless=True))
    if rc == 0:
        say(f"API reference: {out / 'index.html'}")
    return rc


COMMANDS = {"test": test, "demo": demo, "bench": bench, "docs": docs, "build": build}


def select_qt(args: list[str]) -> list[str]:
    """Take ``--qt API`` out of ``args``: that binding only, as ``QT_API=API`` (children
    inherit it: qtws and the demos pick it)."""
    global QT_API, QT_PACKAGE
    rest = []
    it = iter(args)
    for arg in it:
        if arg == "--qt" or arg.startswith("--qt="):
            api = (arg.partition("=")[2] if "=" in arg else next(it, "")).strip().lower()
            if api not in QT_PACKAGES:
                sys.exit(f"[qtws] --qt takes pyqt6 or pyside6, not {api!r}")
            QT_API, QT_PACKAGE = api, QT_PACKAGES[api]
            os.environ["QT_API"] = api
        else:
            rest.append(arg)
    return rest


def main(argv: list[str]) -> int:
    cmd, *rest = argv or ["help"]
    if cmd not in (*COMMANDS, "slow"):
        print(__doc__)
        return 0 if cmd in ("help", "-h", "--help") else 2
    env, rest = select_env(rest)
    rest = select_qt(rest)
    if cmd == "slow":
        return test(env, rest, slow=True)
    return COMMANDS[cmd](env, rest)


def entry(argv: list[str]) -> int:
    """:func:`main`, with Ctrl-C ending quietly: no traceback, status 130 (128 + SIGINT)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(entry(sys.argv[1:]))
