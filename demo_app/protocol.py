"""The demo's chat protocol: small JSON objects, one per WebSocket text message.

Client to server::

    {"type": "join", "nick": "alice"}         # first message; again after every reconnect
    {"type": "message", "text": "hello"}      # say something to everyone
    {"type": "file", "id": 7, "name": "cat.png", "size": 3145728}   # a file follows ...
    <binary: 4-byte big-endian id, then up to 64 KiB of the file>   # ... in chunks ...
    {"type": "file_end", "id": 7}             # ... complete (or "file_cancel": abandoned)

Server to clients::

    {"type": "presence", "nicks": ["alice", "bob"]}       # who is here, sent after each change
    {"type": "joined", "nick": "bob"}                       # someone arrived
    {"type": "left", "nick": "bob"}                         # someone went away
    {"type": "message", "nick": "alice", "text": "hello",   # a chat line, to everyone
     "time": "2024-05-01T12:00:00+00:00", "id": "9f2c1a:7"} #   (sender too)
    {"type": "file", "id": 3, "nick": "alice", "name": "cat.png", "size": 3145728}
    <binary: 4-byte id, chunk>   {"type": "file_end", "id": 3}   # relayed to the others
    {"type": "file_cancel", "id": 3, "reason": "alice cancelled"}
    {"type": "file_refused", "id": 7, "reason": "over 20 MiB"}   # to the sender only

Rules:

- ``time`` is ISO 8601 (UTC) from the server; clients also accept seconds since the epoch.
- ``id`` (optional) is unique per server. Right after a ``join`` the server sends that
  client the last 50 messages again, so a client that was away (a reconnect, a late
  joiner) catches up; a client skips the ids it has already shown.
- A ``message`` sent before ``join`` is held by the server and delivered once the
  connection joins (a reconnecting client may flush its outbox before its join).
- Unknown ``type`` values are ignored by the server; a client shows them as an error line.
- The client also talks to a plain echo server (``--url``): its own ``join`` and
  ``message`` objects come back without a ``nick`` and are shown as echoes, and text
  that is not JSON at all is shown as is.
- Files: a client announces a file with its own ``id`` (0 to 2**32 - 1, one per file it is
  sending), sends the bytes as binary messages that start with that id (4 bytes, big
  endian; at most :data:`MAX_CHUNK` bytes of the file each), then ``file_end`` or
  ``file_cancel``.  Several files may be in flight at once; the chunks of each arrive in
  order.  The server relays them to every other joined client under an id of its own, with
  the sender's nick; a file over :data:`MAX_FILE` (20 MiB), more bytes than announced, a
  chunk of an unknown id or more than :data:`MAX_TRANSFERS` files in flight are refused
  (``file_refused`` to the sender, ``file_cancel`` to the others).  A sender that leaves
  cancels its files.  Files are not kept in the history.
- Text that looks like JSON but does not parse, or an object that breaks these rules,
  is reported as an error line; it never stops the app.

This module is pure standard library: both the server and the window use it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_NICK = 32
MAX_TEXT = 4000
MAX_FILE = 20 * 2**20  # bytes: the largest file the server relays
MAX_CHUNK = 64 * 2**10  # bytes of a file per binary message
MAX_TRANSFERS = 4  # files one client may have in flight at once
MAX_FILE_NAME = 255
_ID = struct.Struct(">I")


@dataclass(frozen=True)
class Presence:
    """Everyone connected and joined, in join order."""

    nicks: tuple[str, ...]


@dataclass(frozen=True)
class Joined:
    """Someone joined the chat."""

    nick: str


@dataclass(frozen=True)
class Left:
    """Someone left the chat."""

    nick: str


@dataclass(frozen=True)
class Chat:
    """A chat line; ``time`` is aware (UTC) or None when the server gave none."""

    nick: str
    text: str
    time: datetime | None
    id: str | None = None


@dataclass(frozen=True)
class EchoedJoin:
    """Our own ``join`` came back: the peer is an echo server, not a chat server."""

    nick: str


@dataclass(frozen=True)
class EchoedMessage:
    """Our own ``message`` came back without a sender (an echo server)."""

    text: str


@dataclass(frozen=True)
class PlainText:
    """A text message that is not JSON at all (for example from an echo server)."""

    text: str


@dataclass(frozen=True)
class Invalid:
    """A message that breaks the protocol; ``problem`` says how, ``raw`` is a short excerpt."""

    problem: str
    raw: str


@dataclass(frozen=True)
class FileOffer:
    """``nick`` starts sending the file ``name`` of ``size`` bytes as transfer ``id``."""

    id: int
    nick: str
    name: str
    size: int


@dataclass(frozen=True)
class FileEnd:
    """Transfer ``id`` is complete."""

    id: int


@dataclass(frozen=True)
class FileCancel:
    """Transfer ``id`` was abandoned (``reason`` says why)."""

    id: int
    reason: str


@dataclass(frozen=True)
class FileRefused:
    """The server refused our own transfer ``id``."""

    id: int
    reason: str


ServerEvent = (
    Presence | Joined | Left | Chat | EchoedJoin | EchoedMessage | PlainText | FileOffer
    | FileEnd | FileCancel | FileRefused | Invalid
)  # fmt: skip


def clean_nick(nick: str) -> str:
    """A printable, trimmed, bounded nickname (empty when nothing usable remains)."""
    printable = "".join(ch for ch in nick if ch.isprintable())
    return printable.strip()[:MAX_NICK]


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# -- client to server ---------------------------------------------------------------------


def encode_join(nick: str) -> str:
    """``{"type": "join", "nick": ...}``."""
    return _dump({"type": "join", "nick": nick})


def encode_say(text: str) -> str:
    """``{"type": "message", "text": ...}``."""
    return _dump({"type": "message", "text": text})


def encode_file(id: int, name: str, size: int, nick: str | None = None) -> str:
    """``{"type": "file", "id": ..., "name": ..., "size": ...}`` (the server adds ``nick``)."""
    obj: dict[str, Any] = {"type": "file", "id": id, "name": name, "size": size}
    if nick is not None:
        obj["nick"] = nick
    return _dump(obj)


def encode_file_end(id: int) -> str:
    """``{"type": "file_end", "id": ...}``."""
    return _dump({"type": "file_end", "id": id})


def encode_file_cancel(id: int, reason: str = "") -> str:
    """``{"type": "file_cancel", "id": ..., "reason": ...}``."""
    return _dump({"type": "file_cancel", "id": id, "reason": reason})


def encode_file_refused(id: int, reason: str) -> str:
    """``{"type": "file_refused", "id": ..., "reason": ...}`` (server to the sender)."""
    return _dump({"type": "file_refused", "id": id, "reason": reason})


def encode_chunk(id: int, data: bytes | memoryview) -> bytes:
    """A binary chunk message: the transfer id (4 bytes, big endian), then the bytes."""
    return _ID.pack(id) + bytes(data)


def decode_chunk(message: bytes) -> tuple[int, memoryview] | None:
    """``(id, bytes)`` of a chunk message; None when it is too short to hold an id."""
    if len(message) < _ID.size:
        return None
    return _ID.unpack_from(message)[0], memoryview(message)[_ID.size :]


def clean_file_name(name: str) -> str:
    """The last path component of ``name``, printable and bounded ("file" when empty)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if ch.isprintable()).strip()
    return printable[-MAX_FILE_NAME:] or "file"


