"""The demo's chat protocol: small JSON objects, one per WebSocket text message.

Client to server::

    {"type": "join", "nick": "alice"}         # first message; again after every reconnect
    {"type": "message", "text": "hello"}      # say something to everyone

Server to clients::

    {"type": "presence", "nicks": ["alice", "bob"]}       # who is here, sent after each change
    {"type": "joined", "nick": "bob"}                       # someone arrived
    {"type": "left", "nick": "bob"}                         # someone went away
    {"type": "message", "nick": "alice", "text": "hello",   # a chat line, to everyone
     "time": "2024-05-01T12:00:00+00:00", "id": "9f2c1a:7"} #   (sender too)

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
- Text that looks like JSON but does not parse, or an object that breaks these rules,
  is reported as an error line; it never stops the app.

This module is pure standard library: both the server and the window use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_NICK = 32
MAX_TEXT = 4000


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


ServerEvent = Presence | Joined | Left | Chat | EchoedJoin | EchoedMessage | PlainText | Invalid


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
    return Invalid(f"unknown message type {kind!r}", _excerpt(raw))


@dataclass(frozen=True)
class ClientJoin:
    """A client asks to join under ``nick``."""

    nick: str


@dataclass(frozen=True)
class ClientSay:
    """A client says ``text``."""

    text: str


ClientEvent = ClientJoin | ClientSay | Invalid


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
    return Invalid(f"unknown message type {kind!r}", _excerpt(raw))
