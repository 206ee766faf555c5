"""Files in the chat: paced sending over real sockets, progress, cancel, images and limits."""

from __future__ import annotations

import os
from pathlib import Path

from pytestqt.qtbot import QtBot

from demo_app import protocol
from demo_app.qt import QBuffer, QByteArray, QColor, QImage, QIODevice, Qt, QUrl
from demo_app.server import ChatServer
from demo_app.transfer import HIGH_WATER, FileSender
from demo_app.window import ChatWindow

from .conftest import WindowFactory, joined

MIB = 2**20


def png(width: int = 400, height: int = 300) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#3b82f6"))
    buf = QByteArray()
    device = QBuffer(buf)
    device.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(device, "PNG")
    return bytes(buf.data())


def watch(window: ChatWindow) -> tuple[list[int], list[int]]:
    """(progress values, buffered_amount sampled on each bytes_written) of the next file."""
    values: list[int] = []
    samples: list[int] = []
    window.transfer_row.bar.valueChanged.connect(values.append)
    window.ws.bytes_written.connect(lambda _n: samples.append(window.ws.buffered_amount))
    return values, samples


def test_a_3_mib_file_arrives_identical_paced_under_the_mark(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    payload = os.urandom(3 * MIB)
    path = tmp_path / "noise.bin"
    path.write_bytes(payload)
    values, samples = watch(alice)

    assert alice.send_file(path)
    assert alice.transfer_row.isVisible()
    assert "noise.bin (3.0 MiB)" in alice.transfer_row.label.text()
    qtbot.waitUntil(lambda: len(bob.files) == 1, timeout=20000)
    qtbot.waitUntil(lambda: len(alice.files) == 1)

    got = bob.files[0]
    assert (got.nick, got.name, got.image) == ("alice", "noise.bin", None)
    assert got.data == payload
    # The progress bar reached 100 in steps (one per round of chunks), never backwards.
    assert values[-1] == 100
    assert len(values) >= 5 and values == sorted(values)
    # Paced: sampled on every bytes_written, the write buffer never passed the mark.
    assert len(samples) >= 3 * MIB // HIGH_WATER
    assert max(samples) <= HIGH_WATER
    assert not alice.transfer_row.isVisible() and alice.outgoing is None
    # Shown as "name (size) — Save…" on both sides; Save writes the same bytes.
    assert any(ln.kind == "file" and ln.nick == "alice" for ln in bob.lines)
    assert "noise.bin (3.0 MiB) — Save…" in bob.history.toPlainText()
    assert any("alice is sending noise.bin (3.0 MiB)" in ln.text for ln in bob.lines)
    out = tmp_path / "saved.bin"
    assert bob.save_file(0, out)
    assert out.read_bytes() == payload
    # The anchor of the entry is what the Save… link carries.
    assert bob.history.document().toHtml().count('href="save:0"') == 1  # type: ignore[union-attr]


def test_the_save_link_asks_where_and_writes_there(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path, monkeypatch: object
) -> None:
    import demo_app.window as window_module

    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    alice.send_data("notes.txt", b"hello file")
    qtbot.waitUntil(lambda: len(bob.files) == 1)
    target = tmp_path / "chosen.txt"
    calls: list[str] = []

    def ask(*args: object) -> tuple[str, str]:
        calls.append(str(args[2]))
        return str(target), ""

    mp = monkeypatch
    mp.setattr(window_module.QFileDialog, "getSaveFileName", ask)  # type: ignore[attr-defined]
    bob.history.anchorClicked.emit(QUrl("save:0"))
    assert calls == ["notes.txt"]
    assert target.read_bytes() == b"hello file"
    assert f"saved notes.txt to {target}" in bob.lines[-1].text


def test_an_image_shows_inline_as_a_thumbnail(qtbot: QtBot, make_window: WindowFactory) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    data = png()
    alice.send_data("blue.png", data)
    qtbot.waitUntil(lambda: len(bob.files) == 1 and len(alice.files) == 1)
    for w in (alice, bob):
        got = w.files[0]
        assert got.data == data and got.image is not None
        assert (got.image.width(), got.image.height()) == (400, 300)
        doc = w.history.document()
        assert doc is not None
        thumb = doc.resource(2, QUrl("thumb:0"))  # 2: QTextDocument.ImageResource
        assert isinstance(thumb, QImage) and (thumb.width(), thumb.height()) == (160, 120)
        assert 'src="thumb:0"' in doc.toHtml()


def test_cancel_mid_way_tells_the_others_and_the_chat_goes_on(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    values, _ = watch(alice)
    # Cancel from the progress bar's own slot once a third went out, as a click would.
    alice.transfer_row.bar.valueChanged.connect(
        lambda v: alice.transfer_row.cancel_button.click() if v >= 30 else None
    )
    alice.send_data("big.bin", os.urandom(3 * MIB))
    qtbot.waitUntil(lambda: any("was cancelled" in ln.text for ln in bob.lines), timeout=20000)
    assert any(ln.text == "big.bin from alice was cancelled: alice cancelled" for ln in bob.lines)
    assert any(ln.text == "big.bin not sent: alice cancelled" for ln in alice.lines)
    assert 30 <= values[-1] < 100
    assert bob.files == [] and alice.files == [] and alice.outgoing is None
    assert not alice.transfer_row.isVisible()
    # The connection is fine: chat and a next file still go through.
    alice.input.setText("still here")
    qtbot.keyClick(alice.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "alice: still here" in bob.chat_texts())
    alice.send_data("small.bin", b"x" * 1000)
    qtbot.waitUntil(lambda: [f.name for f in bob.files] == ["small.bin"])


def test_files_queue_one_after_another(qtbot: QtBot, make_window: WindowFactory) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    blobs = {f"f{i}.bin": os.urandom(200_000 + i) for i in range(3)}
    for name, data in blobs.items():
        alice.send_data(name, data)
    assert "(+2 queued)" in alice.transfer_row.label.text()
    qtbot.waitUntil(lambda: len(bob.files) == 3, timeout=20000)
    assert {f.name: f.data for f in bob.files} == blobs
    assert [f.name for f in bob.files] == list(blobs)


def test_too_big_files_are_refused_before_sending(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    alice = make_window("alice")
    qtbot.waitUntil(joined(alice))
    big = tmp_path / "big.iso"
    with big.open("wb") as f:
        f.truncate(protocol.MAX_FILE + 1)
    assert not alice.send_file(big)
    assert "cannot send big.iso: 20.0 MiB is over the 20.0 MiB limit" in alice.lines[-1].text
    assert not alice.send_file(tmp_path / "missing.txt")
    assert "cannot send missing.txt" in alice.lines[-1].text
    assert alice.outgoing is None


def test_a_refusal_from_the_server_ends_the_transfer(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    # A sender that lies about the size: the server refuses it at the first extra byte.
    sender = FileSender(alice.ws, 99, "liar.bin", b"y" * 10)
    failures: list[str] = []
    sender.failed.connect(failures.append)
    alice.outgoing = sender
    alice.ws.send(protocol.encode_file(99, "liar.bin", 5))
    alice.ws.send(protocol.encode_chunk(99, b"y" * 10))
    qtbot.waitUntil(lambda: failures == ["refused by the server: more bytes than announced"])
    qtbot.waitUntil(lambda: any("liar.bin from alice was cancelled" in ln.text for ln in bob.lines))
    assert bob.files == []


def test_a_dropped_file_is_sent(qtbot: QtBot, make_window: WindowFactory, tmp_path: Path) -> None:
    from demo_app.qt import QDragEnterEvent, QDropEvent, QMimeData, QPointF

    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    path = tmp_path / "dropped.txt"
    path.write_bytes(b"dropped bytes")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    action = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(alice.rect().center(), action, mime, buttons, mods)
    alice.dragEnterEvent(enter)
    assert enter.isAccepted()
    alice.dropEvent(QDropEvent(QPointF(10, 10), action, mime, buttons, mods))
    qtbot.waitUntil(lambda: [f.data for f in bob.files] == [b"dropped bytes"])
    plain = QMimeData()
    plain.setText("just text")
    refused = QDragEnterEvent(alice.rect().center(), action, plain, buttons, mods)
    refused.ignore()
    alice.dragEnterEvent(refused)
    assert not refused.isAccepted()


def test_a_dropped_connection_abandons_the_file_on_both_sides(
    qtbot: QtBot, make_window: WindowFactory, server: ChatServer
) -> None:
    alice, bob = make_window("alice"), make_window("bob")
    qtbot.waitUntil(joined(alice, bob))
    alice.transfer_row.bar.valueChanged.connect(
        lambda v: server.stop(abrupt=True, wait=False) if v >= 20 and server.running else None
    )
    alice.send_data("cut.bin", os.urandom(3 * MIB))
    qtbot.waitUntil(lambda: alice.outgoing is None, timeout=20000)
    assert any(ln.text == "cut.bin not sent: the connection was lost" for ln in alice.lines)
    qtbot.waitUntil(lambda: any("cut.bin from alice" in ln.text for ln in bob.lines))
    assert bob.files == []