def _file_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return value
    return None


# -- server to clients --------------------------------------------------------------------


def encode_presence(nicks: list[str]) -> str:
    """``{"type": "presence", "nicks": [...]}``."""
    return _dump({"type": "presence", "nicks": nicks})


def encode_joined(nick: str) -> str:
    """``{"type": "joined", "nick": ...}``."""
    return _dump({"type": "joined", "nick": nick})


def encode_left(nick: str) -> str:
    """``{"type": "left", "nick": ...}``."""
    return _dump({"type": "left", "nick": nick})


def encode_chat(nick: str, text: str, time: str | None = None, id: str | None = None) -> str:
    """``{"type": "message", "nick": ..., "text": ..., "time": ..., "id": ...}``."""
    obj: dict[str, Any] = {"type": "message", "nick": nick, "text": text, "time": time or now_iso()}
    if id is not None:
        obj["id"] = id
    return _dump(obj)


# -- decoding -----------------------------------------------------------------------------


def _excerpt(raw: str, limit: int = 80) -> str:
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse_server_message(raw: str) -> ServerEvent:
    """Decode one text message from the server; never raises."""
    stripped = raw.strip()
    if not stripped.startswith(("{", "[")):
        return PlainText(raw)
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as exc:
        return Invalid(f"bad JSON ({exc.msg} at column {exc.colno})", _excerpt(raw))
    if not isinstance(obj, dict):
        return Invalid("expected a JSON object", _excerpt(raw))
    kind = obj.get("type")
    nick = obj.get("nick")
    text = obj.get("text")
    if kind == "presence":
        nicks = obj.get("nicks")
        if isinstance(nicks, list) and all(isinstance(n, str) for n in nicks):
            return Presence(tuple(nicks))
        return Invalid("presence without a list of nicks", _excerpt(raw))
    if kind in ("joined", "left"):
        if isinstance(nick, str):
            return Joined(nick) if kind == "joined" else Left(nick)
        return Invalid(f"{kind} without a nick", _excerpt(raw))
    if kind == "message":
        if not isinstance(text, str):
            return Invalid("message without text", _excerpt(raw))
        if nick is None:
            return EchoedMessage(text)
        if isinstance(nick, str):
            msg_id = obj.get("id")
            msg_id = str(msg_id) if isinstance(msg_id, (str, int)) else None
            return Chat(nick, text, _parse_time(obj.get("time")), msg_id)
        return Invalid("message with a bad nick", _excerpt(raw))
    if kind == "join" and isinstance(nick, str):
        return EchoedJoin(nick)
    if kind in ("file", "file_end", "file_cancel", "file_refused"):
        return _parse_file_event(kind, obj, raw)
    return Invalid(f"unknown message type {kind!r}", _excerpt(raw))


