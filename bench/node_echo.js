// The benchmarks' fast peer: Node's `ws` package (with bufferutil) in its own process.
// Started by bench/server.py (`node bench/node_echo.js`) when node and npm are available;
// speaks the same protocol as the Python server there:
//   every message is echoed, except the text commands
//   "!flood N SIZE"  N text messages of SIZE bytes, prebuilt frames written to the socket
//                    (plain server) or sent one by one (the permessage-deflate server)
//   "!sink N"        swallow the next N messages, then answer "!done N"
//   "!blob N"        one binary message of N bytes
// With "CERT KEY" arguments it also serves TLS (no compression, messages sent one by one).
// Prints "<plain port> <deflate port> [<tls port>]" on one line; exits when stdin ends.
"use strict";

const fs = require("fs");
const https = require("https");
const { WebSocketServer } = require("ws");

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

function floodPayload(size) {
  return ALPHABET.repeat(Math.floor(size / ALPHABET.length) + 1).slice(0, size);
}

function frame(payload) {
  const n = payload.length;
  let head;
  if (n < 126) {
    head = Buffer.from([0x81, n]);
  } else if (n < 65536) {
    head = Buffer.from([0x81, 126, n >> 8, n & 0xff]);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x81;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

function floodRaw(ws, count, size) {
  // Unmasked server frames in ~1 MiB writes, waiting for the socket to drain (TCP
  // backpressure); ws writes nothing else meanwhile (the client waits for the whole flood).
  const one = frame(Buffer.from(floodPayload(size)));
  const per = Math.max(1, Math.floor(2 ** 20 / one.length));
  const socket = ws._socket;
  let left = count;
  const chunk = Buffer.concat(Array(Math.min(per, count)).fill(one));
  function pump() {
    while (left > 0) {
      const k = Math.min(per, left);
      left -= k;
      const data = k === per ? chunk : chunk.subarray(0, k * one.length);
      if (!socket.write(data)) {
        socket.once("drain", pump);
        return;
      }
    }
  }
  pump();
}

function floodSend(ws, count, size) {
  const payload = floodPayload(size);
  let left = count;
  function pump() {
    while (left > 0) {
      left -= 1;
      ws.send(payload);
      if (ws.bufferedAmount > 2 ** 22) {
        setImmediate(pump);
        return;
      }
    }
  }
  pump();
}

function serve(perMessageDeflate, raw, tls) {
  const options = { perMessageDeflate, maxPayload: 2 ** 31 - 1 };
  let listening;
  let server;
  if (tls) {
    const httpsServer = https.createServer(tls);
    server = new WebSocketServer({ server: httpsServer, ...options });
    listening = new Promise((resolve) =>
      httpsServer.listen(0, "127.0.0.1", () => resolve(httpsServer)),
    );
  } else {
    server = new WebSocketServer({ host: "127.0.0.1", port: 0, ...options });
    listening = new Promise((resolve) => server.on("listening", () => resolve(server)));
  }
  server.on("connection", (ws) => {
    let sink = 0;
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      if (sink > 0) {
        sink -= 1;
        if (sink === 0) ws.send(`!done ${ws._sinkTotal}`);
        return;
      }
      if (!isBinary && data.length > 0 && data[0] === 0x21 /* "!" */) {
        const [command, a, b] = data.toString().split(" ");
        if (command === "!flood") {
          (raw ? floodRaw : floodSend)(ws, Number(a), Number(b));
          return;
        }
        if (command === "!sink") {
          sink = Number(a);
          ws._sinkTotal = a;
          if (sink === 0) ws.send("!done 0");
          return;
        }
        if (command === "!blob") {
          ws.send(Buffer.alloc(Number(a)), { binary: true });
          return;
        }
      }
      ws.send(data, { binary: isBinary });
    });
  });
  return listening;
}

(async () => {
  const plain = await serve(false, true);
  const deflate = await serve({ threshold: 0 }, false);
  const ports = [plain.address().port, deflate.address().port];
  if (process.argv.length >= 4) {
    const tls = { cert: fs.readFileSync(process.argv[2]), key: fs.readFileSync(process.argv[3]) };
    ports.push((await serve(false, false, tls)).address().port);
  }
  process.stdout.write(`${ports.join(" ")}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
})();
