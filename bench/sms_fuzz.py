"""`make bench` (text messages): 10,000 random signed text messages through the real webhook.

    .venv/bin/python bench/sms_fuzz.py [--count 10000] [--seed 2026] [--database-url URL]

Each message (tests/sms_fuzz.py: valid commands with punctuation, curly quotes, dashes, emoji,
control characters, long reasons, CLOSED variants, junk) is signed with the twilio SDK's
RequestValidator, as Twilio signs it, and posted to /twilio/sms on a fresh database (SQLite by
default). Prints how many replies were not well-formed XML, how many recorded updates' replies lack
their whole Ref (or take more than two segments), and how many records differ from their reply;
exits 1 if any is not 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from sqlalchemy import select  # noqa: E402

from bench.chasing import migrate  # noqa: E402
from tests import sms_fuzz  # noqa: E402
from tracker import create_app  # noqa: E402
from tracker.db import session  # noqa: E402
from tracker.models import CareHome, Locality, Offer, Region  # noqa: E402


def options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--database-url", help="an empty database to migrate and use (default: SQLite in a temp dir)")
    return p.parse_args()


def make_home(name: str, offers: dict[str, int]) -> CareHome:
    place = session.scalars(select(Locality)).first() or Locality(name="West Cornwall", region=Region(name="Cornwall"))
    home = CareHome(name=name, locality=place, latitude=50.12, longitude=-5.53)
    home.offers = [Offer(kind_code=code, capacity=n, position=i) for i, (code, n) in enumerate(offers.items())]
    session.add(home)
    session.commit()
    return home


def main() -> int:
    args = options()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/sms.db"
        migrate(url)
        env = {"TRACKER_ENV": "test", "SECRET_KEY": "sms-fuzz-secret-key", "DATABASE_URL": url, **sms_fuzz.ENV}
        app = create_app({**env, "BOARD_COALESCE_MS": "0"})
        started = time.monotonic()
        with app.app_context():
            homes = sms_fuzz.setup_homes(make_home)
            tally = sms_fuzz.run(app.test_client(), homes, args.count, args.seed)
            session.remove()
        app.extensions["engine"].dispose()
    took = time.monotonic() - started
    print(f"{tally.sent} signed text messages (seed {args.seed}) in {took:.0f} s")
    print(f"  replies not well-formed XML:          {tally.malformed}")
    print(f"  recorded updates lacking a whole Ref: {tally.ref_lost}")
    print(f"  records that differ from their reply: {tally.differs}")
    print(f"  non-printing characters stored:       {tally.unprintable}")
    print("  outcomes: " + ", ".join(f"{outcome} {n}" for outcome, n in tally.outcomes.most_common()))
    for example in tally.examples:
        print("  " + example)
    return 1 if (tally.malformed, tally.ref_lost, tally.differs, tally.unprintable) != (0, 0, 0, 0) else 0


if __name__ == "__main__":
    sys.exit(main())
