"""Sphinx directive documenting a class's Qt signals: ``.. qtws-signals:: qtws.WebSocket``.

autodoc sees a signal as a ``pyqtSignal``/``Signal`` object whose docstring is the binding's
own, so the signals are taken from the source instead: every ``name = Signal(...)`` of the
class, described by the class docstring's ``Signals`` block (``name(args)  description``
lines, as ``help()`` shows them) or else by a ``#:`` comment above the assignment.  A signal
with neither is a warning, hence an error in the ``-W`` build: the reference never silently
misses one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

_log = logging.getLogger(__name__)
_ENTRY = re.compile(r"^(\w+)\(([^)]*)\)\s{2,}(\S.*)$")


def _import(path: str) -> type:
    module, _, name = path.rpartition(".")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[return-value]


def signals_in_source(cls: type) -> dict[str, str]:
    """``{name: "arg types"}`` of each ``name = Signal(...)`` in the class body, in order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    found = {}
    for node in body.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id in ("Signal", "pyqtSignal")
        ):
            found[node.targets[0].id] = ", ".join(ast.unparse(a) for a in node.value.args)
    return found


def docstring_entries(cls: type) -> dict[str, tuple[str, str]]:
    """``{name: (args, description)}`` from the class docstring's ``Signals ...::`` block."""
    lines = (inspect.getdoc(cls) or "").splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Signals")), None)
    if start is None:
        return {}
    entries: dict[str, tuple[str, str]] = {}
    last = None
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break  # the literal block ended
        text = line.strip()
        match = _ENTRY.match(text)
        if match and line.startswith("    ") and not line.startswith("     "):
            last = match.group(1)
            entries[last] = (match.group(2), match.group(3))
        elif text and last is not None:
            args, desc = entries[last]
            entries[last] = (args, f"{desc} {text}")
    return entries


class SignalsDirective(SphinxDirective):
    """``.. qtws-signals:: dotted.Class``: one ``py:attribute`` entry per signal."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        cls = _import(path)
        described = docstring_entries(cls)
        comments = ModuleAnalyzer.for_module(cls.__module__).find_attr_docs()
        rst = StringList()
        source = self.get_source_info()[0]
        for name, source_args in signals_in_source(cls).items():
            args, desc = described.get(name, (source_args, ""))
            if not desc:
                desc = " ".join(comments.get((cls.__qualname__, name), [])).strip()
            if not desc:
                _log.warning(
                    "signal %s.%s has no description: add it to the class docstring's "
                    "Signals block or as a #: comment above it",
                    path,
                    name,
                    location=self.get_location(),
                )
            module, _, qualname = path.rpartition(".")
            rst.append(f".. py:attribute:: {qualname}.{name}", source)
            rst.append(f"   :module: {module}", source)
            rst.append(f"   :type: Signal({args})", source)
            rst.append("", source)
            rst.append(f"   {desc}", source)
            rst.append("", source)
        for name in set(described) - set(signals_in_source(cls)):
            _log.warning(
                "%s's docstring describes a signal %r it does not have",
                path,
                name,
                location=self.get_location(),
            )
        container = nodes.section()
        self.state.nested_parse(rst, self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("qtws-signals", SignalsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
