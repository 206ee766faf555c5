"""Every Python code block of the README runs as written (issue 17.12).

Each ```` ```python ```` block is a complete program: it runs alone, in a fresh interpreter,
with nothing defined beforehand.  The only thing that differs from the README is the server,
by these rules (for whoever adds an example):

* every ``ws://`` and ``wss://`` URL in the block is replaced by the URL of a local
  ``websockets`` server (``ws://127.0.0.1:PORT/`` plus the URL's path and query); other
  URLs (``ws+unix://``, proxies) are left alone, so a block that only builds objects with
  them runs unchanged;
* that server **echoes every message and closes the connection (code 1000) once it has
  echoed one**, so an example that waits for the end (``app.exec()`` until ``closed``,
  ``for message in ws``, ``qtws.run_event_loop()``) ends;
* the block runs headless (``QT_QPA_PLATFORM=offscreen``) with no proxy variables, and must
  exit with status 0; a timeout only guards against a hang.

A block that cannot run (an illustration of a fragment) is not a ``python`` block: mark it
```` ```text ```` or fold it into prose.  Blocks that print something fixed are checked
against the ``# prints: ...`` comment on the line, when there is one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.server import ServerConnection

from tests.servers import WsServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_WS_URL = re.compile(r"\bwss?://[^/\s\"']+(/[^\s\"']*)?")


def readme_blocks() -> list[tuple[int, str]]:
    """``(line number, code)`` of each Python block of the README."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


def localize(code: str, server_url: str) -> str:
    """``code`` with every ws:// and wss:// URL pointing at the local server instead."""
    base = server_url.rstrip("/")
    return _WS_URL.sub(lambda m: base + (m.group(1) or "/"), code)


def echo_once_then_close(ws: ServerConnection) -> None:
    """The README server: echo messages; close with 1000 after the first echo."""
    for msg in ws:
        ws.send(msg)
        ws.close(1000, "bye")
        break


@pytest.fixture(scope="module")
def server() -> Iterator[WsServer]:
    with WsServer(echo_once_then_close) as srv:
        yield srv


def test_the_readme_has_python_examples() -> None:
    assert len(readme_blocks()) >= 8


def test_localize_rewrites_ws_urls_only() -> None:
    code = 'a = "wss://example.org/feed?x=1"; b = "ws+unix:///run/a.sock"; c = "socks5://h:1"'
    assert localize(code, "ws://127.0.0.1:9/") == (
        'a = "ws://127.0.0.1:9/feed?x=1"; b = "ws+unix:///run/a.sock"; c = "socks5://h:1"'
    )


@pytest.mark.parametrize(
    ("line", "code"), [pytest.param(n, code, id=f"line{n}") for n, code in readme_blocks()]
)
def test_readme_example_runs_as_written(
    server: WsServer, tmp_path: Path, line: int, code: str
) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    # Run as an application would: the binding a block imports is the one qtws picks (a
    # PyQt6 block under the PySide6 run's QT_API=pyside6 would load both bindings).
    for name in ("QT_API", "PYTEST_QT_API"):
        env.pop(name, None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    script = tmp_path / f"readme_line{line}.py"
    script.write_text(localize(code, server.url))
    try:
        out = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=45,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # a hang guard, not a time limit
        pytest.fail(f"README.md line {line} never ended (does it wait for a close?): {exc}")
    assert out.returncode == 0, f"README.md line {line}:\n{out.stdout}\n{out.stderr}"
    for expected in re.findall(r"# prints: (.*)$", code, re.MULTILINE):
        assert expected.strip() in out.stdout, f"README.md line {line}: {expected!r}"
