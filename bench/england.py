"""England at scale for the benchmark: 42 regions (the integrated care boards), 15,000 homes, 7 kinds of care.

Rows are bulk-inserted; every home's first state then goes through the tracker's one write path,
`record_update`, split over a few processes because each call is a whole transaction. Everything is
drawn from a fixed seed, so two runs load the same country. `load()` returns the plan the driver
needs: each home's id, region, form-link token and kinds with capacities, and a coordinator token.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text

KINDS = ("RES", "NUR", "DRES", "DNUR", "MH", "LD", "D2A")

# The 42 integrated care boards and a rough centre for each (lat, lon): homes cluster around it.
REGIONS = [
    ("Bath and North East Somerset, Swindon and Wiltshire", 51.35, -1.95),
    ("Bedfordshire, Luton and Milton Keynes", 52.05, -0.55), ("Birmingham and Solihull", 52.46, -1.85),
    ("Black Country", 52.55, -2.05), ("Bristol, North Somerset and South Gloucestershire", 51.47, -2.6),
    ("Buckinghamshire, Oxfordshire and Berkshire West", 51.75, -1.1), ("Cambridgeshire and Peterborough", 52.35, 0.0),
    ("Cheshire and Merseyside", 53.3, -2.75), ("Cornwall and the Isles of Scilly", 50.35, -4.9),
    ("Coventry and Warwickshire", 52.35, -1.5), ("Derby and Derbyshire", 53.05, -1.55), ("Devon", 50.7, -3.7),
    ("Dorset", 50.75, -2.3), ("Frimley", 51.3, -0.75), ("Gloucestershire", 51.85, -2.2),
    ("Greater Manchester", 53.5, -2.25), ("Hampshire and Isle of Wight", 51.0, -1.3),
    ("Herefordshire and Worcestershire", 52.15, -2.5), ("Hertfordshire and West Essex", 51.8, -0.2),
    ("Humber and North Yorkshire", 54.0, -1.0), ("Kent and Medway", 51.25, 0.75),
    ("Lancashire and South Cumbria", 53.85, -2.7), ("Leicester, Leicestershire and Rutland", 52.65, -1.1),
    ("Lincolnshire", 53.1, -0.25), ("Mid and South Essex", 51.6, 0.6), ("North Central London", 51.58, -0.13),
    ("North East and North Cumbria", 54.85, -1.7), ("North East London", 51.55, 0.05),
    ("North West London", 51.52, -0.3), ("Northamptonshire", 52.3, -0.85), ("Norfolk and Waveney", 52.65, 1.1),
    ("Nottingham and Nottinghamshire", 53.05, -1.1), ("Shropshire, Telford and Wrekin", 52.7, -2.65),
    ("Somerset", 51.1, -2.95), ("South East London", 51.45, 0.0), ("South West London", 51.42, -0.2),
    ("South Yorkshire", 53.45, -1.35), ("Staffordshire and Stoke-on-Trent", 52.85, -2.05),
    ("Suffolk and North East Essex", 52.15, 1.0), ("Surrey Heartlands", 51.25, -0.45), ("Sussex", 50.9, -0.2),
    ("West Yorkshire", 53.8, -1.6),
]  # fmt: skip
LOCALITY_PARTS = ("North", "Central", "South")
NAME_WORDS = ("Oak", "Willow", "Meadow", "Beech", "Rose", "Cedar", "Elm", "Holly", "Laurel", "Maple", "Ash", "Birch")
NAME_KINDS = ("House", "Lodge", "Court", "Manor", "Grange", "View", "Gardens", "Hall")
STREETS = ("High Street", "Church Road", "Station Road", "Park Lane", "Mill Lane", "London Road", "The Green")


def _homes(count: int, rng: random.Random):
    """Yield (home row, offer rows), region by region, ids 1..count."""
    per_region = [count // len(REGIONS) + (1 if r < count % len(REGIONS) else 0) for r in range(len(REGIONS))]
    home_id = 0
    for r, (_name, lat0, lon0) in enumerate(REGIONS):
        for _ in range(per_region[r]):
            home_id += 1
            lat = min(55.8, max(50.0, rng.gauss(lat0, 0.15)))
            lon = min(1.7, max(-5.7, rng.gauss(lon0, 0.2)))
            kinds = sorted(rng.sample(KINDS, rng.randint(2, 4)), key=KINDS.index)
            home = {
                "id": home_id,
                "name": f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_KINDS)} {home_id}",
                "address": f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
                "postcode": f"B{r + 1} {rng.randint(1, 9)}{chr(65 + rng.randint(0, 25))}{chr(65 + rng.randint(0, 25))}",
                "latitude": round(lat, 5),
                "longitude": round(lon, 5),
                "locality_id": r * len(LOCALITY_PARTS) + rng.randrange(len(LOCALITY_PARTS)) + 1,
                "phone": f"0{rng.randint(1000, 1999)} {rng.randint(100000, 999999)}",
                "cqc_location_id": f"1-{100000000 + home_id}",
                "listed_publicly": True,
                "link_version": 1,
                "admissions_open": True,
                "note": "",
            }
            offers = [
                {"home_id": home_id, "kind_code": k, "capacity": rng.randint(5, 60), "position": KINDS.index(k)}
                for k in kinds
            ]
            yield home, offers


def _insert_rows(homes: int, seed: int) -> dict[int, dict[str, int]]:
    from tracker.db import session
    from tracker.models import CareHome, Contact, Locality, Offer, Region

    rng = random.Random(seed)
    session.execute(insert(Region), [{"id": r + 1, "name": name} for r, (name, _, _) in enumerate(REGIONS)])
    session.execute(
        insert(Locality),
        [
            {"id": r * len(LOCALITY_PARTS) + p + 1, "name": f"{name} {part}", "region_id": r + 1}
            for r, (name, _, _) in enumerate(REGIONS)
            for p, part in enumerate(LOCALITY_PARTS)
        ],
    )
    home_rows, offer_rows = [], []
    for home, offers in _homes(homes, rng):
        home_rows.append(home)
        offer_rows.extend(offers)
    for start in range(0, len(home_rows), 2000):  # chunks keep each statement's parameter list modest
        session.execute(insert(CareHome), home_rows[start : start + 2000])
    for start in range(0, len(offer_rows), 5000):
        session.execute(insert(Offer), offer_rows[start : start + 5000])
    # One registered phone per home, so updates can also arrive by text (load.SmsSender).
    contacts = [{"home_id": h["id"], "phone": phone_for(h["id"]), "name": "bench manager"} for h in home_rows]
    for start in range(0, len(contacts), 5000):
        session.execute(insert(Contact), contacts[start : start + 5000])
    # Explicit ids leave the serial sequences behind; move them on so later inserts do not collide.
    for table in ("region", "locality", "care_home"):
        session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    session.commit()
    return {h["id"]: {} for h in home_rows} | _capacities(offer_rows)


def phone_for(home_id: int) -> str:
    return f"+447700{home_id:06d}"


def _capacities(offer_rows: list[dict]) -> dict[int, dict[str, int]]:
    kinds: dict[int, dict[str, int]] = {}
    for offer in offer_rows:
        kinds.setdefault(offer["home_id"], {})[offer["kind_code"]] = offer["capacity"]
    return kinds


def _record_initial(args: tuple[dict, list[tuple[int, dict[str, int]]]]) -> int:
    """In a worker process: give each home its first state through the one write path."""
    env, states = args
    from tracker import create_app
    from tracker.db import session
    from tracker.models import Channel
    from tracker.vacancies import Change, record_update

    app = create_app(env)
    now = datetime.now().astimezone() - timedelta(hours=1)
    with app.app_context():
        for home_id, counts in states:
            record_update(home_id, Change(counts=counts, admissions="open"), channel=Channel.IMPORT, actor="bench",
                          now=now)  # fmt: skip
            session.remove()  # a fresh session per home, as a request would have: no identity map growing
    return len(states)


def load(env: dict, homes: int = 15_000, processes: int = 2, seed: int = 2026, log=print) -> dict:
    """Load England into an empty, migrated database and return the driver's plan."""
    from tracker import create_app
    from tracker.auth import create_token
    from tracker.db import session
    from tracker.managers.links import link_token
    from tracker.models import CareHome, Role

    app = create_app(env)
    started = time.monotonic()
    with app.app_context():
        kinds = _insert_rows(homes, seed)
    log(f"  inserted {homes} homes in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    rng = random.Random(seed + 1)
    states = [(home_id, {k: rng.randint(0, cap) for k, cap in offered.items()}) for home_id, offered in kinds.items()]
    shares = [(env, states[p::processes]) for p in range(processes)]
    # spawn, not fork: each worker builds its own app, engine and connections from scratch.
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        recorded = sum(pool.map(_record_initial, shares))
    seconds = time.monotonic() - started
    log(f"  recorded {recorded} initial states through record_update in {seconds:.1f} s ({recorded / seconds:.0f}/s)")

    with app.app_context():
        token = create_token("bench", Role.COORDINATOR)
        plan_homes = []
        for home in session.scalars(select(CareHome).order_by(CareHome.id)):
            plan_homes.append(
                {
                    "id": home.id,
                    "region": home.locality.region_id,
                    "link": link_token(home),
                    "phone": phone_for(home.id),
                    "kinds": {o.kind_code: o.capacity for o in home.offers},
                }
            )
        session.remove()
    return {"token": token, "regions": list(range(1, len(REGIONS) + 1)), "homes": plan_homes,
            "initial_record_s": round(seconds, 1)}  # fmt: skip
