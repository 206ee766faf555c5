"""Client frame masking (RFC 6455 section 5.3).

Small payloads are XORed as one big Python integer; large ones with a vectorised numpy
``uint32`` XOR (several GB/s).  numpy is imported the first time a large payload needs it, so
``import qtws`` stays cheap; without numpy the pure-Python path is used for every size.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["NUMPY_THRESHOLD", "apply_mask"]

#: Payloads of at least this many bytes are masked with numpy (below it the big-int XOR wins).
NUMPY_THRESHOLD = 2048  # measured break-even is 1.5-2 KiB

_np: Any = None  # the numpy module once loaded; False when it cannot be imported


def _load_numpy() -> Any:
    global _np
    if _np is None:
        try:
            # Through importlib, not an import statement: mypyc's compiled import caches the
            # module, so a test that hides numpy (sys.modules["numpy"] = None) would not.
            _np = importlib.import_module("numpy")
        except ImportError:
            _np = False
    return _np


def _mask_python(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    # RFC 6455 5.3: octet i is XORed with mask octet i mod 4 -- one XOR of two big integers.
    key = mask * (n >> 2) + mask[: n & 3]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def _mask_numpy(np: Any, data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    n = len(data)
    n4 = n & ~3
    out = np.empty(n, dtype=np.uint8)
    src = np.frombuffer(data, dtype=np.uint8)
    # The mask repeats every 4 bytes, so one uint32 XOR covers 4 octets in any byte order.
    np.bitwise_xor(
        src[:n4].view(np.uint32),
        np.frombuffer(mask, dtype=np.uint32)[0],
        out=out[:n4].view(np.uint32),
    )
    if n4 != n:
        np.bitwise_xor(src[n4:], np.frombuffer(mask[: n - n4], dtype=np.uint8), out=out[n4:])
    result: bytes = out.tobytes()
    return result


def apply_mask(
    data: bytes | bytearray | memoryview, mask: bytes, *, use_numpy: bool | None = None
) -> bytes:
    """Return ``data`` XORed with the 4-byte ``mask`` (masking and unmasking are the same).

    ``use_numpy``: ``None`` picks numpy for payloads of :data:`NUMPY_THRESHOLD` bytes or more
    (when numpy is installed), ``False`` forces the pure-Python path, ``True`` forces numpy.
    """
    if len(mask) != 4:
        raise ValueError("the mask must be 4 bytes")
    if isinstance(data, memoryview) and (data.itemsize != 1 or not data.c_contiguous):
        data = data.cast("B") if data.c_contiguous else data.tobytes()
    if use_numpy is None:
        use_numpy = len(data) >= NUMPY_THRESHOLD
    if use_numpy:
        np = _load_numpy()
        if np:
            return _mask_numpy(np, data, mask)
    return _mask_python(data, mask)
