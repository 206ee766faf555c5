"""The chat protocol's encoders and tolerant decoders."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from demo_app import protocol as p


def test_client_messages_are_the_documented_json() -> None:
    assert json.loads(p.encode_join("alice")) == {"type": "join", "nick": "alice"}
    assert json.loads(p.encode_say("héllo")) == {"type": "message", "text": "héllo"}


def test_server_messages_round_trip() -> None:
    assert p.parse_server_message(p.encode_presence(["a", "b"])) == p.Presence(("a", "b"))
    assert p.parse_server_message(p.encode_joined("bob")) == p.Joined("bob")
    assert p.parse_server_message(p.encode_left("bob")) == p.Left("bob")
    chat = p.parse_server_message(p.encode_chat("bob", "hi", "2024-05-01T12:00:00+00:00"))
    assert chat == p.Chat("bob", "hi", datetime(2024, 5, 1, 12, tzinfo=UTC))


def test_epoch_and_missing_times_are_accepted() -> None:
    epoch = p.parse_server_message('{"type":"message","nick":"x","text":"t","time":0}')
    assert isinstance(epoch, p.Chat)
    assert epoch.time == datetime(1970, 1, 1, tzinfo=UTC)
    none = p.parse_server_message('{"type":"message","nick":"x","text":"t","time":"soon"}')
    assert isinstance(none, p.Chat)
    assert none.time is None


def test_echo_server_replies_are_recognised() -> None:
    assert p.parse_server_message(p.encode_join("al")) == p.EchoedJoin("al")
    assert p.parse_server_message(p.encode_say("yo")) == p.EchoedMessage("yo")
    assert p.parse_server_message("plain words") == p.PlainText("plain words")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"type": "message", "nick": ', "bad JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"type": "presence", "nicks": "alice"}', "presence without"),
        ('{"type": "joined"}', "joined without a nick"),
        ('{"type": "message", "nick": "a"}', "message without text"),
        ('{"type": "message", "nick": 3, "text": "x"}', "bad nick"),
        ('{"type": "dance"}', "unknown message type 'dance'"),
    ],
)
def test_bad_server_messages_become_invalid_never_raise(raw: str, problem: str) -> None:
    event = p.parse_server_message(raw)
    assert isinstance(event, p.Invalid)
    assert problem in event.problem


def test_client_side_decoding_and_nick_cleaning() -> None:
    assert p.parse_client_message(p.encode_join("  bob\x07 ")) == p.ClientJoin("bob")
    assert p.parse_client_message(p.encode_say("x" * 5000)) == p.ClientSay("x" * p.MAX_TEXT)
    for raw in ('{"type":"join","nick":"  "}', '{"type":"message","text":""}', "nope", "1"):
        assert isinstance(p.parse_client_message(raw), p.Invalid)
    assert p.clean_nick("n" * 100) == "n" * p.MAX_NICK


def test_file_messages_round_trip_and_bad_ones_are_invalid() -> None:
    assert p.parse_server_message(p.encode_file(3, "a.png", 10, "bob")) == p.FileOffer(
        3, "bob", "a.png", 10
    )
    assert p.parse_server_message(p.encode_file_end(3)) == p.FileEnd(3)
    assert p.parse_server_message(p.encode_file_cancel(3, "why")) == p.FileCancel(3, "why")
    assert p.parse_server_message(p.encode_file_refused(3, "no")) == p.FileRefused(3, "no")
    assert p.parse_client_message(p.encode_file(4, "C:\\x\\b.txt", 2)) == p.ClientFile(
        4, "b.txt", 2
    )
    assert p.parse_client_message(p.encode_file_end(4)) == p.ClientFileDone(4, cancelled=False)
    assert p.parse_client_message(p.encode_file_cancel(4)) == p.ClientFileDone(4, cancelled=True)
    assert p.decode_chunk(b"\x00\x00") is None
    chunk = p.decode_chunk(p.encode_chunk(2**32 - 1, b"data"))
    assert chunk is not None and (chunk[0], bytes(chunk[1])) == (2**32 - 1, b"data")
    assert p.clean_file_name("dir/\x00") == "file"
    for raw, problem in [
        ('{"type":"file","id":-1}', "without a valid id"),
        ('{"type":"file_end","id":true}', "without a valid id"),
        ('{"type":"file","id":1,"size":3}', "without a name and size"),
        ('{"type":"file","id":1,"name":"a","size":99999999999}', "the limit is"),
        ('{"type":"file","id":1,"name":"a","size":3}', "without a nick"),
    ]:
        event = p.parse_server_message(raw)
        assert isinstance(event, p.Invalid) and problem in event.problem, raw
    for raw in ('{"type":"file","id":2**32}', '{"type":"file","id":1,"name":"a"}'):
        assert isinstance(p.parse_client_message(raw), p.Invalid)
    assert isinstance(p.parse_client_message('{"type":"file_end","id":"x"}'), p.Invalid)
