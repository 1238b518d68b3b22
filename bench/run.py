"""`make bench`: the tracker in its production configuration, at England scale, against real Socket.IO clients.

    .venv/bin/python bench/run.py [--quick] [--clients 1000] [--rate 20] [--duration 30] ...

Starts PostgreSQL and Redis, loads England, starts two gunicorn gevent web processes, then for the
national and the regional scenario: connects the boards (bench/node/clients.js), drives form POSTs
at a steady rate, steps the rate up, and repeats the base rate against two floors (bare
python-socketio and bare Node socket.io). Writes bench/results.json and bench/results.md. Every
process it starts is stopped on the way out, also on errors and Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TWILIO_TOKEN = "bench-twilio-auth-token"  # the webhooks check signatures; the load signs with the same token
sys.path.insert(0, str(BENCH.parent))  # the tracker and tests.servers, whatever the working directory

import analysis  # noqa: E402
import england  # noqa: E402
import procs  # noqa: E402
import scenario  # noqa: E402

from tests.servers import Postgres, Redis, free_port  # noqa: E402


def options() -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 100 clients, short phases")
    p.add_argument("--clients", type=int, default=int(env("BENCH_CLIENTS", 0)) or None, help="boards (1000)")
    p.add_argument("--rate", type=float, default=float(env("BENCH_RATE", 20)), help="base updates/s (20)")
    p.add_argument("--duration", type=float, default=float(env("BENCH_DURATION", 0)) or None, help="base phase, s (30)")
    p.add_argument("--steps", default=env("BENCH_STEPS", "20,40,80,160"), help="rates to step through, updates/s")
    p.add_argument("--step-duration", type=float, default=float(env("BENCH_STEP_DURATION", 0)) or None, help="s (15)")
    p.add_argument("--drain", type=float, default=float(env("BENCH_DRAIN", 3)), help="wait after a phase's last send")
    p.add_argument("--homes", type=int, default=int(env("BENCH_HOMES", 15_000)))
    p.add_argument("--workers", type=int, default=int(env("BENCH_CLIENT_PROCESSES", 2)), help="Node client processes")
    p.add_argument(
        "--join",
        choices=["auto", "snapshot", "since"],
        default=env("BENCH_JOIN", "auto"),
        help="how boards join: wait for a snapshot each, or pass since=cursor (auto: snapshot if cheap)",
    )
    p.add_argument(
        "--replay-grace",
        type=float,
        default=float(env("BENCH_REPLAY_GRACE_MS", 1000)),
        help="ms a board waits for a gap to fill before asking for a replay (1000, as board.js and the protocol)",
    )
    p.add_argument("--skip", default=env("BENCH_SKIP", ""), help="comma list of: regional, steps, floors")
    p.add_argument("--out", type=Path, default=BENCH)
    args = p.parse_args()
    args.clients = args.clients or (100 if args.quick else 1000)
    args.duration = args.duration or (10 if args.quick else 30)
    args.step_duration = args.step_duration or (5 if args.quick else 15)
    args.steps = [float(r) for r in args.steps.split(",") if r.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def snapshot_timing(url: str, token: str, region, repeats: int = 3) -> dict:
    """A new board's snapshot: the median of `repeats` cold ones (2 s apart, past any reuse of a snapshot
    just built), then one right after another (warm), both with per-message deflate as browsers negotiate
    it; then one without deflate, as our load clients and many machine clients connect."""

    def attempts(count: int, deflate: bool, timeout_s: int, pause_ms: int) -> list[dict]:
        command = ["node", str(procs.NODE_DIR / "snapshot.js"), url, token, str(region), str(count), str(int(deflate)),
                   str(timeout_s), str(pause_ms)]  # fmt: skip
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=count * (timeout_s + 10 + pause_ms / 1000)
        )
        return [json.loads(line) for line in out.stdout.splitlines()]

    runs = [r for r in attempts(repeats, True, 60, 2000) if "ms" in r]
    if not runs:
        raise RuntimeError(f"no snapshot for region {region!r} from {url}")
    best = sorted(runs, key=lambda r: r["ms"])[len(runs) // 2]
    warm = attempts(2, True, 60, 0)[-1]
    plain = attempts(1, False, 20, 0)[0]
    return {"snapshot_ms": round(best["ms"], 1), "snapshot_bytes": best["bytes"],
            "snapshot_wire_bytes": best["wire_bytes"], "snapshot_homes": best["homes"],
            "snapshot_warm_ms": round(warm["ms"], 1) if "ms" in warm else warm.get("error"),
            "snapshot_without_deflate": round(plain["ms"], 1) if "ms" in plain else plain.get("error"),
            "seq": max(r["seq"] for r in runs)}  # fmt: skip


def main() -> int:
    args = options()
    started = time.monotonic()
    work = BENCH / ".work" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    log = scenario.log
    results: dict = {"machine": procs.machine(), "homes": args.homes, "regions": len(england.REGIONS),
                     "kinds": len(england.KINDS), "notes": []}  # fmt: skip
    with ExitStack() as stack:
        sampler = procs.Sampler().start()
        stack.callback(sampler.stop)
        log("starting PostgreSQL and Redis")
        pg = Postgres().start()
        stack.callback(pg.stop)
        redis = Redis().start()
        stack.callback(redis.stop)
        pg.execute("CREATE DATABASE bench")
        secret = secrets.token_urlsafe(48)
        ports = [free_port(), free_port()]
        app_env = {"TRACKER_ENV": "production", "SECRET_KEY": secret, "DATABASE_URL": pg.url("bench"),
                   "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[0]}", "SESSION_COOKIE_SECURE": "false",
                   "TWILIO_AUTH_TOKEN": TWILIO_TOKEN}  # fmt: skip
        run_env = {**os.environ, **app_env}
        subprocess.run([str(procs.VENV_BIN / "alembic"), "upgrade", "head"], cwd=procs.ROOT, env=run_env, check=True,
                       capture_output=True)  # fmt: skip
        log(f"loading England: {args.homes:,} homes")
        # Coalescing off while loading: each update is published at once, with no timer thread left behind.
        plan = england.load({**app_env, "BOARD_COALESCE_MS": "0"}, homes=args.homes, log=log)
        plan["twilio_token"] = TWILIO_TOKEN
        results["initial_record_s"] = plan["initial_record_s"]

        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for n, (port, url) in enumerate(zip(ports, urls, strict=True), 1):
            env = {**run_env, "PUBLIC_BASE_URL": url, "SOCKETIO_MESSAGE_QUEUE": redis.url}
            web = procs.gunicorn(f"web{n}", "tracker:create_app()", port, work, env).start(f"{url}/healthz")
            stack.callback(web.stop)
            sampler.watch(f"web{n}", web.process.pid)
        if (procs.ROOT / "tracker" / "clock.py").exists():  # production runs a clock process (ticks) beside the web
            clock_env = {**run_env, "SOCKETIO_MESSAGE_QUEUE": redis.url}
            clock = procs.Service("clock", [str(procs.VENV_BIN / "python"), "-m", "tracker.clock"], work, clock_env)
            stack.callback(clock.start(None).stop)
            sampler.watch("clock", clock.process.pid)
        sampler.watch("postgres", pg.process.pid)
        sampler.watch("redis", redis.process.pid)
        log(f"web processes up on {urls}")

        region_snap = snapshot_timing(urls[0], plan["token"], plan["regions"][0])
        national_snap = snapshot_timing(urls[1], plan["token"], "all")
        log(f"snapshot: one region {region_snap['snapshot_ms']} ms / {region_snap['snapshot_bytes']:,} B; "
            f"England {national_snap['snapshot_ms']} ms / {national_snap['snapshot_bytes']:,} B")  # fmt: skip

        bench = scenario.Bench(args, plan, urls, work, sampler, stack, cursor=national_snap["seq"])
        national = bench.tracker_scenario("national", national_snap)
        regional = None if "regional" in args.skip else bench.tracker_scenario("regional", region_snap)
        if "floors" not in args.skip:
            bench.floors(national, regional)

    results.update(national)
    if regional:
        results["regional"] = regional
    results["client"] = f"Node socket.io-client {scenario.client_version()}, {args.workers} processes"
    results["client_cpu_percent"] = national.get("client_cpu_percent")
    results["notes"] += bench.notes
    target_ok = (national["clients"] >= 1000 and national["achieved_updates_per_s"] >= 0.9 * 20
                 and (national["p99_ms"] or 1e9) <= 250 and national["delivered_fraction"] == 1.0)  # fmt: skip
    results["targets"] = {"text": "1,000 boards, 20 updates/s, p99 ≤ 250 ms, delivered fraction 1.0", "met": target_ok}
    results["total_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = analysis.markdown(results)
    (args.out / "results.md").write_text(table)
    print("\n" + table)
    log(f"wrote {args.out / 'results.json'} and results.md in {results['total_s']:.0f} s; logs in {work}")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt  # unwinds the ExitStack, so SIGTERM (a CI time-out) also stops every process


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped", file=sys.stderr)
        sys.exit(130)
