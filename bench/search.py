"""The families' search at England scale: application-side latency of GET /api/v1/public/search.

    .venv/bin/python bench/search.py [--db sqlite|postgresql] [--homes 15000] [--searches 3000]

Loads England (bench/england.py's 42 regions and 15,000 homes) into a throwaway database, then times
searches through the Flask app in this process (parsing, geocoding, the index, ranking, JSON; no
network or HTTP server): near random real postcodes, postcode districts and points, for random kinds
of care and distances. Writes bench/search-results.json and bench/search-results.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import england  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from alembic import command  # noqa: E402
from tests.servers import Postgres  # noqa: E402

API = "/api/v1/public/search"


def options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--homes", type=int, default=15_000)
    p.add_argument("--searches", type=int, default=3000, help="timed searches in each phase")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--out", type=Path, default=BENCH)
    return p.parse_args()


def load_homes(app, count: int, seed: int) -> int:
    """England's homes with a plausible state each. Written directly, not through record_update: the
    search only reads, and 15,000 updates would take ~90 s (the full `make bench` does that)."""
    from tracker.db import session
    from tracker.models import CareHome, Locality, Offer, Region

    rng = random.Random(seed)
    now = datetime.now(UTC)
    with app.app_context():
        session.execute(insert(Region), [{"id": r + 1, "name": n} for r, (n, _, _) in enumerate(england.REGIONS)])
        session.execute(insert(Locality), [
            {"id": r * len(england.LOCALITY_PARTS) + p + 1, "name": f"{name} {part}", "region_id": r + 1}
            for r, (name, _, _) in enumerate(england.REGIONS) for p, part in enumerate(england.LOCALITY_PARTS)
        ])  # fmt: skip
        homes, offers = [], []
        for home, home_offers in england._homes(count, rng):
            age = rng.choices([rng.uniform(0.1, 24), rng.uniform(24, 72), rng.uniform(72, 400)], [8, 1, 1])[0]
            home |= {"listed_publicly": rng.random() > 0.05, "public_counts": rng.random() < 0.5,
                     "admissions_open": (open_ := rng.random() > 0.05),
                     "closed_reason": None if open_ else "Norovirus outbreak",
                     "confirmed_at": now - timedelta(hours=age), "last_seq": 0}  # fmt: skip
            homes.append(home)
            offers += [o | {"available": rng.choice([0, 0, 0, 1, 2, 3])} for o in home_offers]
        for start in range(0, len(homes), 2000):
            session.execute(insert(CareHome), homes[start : start + 2000])
        for start in range(0, len(offers), 5000):
            session.execute(insert(Offer), offers[start : start + 5000])
        session.commit()
    return len(homes)


def sample_queries(count: int, seed: int) -> list[dict]:
    """Real postcodes and districts from every postcode area in Code-Point Open, points near England's
    homes, each with a random kind of care (or any) and distance."""
    from tracker.families import postcodes, search_index

    rng = random.Random(seed)
    areas = sorted(p.name.split(".")[0].upper() for p in postcodes.CODEPOINT_DIR.glob("*.csv.gz"))
    kinds = ["", *search_index.PUBLIC_KINDS]
    queries = []
    for _ in range(count):
        area = postcodes._area(rng.choice(areas))
        line = area.raw[area.starts[rng.randrange(len(area.starts))] :].split(b"\n", 1)[0].decode()
        postcode = line.split(",")[0]
        roll = rng.random()
        if roll < 0.6:
            where = {"near": postcode}
        elif roll < 0.8:
            where = {"near": postcode.split()[0]}
        else:
            _, lat, lon = rng.choice(england.REGIONS)
            where = {"lat": f"{rng.gauss(lat, 0.2):.4f}", "lon": f"{rng.gauss(lon, 0.3):.4f}"}
        queries.append(where | {"care": rng.choice(kinds), "radius_km": str(rng.choice([10, 20, 20, 30, 50]))})
    return queries


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1], 2), "mean_ms": round(statistics.fmean(ordered), 2)}  # fmt: skip


def timed(client, queries: list[dict], between=None) -> list[float]:
    samples = []
    for n, query in enumerate(queries):
        if between:
            between(n)
        started = time.perf_counter()
        response = client.get(API, query_string=query)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code not in (200, 400):  # 400: a postcode Code-Point has no location for
            raise RuntimeError(f"{query}: {response.status_code} {response.get_data(as_text=True)[:200]}")
    return samples


def main() -> int:
    args = options()
    from tracker import create_app
    from tracker.db import session
    from tracker.families import postcodes, search_index
    from tracker.models import Channel
    from tracker.vacancies import Change, record_update

    work = Path(tempfile.mkdtemp(prefix="search-bench-"))
    server = None
    if args.db == "postgresql":
        server = Postgres().start()
        server.execute("CREATE DATABASE bench")
        url = server.url("bench")
    else:
        url = f"sqlite:///{work / 'bench.db'}"
    try:
        cfg = Config(str(BENCH.parent / "alembic.ini"))
        cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg://"))
        cfg.attributes["skip_logging"] = True
        command.upgrade(cfg, "head")
        env = {"TRACKER_ENV": "test", "SECRET_KEY": "b" * 40, "DATABASE_URL": url, "BOARD_COALESCE_MS": "0",
               "PUBLIC_SEARCH_RATE_LIMIT": "1000000/minute"}  # fmt: skip
        app = create_app(env)
        homes = load_homes(app, args.homes, args.seed)
        print(f"loaded {homes:,} homes into {args.db}")
        client = app.test_client()
        results: dict = {"db": args.db, "homes": homes, "searches_per_phase": args.searches,
                         "cores": os.cpu_count(), "load_average_before": round(os.getloadavg()[0], 2)}  # fmt: skip

        with app.app_context():
            started = time.perf_counter()
            index = search_index.current_index()
            results["index_build_ms"] = round((time.perf_counter() - started) * 1000, 1)
            results["listed_homes"] = len(index.homes)
            started = time.perf_counter()
            index = search_index.rebuild()  # as the background rebuild does, every PUBLIC_INDEX_TTL_SECONDS
            results["index_rebuild_ms"] = round((time.perf_counter() - started) * 1000, 1)
            index.built_at += 3600  # hold this index through the phases: the rebuild is timed above

        started = time.perf_counter()
        queries = sample_queries(args.searches * 3, args.seed)  # reads every postcode area's file once
        results["all_postcode_areas_read_s"] = round(time.perf_counter() - started, 2)
        cold = []
        for area in list(postcodes._areas):
            postcodes._areas.pop(area)
            started = time.perf_counter()
            postcodes._area(area)
            cold.append((time.perf_counter() - started) * 1000)
        results["postcode_area_first_read"] = percentiles(cold)

        timed(client, queries[:200])  # warm-up: the code paths, not the data
        results["search"] = percentiles(timed(client, queries[: args.searches]))
        points = [q for q in queries if "lat" in q][: args.searches]
        results["search_from_a_point"] = percentiles(timed(client, points))

        rng = random.Random(args.seed + 1)

        def update_every_tenth(n: int) -> None:
            if n % 10 == 0:
                with app.app_context():
                    home_id = rng.randint(1, homes)
                    record_update(home_id, Change(), channel=Channel.WEB, actor="bench")
                    session.remove()

        updates = queries[args.searches : 2 * args.searches]
        results["search_with_an_update_every_10"] = percentiles(timed(client, updates, update_every_tenth))
        results["load_average_after"] = round(os.getloadavg()[0], 2)
    finally:
        if server:
            server.stop()

    results["command"] = (
        f".venv/bin/python bench/search.py --db {args.db} --homes {args.homes} --searches {args.searches}"
    )
    (args.out / "search-results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "search-results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    rows = [("all searches (60 % postcodes, 20 % districts, 20 % points)", r["search"]),
            ("searches from a point (lat/lon)", r["search_from_a_point"]),
            ("searches with an update recorded every 10th (index patched)", r["search_with_an_update_every_10"]),
            ("first read of a postcode area's file (once per process)", r["postcode_area_first_read"])]  # fmt: skip
    lines = [
        f"# Families' search: {r['homes']:,} homes ({r['listed_homes']:,} listed publicly), {r['db']}",
        "",
        f"`{r['command']}`. Application-side: Flask's test client in one process, no HTTP server.",
        "",
        "| | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {name} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} |" for name, s in rows],
        "",
        f"Index: a process's first search builds it in {r['index_build_ms']} ms (naming every home's town); "
        f"the background rebuild every PUBLIC_INDEX_TTL_SECONDS takes {r['index_rebuild_ms']} ms. Reading every "
        f"postcode area's file once: {r['all_postcode_areas_read_s']} s.",
        "",
        f"Machine: {r['cores']} cores, 1-minute load average {r['load_average_before']} before and "
        f"{r['load_average_after']} after (other work on the machine slows every figure).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
