"""``.ci/dev.py`` (issue 17.5-8): the Qt platform it probes, when the coverage gate applies,
its ``--python`` option, and Ctrl-C ending quietly with status 130."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qtws_dev_script", ROOT / ".ci" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dev = _load()


@pytest.mark.parametrize(
    ("environ", "platform"),
    [
        ({}, "offscreen"),
        ({"DISPLAY": ":0"}, "xcb"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "wayland"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "xcb"),  # Xwayland, as Qt picks
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "XDG_SESSION_TYPE": "wayland"}, "wayland"),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "vnc:size=800x600"}, "vnc"),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "wayland"),
    ],
)
def test_the_probed_platform_is_the_one_qt_will_use(environ: dict[str, str], platform: str) -> None:
    assert dev.qt_platform(environ, headless=False) == platform
    assert dev.qt_platform(environ, headless=True) == "offscreen"  # tests, --headless


@pytest.mark.parametrize(
    ("args", "subset"),
    [
        ([], False),
        (["-q", "-x"], False),
        (["-p", "no:cacheprovider", "--tb", "short"], False),  # option values, not paths
        (["tests/test_config.py"], True),
        (["tests/test_config.py::test_defaults"], True),
        (["-k", "reconnect"], True),
        (["-kreconnect"], True),
        (["--lf"], True),
        (["--deselect=tests/x.py::t"], True),
    ],
)
def test_the_coverage_gate_applies_to_whole_suite_runs_only(args: list[str], subset: bool) -> None:
    assert dev.selects_tests(args) is subset


def test_python_option_is_taken_out_of_the_pytest_arguments() -> None:
    env, rest = dev.select_env(["--python", sys.executable, "-q", "tests/test_x.py"])
    assert rest == ["-q", "tests/test_x.py"]
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert env.dir == ROOT / f".venv-{version}"
    # Without --python: see test_a_python_of_one_of_our_environments_runs_in_that_environment.


def test_an_unknown_python_fails_with_a_hint() -> None:
    with pytest.raises(SystemExit, match=r"no Python 3\.99 found"):
        dev.find_python("3.99")
    with pytest.raises(SystemExit, match="takes a version"):
        dev.find_python("three")


def test_ctrl_c_ends_quietly_with_status_130() -> None:
    # dev.py's own entry point and run(), with a stand-in command whose child sleeps.
    code = (
        "import sys, runpy\n"
        f"ns = runpy.run_path({str(ROOT / '.ci' / 'dev.py')!r}, run_name='qtws_dev')\n"
        "def nap(env, args):\n"
        "    print('ready', flush=True)\n"
        "    return ns['run']([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "ns['COMMANDS']['nap'] = nap\n"
        "sys.exit(ns['entry'](['nap']))\n"
    )
    # A new process group, as a terminal's foreground job; SIGINT not inherited as ignored.
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        _, err = proc.communicate(timeout=60)  # a hang guard, not a time limit
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_a_python_of_one_of_our_environments_runs_in_that_environment() -> None:
    # tests/test_gui_xvfb.py runs dev.py with the suite's python (.venv or .venv-3.13):
    # dev.py must use that environment, not install into another one.
    env, rest = dev.select_env(["--headless"])
    assert rest == ["--headless"]
    if sys.prefix != sys.base_prefix and Path(sys.prefix).parent == ROOT:
        assert env.dir == Path(sys.prefix)
    else:
        assert env.dir == ROOT / ".venv"


def test_qt_option_picks_one_binding_like_qt_api(monkeypatch: pytest.MonkeyPatch) -> None:
    script = _load()  # its own module: the option sets its globals
    monkeypatch.setenv("QT_API", "")
    assert script.select_qt(["-q", "--qt", "PySide6", "tests/x.py"]) == ["-q", "tests/x.py"]
    assert (script.QT_API, script.QT_PACKAGE, os.environ["QT_API"]) == (
        "pyside6", "PySide6", "pyside6"
    )  # fmt: skip
    assert script.select_qt(["--qt=pyqt6"]) == [] and script.QT_API == "pyqt6"
    with pytest.raises(SystemExit, match="--qt takes pyqt6 or pyside6"):
        script.select_qt(["--qt", "tk"])
