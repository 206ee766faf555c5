"""Error messages a new user reads first (issue 17): an ``http://`` page answering the upgrade
says that the URL is probably not a WebSocket one."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

import qtws


class _Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/" else 404
        body = b"<html>a web page</html>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _refusal(url: str) -> qtws.InvalidStatus:
    ws = qtws.WebSocket(url, qtws.Config(proxy=None))
    with pytest.raises(qtws.InvalidStatus) as caught:
        ws.connect(timeout=30)
    return caught.value


def test_a_web_page_answering_200_hints_at_the_url(site: str) -> None:
    exc = _refusal(site + "/")
    assert exc.status == 200
    assert str(exc) == (
        "server rejected WebSocket connection: HTTP 200 OK (a WebSocket server answers "
        "101 Switching Protocols: not a WebSocket URL?)"
    )


def test_an_error_status_speaks_for_itself(site: str) -> None:
    exc = _refusal(site + "/missing")
    assert (exc.status, str(exc)) == (
        404,
        "server rejected WebSocket connection: HTTP 404 Not Found",
    )
