"""Masking (RFC 6455 5.3): numpy and pure-Python paths agree with the definition."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtws.core import mask as mask_module
from qtws.core.mask import NUMPY_THRESHOLD, apply_mask


def _reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@given(st.binary(max_size=64), st.binary(min_size=4, max_size=4))
def test_pure_python_matches_definition(data: bytes, key: bytes) -> None:
    assert apply_mask(data, key, use_numpy=False) == _reference(data, key)


@given(st.binary(max_size=64), st.binary(min_size=4, max_size=4))
def test_numpy_matches_definition(data: bytes, key: bytes) -> None:
    assert apply_mask(data, key, use_numpy=True) == _reference(data, key)


@pytest.mark.parametrize("size", [NUMPY_THRESHOLD - 1, NUMPY_THRESHOLD, 4096 + 3, 2**20])
def test_large_payloads_both_paths(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    key = b"\x37\xfa\x21\x3d"
    auto = apply_mask(data, key)
    assert auto == apply_mask(data, key, use_numpy=False) == apply_mask(data, key, use_numpy=True)
    assert apply_mask(auto, key) == data
    assert auto[:8] == _reference(data[:8], key) and auto[-5:] == _reference(data, key)[-5:]


def test_accepts_bytearray_and_memoryviews() -> None:
    key = b"\x01\x02\x03\x04"
    data = bytes(range(40))
    expected = _reference(data, key)
    assert apply_mask(bytearray(data), key) == expected
    assert apply_mask(memoryview(data), key) == expected
    words = memoryview(bytearray(data)).cast("I")  # multi-byte items are masked as raw bytes
    assert apply_mask(words, key, use_numpy=True) == expected
    strided = memoryview(bytes(range(80)))[::2]  # not contiguous: copied first
    assert apply_mask(strided, key) == _reference(bytes(range(0, 80, 2)), key)


def test_rfc_6455_section_5_7_masked_hello() -> None:
    assert apply_mask(b"Hello", b"\x37\xfa\x21\x3d") == b"\x7f\x9f\x4d\x51\x58"


def test_bad_mask_length() -> None:
    with pytest.raises(ValueError):
        apply_mask(b"abc", b"\x00\x01")


def test_falls_back_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mask_module, "_np", None)
    monkeypatch.setitem(sys.modules, "numpy", None)  # makes "import numpy" raise ImportError
    data = bytes(range(256)) * 16
    key = b"\xaa\xbb\xcc\xdd"
    assert apply_mask(data, key) == _reference(data, key)
    assert mask_module._np is False
    assert apply_mask(data, key, use_numpy=True) == _reference(data, key)


def test_numpy_loaded_lazily() -> None:
    code = (
        "import sys\n"
        "import qtws.core\n"
        "from qtws.core.mask import apply_mask\n"
        "apply_mask(b'x' * 10, b'abcd')\n"
        "assert 'numpy' not in sys.modules\n"
        "apply_mask(b'x' * 4096, b'abcd')\n"
        "assert 'numpy' in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
