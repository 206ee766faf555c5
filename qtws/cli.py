"""``python -m qtws URL`` (also the ``qtws`` console script): a terminal WebSocket client.

This module is just over 400 lines because argument parsing, the interactive commands and the
stdin thread form one small program that reads best in one place.

How it works
------------
The client is a :class:`qtws.WebSocket` driven by qtws's own selectors loop
(:class:`qtws.loop.SelectorsProxy`): no QApplication and no display are needed, and the loop
is the same code path scripts use.  The Qt loop would work too, but it needs a Qt platform
plugin only to read a terminal, and the selectors loop wakes at once on ``SIGINT``.

Standard input is read by a daemon thread that hands each line to the loop with
``call_soon_threadsafe`` (FIFO, so lines keep their order): a thread is the one way that
works for terminals, pipes, regular files and Windows consoles alike, and the loop never
blocks on it.  On a terminal that thread calls ``input()``, so GNU ``readline`` (when Python
has it) gives line editing and history; incoming messages are printed above the prompt, which
is then redrawn with the line being typed.

Exit codes: 0 after a clean close or when ``--count`` messages arrived; 1 when the connection
failed, closed uncleanly or ``--timeout`` expired before ``--count`` was reached; 2 for usage
errors (bad options, an invalid URL) and when no Qt binding can be loaded (the message says
what to install); 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import re
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .config import Config
from .errors import WebSocketError
from .loop import SelectorsProxy

if TYPE_CHECKING:
    from .state import CloseEvent
    from .websocket import WebSocket

__all__ = ["build_parser", "escape_text", "format_binary", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROMPT = "> "
_PREVIEW = 32  # bytes of a binary message shown in hex
_COMMANDS = "/ping [text]  /close [code [reason]]  /binary HEX  /quit  (//text sends '/text')"
# C0 controls other than tab and newline, DEL and the C1 range: a message could otherwise
# move the cursor, retitle the window or worse (terminal escape sequences).
_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c not in (9, 10)}
_HAS_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_text(text: str) -> str:
    """``text`` with control characters (except tab and newline) shown as ``\\xNN``."""
    # The scan is C speed; translate() with a mapping is slow and rarely needed.
    return text.translate(_UNSAFE) if _HAS_UNSAFE.search(text) else text


def format_binary(data: bytes) -> str:
    """A binary message as its length and a hex preview of its first bytes."""
    preview = data[:_PREVIEW].hex(" ")
    more = " ..." if len(data) > _PREVIEW else ""
    return f"binary {len(data)} bytes: {preview}{more}".rstrip(": ") if data else "binary 0 bytes"


def _header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, got {value!r}")
    return name.strip(), rest.strip()


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
        if not number > 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {value!r}")
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m qtws``."""
    p = argparse.ArgumentParser(
        prog="qtws",
        description="Talk to a WebSocket server from a terminal (built on qtws).",
        epilog=(
            "Interactive commands: " + _COMMANDS + ". Lines piped to stdin are sent as text "
            "messages; --linger seconds after the end of stdin the client closes (1000), "
            "unless --count is waiting. "
            "Exit codes: 0 clean close or --count reached; 1 connection failed, unclean close "
            "or --timeout before --count; 2 usage error; 130 interrupted (Ctrl-C)."
        ),
    )
    p.add_argument("url", help="ws://, wss:// or ws+unix:// URL")
    a = p.add_argument
    a("-s", "--send", action="append", default=[], metavar="TEXT", help="send TEXT (repeatable)")
    a("-n", "--count", type=_positive(int), metavar="N", help="exit after N messages")
    a("-t", "--timeout", type=_positive(float), metavar="S", help="give up after S seconds")
    a(
        "--linger",
        type=float,
        default=1.0,
        metavar="S",
        help="after the end of stdin, wait S seconds for replies, then close (default 1)",
    )
    a("-q", "--quiet", action="store_true", help="print messages only: no status, no times")
    a("--json", action="store_true", help="pretty-print text messages that are JSON")
    a("-H", "--header", action="append", type=_header, default=[], metavar="K:V")
    a("-p", "--subprotocol", action="append", default=[], metavar="NAME")
    a("--origin", metavar="URL", help="Origin header")
    a("--proxy", metavar="URL", help="http:// or socks5:// proxy, 'none' (default: environment)")
    a("--ca-file", metavar="PEM", help="trust the CA certificates in PEM (wss)")
    a("--no-compression", action="store_true", help="do not offer permessage-deflate")
    a("--ping-interval", type=_positive(float), metavar="S", help="keep-alive pings (default 20)")
    a("--no-ping", action="store_true", help="no keep-alive pings")
    a("--max-size", type=_positive(int), metavar="BYTES", help="largest message accepted")
    return p


