"""What every interop server does, by request path (each server script implements these).

- ``/echo``: send every message back with its type.
- ``/echo-tight`` (servers that can impose RFC 7692 parameters): first the text
  ``extensions:<the Sec-WebSocket-Extensions value it answered>``, which carries the
  parameters ``Server.imposed`` lists, then as ``/echo``.
- ``/fragments`` (servers whose API sends fragments): ``/echo``, each message sent back in
  fragments of :data:`FRAGMENT` bytes (text is cut inside UTF-8 characters), compressed as one
  message when permessage-deflate was negotiated.
- ``/limited``: ``/echo`` with a :data:`LIMIT`-byte message size limit, over which the server
  closes with 1009 (its own way: some wait for the client's close, some drop TCP).
- ``/close?code=N&reason=R``: send the text ``closing``, then close with code N and reason R.
- ``/ping``: send a ping carrying :data:`PING_PAYLOAD`; when its pong arrives, send the text
  ``pong:<payload>``.
- ``/drop``: send the text ``before``, then write :data:`DROP_TAIL` (the header of a
  1000-byte binary frame and 400 bytes of it) on the raw transport and close TCP.
- ``/drop-fragment`` (servers whose API sends fragments): send the text ``before``, then the
  first fragment (1000 bytes, FIN clear) of a binary message, then close TCP.

A server script binds 127.0.0.1 port 0 and prints ``PORT <n>`` once it accepts connections.
"""

from __future__ import annotations

import struct
import sys
from urllib.parse import parse_qs

PING_PAYLOAD = b"srv-ping"
FRAGMENT = 1000
LIMIT = 65536
DROP_TAIL = struct.pack("!BBH", 0x82, 126, 1000) + b"x" * 400


def close_args(query: str) -> tuple[int, str]:
    """The close code and reason a ``/close`` query asks for."""
    params = parse_qs(query)
    return int(params["code"][0]), params.get("reason", [""])[0]


def announce(port: int) -> None:
    """Tell the test the server is listening (it waits for this line, not for a delay)."""
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
