"""Compare this tree with another commit in one run: no regression means ratios near 1.

    .venv/bin/python bench/compare.py BASE_REF [--rounds 2] [--homes 5000] [--searches 1000]

Checks BASE_REF out beside this tree (a git worktree), then runs the families' search benchmark
(bench/search.py, SQLite, in-app) and the write path (bench/compare.py's own loop of record_update
through the managers' form) in each tree, alternately, ROUNDS times, so both meet the same load on
this shared machine. Prints median ratios (this tree / base); writes nothing into the tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The write path through the real form, on SQLite, in one process: works with the old layout and the new.
WRITES = r"""
import json, re, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, ".")
from alembic import command
from alembic.config import Config
from tracker import create_app
from tracker.db import session
from tracker.models import CareHome, Locality, Offer, Region
db = Path(tempfile.mkdtemp()) / "w.db"
cfg = Config("alembic.ini")
cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
cfg.attributes["skip_logging"] = True
command.upgrade(cfg, "head")
env = {"TRACKER_ENV": "test", "SECRET_KEY": "k" * 40, "DATABASE_URL": f"sqlite:///{db}", "BOARD_COALESCE_MS": "0"}
app = create_app(env, {"WTF_CSRF_ENABLED": False})
try:
    from tracker.managers import links
except ImportError:
    from tracker import links
with app.app_context():
    place = Locality(name="L", region=Region(name="R"))
    homes = []
    for i in range(50):
        h = CareHome(name=f"H{i}", locality=place, latitude=50.1, longitude=-5.5)
        h.offers = [Offer(kind_code="NUR", capacity=40, position=0)]
        session.add(h); homes.append(h)
    session.commit()
    paths = ["/h/" + links.link_token(h) for h in homes]
    session.remove()
client = app.test_client()
times = []
for n in range(N):
    path = paths[n % len(paths)]
    start = time.perf_counter()
    r = client.post(path, data={"kind-NUR": str(n % 30), "admissions": "open", "action": "save"})
    times.append((time.perf_counter() - start) * 1000)
    assert r.status_code == 303, r.status_code
times.sort()
print(json.dumps({"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)]}))
"""


def run_search(tree: Path, homes: int, searches: int) -> dict:
    out = Path(tempfile.mkdtemp())
    cmd = [sys.executable, "bench/search.py", "--db", "sqlite", "--homes", str(homes), "--searches", str(searches)]
    subprocess.run([*cmd, "--out", str(out)], cwd=tree, check=True, capture_output=True)
    found = json.loads((out / "search-results.json").read_text())
    return {"search p50": found["search"]["p50_ms"], "search p99": found["search"]["p99_ms"]}


def run_writes(tree: Path, count: int) -> dict:
    done = subprocess.run([sys.executable, "-c", f"N = {count}\n" + WRITES], cwd=tree, check=True,
                          capture_output=True, text=True)  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return {"form save p50": found["p50"], "form save p99": found["p99"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", help="the commit to compare with (e.g. main, or a commit id)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--homes", type=int, default=5000)
    p.add_argument("--searches", type=int, default=1000)
    p.add_argument("--writes", type=int, default=400)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tracker-base-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(base), args.base], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        figures: dict[str, dict[str, list[float]]] = {"this tree": {}, "base": {}}
        for _ in range(args.rounds):
            for name, tree in (("base", base), ("this tree", ROOT)):
                for key, value in {
                    **run_search(tree, args.homes, args.searches),
                    **run_writes(tree, args.writes),
                }.items():
                    figures[name].setdefault(key, []).append(value)
        print(f"this tree against {args.base}, {args.rounds} alternating rounds (median ms; ratio = this / base)")
        for key in figures["base"]:
            mine, theirs = statistics.median(figures["this tree"][key]), statistics.median(figures["base"][key])
            print(f"  {key:<16} base {theirs:8.2f}  this {mine:8.2f}  ratio {mine / theirs:5.2f}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
