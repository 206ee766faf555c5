"""The mypyc-compiled core (issue 16): which build is imported, and that QTWS_PURE and a stale
or incomplete build fall back to the ``.py`` sources (qtws/core/_native.py).

The selection logic runs here on folders this test makes; the real build of this checkout
(``python3 .ci/dev.py build`` compiles it in place when a C compiler is there) is checked in
subprocesses, against what :func:`~qtws.core._native.choose` says of it.  ``.ci/dev.py test``
sets ``QTWS_EXPECT_COMPILED=1`` for its run on the compiled modules, so that run fails if it
silently got the interpreted ones.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import importlib
import importlib.machinery
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import qtws
import qtws.core
from qtws.core import (
    BinaryMessage,
    CloseReceived,
    ConnectionFailed,
    Event,
    HandshakeComplete,
    Ping,
    Pong,
    Redirect,
    TextMessage,
    _native,
)
from qtws.errors import ProtocolError

ROOT = Path(__file__).resolve().parent.parent.parent
CORE = ROOT / "qtws" / "core"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _fake_build(tmp_path: Path, *, record: bool = True, shared: bool = True) -> Path:
    """qtws/core-like folder with every module's .py and a stand-in extension module."""
    core = tmp_path / "pkg" / "core"
    core.mkdir(parents=True)
    (core / "__init__.py").write_text("")
    (core.parent / "__init__.py").write_text("")
    lines = []
    for name in _native.MODULES:
        source = f"WHERE = 'source of {name}'\n".encode()
        (core / f"{name}.py").write_bytes(source)
        (core / f"{name}{SUFFIX}").write_bytes(b"not a real extension module")
        lines.append(f"{name} {hashlib.sha256(source).hexdigest()}\n")
    if record:
        (core / _native.RECORD).write_text("".join(lines))
    if shared:
        (core.parent / f"{_native.SHARED}{SUFFIX}").write_bytes(b"")
    return core


def test_a_complete_current_build_is_chosen(tmp_path: Path) -> None:
    core = _fake_build(tmp_path)
    assert _native.choose(str(core), {}) == (True, "")
    assert _native.choose(str(core), {"QTWS_PURE": "0"}) == (True, "")


def test_no_build_is_the_plain_interpreted_install(tmp_path: Path) -> None:
    assert _native.choose(str(tmp_path), {"QTWS_PURE": "1"}) == (False, "")


def test_qtws_pure_forces_the_sources(tmp_path: Path) -> None:
    core = _fake_build(tmp_path)
    assert _native.choose(str(core), {"QTWS_PURE": "1"}) == (False, "QTWS_PURE is set")


@pytest.mark.parametrize("missing", ["module", "shared"])
def test_an_incomplete_build_is_not_used(tmp_path: Path, missing: str) -> None:
    core = _fake_build(tmp_path, shared=missing != "shared")
    if missing == "module":
        (core / f"utf8{SUFFIX}").unlink()
    assert _native.choose(str(core), {}) == (False, "the compiled build is incomplete")


def test_a_source_edited_after_compiling_is_used_instead(tmp_path: Path) -> None:
    core = _fake_build(tmp_path)
    with (core / "frames.py").open("a") as file:
        file.write("# edited\n")
    assert _native.choose(str(core), {}) == (False, "frames.py changed since it was compiled")


@pytest.mark.parametrize("content", [None, b"\xff\xfe", b"no digests here\n"])
def test_a_missing_or_unreadable_record_means_not_current(
    tmp_path: Path, content: bytes | None
) -> None:
    core = _fake_build(tmp_path, record=False)
    if content is not None:
        (core / _native.RECORD).write_bytes(content)
    assert _native.choose(str(core), {}) == (False, "events.py changed since it was compiled")


def _import_fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> object:
    monkeypatch.syspath_prepend(str(tmp_path))
    for key in [k for k in sys.modules if k == "pkg" or k.startswith("pkg.")]:
        monkeypatch.delitem(sys.modules, key)
    return importlib.import_module(name)


def test_select_makes_imports_load_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = _fake_build(tmp_path)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    assert _native.select("pkg.core", str(core), {"QTWS_PURE": "1"}) is False
    # Without the finder the stand-in extension module would be loaded (and fail).
    module = _import_fresh(monkeypatch, tmp_path, "pkg.core.protocol")
    assert module.WHERE == "source of protocol"  # type: ignore[attr-defined]
    assert _native.compiled("pkg.core") == ()
    finder = sys.meta_path[0]
    assert isinstance(finder, _native.SourceFinder)
    assert finder.find_spec("pkg.core.handshake", None) is None  # never compiled
    assert finder.find_spec("other.protocol", None) is None


def test_select_warns_once_about_a_stale_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = _fake_build(tmp_path)
    (core / "mask.py").write_text("WHERE = 'edited'\n")
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    with pytest.warns(RuntimeWarning, match=r"interpreted qtws.core \(mask.py changed"):
        assert _native.select("pkg.core", str(core), {}) is False
    module = _import_fresh(monkeypatch, tmp_path, "pkg.core.mask")
    assert module.WHERE == "edited"  # type: ignore[attr-defined]


