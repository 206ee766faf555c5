"""Which build of the core's hot modules is imported: mypyc-compiled or the ``.py`` source.

``setup.py`` compiles :data:`MODULES` with mypyc when it can; the extension modules sit next to
their ``.py`` files, with :data:`RECORD` (the SHA-256 of each source they were compiled from)
and the group's shared library ``qtws/_core__mypyc*``.  Python's import system prefers an
extension module over a ``.py`` file in the same folder; :func:`select` (run by
``qtws/core/__init__.py`` before the core is imported) puts a finder in front of it that loads
the sources instead when ``QTWS_PURE`` is set, when the build is incomplete, or when a source
changed since it was compiled (an in-place build left behind by an edit).  It is all or
nothing: compiled modules call each other's classes directly, so one interpreted module among
compiled ones would make two different ``TextMessage`` classes.

This module itself is never compiled: it decides before any compiled code is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType

__all__ = ["MODULES", "RECORD", "choose", "compiled", "select"]

#: The modules of qtws.core that setup.py compiles (their imports are compiled alike).
MODULES = ("events", "frames", "mask", "utf8", "protocol")
#: Written by setup.py beside the extension modules: ``<module> <sha256 of its .py>`` lines.
RECORD = "_compiled.sha256"
#: The shared library of mypyc's group (setup.py's ``group_name="qtws._core"``), in qtws/.
SHARED = "_core__mypyc"


def _extension(directory: str, name: str) -> str | None:
    """The path of ``name``'s extension module in ``directory``, if one is there."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(directory, name + suffix)
        if os.path.exists(path):
            return path
    return None


def _digest(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def read_record(directory: str) -> dict[str, str]:
    """The source digests the compiled modules were built from (empty when there is none)."""
    try:
        with open(os.path.join(directory, RECORD), encoding="ascii") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    return dict(line.split(" ", 1) for line in lines if " " in line)


def choose(directory: str, environ: Mapping[str, str]) -> tuple[bool, str]:
    """Whether the compiled modules in ``directory`` (qtws/core) can be used, and if not, why.

    ``(True, "")``: they are all there and current.  ``(False, reason)`` otherwise; the reason
    is empty when nothing was compiled at all (the plain pure-Python install).
    """
    found = [_extension(directory, name) for name in MODULES]
    if not any(found):
        return False, ""
    if environ.get("QTWS_PURE", "") not in ("", "0"):
        return False, "QTWS_PURE is set"
    shared = _extension(os.path.dirname(directory), SHARED)
    if not all(found) or shared is None:
        return False, "the compiled build is incomplete"
    record = read_record(directory)
    for name in MODULES:
        if record.get(name) != _digest(os.path.join(directory, name + ".py")):
            return False, f"{name}.py changed since it was compiled"
    return True, ""


class SourceFinder:
    """A meta-path finder that loads :data:`MODULES` of ``package`` from their ``.py`` files."""

    def __init__(self, package: str, directory: str) -> None:
        self.package = package
        self.directory = directory

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != self.package or name not in MODULES:
            return None
        return importlib.util.spec_from_file_location(
            fullname, os.path.join(self.directory, name + ".py")
        )


def select(package: str, directory: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Make the imports of ``package``'s :data:`MODULES` load the build :func:`choose` picks;
    True for the compiled one.  A build that is there but not used is said once, as a
    warning, unless ``QTWS_PURE`` asked for that."""
    use, reason = choose(directory, environ)
    if not use and reason:
        sys.meta_path.insert(0, SourceFinder(package, directory))
        if not reason.startswith("QTWS_PURE"):
            warnings.warn(
                f"qtws: using the interpreted qtws.core ({reason}); rebuild with "
                "`python3 .ci/dev.py build` or reinstall qtws",
                RuntimeWarning,
                stacklevel=2,
            )
    return use


def compiled(package: str, modules: Mapping[str, object] = sys.modules) -> tuple[str, ...]:
    """The names of ``package``'s :data:`MODULES` that were loaded from extension modules."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    names = []
    for name in MODULES:
        origin = getattr(modules.get(f"{package}.{name}"), "__file__", None) or ""
        if origin.endswith(suffixes):
            names.append(name)
    return tuple(names)
