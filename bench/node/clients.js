// Load-generating boards: K worker processes each holding their share of N socket.io-client connections.
//
//   node clients.js CONFIG.json
//
// CONFIG: {"urls": [...], "boards": [{"region": "all" | id}, ...], "token": "trk_...", "workers": K,
//          "join": "snapshot" | "since", "since": N, "out_dir": "...", "connect_concurrency": 16,
//          "connect_timeout_s": 300, "max_runtime_s": 1800, "replay_grace_ms": 1000}
//
// Board i connects to urls[i % urls.length] (alternating, as ip_hash would spread them). The driver talks
// to us over stdin/stdout, one JSON object a line:
//   we print {"event": "ready", ...} once every board has its snapshot (or the connect timeout passed);
//   "mark NAME" makes every worker write what it received since the last mark to OUT_DIR/NAME.wK.bin
//   (float64 triples: board index, seq, receive time) and we print {"event": "marked", ...};
//   "stop" (or stdin closing, or max_runtime_s passing) closes every connection and exits.
//
// Receive times are CLOCK_MONOTONIC in ms (process.hrtime), the same clock as Python's time.monotonic(),
// so the driver's send times and our receive times compare directly on one machine.
"use strict";

const fs = require("fs");
const path = require("path");
const { fork } = require("child_process");
const readline = require("readline");

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

if (process.argv[2] === "--worker") worker(Number(process.argv[3]), JSON.parse(fs.readFileSync(process.argv[4])));
else master(process.argv[2]);

function master(configPath) {
  const config = JSON.parse(fs.readFileSync(configPath));
  const workers = [];
  const pending = new Map(); // message kind -> array of replies
  const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
  let stopping = false;

  function collect(kind, reply, onAll) {
    const replies = pending.get(kind) || [];
    replies[reply.worker] = reply;
    pending.set(kind, replies);
    if (replies.filter(Boolean).length === workers.length) {
      pending.delete(kind);
      onAll(replies);
    }
  }

  for (let w = 0; w < config.workers; w++) {
    const child = fork(__filename, ["--worker", String(w), configPath], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.on("message", (msg) => {
      if (msg.kind === "ready") collect("ready", msg, (all) => say({ event: "ready", workers: all }));
      else if (msg.kind === "marked") collect("marked:" + msg.name, msg, (all) => say({ event: "marked", name: msg.name, workers: all }));
      else if (msg.kind === "progress") say({ event: "progress", ...msg });
    });
    child.on("exit", (code) => {
      if (!stopping) say({ event: "error", message: `worker ${w} exited with ${code}` });
    });
    workers.push(child);
  }

  function stop() {
    if (stopping) return;
    stopping = true;
    for (const child of workers) if (child.connected) child.send({ kind: "stop" });
    let left = workers.length;
    for (const child of workers) child.on("exit", () => { if (--left === 0) { say({ event: "stopped" }); process.exit(0); } });
    setTimeout(() => { for (const child of workers) child.kill("SIGKILL"); process.exit(0); }, 10000).unref();
  }

  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const [command, name] = line.trim().split(/\s+/);
    if (command === "mark") for (const child of workers) child.send({ kind: "mark", name });
    else if (command === "stop") stop();
  });
  lines.on("close", stop); // the driver went away: do not linger
  process.on("SIGTERM", stop);
  setTimeout(stop, (config.max_runtime_s || 1800) * 1000).unref();
}

