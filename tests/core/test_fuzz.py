"""Fuzzing: random and mutated server bytes only ever produce documented outcomes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtws.core import (
    BinaryMessage,
    ClientConnection,
    CloseReceived,
    ConnectionFailed,
    Ping,
    Pong,
    State,
    TextMessage,
)
from qtws.core.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    is_receivable_close_code,
)
from qtws.errors import ConnectionClosed, ProtocolError

from .conftest import Peer, ServerDeflate

# A valid stream with every kind of frame, compressed and not, that mutations start from.
_D = ServerDeflate()
SEED_FRAMES = [
    Peer.frame(OP_TEXT, "héllo".encode()),
    Peer.frame(OP_BINARY, bytes(range(200))),
    Peer.frame(OP_TEXT, b"frag", fin=False) + Peer.frame(OP_PING, b"p") + Peer.frame(OP_CONT, b"!"),
    Peer.frame(OP_TEXT, _D.compress(b"compressed " * 10), rsv=4),
    Peer.frame(OP_BINARY, _D.compress(bytes(3000)), rsv=4),
    Peer.frame(OP_BINARY, bytes(70000)),
    Peer.frame(OP_CLOSE, b"\x03\xe8bye"),
]

DATA_EVENTS = (TextMessage, BinaryMessage, Ping, Pong)


def _check(client: ClientConnection, chunks: list[bytes]) -> None:
    events: list[Any] = []
    for chunk in chunks:
        client.receive_data(chunk)  # must never raise
        events += client.events_received()
        client.data_to_send()
    client.receive_eof()
    events += client.events_received()
    ends = [e for e in events if isinstance(e, ConnectionFailed | CloseReceived)]
    # Exactly one ending, and it is the last event.
    assert len(ends) == 1 and events[-1] is ends[0], events
    assert all(isinstance(e, DATA_EVENTS) for e in events[:-1]), events
    end = ends[0]
    if isinstance(end, CloseReceived):
        assert end.code == 1005 or is_receivable_close_code(end.code)
        assert client.was_clean
    elif isinstance(end.exc, ProtocolError):
        assert end.code == end.exc.code and end.code in (1002, 1007, 1009)
    else:
        assert isinstance(end.exc, ConnectionClosed) and end.code == 1006
    assert client.state is State.CLOSED and client.should_close_transport()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted(c % (len(data) + 1) for c in cuts)
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=10),
    compress=st.booleans(),
)
def test_random_bytes(peer: Peer, data: bytes, cuts: list[int], compress: bool) -> None:
    client = peer.open(deflate="permessage-deflate" if compress else None, max_message_size=5000)
    _check(client, _split(data, cuts))


@FUZZ
@given(
    picks=st.lists(st.integers(0, len(SEED_FRAMES) - 1), min_size=1, max_size=6),
    flips=st.lists(st.tuples(st.integers(0, 2**20), st.integers(1, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 2**20)),
    cuts=st.lists(st.integers(0, 2**20), max_size=8),
    compress=st.booleans(),
    limit=st.sampled_from([None, 100, 4000, 2**20]),
)
def test_mutated_streams(
    peer: Peer,
    picks: list[int],
    flips: list[tuple[int, int]],
    cut: int | None,
    cuts: list[int],
    compress: bool,
    limit: int | None,
) -> None:
    stream = bytearray(b"".join(SEED_FRAMES[i] for i in picks))
    for where, xor in flips:
        # Bias mutations towards headers, where the interesting bits live.
        index = where % min(len(stream), 64) if where & 1 else where % len(stream)
        stream[index] ^= xor
    if cut is not None:
        del stream[cut % len(stream) :]
    client = peer.open(
        deflate="permessage-deflate" if compress else None,
        max_message_size=limit,
        max_frame_size=limit,
    )
    _check(client, _split(bytes(stream), cuts))