def _config(args: argparse.Namespace) -> Config:
    ctx = None
    if args.ca_file:
        try:
            ctx = ssl.create_default_context(cafile=args.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--ca-file {args.ca_file}: {exc}") from None
    kwargs: dict[str, Any] = {
        "headers": tuple(args.header),
        "subprotocols": tuple(args.subprotocol),
        "origin": args.origin,
        "compression": not args.no_compression,
        "ssl_context": ctx,
        "proxy": None if args.proxy == "none" else (args.proxy or "auto"),
    }
    if args.no_ping:
        kwargs["ping_interval"] = None
    elif args.ping_interval is not None:
        kwargs["ping_interval"] = args.ping_interval
    if args.max_size is not None:
        kwargs["max_message_size"] = args.max_size
    return Config(**kwargs)


class _Output:
    """Prints messages and status lines; on a terminal, above the redrawn prompt."""

    def __init__(self, quiet: bool, interactive: bool, out: TextIO, err: TextIO) -> None:
        self.quiet = quiet
        self.interactive = interactive
        self.prompting = False  # the stdin thread shows the prompt (waits in input())
        self.out = out
        self.err = err
        self._lock = threading.Lock()
        try:
            import readline

            self._buffer: Callable[[], str] = readline.get_line_buffer
        except ImportError:  # pragma: no cover - Windows, or Python built without readline
            self._buffer = str

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            if self.interactive and self.prompting:
                # Clear the prompt line, print, then redraw the prompt and the typed text.
                stream.write(f"\r\x1b[K{text}\n{PROMPT}{self._buffer()}")
            else:
                stream.write(text + "\n")
            stream.flush()

    def message(self, text: str) -> None:
        if self.quiet:
            self._write(self.out, text)
            return
        stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        self._write(self.out, f"{stamp} < {text}")

    def status(self, text: str) -> None:
        if not self.quiet:
            self._write(self.out if self.interactive else self.err, f"* {text}")

    def error(self, text: str) -> None:
        self._write(self.out if self.interactive else self.err, f"qtws: {text}")


class Client:
    """One session: the WebSocket, its input and the outcome (an exit code)."""

    def __init__(self, args: argparse.Namespace, ws: WebSocket, proxy: SelectorsProxy) -> None:
        self.args = args
        self.ws = ws
        self.loop = proxy
        self.interactive = not args.send and sys.stdin is not None and sys.stdin.isatty()
        self.read_stdin = sys.stdin is not None and (self.interactive or not sys.stdin.isatty())
        self.output = _Output(args.quiet, self.interactive, sys.stdout, sys.stderr)
        self.received = 0
        self.done = False
        self.exit_code = EXIT_FAILED
        self.timed_out = False
        self.interrupted = False
        self._stdin_done = not self.read_stdin
        self._lingering = False
        ws.opened.connect(self._on_open)
        ws.message.connect(self._on_message)
        ws.pong_received.connect(self._on_pong)
        ws.error.connect(self._on_error)
        ws.closed.connect(self._on_closed)

    # ------------------------------------------------------------------ websocket signals
    def _on_open(self) -> None:
        ws = self.ws
        self.output.status(
            f"connected to {ws.url} (subprotocol: {ws.protocol or '-'}, "
            f"extensions: {ws.extensions or '-'})"
        )
        for text in self.args.send:
            ws.send(text)
        if self.read_stdin:
            self._start_stdin()
        self._maybe_finish()

    def _on_message(self, data: str | bytes) -> None:
        self.received += 1
        if isinstance(data, bytes):
            self.output.message(format_binary(data))
        else:
            self.output.message(escape_text(self._pretty(data)))
        self._maybe_finish()

    def _pretty(self, text: str) -> str:
        if self.args.json:
            with contextlib.suppress(ValueError):
                return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        return text

    def _on_pong(self, payload: bytes, rtt: float) -> None:
        shown = escape_text(payload.decode("utf-8", "replace"))
        self.output.status(f"pong {shown!r} in {rtt * 1000:.1f} ms")

    def _on_error(self, exc: BaseException) -> None:
        self.output.error(f"{type(exc).__name__}: {exc}")

    def _on_closed(self, event: CloseEvent) -> None:
        clean = "clean" if event.was_clean else "not clean"
        reason = f" {event.reason!r}" if event.reason else ""
        self.output.status(f"closed: code {event.code}{reason}, {clean}")
        count_met = self.args.count is None or self.received >= self.args.count
        ok = event.was_clean and not (self.timed_out and not count_met)
        self.exit_code = EXIT_OK if ok else EXIT_FAILED
        self.done = True

    # ------------------------------------------------------------------ ending
    def _maybe_finish(self) -> None:
        """Close once --count messages arrived, or stdin ended with no --count to wait for."""
        count = self.args.count
        if count is not None:
            if self.received >= count:
                self.close()
        elif self._stdin_done and self.read_stdin and not self._lingering:
            # Replies to the last lines may still be on their way: a close sent now would
            # make many servers drop them.
            self._lingering = True
            self.loop.call_later(max(self.args.linger, 0.0), self.close)

    def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(WebSocketError):  # already closing: nothing to do
            self.ws.close(code, reason)

    def on_timeout(self) -> None:
        self.timed_out = True
        self.output.error(f"timeout after {self.args.timeout} s")
        self.close()

    def on_sigint(self, signum: int, frame: object) -> None:
        self.interrupted = True
        self.done = True
        self.loop.stop()

    # ------------------------------------------------------------------ input
    def _start_stdin(self) -> None:
        threading.Thread(target=self._read_lines, name="qtws-stdin", daemon=True).start()

    def _read_lines(self) -> None:
        """The stdin thread: each line goes to the loop; ``None`` marks the end."""
        post = self.loop.call_soon_threadsafe
        try:
            if self.interactive:
                with contextlib.suppress(ImportError):
                    import readline  # noqa: F401 - input() gets line editing and history
                while True:
                    self.output.prompting = True
                    line = input(PROMPT)
                    self.output.prompting = False
                    post(functools.partial(self._on_line, line))
            else:
                for raw in sys.stdin:
                    text = raw[:-1] if raw.endswith("\n") else raw
                    post(functools.partial(self._on_line, text))
        except (EOFError, OSError, ValueError):
            pass  # Ctrl-D, a closed stdin
        post(lambda: self._on_line(None))

    def _on_line(self, line: str | None) -> None:
        if line is None:
            self._stdin_done = True
            if self.interactive:
                self.output.interactive = False
            self._maybe_finish()
            return
        if self.interactive and line.startswith("/") and not line.startswith("//"):
            self._command(line)
            return
        if self.interactive and line.startswith("//"):
            line = line[1:]
        self._send(line)

    def _send(self, data: str | bytes) -> None:
        try:
            self.ws.send(data)
        except WebSocketError as exc:
            self.output.error(f"not sent: {exc}")

    def _command(self, line: str) -> None:
        name, _, rest = line.partition(" ")
        try:
            if name == "/ping":
                self.ws.ping(rest.encode())
            elif name == "/close":
                code, _, reason = rest.strip().partition(" ")
                self.close(int(code) if code else 1000, reason)
            elif name == "/binary":
                self._send(bytes.fromhex(rest))
            elif name == "/quit":
                self.close()
            else:
                self.output.error(f"unknown command {name}; commands: {_COMMANDS}")
        except (ValueError, TypeError, WebSocketError) as exc:
            self.output.error(f"{name}: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; returns the exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on a usage error
    try:
        config = _config(args)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    proxy = SelectorsProxy()
    try:
        from .websocket import WebSocket  # the Qt binding loads here, not for --help
    except ImportError as exc:
        if "QT_API" not in str(exc) and "Qt binding" not in str(exc):
            raise  # not the binding's: a bug to see in full
        print(f"qtws: {exc}", file=sys.stderr)  # the fix, no traceback
        return EXIT_USAGE

    try:
        ws = WebSocket(args.url, config, loop=proxy)
    except WebSocketError as exc:  # InvalidURI
        parser.error(str(exc))
    client = Client(args, ws, proxy)
    saved = _terminal_state()
    previous = signal.signal(signal.SIGINT, client.on_sigint)
    try:
        if args.timeout is not None:
            proxy.call_later(args.timeout, client.on_timeout)
        ws.open()
        proxy.run_until(lambda: client.done)
    finally:
        signal.signal(signal.SIGINT, previous)
        _restore_terminal(saved)
    if client.interrupted:
        client.close(1001, "interrupted")  # written at once by the selectors loop
        return EXIT_INTERRUPTED
    return client.exit_code


def _terminal_state() -> Any:
    """The terminal's settings, so an exit while readline edits a line restores them."""
    try:
        import termios

        return termios.tcgetattr(sys.stdin.fileno())
    except Exception:  # no termios (Windows), no terminal, stdin closed or replaced
        return None


def _restore_terminal(saved: Any) -> None:
    if saved is not None:
        import termios

        with contextlib.suppress(termios.error, OSError, ValueError):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
            sys.stdout.write("\n")
            sys.stdout.flush()