def _parse_file_event(kind: str, obj: dict[str, Any], raw: str) -> ServerEvent:
    file_id = _file_id(obj.get("id"))
    if file_id is None:
        return Invalid(f"{kind} without a valid id", _excerpt(raw))
    if kind == "file_end":
        return FileEnd(file_id)
    reason = obj.get("reason")
    reason = reason if isinstance(reason, str) else ""
    if kind == "file_cancel":
        return FileCancel(file_id, reason)
    if kind == "file_refused":
        return FileRefused(file_id, reason)
    name, size, nick = obj.get("name"), obj.get("size"), obj.get("nick")
    if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool):
        return Invalid("file without a name and size", _excerpt(raw))
    if not 0 <= size <= MAX_FILE:
        return Invalid(f"file of {size} bytes (the limit is {MAX_FILE})", _excerpt(raw))
    if not isinstance(nick, str):
        return Invalid("file without a nick", _excerpt(raw))
    return FileOffer(file_id, nick, clean_file_name(name), size)


@dataclass(frozen=True)
class ClientJoin:
    """A client asks to join under ``nick``."""

    nick: str


@dataclass(frozen=True)
class ClientSay:
    """A client says ``text``."""

    text: str


@dataclass(frozen=True)
class ClientFile:
    """A client announces file ``id``: ``name``, ``size`` bytes (checked by the server)."""

    id: int
    name: str
    size: int


@dataclass(frozen=True)
class ClientFileDone:
    """A client ends file ``id``: complete, or ``cancelled``."""

    id: int
    cancelled: bool


ClientEvent = ClientJoin | ClientSay | ClientFile | ClientFileDone | Invalid


def parse_client_message(raw: str) -> ClientEvent:
    """Decode one text message from a client (server side); never raises."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Invalid(f"bad JSON ({exc.msg})", _excerpt(raw))
    if not isinstance(obj, dict):
        return Invalid("expected a JSON object", _excerpt(raw))
    kind = obj.get("type")
    if kind == "join":
        nick = obj.get("nick")
        if isinstance(nick, str) and clean_nick(nick):
            return ClientJoin(clean_nick(nick))
        return Invalid("join needs a non-empty nick", _excerpt(raw))
    if kind == "message":
        text = obj.get("text")
        if isinstance(text, str) and text.strip():
            return ClientSay(text[:MAX_TEXT])
        return Invalid("message needs non-empty text", _excerpt(raw))
    if kind in ("file", "file_end", "file_cancel"):
        file_id = _file_id(obj.get("id"))
        if file_id is None:
            return Invalid(f"{kind} needs an id from 0 to 2**32 - 1", _excerpt(raw))
        if kind != "file":
            return ClientFileDone(file_id, cancelled=kind == "file_cancel")
        name, size = obj.get("name"), obj.get("size")
        if isinstance(name, str) and isinstance(size, int) and not isinstance(size, bool):
            return ClientFile(file_id, clean_file_name(name), size)
        return Invalid("file needs a name and a size", _excerpt(raw))
    return Invalid(f"unknown message type {kind!r}", _excerpt(raw))
