"""Sans-IO codec benchmarks: the same bytes through qtws.core, websockets' sans-IO
``ClientProtocol`` and ``wsproto`` -- no sockets, no event loop.

A received 32-byte message costs one ``receive_data`` + ``events_received`` share; the input
is a stream of server frames fed in 64 KiB pieces, as a socket read would deliver them (pieces
end in the middle of frames).  Parsing one large buffer of 1k/10k/100k frames shows whether the
cost per frame stays flat (linear parsing).  Masking measures a 1 MiB ``send_binary``.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence

from websockets.client import ClientProtocol
from websockets.protocol import State as WsState
from websockets.uri import parse_uri as ws_parse_uri
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, Message

from qtws.core import ClientConnection, HandshakeComplete, State
from qtws.core.handshake import accept_value
from qtws.core.mask import apply_mask as qtws_apply_mask

from .report import Row

URL = "ws://127.0.0.1/"
CHUNK = 64 * 1024
MASK = b"\x12\x34\x56\x78"

#: A parser under test: takes the received pieces, returns how many messages came out.
Parser = Callable[[Sequence[bytes]], int]


def open_qtws() -> ClientConnection:
    """A qtws ClientConnection in state OPEN, fed a valid 101 response (no compression)."""
    conn = ClientConnection(URL, compression=False, max_message_size=None)
    conn.data_to_send()
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_value(conn.key)}\r\n\r\n"
    ).encode()
    conn.receive_data(response)
    events = conn.events_received()
    if conn.state is not State.OPEN or not isinstance(events[0], HandshakeComplete):
        raise RuntimeError(f"qtws did not open: {events}")
    return conn


def open_websockets() -> ClientProtocol:
    return ClientProtocol(ws_parse_uri(URL), state=WsState.OPEN, max_size=None)


def open_wsproto() -> WsprotoConnection:
    # wsproto's low-level Connection starts OPEN (the handshake lives in WSConnection).
    return WsprotoConnection(ConnectionType.CLIENT)


def parse_qtws(pieces: Sequence[bytes]) -> int:
    conn = open_qtws()
    n = 0
    for piece in pieces:
        conn.receive_data(piece)
        n += len(conn.events_received())
    return n


def parse_websockets(pieces: Sequence[bytes]) -> int:
    proto = open_websockets()
    n = 0
    for piece in pieces:
        proto.receive_data(piece)
        n += len(proto.events_received())
    return n


def parse_wsproto(pieces: Sequence[bytes]) -> int:
    conn = open_wsproto()
    n = 0
    for piece in pieces:
        conn.receive_data(piece)
        # A frame cut by the end of a piece comes out as two message pieces: count messages.
        n += sum(1 for e in conn.events() if isinstance(e, Message) and e.message_finished)
    return n


PARSERS: dict[str, Parser] = {
    "qtws": parse_qtws,
    "websockets": parse_websockets,
    "wsproto": parse_wsproto,
}


def server_frames(count: int, size: int, text: bool) -> bytes:
    """``count`` unmasked, unfragmented server frames of ``size`` (< 126) payload bytes."""
    if text:
        payload = (b"0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]
    else:
        payload = os.urandom(size)
    return (bytes((0x81 if text else 0x82, size)) + payload) * count


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls (after one untimed warm-up), in seconds.

    The cyclic garbage collector is off while timing, as in :mod:`timeit`: its passes over
    the many short-lived event objects would blur the cost of parsing itself."""
    fn()
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    finally:
        if enabled:
            gc.enable()
    return best


def _timed_parse(parser: Parser, pieces: Sequence[bytes], expected: int, repeats: int) -> float:
    def run() -> None:
        got = parser(pieces)
        if got != expected:
            raise RuntimeError(f"{parser.__name__}: {got} events, expected {expected}")

    return best_time(run, repeats)


