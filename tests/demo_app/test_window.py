"""The chat window driven like a person would, against the real embedded server."""

from __future__ import annotations

import socket

import pytest
from pytestqt.qtbot import QtBot

from demo_app.qt import Qt
from demo_app.server import ChatServer
from demo_app.window import NICK_COLORS, ChatWindow, ColorBook, nick_color
from tests.servers import ws_server

from .conftest import WindowFactory, joined


def type_enter(qtbot: QtBot, window: ChatWindow, text: str) -> None:
    qtbot.keyClicks(window.input, text)
    qtbot.keyClick(window.input, Qt.Key.Key_Return)


def test_enter_sends_and_the_other_window_shows_it(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    assert alice.state == "open"
    assert "Connected" in alice.status_text()
    assert "alice" in alice.windowTitle() and alice.url in alice.windowTitle()

    type_enter(qtbot, alice, "hello bob, how are you?")
    qtbot.waitUntil(lambda: "alice: hello bob, how are you?" in bob.chat_texts())
    qtbot.waitUntil(lambda: "alice: hello bob, how are you?" in alice.chat_texts())
    assert alice.input.text() == ""
    assert "hello bob, how are you?" in bob.history.toPlainText()
    own = [ln for ln in alice.lines if ln.text == "hello bob, how are you?"]
    other = [ln for ln in bob.lines if ln.text == "hello bob, how are you?"]
    assert [ln.kind for ln in own] == ["own"]
    assert [ln.kind for ln in other] == ["chat"]

    qtbot.keyClicks(bob.input, "hi alice")
    qtbot.mouseClick(bob.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: alice.chat_texts() == ["alice: hello bob, how are you?", "bob: hi alice"]
    )

    # QTest types ASCII only: non-ASCII text goes in directly, Enter still sends it.
    bob.input.setText("ça va ✓ 日本")
    qtbot.keyClick(bob.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "bob: ça va ✓ 日本" in alice.chat_texts())


def test_presence_follows_joins_and_leaves(qtbot: QtBot, make_window: WindowFactory) -> None:
    alice = make_window("alice")
    qtbot.waitUntil(lambda: alice.presence() == ["alice"])
    assert alice.presence_label.text() == "Online (1)"

    bob = make_window("bob")
    qtbot.waitUntil(lambda: alice.presence() == ["alice", "bob"])
    assert alice.presence_list.count() == 2
    assert alice.presence_label.text() == "Online (2)"
    qtbot.waitUntil(lambda: any(ln.text == "bob joined" for ln in alice.lines))

    bob.close()
    qtbot.waitUntil(lambda: alice.presence() == ["alice"])
    assert any(ln.text == "bob left" for ln in alice.lines)


@pytest.mark.parametrize("abrupt", [False, True], ids=["graceful", "abrupt"])
def test_server_restart_reconnects_and_delivers_what_was_typed(
    qtbot: QtBot, make_window: WindowFactory, server: ChatServer, abrupt: bool
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))

    server.stop(abrupt=abrupt, wait=False)
    qtbot.waitUntil(lambda: not server.running and alice.state == "reconnecting")
    assert "Reconnecting (attempt" in alice.status_text()
    assert alice.rtt_label.text() == "RTT —"

    type_enter(qtbot, alice, "typed while the server was down")
    assert alice.input.text() == ""
    assert any("queued" in ln.text for ln in alice.lines)
    assert alice.queue_label.text() == "1 queued"

    server.start()
    qtbot.waitUntil(lambda: alice.state == "open" and bob.state == "open", timeout=10000)
    assert "Connected" in alice.status_text()
    qtbot.waitUntil(lambda: "alice: typed while the server was down" in bob.chat_texts())
    qtbot.waitUntil(joined(alice, bob))  # both re-sent their join
    assert any(ln.text == "reconnected" for ln in alice.lines)
    assert alice.queue_label.text() == ""


def test_round_trip_time_is_shown(qtbot: QtBot, make_window: WindowFactory) -> None:
    alice = make_window("alice")
    qtbot.waitUntil(lambda: alice.rtt_label.text().endswith(" ms"), timeout=10000)
    assert alice.ws.latency is not None


def test_bad_json_from_the_server_is_an_error_line(
    qtbot: QtBot, make_window: WindowFactory, server: ChatServer
) -> None:
    alice = make_window("alice")
    qtbot.waitUntil(lambda: alice.presence() == ["alice"])
    server.send_raw('{"type": "message", "nick": ')
    qtbot.waitUntil(lambda: any(ln.kind == "error" for ln in alice.lines))
    error = next(ln for ln in alice.lines if ln.kind == "error")
    assert "bad JSON" in error.text
    server.send_raw('{"type": "teleport"}')
    server.send_raw("maintenance at noon")
    qtbot.waitUntil(
        lambda: any(ln.text == "server says: maintenance at noon" for ln in alice.lines)
    )
    assert any("unknown message type 'teleport'" in ln.text for ln in alice.lines)
    # Still connected and working.
    type_enter(qtbot, alice, "still here")
    qtbot.waitUntil(lambda: "alice: still here" in alice.chat_texts())
    assert alice.state == "open"


