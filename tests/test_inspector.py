"""The traffic inspector (qtws.traffic): real exchanges with `websockets` servers recorded by a
TrafficModel and shown by a TrafficView, and the stream parser fed crafted frames."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.server import ServerConnection

import qtws
from qtws.core.frames import encode_close_payload, encode_frame
from qtws.traffic import TrafficModel, TrafficRecord, TrafficView, inspect
from qtws.traffic.sniffer import StreamParser, Tap, redact_url

from .servers import ws_server

FAST = qtws.Config(ping_interval=None, open_timeout=5, close_timeout=2, proxy=None)
PLAIN = qtws.Config(
    ping_interval=None, open_timeout=5, close_timeout=2, proxy=None, compression=False
)


def rows(model: TrafficModel) -> list[tuple[str, str]]:
    model.flush()
    return [(r.direction, r.kind) for r in model.records]


def exchange(qtbot: QtBot, ws: qtws.WebSocket, *messages: str | bytes) -> None:
    """Send each message and wait for its echo before the next (a deterministic order)."""
    for msg in messages:
        with qtbot.waitSignal(ws.message, timeout=5000):
            ws.send(msg)


def open_ws(qtbot: QtBot, url: str, config: qtws.Config, model: TrafficModel) -> qtws.WebSocket:
    ws = qtws.WebSocket(url, config=config)
    model.attach(ws)
    with qtbot.waitSignal(ws.opened, timeout=5000):
        ws.open()
    return ws


def close_ws(qtbot: QtBot, ws: qtws.WebSocket, code: int = 1000, reason: str = "") -> None:
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.close(code, reason)


# ---------------------------------------------------------------------- a recorded echo
def test_echo_exchange_frames_in_order_with_sizes_and_opcodes(qtbot: QtBot) -> None:
    model = TrafficModel()
    with ws_server() as srv:
        ws = open_ws(qtbot, srv.url, PLAIN, model)
        exchange(qtbot, ws, "hello", b"\x00\x01")
        with qtbot.waitSignal(ws.pong_received, timeout=5000):
            ws.ping(b"p1")
        close_ws(qtbot, ws, 4000, "bye")
    assert rows(model) == [
        ("out", "http"),
        ("in", "http"),
        ("out", "text"),
        ("in", "text"),
        ("out", "binary"),
        ("in", "binary"),
        ("out", "ping"),
        ("in", "pong"),
        ("out", "close"),
        ("in", "close"),
        ("", "end"),
    ]
    recs = model.records
    assert recs[0].preview.startswith("GET / HTTP/1.1")
    assert recs[1].preview.startswith("HTTP/1.1 101")
    # Client frames carry a 4-byte mask; the server's do not (RFC 6455 5.2).
    out_text, in_text, out_bin, in_bin = recs[2:6]
    assert (out_text.wire_size, out_text.size, out_text.preview) == (2 + 4 + 5, 5, "hello")
    assert (in_text.wire_size, in_text.size, in_text.preview) == (2 + 5, 5, "hello")
    assert (out_bin.wire_size, out_bin.size, out_bin.preview) == (8, 2, "binary 2 bytes: 00 01")
    assert (in_bin.wire_size, in_bin.size) == (4, 2)
    ping, pong = recs[6:8]
    assert ping.preview == pong.preview == "p1"
    assert ping.rtt is None and pong.rtt is not None and pong.rtt >= 0
    out_close, in_close, end = recs[8:]
    assert (out_close.close_code, out_close.close_reason) == (4000, "bye")
    assert (in_close.close_code, in_close.close_reason) == (4000, "bye")
    assert (end.close_code, end.close_reason, end.preview) == (4000, "bye", "clean")
    # Every byte on the wire is in a row: the sums match the WebSocket's own counters.
    stats = ws.stats
    assert sum(r.wire_size for r in recs if r.direction == "in") == stats.bytes_in
    assert sum(r.wire_size for r in recs if r.direction == "out") == stats.bytes_out
    assert all(r.connection == f"#1.1 {srv.url}" for r in recs)
    assert [r.seq for r in recs] == list(range(len(recs)))


def test_compressed_messages_show_sizes_after_inflate(qtbot: QtBot) -> None:
    model = TrafficModel()
    text = "abc" * 1000
    with ws_server() as srv:
        ws = open_ws(qtbot, srv.url, FAST, model)
        assert ws.extensions == "permessage-deflate"
        exchange(qtbot, ws, text, bytes(2000))
        close_ws(qtbot, ws)
    model.flush()
    data = [r for r in model.records if r.kind in ("text", "binary")]
    assert [(r.direction, r.kind, r.compressed, r.size) for r in data] == [
        ("out", "text", True, 3000),
        ("in", "text", True, 3000),
        ("out", "binary", True, 2000),
        ("in", "binary", True, 2000),
    ]
    for r in data:
        assert r.wire_size < r.size  # deflate shrank them on the wire
    assert data[0].preview == data[1].preview == "abc" * 40  # preview_chars=120
    assert data[3].preview.startswith("binary 2000 bytes: 00 00")


def test_secrets_are_masked_in_rows(qtbot: QtBot) -> None:
    model = TrafficModel()
    secret_config = qtws.Config(
        ping_interval=None,
        proxy=None,
        headers={"Authorization": "Bearer s3cr3t", "X-Visible": "yes"},
        cookies={"session": "c00kie"},
    )
    with ws_server() as srv:
        url = srv.url + "feed?token=t0ken&room=7"
        ws = open_ws(qtbot, url, secret_config, model)
        close_ws(qtbot, ws)
    model.flush()
    everything = model.to_json_lines()
    for secret in ("s3cr3t", "c00kie", "t0ken"):
        assert secret not in everything
    request = model.records[0].preview
    assert "Authorization: ***" in request and "Cookie: ***" in request
    assert "X-Visible: yes" in request
    assert "GET /feed?token=***&room=7 HTTP/1.1" in request
    assert model.records[0].connection.endswith("feed?token=***&room=7")


def test_redact_url() -> None:
    assert (
        redact_url("ws://u:pw@h:1/p?api_key=1&x=2&flag") == "ws://u:***@h:1/p?api_key=***&x=2&flag"
    )
    assert redact_url("ws://user@h/") == "ws://user@h/"


def test_detaching_stops_recording_and_reconnects_are_followed(qtbot: QtBot) -> None:
    model = TrafficModel()
    with ws_server() as srv:
        ws = open_ws(qtbot, srv.url, PLAIN, model)
        assert model.attached == [ws]
        model.attach(ws)  # again: nothing changes
        exchange(qtbot, ws, "one")
        model.detach(ws)
        assert model.attached == []
        exchange(qtbot, ws, "two")
        close_ws(qtbot, ws)
        before = rows(model)
        # Attached again, a reopened WebSocket is a new connection: "#2.1".
        model.attach(ws, name="feed")
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        exchange(qtbot, ws, "three")
        close_ws(qtbot, ws)
    assert before == [("out", "http"), ("in", "http"), ("out", "text"), ("in", "text")]
    model.flush()
    later = [r for r in model.records[4:]]
    assert {r.connection for r in later} == {f"feed.1 {srv.url}"}
    assert [r.preview for r in later if r.kind == "text"] == ["three", "three"]
    assert "two" not in model.to_json_lines()


def test_attach_mid_stream_records_the_following_frames(qtbot: QtBot) -> None:
    model = TrafficModel()
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=FAST)
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        exchange(qtbot, ws, "before")
        model.attach(ws)
        exchange(qtbot, ws, "after", "x" * 500)
        close_ws(qtbot, ws)
    model.flush()
    assert [(r.direction, r.kind, r.size) for r in model.records if r.kind == "text"] == [
        ("out", "text", 5),
        ("in", "text", 5),
        ("out", "text", 500),
        ("in", "text", 500),
    ]


def test_attach_rules() -> None:
    model, other = TrafficModel(), TrafficModel()
    ws = qtws.WebSocket("ws://127.0.0.1:9/", config=FAST)
    with pytest.raises(TypeError):
        model.attach(object())  # type: ignore[arg-type]
    model.attach(ws)
    with pytest.raises(ValueError, match="another TrafficModel"):
        other.attach(ws)
    other.detach(ws)  # not its WebSocket: nothing happens
    assert model.attached == [ws]
    model.detach_all()
    assert model.attached == [] and ws._observer is None
    with pytest.raises(ValueError, match="max_rows"):
        TrafficModel(max_rows=0)


def test_a_flood_is_inserted_in_batches_not_row_by_row(qtbot: QtBot) -> None:
    n = 5000
    sent = threading.Event()

    def flood(ws: ServerConnection) -> None:
        ws.recv()
        for i in range(n):
            ws.send(str(i % 10))
        sent.set()
        with contextlib.suppress(Exception):
            ws.recv()

    model = TrafficModel(max_rows=20_000)
    inserts: list[int] = []
    model.rowsInserted.connect(lambda parent, first, last: inserts.append(last - first + 1))
    with ws_server(flood, compression=None) as srv:
        ws = open_ws(qtbot, srv.url, PLAIN, model)
        got: list[Any] = []
        ws.message.connect(got.append)
        ws.send("go")
        assert sent.wait(10)  # everything waits in the socket buffer: the loop did not run
        qtbot.waitUntil(lambda: len(got) == n, timeout=10_000)
        close_ws(qtbot, ws)
    model.flush()
    in_text = [r for r in model.records if r.direction == "in" and r.kind == "text"]
    assert len(in_text) == n
    assert [r.preview for r in in_text] == [str(i % 10) for i in range(n)]
    assert sum(inserts) == len(model.records)
    # 5000 frames read in a few 64 KiB reads: one insert per loop turn, not per frame.
    assert len(inserts) <= 20, inserts


def test_max_rows_keeps_the_newest() -> None:
    model = TrafficModel(max_rows=5)
    tap = Tap("#t", model._add, model._changed)
    tap.started("ws://h/", (b"", 0, False))
    for i in range(12):
        tap.received(encode_frame(1, str(i).encode()))
        if i % 4 == 3:
            model.flush()
    model.flush()
    assert [r.preview for r in model.records] == ["7", "8", "9", "10", "11"]
    assert model.rowCount() == 5
    assert model.record(0).seq == 7
    # More queued than kept: only the newest survive.
    for i in range(8):
        tap.received(encode_frame(1, f"n{i}".encode()))
    model.flush()
    assert [r.preview for r in model.records] == ["n3", "n4", "n5", "n6", "n7"]


def test_a_broken_recorder_never_fails_the_connection(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    model = TrafficModel()

    def broken(rec: TrafficRecord) -> None:
        raise RuntimeError("inspector bug")

    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=FAST)
        tap = Tap("#b", broken, model._changed)
        ws._set_observer(tap)
        with caplog.at_level(logging.ERROR, "qtws.traffic"), qtbot.waitSignal(ws.opened):
            ws.open()
        exchange(qtbot, ws, "still works")
        close_ws(qtbot, ws)
    assert tap.broken
    assert "recording #b.1" in caplog.text and "inspector bug" in caplog.text
    assert ws.close_event is not None and ws.close_event.was_clean


# ---------------------------------------------------------------------- the view
def test_view_filters_pause_clear_copy_and_save(
    qtbot: QtBot, tmp_path: Path, monkeypatch: Any
) -> None:
    view = TrafficView()
    qtbot.addWidget(view)
    model = view.model
    with ws_server() as srv:
        ws = open_ws(qtbot, srv.url, PLAIN, model)
        exchange(qtbot, ws, "apple", "banana", b"\x01")
        model.flush()
        shown = view.filter.rowCount
        assert shown() == 8  # 2 http, 6 data
        view.search.setText("banana")
        assert shown() == 2
        view.direction.setCurrentIndex(2)  # out
        assert shown() == 1
        view.search.setText("")
        view.kind.setCurrentIndex(1 + 1)  # binary
        assert shown() == 1 and view.filter.index(0, 6).data() == "binary 1 bytes: 01"
        view.kind.setCurrentIndex(0)
        view.direction.setCurrentIndex(0)
        # Copy: the selected rows, else every row shown, as JSON lines.
        view.table.selectRow(2)
        copied = view.copy_selection()
        assert [json.loads(line)["preview"] for line in copied.splitlines()] == ["apple"]
        view.table.clearSelection()
        assert len(view.copy_selection().splitlines()) == 8
        # Save: the dialog's answer is where the JSON lines go.
        target = tmp_path / "traffic.jsonl"
        monkeypatch.setattr(
            "qtws.traffic.view.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), "")
        )
        view.save_button.click()
        saved = [json.loads(line) for line in target.read_text().splitlines()]
        assert [s["kind"] for s in saved][:3] == ["http", "http", "text"]
        assert saved[2]["time"].count(":") >= 2  # ISO 8601
        monkeypatch.setattr(
            "qtws.traffic.view.QFileDialog.getSaveFileName", lambda *a, **k: ("", "")
        )
        view.save_button.click()  # cancelled: nothing happens
        # Pause: frames are counted, not kept.
        view.pause.setChecked(True)
        exchange(qtbot, ws, "unseen")
        model.flush()
        assert model.dropped == 2 and shown() == 8
        assert "2 frames not recorded" in view.status.text()
        view.pause.setChecked(False)
        view.clear_button.click()
        assert shown() == 0 and model.dropped == 0
        exchange(qtbot, ws, "seen")
        model.flush()
        assert shown() == 2
        view.close()  # closing the window detaches
        assert model.attached == []
        close_ws(qtbot, ws)


def test_model_cells_and_headers(qtbot: QtBot) -> None:
    from qtws._qt import QModelIndex, Qt

    model = TrafficModel()
    tap = Tap("#c", model._add, model._changed)
    tap.started("ws://h/", (b"", 0, False))
    tap.received(encode_frame(1, b"part", fin=False) + encode_frame(0, b"-end"))
    tap.received(encode_frame(10, b"x"))
    tap.received(encode_frame(8, encode_close_payload(1001, "away")))
    tap.ended(1001, "away", False, ConnectionResetError("gone"))
    model.flush()
    display = Qt.ItemDataRole.DisplayRole
    cells = [[model.index(r, c).data(display) for c in range(9)] for r in range(model.rowCount())]
    assert [row[2:4] for row in cells] == [
        ["↓ in", "text (more)"],
        ["↓ in", "continuation"],
        ["↓ in", "pong"],
        ["↓ in", "close"],
        ["", "end"],
    ]
    assert cells[3][7] == "1001 away" and cells[4][6] == "not clean: ConnectionResetError: gone"
    assert cells[4][4] == cells[4][5] == cells[4][8] == ""
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Time"
    assert model.headerData(0, Qt.Orientation.Vertical) is None
    assert model.columnCount() == 9 and model.columnCount(model.index(0, 0)) == 0
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.index(0, 0).data(Qt.ItemDataRole.UserRole) is model.record(0)
    assert model.index(0, 4).data(Qt.ItemDataRole.TextAlignmentRole) is not None
    assert model.index(0, 6).data(Qt.ItemDataRole.DecorationRole) is None
    assert model.data(QModelIndex()) is None


def test_inspect_opens_a_window_on_websockets(qtbot: QtBot) -> None:
    with ws_server() as srv:
        ws = qtws.WebSocket(srv.url, config=PLAIN)
        view = inspect(ws)
        qtbot.addWidget(view)
        assert view.isVisible() and view.model.attached == [ws]
        with qtbot.waitSignal(ws.opened, timeout=5000):
            ws.open()
        exchange(qtbot, ws, "hi")
        qtbot.waitUntil(lambda: view.model.rowCount() == 4, timeout=5000)  # flushed by itself
        close_ws(qtbot, ws)


# ---------------------------------------------------------------------- the stream parser
def parse(*chunks: bytes, keep: int = 125) -> list[tuple[Any, ...]]:
    got: list[tuple[Any, ...]] = []
    parser = StreamParser(lambda *f: got.append(f), keep)
    for chunk in chunks:
        parser.feed(chunk)
    return got


MASK = b"\x01\x02\x03\x04"
STREAM = (
    b"HTTP/1.1 101 Switching Protocols\r\nSet-Cookie: id=secret\r\n\r\n"
    + encode_frame(1, b"hi")
    + encode_frame(2, bytes(300))
    + encode_frame(2, bytes(70_000), mask=MASK)
    + encode_frame(9, b"ping", mask=MASK)
    + encode_frame(8, b"")
)


def test_parser_cuts_http_and_frames_of_every_length_encoding() -> None:
    got = parse(STREAM)
    assert [(f[0], f[1], f[2]) for f in got] == [
        ("http", STREAM.index(b"\r\n\r\n") + 4, STREAM.index(b"\r\n\r\n") + 4),
        ("text", 4, 2),
        ("binary", 304, 300),
        ("binary", 70_014, 70_000),
        ("ping", 10, 4),
        ("close", 2, 0),
    ]
    assert b"secret" not in got[0][3] and b"Set-Cookie: ***" in got[0][3]
    assert got[3][3] == bytes(125)  # kept: the first bytes only, unmasked
    assert got[4][3] == b"ping"


def test_parser_gives_the_same_frames_byte_by_byte() -> None:
    whole = parse(STREAM)
    assert parse(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == whole
    assert parse(*(STREAM[i : i + 7] for i in range(0, len(STREAM), 7))) == whole


def test_parser_resyncs_mid_stream_and_ignores_failed_upgrades() -> None:
    got: list[tuple[Any, ...]] = []
    parser = StreamParser(lambda *f: got.append(f), 125)
    frame = encode_frame(1, b"abcdef")
    parser.reset(b"", 4, upgraded=True)  # 4 payload bytes of an unseen frame first
    parser.feed(b"wxyz" + frame)
    parser.reset(frame[:3], 0, upgraded=True)  # the core held 3 bytes of the next frame
    parser.feed(frame[3:])
    assert [f[3] for f in got] == [b"abcdef", b"abcdef"]
    redirect = b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\nbody" + frame
    assert [f[0] for f in parse(redirect)] == ["http"]
    assert parse(b"HTTP/1.1 " + b"x" * 70_000) == []  # an endless head is not shown
    assert [f[0] for f in parse(b"G", b"ET / HTTP/1.1\r\n\r\n" + frame)] == ["http", "text"]
    assert [f[0] for f in parse(encode_frame(3, b""))] == ["opcode 0x3"]


def test_tap_text_previews_escape_controls_and_unmatched_events_are_ignored() -> None:
    recs: list[TrafficRecord] = []
    tap = Tap("#p", recs.append, lambda rec: None, preview_chars=8)
    tap.started("ws://h/", (b"", 0, True))  # a message under way: its event has no row
    tap.events([qtws.core.TextMessage("unmatched")])
    tap.received(encode_frame(1, b"a\x1bb\nc"))
    tap.events([qtws.core.TextMessage("a\x1bb\nc"), qtws.core.BinaryMessage(b"extra")])
    tap.sent(encode_frame(1, "é".encode(), mask=MASK), "é")
    assert [r.preview for r in recs] == ["a\\x1bb\\nc", "é"]
    assert recs[1].size == 2  # UTF-8 bytes
    tap.received(encode_frame(9, b"srv"))  # the server's ping: no round trip of ours
    assert (recs[-1].kind, recs[-1].rtt, recs[-1].preview) == ("ping", None, "srv")
    tap.events([qtws.core.ConnectionFailed(qtws.ProtocolError("bad", 1002), 1002)])
    assert (recs[-1].kind, recs[-1].close_code) == ("error", 1002)


def test_rows_filled_after_a_flush_are_updated_in_place(qtbot: QtBot) -> None:
    model = TrafficModel()
    changed: list[int] = []
    model.dataChanged.connect(lambda first, last: changed.append(first.row()))
    tap = Tap("#u", model._add, model._changed)
    tap.started("ws://h/", (b"", 0, False))
    tap.received(encode_frame(2, b"\x01\x02", rsv1=True))  # compressed: size known later
    model.flush()
    assert model.record(0).preview == "(compressed)"
    tap.events([qtws.core.BinaryMessage(b"\x01\x02\x03")])
    assert changed == [0]
    assert (model.record(0).size, model.record(0).preview) == (3, "binary 3 bytes: 01 02 03")
    model.paused = True
    tap.received(encode_frame(1, b"a") + encode_frame(1, b"b"))
    model.flush()
    assert model.rowCount() == 1 and model.dropped == 2


def test_only_websockets_of_the_models_thread_can_be_attached(qtbot: QtBot) -> None:
    from qtws._qt import QThread

    thread = QThread()
    ws = qtws.WebSocket("ws://127.0.0.1:9/", config=FAST)
    ws.moveToThread(thread)
    with pytest.raises(ValueError, match="model's thread"):
        TrafficModel().attach(ws)


def test_the_view_follows_new_rows_unless_scrolled_up(qtbot: QtBot) -> None:
    view = TrafficView()
    qtbot.addWidget(view)
    view.resize(600, 200)
    view.show()
    tap = Tap("#s", view.model._add, view.model._changed)
    tap.started("ws://h/", (b"", 0, False))
    tap.received(b"".join(encode_frame(1, b"%d" % i) for i in range(200)))
    view.model.flush()
    bar = view.table.verticalScrollBar()
    assert bar is not None
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    bar.setValue(0)  # reading older rows: new ones do not pull the view down
    tap.received(encode_frame(1, b"more"))
    view.model.flush()
    assert bar.value() == 0


def test_chat_demo_view_traffic_opens_the_inspector_on_its_connection(qtbot: QtBot) -> None:
    from demo_app.window import ChatWindow

    with ws_server() as srv:
        window = ChatWindow(srv.url, "zoe", config=FAST)
        qtbot.addWidget(window)
        window.traffic_action.trigger()  # View → Traffic
        view = window.traffic
        assert view is not None and view.isVisible()
        assert view.model.attached == [window.ws]
        assert window.show_traffic() is view  # opened again: the same window
        qtbot.waitUntil(lambda: any(r.kind == "text" for r in view.model.records), timeout=5000)
        assert view.model.records[0].connection.startswith("zoe.1 ws://")
        with qtbot.waitSignal(window.ws.closed, timeout=5000):
            window.close()
        assert not view.isVisible() and view.model.attached == []


def test_reconnects_and_redirects_are_recorded_as_such(qtbot: QtBot) -> None:
    connections: list[int] = []

    def restart_once(ws: ServerConnection) -> None:
        connections.append(1)
        if len(connections) == 1:
            ws.recv()
            ws.close(1012, "restarting")
            return
        with contextlib.suppress(Exception):
            for msg in ws:
                ws.send(msg)

    with ws_server(restart_once) as target:

        def redirect(conn: ServerConnection, request: Any) -> Any:
            response = conn.respond(302, "moved\n")
            response.headers["Location"] = target.url
            return response

        with ws_server(process_request=redirect) as origin:
            policy = qtws.ReconnectPolicy(initial_delay=0.01, max_delay=0.01, jitter=0)
            config = qtws.Config(
                ping_interval=None, proxy=None, compression=False, reconnect=policy
            )
            model = TrafficModel()
            ws = open_ws(qtbot, origin.url, config, model)
            with qtbot.waitSignal(ws.reconnecting, timeout=5000):
                ws.send("first")
            qtbot.waitUntil(lambda: ws.ready_state == qtws.ReadyState.OPEN, timeout=5000)
            exchange(qtbot, ws, "second")
            close_ws(qtbot, ws)
    model.flush()
    got = [
        (r.connection.split()[0], r.direction, r.kind, r.preview.split("\n")[0])
        for r in model.records
    ]
    assert got[:3] == [
        ("#1.1", "out", "http", "GET / HTTP/1.1"),
        ("#1.1", "in", "http", "HTTP/1.1 302 Found"),
        ("#1.1", "out", "http", "GET / HTTP/1.1"),
    ]
    assert got[3][1:3] == ("in", "http") and got[3][3].startswith("HTTP/1.1 101")
    assert ("#1.1", "in", "close", "1012 restarting") in got
    assert ("#1.1", "", "end", "clean") in got
    second = [g for g in got if g[0] == "#1.2"]
    # The reconnect starts at the original URL again: redirected again.
    assert [g[2] for g in second] == [*["http"] * 4, "text", "text", "close", "close", "end"]
    # A connection keeps the name of the URL it was opened with (the http rows show where to).
    assert {r.connection for r in model.records} == {f"#1.1 {origin.url}", f"#1.2 {origin.url}"}
