// The Node floor: a bare socket.io 4.8 server with no application logic.
//
//   node floor_server.js PORT [MAX_RUNTIME_S]
//
// Boards connect to the namespace /board exactly as they do to the tracker; the auth payload is
// only used to put a regional board in its region's room. POST /emit with a JSON body
// {"room": "all" | "region:<id>", "payload": {...}} broadcasts `payload` as one `update` event,
// immediately: one broadcast per update, which is the least any server must do.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
if (!port) {
  console.error("usage: node floor_server.js PORT");
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ clients: board.sockets.size }));
    return;
  }
  if (req.method !== "POST" || req.url !== "/emit") {
    res.writeHead(404);
    res.end();
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400);
      res.end();
      return;
    }
    const room = body.room || "all";
    board.to(room).emit("update", body.payload);
    res.writeHead(204);
    res.end();
  });
});

// Compression off on both ends, as the clients ask for: the tracker's servers do not compress either.
const io = new Server(httpServer, {
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 64000,
});
const board = io.of("/board");
board.on("connection", (socket) => {
  const region = socket.handshake.auth && socket.handshake.auth.region;
  socket.join("all");
  if (region !== undefined && region !== "all") socket.join(`region:${region}`);
});

httpServer.listen(port, "127.0.0.1", () => console.log(`floor listening on ${port}`));

// Never outlive a driver that died without stopping us.
setTimeout(() => process.exit(0), Number(process.argv[3] || 3600) * 1000).unref();

// Stop cleanly on SIGTERM so the driver's try/finally can end us without leaving sockets open.
process.on("SIGTERM", () => {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