def test_without_reconnect_a_stopped_server_shows_closed(
    qtbot: QtBot, make_window: WindowFactory, server: ChatServer
) -> None:
    alice = make_window("alice", reconnect=False)
    qtbot.waitUntil(lambda: alice.presence() == ["alice"])
    server.stop(wait=False)
    qtbot.waitUntil(lambda: alice.state == "closed")
    assert alice.status_text().startswith("Closed (code 1001, server shutting down")
    assert alice.presence() == []
    type_enter(qtbot, alice, "anyone?")
    assert alice.input.text() == "anyone?"  # kept: nothing is lost silently
    assert "not sent" in alice.lines[-1].text


def test_an_echo_server_works_too(qtbot: QtBot, make_window: WindowFactory) -> None:
    with ws_server() as echo:
        alice = make_window("alice", echo.url)
        qtbot.waitUntil(lambda: alice.presence() == ["alice"])
        assert any("echo server" in ln.text for ln in alice.lines)
        type_enter(qtbot, alice, "ping?")
        qtbot.waitUntil(lambda: any(ln.kind == "echo" and ln.text == "ping?" for ln in alice.lines))
        alice.close()
        qtbot.waitUntil(lambda: alice.state == "closed")


def test_nick_change_rejoins(qtbot: QtBot, make_window: WindowFactory) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    alice.nick_edit.clear()
    qtbot.keyClicks(alice.nick_edit, "alicia")
    qtbot.keyClick(alice.nick_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: sorted(bob.presence()) == ["alicia", "bob"])
    texts = [ln.text for ln in bob.lines]
    assert "alice left" in texts and "alicia joined" in texts
    assert "alicia" in alice.windowTitle()


def test_server_menu_stops_and_restarts_the_embedded_server(
    qtbot: QtBot, make_window: WindowFactory, server: ChatServer
) -> None:
    alice = make_window("alice")
    qtbot.waitUntil(lambda: alice.presence() == ["alice"])
    qtbot.waitUntil(lambda: alice.stop_action.isEnabled() and not alice.start_action.isEnabled())
    alice.kill_action.trigger()
    qtbot.waitUntil(lambda: alice.state == "reconnecting" and alice.start_action.isEnabled())
    assert any(ln.kind == "error" and "connection error" in ln.text for ln in alice.lines)
    alice.start_action.trigger()
    qtbot.waitUntil(lambda: alice.state == "open" and alice.presence() == ["alice"])
    assert alice.stop_action.isEnabled()
    alice.stop_action.trigger()
    qtbot.waitUntil(lambda: not server.running and alice.state == "reconnecting")


def test_renaming_yourself_says_so_and_not_that_you_left(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    zoe, bob = make_window("zoe"), make_window("bob")
    qtbot.waitUntil(joined(zoe, bob))
    zoe.nick_edit.setText("zed")
    qtbot.keyClick(zoe.nick_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: sorted(bob.presence()) == ["bob", "zed"])
    qtbot.waitUntil(lambda: sorted(zoe.presence()) == ["bob", "zed"])
    texts = [ln.text for ln in zoe.lines]
    assert "you are now zed (were zoe)" in texts
    assert "zoe left" not in texts  # the server's "left" for our old nick is us
    qtbot.waitUntil(lambda: "zoe left" in [ln.text for ln in bob.lines])  # others are told
    assert "zed" in zoe.windowTitle()


def test_the_online_list_is_not_stale_while_disconnected(
    qtbot: QtBot, make_window: WindowFactory, server: ChatServer
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    server.stop(abrupt=True, wait=False)
    qtbot.waitUntil(lambda: alice.state == "reconnecting")
    assert alice.presence() == [] and alice.presence_list.count() == 0
    assert alice.presence_label.text() == "Online (unknown while disconnected)"
    assert any(ln.text.startswith("connection lost; reconnect attempt 1") for ln in alice.lines)
    server.start()
    qtbot.waitUntil(joined(alice, bob))
    assert alice.presence_label.text() == "Online (2)"


def test_attempts_that_never_connected_are_not_a_lost_connection(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    with socket.socket() as refusing:  # bound, never listening: connections are refused
        refusing.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{refusing.getsockname()[1]}/"
        window = make_window("alice", url)
        qtbot.waitUntil(lambda: len([ln for ln in window.lines if ln.kind == "warn"]) >= 2)
    warns = [ln.text for ln in window.lines if ln.kind == "warn"]
    assert warns[0].startswith("cannot connect; reconnect attempt 1 in")
    assert warns[1].startswith("attempt 1 failed; reconnect attempt 2 in")
    assert not any("connection lost" in text for text in warns)


def test_nicks_in_one_window_never_share_a_colour(qtbot: QtBot, make_window: WindowFactory) -> None:
    # Two nicks whose hashed colours collide still get distinct colours in a window.
    first = "ann"
    second = next(f"n{i}" for i in range(1000) if nick_color(f"n{i}") == nick_color(first))
    book = ColorBook()
    assert book.color(first) == nick_color(first)
    assert book.color(second) != book.color(first)
    assert book.color(second) == book.color(second)  # stable once given
    many = [book.color(f"user{i}") for i in range(len(NICK_COLORS) - 2)]
    assert len({book.color(first), book.color(second), *many}) == len(NICK_COLORS)

    me, a, b = make_window("me"), make_window(first), make_window(second)
    qtbot.waitUntil(joined(me, a, b))
    colours = {
        me.presence_list.item(i).foreground().color().name()  # type: ignore[union-attr]
        for i in range(me.presence_list.count())
    }
    assert len(colours) == 3
