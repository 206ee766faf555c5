"""Sphinx configuration of the qtws API reference: ``python3 .ci/dev.py docs``.

Sphinx rather than MkDocs: qtws's docstrings are reStructuredText with Sphinx roles
(``:class:``, ``:mod:``, ``:func:``), and autodoc documents the objects Python really builds
(signals created by the Qt binding, dataclass fields with their real defaults), so the
reference says what ``help()`` says.  Built with ``-W`` (warnings are errors) and no network
(no intersphinx).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

import qtws  # noqa: E402

project = "qtws"
author = "the qtws developers"
copyright = "2026, the qtws developers"
release = version = qtws.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "qtws_signals"]
templates_path: list[str] = []
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"qtws {release}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"  # types in the parameter lists, signatures stay readable
autodoc_default_options = {"show-inheritance": True}
add_module_names = False
nitpicky = False  # Qt and stdlib types are not in this site; no network for intersphinx
