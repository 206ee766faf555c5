"""aiohttp's WebSocket server speaking the interop routes (see ``routes.py``)."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from tests.interop.routes import DROP_TAIL, LIMIT, PING_PAYLOAD, announce, close_args


async def handle(request: web.Request) -> web.StreamResponse:
    route = request.path
    # autoping answers pings and swallows pongs; /ping needs to see the pong.
    limit = LIMIT if route == "/limited" else 0  # 0: no limit
    ws = web.WebSocketResponse(compress=True, autoping=route != "/ping", max_msg_size=limit)
    await ws.prepare(request)
    if route in ("/echo", "/limited"):
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
    elif route == "/close":
        code, reason = close_args(request.query_string)
        await ws.send_str("closing")
        await ws.close(code=code, message=reason.encode())
    elif route == "/ping":
        await ws.ping(PING_PAYLOAD)
        async for msg in ws:
            if msg.type is WSMsgType.PONG:
                await ws.send_str("pong:" + msg.data.decode())
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
    elif route == "/drop":
        await ws.send_str("before")
        transport = request.transport
        assert transport is not None
        transport.write(DROP_TAIL)
        transport.close()  # TCP closed with half a frame sent: no closing handshake
    return ws


async def main() -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    announce(runner.addresses[0][1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
