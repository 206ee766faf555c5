"""Build hook: compile the sans-IO core's hot modules with mypyc when possible.

pyproject.toml holds everything else; this file only adds the optional extension modules.
mypyc compiles the same type-annotated ``.py`` files that run interpreted (the way black and
mypy ship), so the source stays the one truth and the interpreted build stays complete.  The
modules are compiled when mypyc, a C compiler and Python's headers are there; otherwise, with
``QTWS_NO_COMPILE=1``, or when compiling fails, qtws installs as pure Python, and says so in
one line.  ``qtws.COMPILED`` tells at run time what was installed; ``QTWS_PURE=1`` makes an
installed compiled build import its ``.py`` files instead (qtws/core/_native.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CORE = HERE / "qtws" / "core"
# The same tuple as qtws/core/_native.py's MODULES (tests/core/test_compiled.py checks): the
# receive/send hot path and what it calls per frame; handshake, deflate and uri run once per
# connection or spend their time in h11/zlib, so compiling them would buy nothing.
MODULES = ("events", "frames", "mask", "utf8", "protocol")
RECORD = "_compiled.sha256"
# The group's shared library becomes qtws/_core__mypyc*.so: inside the package, so the wheel
# still installs one top-level name.
GROUP = "qtws._core"


def say(message: str) -> None:
    print(f"qtws build: {message}", file=sys.stderr, flush=True)


def why_not_compile() -> str | None:
    """None when the core can be compiled here, else the reason it is not."""
    if os.environ.get("QTWS_NO_COMPILE", "") not in ("", "0"):
        return "QTWS_NO_COMPILE is set"
    if sys.implementation.name != "cpython":
        return f"mypyc targets CPython, not {sys.implementation.name}"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler} not found)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "Python's C headers are missing (Debian: python3-dev)"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not installed (it comes with mypy)"
    return None


def extensions() -> list[Any]:
    """mypyc's extension modules for the core (C generated into build/), or [] to fall back."""
    from mypyc.build import mypycify

    paths = [f"qtws/core/{name}.py" for name in MODULES]
    cwd = os.getcwd()
    os.chdir(HERE)  # mypyc takes the paths and mypy's settings relative to the project
    try:
        return list(mypycify(paths, group_name=GROUP, opt_level="3"))
    except (Exception, SystemExit) as exc:  # mypy's type check exits on an error
        say(f"installing the pure-Python core: mypyc failed ({exc!r})")
        return []
    finally:
        os.chdir(cwd)


class BuildExt(build_ext):
    """build_ext that runs mypyc only when it really builds (pip's metadata steps never do),
    falls back to pure Python when the C compiler fails, and records the digest of each
    compiled source (the import-time check that a build is current)."""

    def finalize_options(self) -> None:
        if self.distribution.ext_modules == PLACEHOLDER:
            self.distribution.ext_modules = extensions()
        super().finalize_options()

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # CompileError, LinkError, a missing linker...
            say(f"installing the pure-Python core: compiling failed ({exc})")
            for ext in self.extensions:
                Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
            self.extensions = []
            return
        out = Path(self.get_ext_fullpath("qtws.core.protocol")).parent
        digests = [
            f"{name} {hashlib.sha256((CORE / f'{name}.py').read_bytes()).hexdigest()}\n"
            for name in MODULES
        ]
        (out / RECORD).write_text("".join(digests), encoding="ascii")
        say(f"compiled qtws.core with mypyc: {', '.join(MODULES)}")

    def get_outputs(self) -> list[str]:
        outputs: list[str] = super().get_outputs()
        if self.extensions:
            out = Path(self.get_ext_fullpath("qtws.core.protocol")).parent
            outputs.append(str(out / RECORD))
        return outputs


# A stand-in until build_ext runs: it makes the wheel platform-specific and build_ext run.
PLACEHOLDER = [Extension("qtws.core.protocol", sources=[])]
REASON = why_not_compile()
if REASON is not None:
    say(f"installing the pure-Python core: {REASON}")
setup(ext_modules=PLACEHOLDER if REASON is None else [], cmdclass={"build_ext": BuildExt})
