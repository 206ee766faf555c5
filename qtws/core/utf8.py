"""Incremental UTF-8 validation that fails at the first invalid byte (RFC 6455 8.1)."""

from __future__ import annotations

import codecs

__all__ = ["Utf8Decoder"]

_Incremental = codecs.getincrementaldecoder("utf-8")


class Utf8Decoder:
    """Decode a text message fragment by fragment; :meth:`decode` raises ``UnicodeDecodeError``
    as soon as the bytes seen so far cannot start valid UTF-8.

    CPython's incremental decoder already rejects every bad prefix except a pending
    ``ED A0..BF`` (the start of an encoded UTF-16 surrogate), which it only reports once the
    third byte arrives; that case is checked here so that failure is immediate.
    """

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = _Incremental()

    def decode(self, data: bytes, final: bool = False) -> str:
        text: str = self._decoder.decode(data, final)
        if not final:
            pending = self._decoder.getstate()[0]
            if len(pending) > 1 and pending[0] == 0xED and pending[1] > 0x9F:
                raise UnicodeDecodeError("utf-8", pending, 0, 2, "encoded surrogate")
        return text
