"""Every public name exists and is documented."""

from __future__ import annotations

import inspect

import pytest

import qtws


@pytest.mark.parametrize("name", qtws.__all__)
def test_public_name_exists_and_has_docstring(name: str) -> None:
    obj = getattr(qtws, name)
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"qtws.{name} has no docstring"


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError):
        qtws.does_not_exist  # noqa: B018


def test_version() -> None:
    assert qtws.__version__.count(".") == 2


def test_compiled_names_the_compiled_core_modules_in_use() -> None:
    from qtws.core import _native

    assert "COMPILED" in qtws.__all__
    assert isinstance(qtws.COMPILED, tuple)
    assert qtws.COMPILED in ((), _native.MODULES)  # all or nothing (see qtws/core/_native.py)
    assert _native.compiled("qtws.core") == qtws.COMPILED