def test_select_leaves_a_current_build_and_no_build_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = _fake_build(tmp_path)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    before = list(sys.meta_path)
    assert _native.select("pkg.core", str(core), {}) is True
    assert _native.select("pkg.core", str(tmp_path / "nothing"), {}) is False
    assert sys.meta_path == before


def test_compiled_names_the_modules_loaded_from_extensions() -> None:
    class Module:
        def __init__(self, file: str | None) -> None:
            self.__file__ = file

    modules = {
        "p.events": Module(f"/x/events{SUFFIX}"),
        "p.frames": Module("/x/frames.py"),
        "p.mask": Module(None),  # a namespace-like module without a file
        "p.protocol": Module(f"/x/protocol{SUFFIX}"),
    }
    assert _native.compiled("p", modules) == ("events", "protocol")


def test_setup_py_compiles_the_modules_native_selects() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    values = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in ("MODULES", "RECORD", "GROUP")
    }
    assert values["MODULES"] == _native.MODULES
    assert values["RECORD"] == _native.RECORD
    assert values["GROUP"].rpartition(".")[2] + "__mypyc" == _native.SHARED


def test_this_process_uses_what_choose_says() -> None:
    use, _ = _native.choose(str(CORE), os.environ)
    in_use = _native.compiled("qtws.core")
    assert qtws.COMPILED == qtws.core.COMPILED == in_use
    assert in_use == (_native.MODULES if use else ())
    if os.environ.get("QTWS_EXPECT_COMPILED") == "1":
        assert in_use == _native.MODULES, "the compiled run got the interpreted core"


def _probe(**env: str) -> str:
    code = "import qtws, qtws.core.protocol as p; print(qtws.COMPILED, p.__file__.endswith('.py'))"
    environ = {k: v for k, v in os.environ.items() if k != "QTWS_PURE"} | env
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_qtws_pure_in_a_new_process_gets_the_sources() -> None:
    assert _probe(QTWS_PURE="1") == "() True"


def test_a_new_process_gets_the_compiled_core_when_it_is_current() -> None:
    use, _ = _native.choose(str(CORE), {})
    expected = f"{_native.MODULES} False" if use else "() True"
    assert _probe() == expected


def test_the_compiled_core_behaves_as_the_source() -> None:
    # The same bytes in, the same events and bytes out, in both builds (the whole suite
    # checks behaviour; this is a quick cross-check of a mixed stream in one process each).
    code = (
        "import os, qtws.core as c\n"
        "from qtws.core.frames import encode_frame\n"
        "from bench.codec import open_qtws\n"
        "conn = open_qtws()\n"
        "data = encode_frame(1, 'héllo'.encode()) + encode_frame(2, b'\\x00' * 300)"
        " + encode_frame(9, b'p') + encode_frame(1, b'\\xff')\n"
        "for i in range(len(data)):\n"
        "    conn.receive_data(data[i:i + 1])\n"
        "    while conn.has_pending_input():\n"
        "        print(conn.events_received()); conn.receive_data(b'')\n"
        "print(conn.events_received(), conn.state, conn.close_code)\n"
        "conn = open_qtws(); conn._mask_source = lambda n: b'abcd'; conn._pooled = False\n"
        "conn.send_text('x' * 200); conn.send_binary(memoryview(b'yz')); conn.send_ping(b'')\n"
        "print(conn.data_to_send().hex())\n"
    )
    outputs = set()
    for pure in ("1", "0"):
        environ = os.environ | {"QTWS_PURE": pure}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        outputs.add(out.stdout)
    assert len(outputs) == 1, outputs


EVENTS = [
    HandshakeComplete("chat", ("permessage-deflate",), (("Server", "x"),)),
    Redirect(302, "ws://127.0.0.1/next", (("Set-Cookie", "a=b"),)),
    TextMessage("héllo"),
    BinaryMessage(b"\x00\xff"),
    Ping(b"p"),
    Pong(b""),
    CloseReceived(1000, "bye"),
    ConnectionFailed(ProtocolError("bad", 1002), 1002),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_copy_pickle_compare_and_stay_frozen_in_either_build(event: Event) -> None:
    # Runs in the gate (interpreted) and in the compiled run: a compiled frozen class's own
    # reduce protocol would hit its frozen __setattr__ (events.py's _Reducible fixes that).
    for clone in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert type(clone) is type(event)
        if isinstance(event, ConnectionFailed):
            assert isinstance(clone, ConnectionFailed)
            assert (type(clone.exc), clone.exc.args, clone.code) == (
                ProtocolError,
                event.exc.args,
                event.code,
            )
        else:
            assert clone == event and hash(clone) == hash(event) and repr(clone) == repr(event)
    assert dataclasses.replace(event) == event or isinstance(event, ConnectionFailed)
    name = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, name, None)
