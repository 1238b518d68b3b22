// Time and size of a new board's snapshot.
//
//   node snapshot.js URL TOKEN REGION REPEATS
//
// Prints one JSON line per attempt: ms from opening the connection to the snapshot having arrived and
// been parsed (handshake included: that is what a new board waits), ms from the namespace connect,
// the bytes of the frame on the wire, and the number of homes in it.
"use strict";

const { io } = require("socket.io-client");

const [url, token, region, repeats] = process.argv.slice(2);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
setTimeout(() => { console.error("snapshot.js: timed out"); process.exit(1); }, 300000).unref();

async function once() {
  return new Promise((resolve, reject) => {
    const start = nowMs();
    let connected = 0;
    let bytes = 0;
    const socket = io(url + "/board", { transports: ["websocket"], forceNew: true, reconnection: false,
      perMessageDeflate: false, timeout: 120000, auth: { token, region: region === "all" ? "all" : Number(region) } });
    socket.io.on("open", () => socket.io.engine.on("message", (data) => {
      if (typeof data === "string" && data.includes('"snapshot"')) bytes = Buffer.byteLength(data);
    }));
    socket.on("connect", () => { connected = nowMs(); });
    socket.on("connect_error", (err) => { socket.close(); reject(err); });
    socket.on("snapshot", (snap) => {
      const t = nowMs();
      socket.close();
      resolve({ ms: t - start, after_connect_ms: t - connected, bytes, homes: snap.homes.length, seq: snap.seq });
    });
  });
}

(async () => {
  for (let k = 0; k < Number(repeats || 1); k++) console.log(JSON.stringify(await once()));
  process.exit(0);
})().catch((err) => { console.error("snapshot.js:", err.message); process.exit(1); });
