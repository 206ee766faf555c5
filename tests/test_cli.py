"""``python -m qtws``: driven as a subprocess (pipe mode) and in a pseudo-terminal (interactive)
against real `websockets` servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.server import ServerConnection

from qtws.cli import build_parser, escape_text, format_binary

from .peer import OP_PING, OP_PONG, OP_TEXT, Peer, PeerConn
from .servers import HttpProxy, RawServer, Tls, accept_upgrade, ws_server

ROOT = Path(__file__).resolve().parent.parent
# A generous bound: only a hung client hits it (it is never a timing assertion).
HANG = 60


def run_cli(*args: str, stdin: str | None = "") -> subprocess.CompletedProcess[str]:
    """Run ``python -m qtws ARGS`` with ``stdin`` piped in (``None``: no stdin at all)."""
    env = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}
    return subprocess.run(
        [sys.executable, "-m", "qtws", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=HANG,
        cwd=ROOT,
        env=env,
    )


def messages(stdout: str) -> list[str]:
    """The message lines of the output, time stamps removed."""
    return [line.split(" < ", 1)[1] for line in stdout.splitlines() if " < " in line]


# ---------------------------------------------------------------------- pure helpers
def test_escape_text_neutralises_terminal_controls() -> None:
    assert escape_text("a\tb\nc") == "a\tb\nc"
    assert escape_text("\x1b[31mred\x07\x7f\x9b") == "\\x1b[31mred\\x07\\x7f\\x9b"
    assert escape_text("é✓") == "é✓"


def test_format_binary_shows_length_and_hex_preview() -> None:
    assert format_binary(b"") == "binary 0 bytes"
    assert format_binary(b"\x00\x01\xff") == "binary 3 bytes: 00 01 ff"
    long = bytes(range(40))
    assert format_binary(long) == "binary 40 bytes: " + bytes(range(32)).hex(" ") + " ..."


def test_help_lists_every_option() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for option in (
        "--send",
        "--count",
        "--timeout",
        "--quiet",
        "--json",
        "--header",
        "--subprotocol",
        "--origin",
        "--proxy",
        "--ca-file",
        "--no-compression",
        "--ping-interval",
        "--max-size",
        "--linger",
        "/ping",
        "/close",
        "/binary",
        "/quit",
        "130",
    ):
        assert option in out.stdout, option
    # The parser object itself is importable for documentation tools.
    assert build_parser().prog == "qtws"


# ---------------------------------------------------------------------- pipe mode
def test_pipe_lines_are_sent_and_echoes_printed_in_order() -> None:
    with ws_server() as srv:
        out = run_cli(srv.url, "--count", "3", stdin='a\nb\n{"x": [1, 2]}\n')
    assert out.returncode == 0, out.stderr
    assert messages(out.stdout) == ["a", "b", '{"x": [1, 2]}']
    assert "connected to " + srv.url in out.stderr
    assert "extensions: permessage-deflate" in out.stderr
    assert "closed: code 1000, clean" in out.stderr
    assert "Traceback" not in out.stderr


def test_json_is_pretty_printed_and_quiet_prints_messages_only() -> None:
    with ws_server() as srv:
        out = run_cli(srv.url, "-q", "--json", "-n", "2", stdin='{"k": "v"}\nnot json\n')
    assert out.returncode == 0, out.stderr
    assert out.stdout == '{\n  "k": "v"\n}\nnot json\n'
    assert out.stderr == ""


def test_end_of_stdin_closes_after_linger() -> None:
    with ws_server() as srv:
        out = run_cli(srv.url, "--linger", "0", stdin="")
    assert out.returncode == 0, out.stderr
    assert "closed: code 1000, clean" in out.stderr


def test_send_options_go_first_and_a_server_close_is_reported() -> None:
    def handler(ws: ServerConnection) -> None:
        assert ws.recv() == "one"
        assert ws.recv() == "two"
        ws.close(4000, "enough")

    with ws_server(handler) as srv:
        out = run_cli(srv.url, "--send", "one", "-s", "two", stdin=None)
    assert out.returncode == 0, out.stderr
    assert "closed: code 4000 'enough', clean" in out.stderr


def test_binary_and_control_characters_print_safely() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.send(bytes(range(40)))
        ws.send("bell\x07 \x1b]0;title\x07")
        ws.recv()

    with ws_server(handler) as srv:
        out = run_cli(srv.url, "-q", "-n", "2", "-s", "go", stdin=None)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        format_binary(bytes(range(40))),
        "bell\\x07 \\x1b]0;title\\x07",
    ]
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout


def test_headers_subprotocol_origin_reach_the_server() -> None:
    with ws_server(subprotocols=["chat"]) as srv:
        out = run_cli(
            srv.url,
            "-H",
            "X-Token: abc",
            "--header",
            "X-Other:2",
            "-p",
            "chat",
            "--origin",
            "https://app.example",
            "--no-compression",
            "--no-ping",
            "-n",
            "1",
            stdin="hi\n",
        )
    assert out.returncode == 0, out.stderr
    assert "subprotocol: chat, extensions: -" in out.stderr
    (request,) = srv.requests
    assert request.headers["X-Token"] == "abc"
    assert request.headers["X-Other"] == "2"
    assert request.headers["Origin"] == "https://app.example"
    assert "Sec-WebSocket-Extensions" not in request.headers


def test_ca_file_trusts_a_private_ca(tmp_path: Path) -> None:
    tls = Tls()
    ca = tmp_path / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(ca))
    with ws_server(ssl_context=tls.server) as srv:
        trusted = run_cli(srv.url, "--ca-file", str(ca), "-n", "1", "-q", stdin="tls\n")
        untrusted = run_cli(srv.url, "-n", "1", stdin="tls\n")
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout == "tls\n"
    assert untrusted.returncode == 1
    assert "SSLCertVerificationError" in untrusted.stderr
    assert "Traceback" not in untrusted.stderr


def test_ping_interval_sends_keepalive_pings() -> None:
    def script(conn: PeerConn) -> None:
        ping = conn.recv_frame(HANG)  # the client sends nothing but its keep-alive
        assert ping is not None and ping.opcode == OP_PING
        conn.send_frame(OP_PONG, ping.payload)
        conn.send_frame(OP_TEXT, b"pinged")
        conn.finish()

    with Peer(script, timeout=HANG) as peer:
        out = run_cli(peer.url, "--ping-interval", "0.05", "-q", "-n", "1", stdin=None)
        peer.join(HANG)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "pinged\n"


def test_proxy_option_tunnels_through_an_http_proxy() -> None:
    proxy = HttpProxy()
    try:
        with ws_server() as srv:
            out = run_cli(
                srv.url, "--proxy", f"http://127.0.0.1:{proxy.port}", "-q", "-n", "1", stdin="via\n"
            )
    finally:
        proxy.close()
    assert out.returncode == 0, out.stderr
    assert out.stdout == "via\n"
    # The option is really used: a proxy that is not there fails the connection.
    with socket.socket() as nothing, ws_server() as srv:
        nothing.bind(("127.0.0.1", 0))
        port = nothing.getsockname()[1]
        failed = run_cli(srv.url, "--proxy", f"http://127.0.0.1:{port}", stdin=None)
    assert failed.returncode == 1
    assert f"127.0.0.1:{port}" in failed.stderr and "Traceback" not in failed.stderr


def test_max_size_fails_with_1009() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.send("x" * 100)
        with contextlib.suppress(Exception):
            ws.recv()

    with ws_server(handler) as srv:
        out = run_cli(srv.url, "--max-size", "10", "-s", "go", stdin=None)
    assert out.returncode == 1
    assert "PayloadTooBig" in out.stderr
    assert "code 1009" in out.stderr and "not clean" in out.stderr


def test_timeout_before_count_is_a_failure() -> None:
    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for _ in ws:
                pass  # never answers

    with ws_server(handler) as srv:
        out = run_cli(srv.url, "--timeout", "0.3", "-n", "1", "-s", "hello?", stdin=None)
    assert out.returncode == 1
    assert "timeout after 0.3 s" in out.stderr
    assert "closed: code 1000, clean" in out.stderr


def test_connection_refused_exits_1_without_traceback() -> None:
    # A port bound but not listening refuses connections, and nobody else can take it meanwhile.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        out = run_cli(f"ws://127.0.0.1:{blocker.getsockname()[1]}/", stdin=None)
    assert out.returncode == 1
    assert "ConnectionRefusedError" in out.stderr
    assert "closed: code 1006, not clean" in out.stderr
    assert "Traceback" not in out.stderr


def test_dropped_connection_exits_1() -> None:
    def drop(conn: object) -> None:
        accept_upgrade(conn)  # type: ignore[arg-type]
        conn.close()  # type: ignore[attr-defined]

    with RawServer(drop) as raw:
        out = run_cli(f"ws://127.0.0.1:{raw.port}/", stdin=None)
    assert out.returncode == 1
    assert "code 1006, not clean" in out.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["http://example.org/"], "not a valid WebSocket URI"),
        (["ws://h/", "--header", "no-colon"], "expected NAME:VALUE"),
        (["ws://h/", "--header", "Upgrade: x"], "set by qtws itself"),
        (["ws://h/", "--count", "0"], "must be > 0"),
        (["ws://h/", "--timeout", "soon"], "not a number"),
        (["ws://h/", "--proxy", "nonsense"], "proxy must be"),
        (["ws://h/", "--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2_with_the_message(args: list[str], needle: str) -> None:
    out = run_cli(*args, stdin=None)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("qt_api", "needle"), [("nope", "QT_API='nope' is not a binding"), ("pyside7", "'pyside6'")]
)
def test_no_usable_qt_binding_exits_2_with_the_install_hint(qt_api: str, needle: str) -> None:
    # `pip install qtws` without the [pyqt6]/[pyside6] extra (a binding is no base dependency)
    # or a wrong QT_API: one line saying what to do, not a traceback out of qtws._qt.
    env = {**os.environ, "QT_API": qt_api}
    cmd = [sys.executable, "-m", "qtws", "ws://127.0.0.1:9/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG, cwd=ROOT, env=env)
    assert out.returncode == 2
    assert out.stderr.startswith("qtws: ") and needle in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------------- interactive (pty)
class Terminal:
    """The CLI on a pseudo-terminal that is its controlling terminal (so Ctrl-C signals)."""

    def __init__(self, *args: str) -> None:
        import fcntl
        import pty
        import termios

        self.master, slave = pty.openpty()

        def make_controlling() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = {**os.environ, "NO_PROXY": "*", "no_proxy": "*", "TERM": "dumb"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qtws", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            preexec_fn=make_controlling,  # the child must own the terminal (Ctrl-C)
        )
        os.close(slave)
        self.screen = ""

    def expect(self, text: str) -> str:
        """Read until ``text`` appears; return everything read so far."""
        deadline = time.monotonic() + HANG
        while text not in self.screen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never appeared in {self.screen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"EOF before {text!r} in {self.screen!r}")
                self.screen += chunk.decode("utf-8", "replace")
        return self.screen

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self) -> int:
        return self.proc.wait(HANG)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(HANG)
        os.close(self.master)


@contextlib.contextmanager
def terminal(*args: str) -> Iterator[Terminal]:
    term = Terminal(*args)
    try:
        yield term
    finally:
        term.close()


pty_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


@pty_only
def test_interactive_commands() -> None:
    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for msg in ws:
                ws.send(msg)

    seen: list[tuple[int | None, str | None]] = []

    def recording(ws: ServerConnection) -> None:
        handler(ws)
        seen.append((ws.close_code, ws.close_reason))

    with ws_server(recording) as srv, terminal(srv.url) as term:
        term.expect("extensions: permessage-deflate)")
        term.expect("> ")
        term.type("hello\r")
        term.expect("< hello")
        term.type("/ping abc\r")
        term.expect("pong 'abc' in ")
        term.type("/binary 01 02 ff\r")
        term.expect("< binary 3 bytes: 01 02 ff")
        term.type("/binary zz\r")
        term.expect("/binary: non-hexadecimal")
        term.type("//slash\r")
        term.expect("< /slash")
        term.type("/nope\r")
        term.expect("unknown command /nope")
        term.type("/close 1005\r")
        term.expect("/close: close code 1005 may not be sent")
        term.type("/close 4001 see you\r")
        term.expect("closed: code 4001 'see you', clean")
        assert term.wait() == 0
    assert seen == [(4001, "see you")]


@pty_only
def test_prompt_and_typed_text_survive_an_incoming_message() -> None:
    push = threading.Event()

    def handler(ws: ServerConnection) -> None:
        while not push.wait(0.01):
            pass
        ws.send("pushed")
        with contextlib.suppress(Exception):
            for _ in ws:
                pass

    with ws_server(handler) as srv, terminal(srv.url) as term:
        term.expect("> ")
        term.type("half-typ")
        term.expect("half-typ")
        push.set()
        # The message is printed on a cleared line, then the prompt and the typed text again.
        screen = term.expect("< pushed\r\n> half-typ")
        assert "\r\x1b[K" in screen
        term.type("ed\r")  # the line typed across the interruption is sent whole
        term.type("/quit\r")
        term.expect("closed: code 1000, clean")
        assert term.wait() == 0


@pty_only
def test_ctrl_d_closes_cleanly_and_ctrl_c_exits_130() -> None:
    with ws_server() as srv:
        with terminal(srv.url, "--linger", "0") as term:
            term.expect("> ")
            term.type("\x04")
            term.expect("closed: code 1000, clean")
            assert term.wait() == 0
        with terminal(srv.url) as term:
            term.expect("> ")
            term.type("\x03")
            assert term.wait() == 130
            assert "Traceback" not in term.screen
