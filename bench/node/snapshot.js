// Time and size of a new board's snapshot.
//
//   node snapshot.js URL TOKEN REGION REPEATS DEFLATE TIMEOUT_S PAUSE_MS
//
// Prints one JSON line per attempt: ms from opening the connection to the snapshot having arrived and
// been parsed (the handshake included: that is what a new board waits), the bytes of the snapshot
// frame's payload, the bytes read from the socket (smaller when DEFLATE=1 negotiates per-message
// compression, as browsers do), and the number of homes. An attempt that gets no snapshot within
// TIMEOUT_S prints {"error": ...} and the next one starts, PAUSE_MS after the one before (the server
// may reuse a snapshot it built a moment ago: a pause past that measures a cold one).
"use strict";

const { io } = require("socket.io-client");

const [url, token, region, repeats, deflate, timeoutS, pauseMs] = process.argv.slice(2);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function once() {
  return new Promise((resolve) => {
    const start = nowMs();
    let bytes = 0;
    const socket = io(url + "/board", { transports: ["websocket"], forceNew: true, reconnection: false,
      perMessageDeflate: deflate === "1" ? { threshold: 1024 } : false, timeout: 60000,
      auth: { token, region: region === "all" ? "all" : Number(region) } });
    let finished = false;
    const done = (result) => {
      if (finished) return; // closing the socket below fires "disconnect": that is not a failure
      finished = true;
      clearTimeout(timer);
      resolve(result);
      socket.close();
    };
    const timer = setTimeout(() => done({ error: `no snapshot within ${timeoutS} s` }), Number(timeoutS) * 1000);
    socket.io.on("open", () => socket.io.engine.on("message", (data) => {
      if (typeof data === "string" && data.slice(0, 40).includes('"snapshot"')) bytes = Buffer.byteLength(data);
    }));
    socket.on("connect_error", (err) => done({ error: err.message }));
    socket.on("disconnect", (reason) => done({ error: `disconnected: ${reason}` }));
    socket.on("snapshot", (snap) => {
      const ms = nowMs() - start;
      const ws = socket.io.engine.transport.ws;
      const wire = ws && ws._socket ? ws._socket.bytesRead : null;
      done({ ms, bytes, wire_bytes: wire, homes: snap.homes.length, seq: snap.seq });
    });
  });
}

(async () => {
  for (let k = 0; k < Number(repeats || 1); k++) {
    if (k > 0) await new Promise((resolve) => setTimeout(resolve, Number(pauseMs || 0)));
    console.log(JSON.stringify(await once()));
  }
  process.exit(0);
})();