def bench_frames(quick: bool, log: Callable[[str], None]) -> list[Row]:
    count = 2_000 if quick else 20_000
    repeats = 2 if quick else 5
    rows = []
    for text in (True, False):
        kind = "text" if text else "binary"
        log(f"codec: {count} x 32-byte {kind} frames")
        pieces = split(server_frames(count, 32, text), CHUNK)
        values: dict[str, float | None] = {}
        for name, parser in PARSERS.items():
            values[name] = count / _timed_parse(parser, pieces, count, repeats)
        rows.append(
            Row(
                "Sans-IO codec (no sockets)",
                f"receive 32-byte {kind} messages (64 KiB reads)",
                "msg/s",
                True,
                values,
                [("qtws", "websockets"), ("qtws", "wsproto")],
            )
        )
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    for count in sizes:
        log(f"codec: one buffer of {count} frames")
        data = [server_frames(count, 32, False)]
        values = {}
        for name, parser in PARSERS.items():
            seconds = _timed_parse(parser, data, count, 2 if count >= 100_000 else repeats)
            values[name] = seconds / count * 1e9
        rows.append(
            Row(
                "Sans-IO codec (no sockets)",
                f"parse one buffer of {count // 1000}k frames",
                "ns/frame",
                False,
                values,
                [("qtws", "websockets"), ("qtws", "wsproto")],
            )
        )
    return rows


def bench_masking(quick: bool, log: Callable[[str], None]) -> list[Row]:
    size = 2**20
    repeats = 5 if quick else 30
    data = os.urandom(size)
    gbs = size / 1e9
    log("codec: masking 1 MiB")

    qtws_conn = open_qtws()
    ws_proto = open_websockets()
    wsp = open_wsproto()

    def qtws_send() -> None:
        qtws_conn.send_binary(data)
        qtws_conn.data_to_send()

    def websockets_send() -> None:
        ws_proto.send_binary(data)
        ws_proto.data_to_send()

    def wsproto_send() -> None:
        wsp.send(BytesMessage(data))

    from websockets.speedups import apply_mask as ws_c_mask
    from websockets.utils import apply_mask as ws_py_mask

    group = "Masking a 1 MiB client frame"
    return [
        Row(
            group,
            "send_binary(1 MiB) + data_to_send()",
            "GB/s",
            True,
            {
                "qtws": gbs / best_time(qtws_send, repeats),
                "websockets": gbs / best_time(websockets_send, repeats),
                "wsproto": gbs / best_time(wsproto_send, repeats),
            },
            [("qtws", "websockets"), ("qtws", "wsproto")],
        ),
        Row(
            group,
            "apply_mask: qtws numpy vs websockets C speedups",
            "GB/s",
            True,
            {
                "qtws": gbs / best_time(lambda: qtws_apply_mask(data, MASK), repeats),
                "websockets": gbs / best_time(lambda: ws_c_mask(data, MASK), repeats),
            },
            [("qtws", "websockets")],
        ),
        Row(
            group,
            "apply_mask: pure-Python fallbacks",
            "GB/s",
            True,
            {
                "qtws": gbs
                / best_time(lambda: qtws_apply_mask(data, MASK, use_numpy=False), repeats),
                "websockets": gbs / best_time(lambda: ws_py_mask(data, MASK), repeats),
            },
            [("qtws", "websockets")],
        ),
    ]


NOTES = {
    "Sans-IO codec (no sockets)": [
        "Same bytes for every library.  qtws delivers validated `str`/`bytes` messages; "
        "websockets' sans-IO layer delivers raw frames (UTF-8 decoding and reassembly are left "
        "to its I/O layer), wsproto delivers decoded message pieces.  Best of several runs, "
        "garbage collector off while timing (as `timeit` does).  A flat ns/frame from 1k to "
        "100k frames means parsing is linear in the input.",
    ],
    "Masking a 1 MiB client frame": [
        "qtws masks payloads of 1 KiB and more with a numpy `uint32` XOR; its pure-Python "
        "fallback (used without numpy) XORs two big integers.",
    ],
}


def run(quick: bool, log: Callable[[str], None]) -> list[Row]:
    return bench_frames(quick, log) + bench_masking(quick, log)