function worker(index, config) {
  const { io } = require("socket.io-client");
  const mine = [];
  for (let i = index; i < config.boards.length; i += config.workers) mine.push(i);

  // Receipts in 64k-triple Float64Array chunks: no per-receipt objects, cheap to write out.
  const CHUNK = 3 * 65536;
  let chunks = [new Float64Array(CHUNK)];
  let used = 0;
  function record(board, seq, t) {
    if (used === CHUNK) { chunks.push(new Float64Array(CHUNK)); used = 0; }
    const c = chunks[chunks.length - 1];
    c[used] = board; c[used + 1] = seq; c[used + 2] = t;
    used += 3;
  }

  // Counters since the last mark; the snapshot's size and time are kept from the first board of this worker.
  const fresh = () => ({ receipts: 0, duplicates: 0, held: 0, replays: 0, snapshots: 0, ticks: 0, disconnects: 0, batches: 0,
    update_bytes: 0, updates_sized: 0 });
  let stats = fresh();
  const first = { snapshot_bytes: 0, snapshot_ms: 0, connect_errors: 0, refused: 0 };
  const boards = [];
  let cpuMark = process.cpuUsage();
  let wallMark = nowMs();

  function makeBoard(i) {
    const spec = config.boards[i];
    const national = spec.region === "all";
    const b = { i, ready: false, last: null, held: new Map(), heldSeqs: new Set(), pre: [], tickSeq: 0, replayTimer: null, lastReplay: -1e9, socket: null, connectedAt: 0 };
    const auth = (cb) => {
      const payload = { token: config.token, region: spec.region };
      if (b.last !== null) payload.since = b.last; // a reconnect catches up instead of re-snapshotting
      else if (config.join === "since") payload.since = config.since;
      cb(payload);
    };
    const url = config.urls[i % config.urls.length] + "/board";
    const socket = io(url, { transports: ["websocket"], forceNew: true, perMessageDeflate: false, auth,
      timeout: 60000, reconnectionDelay: 500, reconnectionDelayMax: 5000, reconnectionAttempts: 50 });
    b.socket = socket;

    function becomeReady(seq) {
      b.ready = true;
      b.last = seq;
      for (const [u, t] of b.pre) handle(u, t);
      b.pre = [];
      onReady(b);
    }

    // The rules of tracker/static/board.js: apply an update that follows the last one applied; hold one
    // that comes after a gap and ask for a replay (at most every 2 s); apply held ones once the gap fills.
    // A receipt is recorded when the update is *applied*: a held update is not on the board until then.
    function handle(u, t) {
      if (!b.ready) { b.pre.push([u, t]); return; }
      const seq = u.seq;
      if (seq <= b.last || b.heldSeqs.has(seq)) { stats.duplicates++; return; }
      if (stats.updates_sized < 50) { stats.update_bytes += JSON.stringify(u).length; stats.updates_sized++; }
      // Without `prev` (an older server) a national stream is still contiguous; a regional one cannot be checked.
      const prev = u.prev !== undefined ? u.prev : (national ? seq - 1 : b.last);
      if (prev <= b.last) {
        apply(seq, t);
        drain();
      } else {
        b.held.set(prev, seq);
        b.heldSeqs.add(seq);
        stats.held++;
        askReplay();
      }
    }

    function apply(seq, t) {
      b.last = seq;
      record(i, seq, t);
      stats.receipts++;
    }

    function drain() {
      while (b.held.size) {
        let prev = null;
        for (const p of b.held.keys()) if (p <= b.last && (prev === null || b.held.get(p) < b.held.get(prev))) prev = p;
        if (prev === null) return;
        const seq = b.held.get(prev);
        b.held.delete(prev);
        b.heldSeqs.delete(seq);
        if (seq > b.last) apply(seq, nowMs());
      }
    }

    // As board.js: wait replay_grace_ms (1 s) for a gap to fill by itself (updates published by two
    // web processes can arrive out of order) before asking the server for a replay.
    function askReplay() {
      if (!(config.replay_grace_ms > 0)) return replayNow();
      if (b.replayTimer) return;
      b.replayTimer = setTimeout(() => {
        b.replayTimer = null;
        if (b.heldSeqs.size || b.last < b.tickSeq) replayNow();
      }, config.replay_grace_ms);
    }

    function replayNow() {
      const t = nowMs();
      if (t - b.lastReplay < 2000) return;
      b.lastReplay = t;
      stats.replays++;
      socket.emit("replay", { since: b.last });
    }

    socket.on("connect", () => {
      b.connectedAt = nowMs();
      if (!b.ready && config.join === "since") becomeReady(config.since);
    });
    socket.on("snapshot", (snap) => {
      const t = nowMs();
      stats.snapshots++;
      if (first.snapshot_bytes === 0) { first.snapshot_bytes = JSON.stringify(snap).length; first.snapshot_ms = t - b.connectedAt; }
      if (!b.ready) return becomeReady(snap.seq);
      // A fresh snapshot after a replay could not be served: everything up to its seq is now known.
      if (snap.seq > b.last) b.last = snap.seq;
      for (const [prev, seq] of [...b.held]) if (seq <= b.last) { b.held.delete(prev); b.heldSeqs.delete(seq); }
      drain();
    });
    socket.on("update", (u) => handle(u, nowMs()));
    socket.on("updates", (batch) => {
      const t = nowMs();
      stats.batches++;
      for (const u of batch.updates) handle(u, t);
    });
    socket.on("tick", (tick) => { // as board.js: a tick ahead of us means something was lost
      stats.ticks++;
      if (tick.seq > b.tickSeq) b.tickSeq = tick.seq;
      if (b.ready && tick.seq > b.last) askReplay();
    });
    socket.on("disconnect", () => { stats.disconnects++; });
    socket.on("connect_error", () => {
      first.connect_errors++;
      if (!socket.active && !b.ready && !b.refused) { b.refused = true; first.refused++; onReady(null); } // refused by the server: give up the slot
    });
    return b;
  }

  // Open connections a few at a time: every connect makes the server build a snapshot.
  let next = 0;
  let open = 0;
  let readyCount = 0;
  let failed = 0;
  const concurrency = Math.max(1, Math.ceil((config.connect_concurrency || 16) / config.workers));
  const started = nowMs();
  let reported = false;
  function openMore() {
    while (open < concurrency && next < mine.length) { open++; boards.push(makeBoard(mine[next++])); }
  }
  function onReady(b) {
    open--;
    if (b) readyCount++;
    else failed++;
    openMore();
    if (readyCount + failed === mine.length) reportReady();
  }
  function reportReady() {
    if (reported) return;
    reported = true;
    cpuMark = process.cpuUsage();
    wallMark = nowMs();
    stats = fresh();
    process.send({ kind: "ready", worker: index, boards: mine.length, ready: readyCount, connect_s: (nowMs() - started) / 1000,
      ...first });
  }
  openMore();
  if (mine.length === 0) reportReady();
  const progress = setInterval(() => { if (!reported) process.send({ kind: "progress", worker: index, ready: readyCount }); }, 5000);
  setTimeout(reportReady, (config.connect_timeout_s || 300) * 1000).unref();

  process.on("message", (msg) => {
    if (msg.kind === "mark") {
      const file = path.join(config.out_dir, `${msg.name}.w${index}.bin`);
      const parts = chunks.map((c, k) => Buffer.from(c.buffer, 0, (k === chunks.length - 1 ? used : CHUNK) * 8));
      fs.writeFileSync(file, Buffer.concat(parts));
      chunks = [new Float64Array(CHUNK)];
      used = 0;
      const cpu = process.cpuUsage(cpuMark);
      const wall = nowMs() - wallMark;
      let held = 0;
      for (const b of boards) held += b.heldSeqs.size;
      process.send({ kind: "marked", worker: index, name: msg.name, file, cpu_s: (cpu.user + cpu.system) / 1e6, wall_s: wall / 1000,
        unfilled_gaps: held, connected: boards.filter((b) => b.socket.connected).length, ...stats });
      stats = fresh();
      cpuMark = process.cpuUsage();
      wallMark = nowMs();
    } else if (msg.kind === "stop") {
      clearInterval(progress);
      for (const b of boards) { clearTimeout(b.replayTimer); b.socket.close(); }
      setTimeout(() => process.exit(0), 200);
    }
  });
  process.on("disconnect", () => process.exit(0)); // the master died
}
