// The Node `ws` package's server speaking the interop routes (see ../routes.py).
"use strict";
const http = require("http");
const { WebSocketServer } = require("ws");

// The header of a 1000-byte binary frame and 400 bytes of it (routes.DROP_TAIL).
const FRAGMENT = 1000; // routes.FRAGMENT
const LIMIT = 65536; // routes.LIMIT
const DROP_TAIL = Buffer.concat([Buffer.from([0x82, 126, 0x03, 0xe8]), Buffer.alloc(400, "x")]);

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: 64 << 20 });
// /echo-tight: the server imposes every RFC 7692 parameter (servers.py: imposed).
const tight = new WebSocketServer({
  noServer: true,
  maxPayload: 64 << 20,
  perMessageDeflate: {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 9,
  },
});
const limited = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: LIMIT });
// What each /echo-tight response said in Sec-WebSocket-Extensions, by request.
const answered = new WeakMap();
tight.on("headers", (headers, req) => {
  const line = headers.find((h) => h.toLowerCase().startsWith("sec-websocket-extensions:"));
  answered.set(req, line ? line.slice(line.indexOf(":") + 1).trim() : "");
});
const server = http.createServer();

server.on("upgrade", (req, socket, head) => {
  const path = new URL(req.url, "http://127.0.0.1").pathname;
  const target = { "/echo-tight": tight, "/limited": limited }[path] || wss;
  target.handleUpgrade(req, socket, head, (ws) => handle(ws, req, socket));
});

function handle(ws, req, socket) {
  const url = new URL(req.url, "http://127.0.0.1");
  const q = url.searchParams;
  // ws emits protocol errors (e.g. maxPayload) here, then closes with their code itself.
  ws.on("error", () => {});
  switch (url.pathname) {
    case "/echo-tight":
      ws.send("extensions:" + answered.get(req));
    // falls through
    case "/echo":
    case "/limited":
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
      break;
    case "/fragments":
      ws.on("message", (data, isBinary) => {
        const n = Math.max(1, Math.ceil(data.length / FRAGMENT));
        for (let i = 0; i < n; i++) {
          const part = data.subarray(i * FRAGMENT, (i + 1) * FRAGMENT);
          ws.send(part, { binary: isBinary, fin: i === n - 1 });
        }
      });
      break;
    case "/close":
      ws.send("closing");
      ws.close(Number(q.get("code")), q.get("reason") || "");
      break;
    case "/ping":
      ws.on("pong", (data) => ws.send("pong:" + data.toString()));
      ws.ping(Buffer.from("srv-ping"));
      break;
    case "/drop":
      // Once "before" is on the socket: half a frame, then TCP closed (no closing handshake).
      ws.send("before", () => socket.end(DROP_TAIL));
      break;
    case "/drop-fragment":
      // ws's own API: the first fragment of a message (fin: false), then TCP closed.
      ws.send("before", () =>
        ws.send(Buffer.alloc(1000, "x"), { binary: true, fin: false, compress: false }, () =>
          socket.end(),
        ),
      );
      break;
    default:
      ws.close(4404, "no such route");
  }
}

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
