"""The scenarios: boards connect, updates flow at a steady rate for a phase, receipts are counted."""

from __future__ import annotations

import json
import os
import random
import time
from contextlib import ExitStack
from pathlib import Path

import analysis
import load
import procs

from tests.servers import free_port

BENCH_DIR = Path(__file__).resolve().parent
P99_LIMIT_MS = 1000  # a rate is sustained while p99 stays under this and nothing is lost
SENDER_THREADS = 8
_t0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _t0:7.1f}s] {message}", flush=True)


def client_version() -> str:
    return json.loads((procs.NODE_DIR / "node_modules" / "socket.io-client" / "package.json").read_text())["version"]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class Bench:
    def __init__(self, args, plan: dict, urls: list[str], work: Path, sampler: procs.Sampler, stack: ExitStack,
                 cursor: int):  # fmt: skip
        self.args, self.plan, self.urls, self.work, self.sampler, self.stack = args, plan, urls, work, sampler, stack
        self.cursor = cursor  # the tracker's seq once England is loaded: boards joining with `since` start here
        self.notes: list[str] = []
        self.update_size: int | None = None  # measured from the tracker's own update events, for the floors
        self.rng = random.Random(7)
        self._form_senders: list | None = None

    def boards(self, kind: str) -> list:
        """National: every board watches "all". Regional: boards dealt round the 42 regions."""
        regions = self.plan["regions"]
        return ["all"] * self.args.clients if kind == "national" else [regions[i % len(regions)] for i in
                                                                        range(self.args.clients)]  # fmt: skip

    def form_senders(self) -> list:
        """The real channels, half each: the managers' form and text messages through the webhook."""
        if self._form_senders is None:
            channels = (load.FormSender, load.SmsSender)
            self._form_senders = [channels[i % 2](self.urls, self.plan, random.Random(self.rng.random()))
                                  for i in range(SENDER_THREADS)]  # fmt: skip
        return self._form_senders

    def fleet(self, name: str, urls: list[str], boards: list, join: str, since: int, timeout: float):
        config = {"urls": urls, "boards": [{"region": b} for b in boards], "token": self.plan["token"],
                  "workers": self.args.workers, "join": join, "since": since, "out_dir": str(self.work),
                  "connect_concurrency": 16, "connect_timeout_s": timeout, "max_runtime_s": 3600,
                  "replay_grace_ms": self.args.replay_grace}  # fmt: skip
        fleet = procs.ClientFleet(config, self.work, name)
        self.stack.callback(fleet.stop)
        started = time.monotonic()
        ready = fleet.ready(timeout + 30, progress=lambda e: None)
        connected = sum(w["ready"] for w in ready["workers"])
        seconds = round(time.monotonic() - started, 1)
        log(f"  {name}: {connected}/{len(boards)} boards ready in {seconds} s (joined by {join})")
        if connected < len(boards):
            self.notes.append(f"{name}: only {connected} of {len(boards)} boards were ready after {seconds} s; "
                              "the missing ones count as lost deliveries")  # fmt: skip
        return fleet, {"connect_s": seconds, "boards_ready": connected, "join": join}

    def phase(self, name: str, fleet, boards: list, senders: list, rate: float, duration: float, servers: list[str]):
        self.sampler.begin()
        before, wall0 = os.times(), time.monotonic()
        sent, errors = load.run_steady(senders, rate, duration)
        time.sleep(self.args.drain)  # late deliveries still count; anything later than this is lost
        marked = fleet.mark(name)
        usage, after = self.sampler.end(), os.times()
        wall = time.monotonic() - wall0
        files = [w["file"] for w in marked["workers"]]
        result = {"updates_per_s": rate, "duration_s": duration, **analysis.analyse(sent, files, boards),
                  **analysis.send_stats(sent, errors, duration), **analysis.fleet_stats(marked)}  # fmt: skip
        analysis.cleanup(files)
        if sent and not isinstance(senders[0], load.FloorSender):
            self.cursor = max(self.cursor, max(s.seq for s in sent))  # where boards joining with `since` start
        result["driver_cpu_percent"] = round(100 * (after.user + after.system - before.user - before.system) / wall, 1)
        mine = [usage[s] for s in servers if s in usage]
        result["cpu_percent"] = round(sum(u["cpu_percent"] for u in mine), 1)
        result["rss_mb"] = max((u["peak_rss_mb"] for u in mine), default=None)
        result["rss_mb_total"] = round(sum(u["peak_rss_mb"] for u in mine), 1)
        result["servers"] = {s: usage[s] for s in servers if s in usage}
        result["all_processes"] = usage  # e.g. that the idle tracker costs nothing while a floor runs
        for other in ("postgres", "redis"):
            if other in usage:
                result[f"{other}_cpu_percent"] = usage[other]["cpu_percent"]
        log(f"  {name}: {rate:g}/s for {duration:g} s: sent {result['sent']} (errors {result['send_errors']}), "
            f"p50 {result['p50_ms']} p99 {result['p99_ms']} ms, delivered {result['delivered_fraction']}, "
            f"server CPU {result['cpu_percent']}%, clients {result['client_cpu_percent']}%")  # fmt: skip
        if result["first_errors"]:
            log(f"  first errors: {result['first_errors']}")
        return result

    def _join_mode(self, kind: str, snap: dict) -> tuple[str, float]:
        """Each snapshot join costs the server a snapshot: join with `since` when 1,000 would take too long,
        or when a snapshot does not arrive at all without per-message deflate (our boards do not negotiate it)."""
        estimate = self.args.clients * snap["snapshot_ms"] / 1000 / len(self.urls)
        join = self.args.join
        if join == "auto":
            join = "snapshot" if estimate <= 90 and not isinstance(snap["snapshot_without_deflate"], str) else "since"
        if join == "since":
            why = (
                f"without per-message deflate it did not arrive ({snap['snapshot_without_deflate']})"
                if isinstance(snap["snapshot_without_deflate"], str)
                else f"{self.args.clients} snapshots of {snap['snapshot_ms']:.0f} ms would take ~{estimate:.0f} s"
            )
            self.notes.append(f"{kind}: boards joined with since=<cursor>, not a snapshot each: {why}")  # fmt: skip
        return join, max(120.0, 3 * estimate) if join == "snapshot" else 120.0

    def tracker_scenario(self, kind: str, snap: dict) -> dict:
        boards = self.boards(kind)
        join, timeout = self._join_mode(kind, snap)
        log(f"{kind}: {len(boards)} boards")
        fleet, joined = self.fleet(f"tracker-{kind}", self.urls, boards, join, self.cursor, timeout)
        servers = ["web1", "web2"]
        base = self.phase(f"{kind}-base", fleet, boards, self.form_senders(), self.args.rate, self.args.duration,
                          servers)  # fmt: skip
        if self.update_size is None and base.get("update_event_bytes"):
            self.update_size = base["update_event_bytes"]
        steps, sustained = [], None
        for rate in [] if "steps" in self.args.skip else sorted(self.args.steps):
            if rate == self.args.rate:
                step = base
            else:
                step = self.phase(f"{kind}-{rate:g}", fleet, boards, self.form_senders(), rate,
                                  self.args.step_duration, servers)  # fmt: skip
            steps.append({k: step[k] for k in ("updates_per_s", "duration_s", "achieved_updates_per_s", "p50_ms",
                                               "p99_ms", "delivered_fraction", "lost", "cpu_percent",
                                               "client_cpu_percent", "post_p99_ms", "send_lag_p99_ms")})  # fmt: skip
            failed = [why for why, bad in (
                (f"p99 over {P99_LIMIT_MS} ms", step["p99_ms"] is None or step["p99_ms"] > P99_LIMIT_MS),
                ("deliveries lost", step["delivered_fraction"] != 1.0),
                ("form POSTs fell behind (< 90 % of the rate)", step["achieved_updates_per_s"] < 0.9 * rate),
            ) if bad]  # fmt: skip
            steps[-1]["failed"] = ", ".join(failed) or None
            if failed:
                break
            sustained = rate
        if steps and sustained == steps[-1]["updates_per_s"]:
            self.notes.append(f"{kind}: every rate step passed; the sustainable rate is at least {sustained:g}/s")
        fleet.stop()
        time.sleep(2)  # let the servers drop the closed boards before the next scenario
        snapshot_key = "England" if kind == "national" else "one region"
        return {"clients": len(boards), **joined, **base, "max_sustained_updates_per_s": sustained, "steps": steps,
                **{k: v for k, v in snap.items() if k.startswith("snapshot")}, "snapshot_of": snapshot_key,
                "floors": {}}  # fmt: skip

    def floors(self, national: dict, regional: dict | None) -> None:
        """The same boards and the same base rate against the two bare servers."""
        size = self.update_size or 600
        for floor in ("python", "node"):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            if floor == "python":
                # One process holds every board here: lift gevent's default cap of 1,000 connections a worker.
                service = procs.gunicorn("floor-python", "floor_python:app", port, self.work, dict(os.environ),
                                         chdir=BENCH_DIR, extra=["--worker-connections", "5000"])  # fmt: skip
            else:
                service = procs.node_floor(port, self.work)
            service.start(f"{url}/healthz")
            self.stack.callback(service.stop)
            self.sampler.watch(service.name, service.process.pid)
            for kind, target in (("national", national), ("regional", regional)):
                if target is None:
                    continue
                boards = self.boards(kind)
                fleet, joined = self.fleet(f"{service.name}-{kind}", [url], boards, "since", 0, 120)
                state = {"seq": 0}
                senders = [load.FloorSender(url, self.plan, random.Random(self.rng.random()), state,
                                            kind == "regional", size) for _ in range(SENDER_THREADS)]  # fmt: skip
                result = self.phase(f"{service.name}-{kind}", fleet, boards, senders, self.args.rate,
                                    self.args.duration, [service.name])  # fmt: skip
                fleet.stop()
                target["floors"][floor] = {**joined, **result}
                key, ratio = (
                    ("floor_p99_ms", "ratio_to_floor") if floor == "python" else ("node_p99_ms", "ratio_to_node")
                )
                target[key] = result["p99_ms"]
                if target["p99_ms"] and result["p99_ms"]:
                    target[ratio] = _round(target["p99_ms"] / result["p99_ms"])
            service.stop()
            self.sampler.unwatch(service.name)
