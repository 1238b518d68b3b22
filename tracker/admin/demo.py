"""The Cornwall and Isles of Scilly demo region: fictional care homes in real towns, loaded by `make run`.

Everything is drawn from one fixed random seed, so every demo database is the same. The homes' states
are recorded through vacancies.record_update like any channel's, so history and seq numbers are real.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from tracker.auth import hash_password
from tracker.chasing import ladder
from tracker.db import session
from tracker.models import CareHome, Channel, Contact, Hospital, Locality, Offer, Region, Role, User
from tracker.vacancies import Change, record_update

DEMO_PASSWORD = "demo-password"
EMAIL_DOMAIN = "demo.tracker.nhs.uk"
REGION = "Cornwall and the Isles of Scilly"
LOCALITIES = ("West Cornwall", "Mid Cornwall", "North Cornwall", "East Cornwall", "Isles of Scilly")
KIND_ORDER = ("RES", "NUR", "DRES", "DNUR", "MH", "LD", "D2A")

# name, site, postcode, latitude, longitude, the coordinator login's mailbox
HOSPITALS = [
    ("Royal Cornwall Hospital", "Treliske, Truro", "TR1 3LJ", 50.2667, -5.0915, "treliske"),
    ("West Cornwall Hospital", "Penzance", "TR18 2PF", 50.1221, -5.5430, "penzance"),
    ("St Michael's Hospital", "Hayle", "TR27 4JA", 50.1804, -5.4244, "hayle"),
    ("Derriford Hospital", "Plymouth", "PL6 8DH", 50.4167, -4.1137, "derriford"),
]

# town, locality, latitude, longitude, jitter radius (km), postcode district and sectors, homes.
# Coastal towns are anchored a little inland with a small radius, so no home lands in the sea.
TOWNS = [
    ("Truro", "Mid Cornwall", 50.2632, -5.0510, 1.5, "TR1", "123", 8),
    ("Falmouth", "West Cornwall", 50.1530, -5.0830, 0.8, "TR11", "2345", 6),
    ("Penzance", "West Cornwall", 50.1250, -5.5450, 0.8, "TR18", "2345", 7),
    ("St Ives", "West Cornwall", 50.2050, -5.4880, 0.5, "TR26", "123", 4),
    ("Hayle", "West Cornwall", 50.1810, -5.4150, 0.6, "TR27", "456", 3),
    ("Camborne", "West Cornwall", 50.2130, -5.3000, 1.5, "TR14", "0789", 5),
    ("Redruth", "West Cornwall", 50.2330, -5.2260, 1.5, "TR15", "123", 5),
    ("Helston", "West Cornwall", 50.1010, -5.2740, 1.0, "TR13", "089", 4),
    ("Newquay", "Mid Cornwall", 50.4080, -5.0650, 0.6, "TR7", "123", 6),
    ("St Austell", "Mid Cornwall", 50.3390, -4.7920, 1.2, "PL25", "345", 7),
    ("Bodmin", "North Cornwall", 50.4700, -4.7200, 1.5, "PL31", "12", 4),
    ("Wadebridge", "North Cornwall", 50.5170, -4.8350, 0.8, "PL27", "67", 3),
    ("Liskeard", "East Cornwall", 50.4540, -4.4650, 1.2, "PL14", "346", 4),
    ("Looe", "East Cornwall", 50.3580, -4.4490, 0.4, "PL13", "12", 3),
    ("Saltash", "East Cornwall", 50.4100, -4.2280, 0.7, "PL12", "46", 4),
    ("Launceston", "North Cornwall", 50.6370, -4.3600, 1.2, "PL15", "789", 3),
    ("Bude", "North Cornwall", 50.8280, -4.5330, 0.6, "EX23", "89", 3),
    ("St Mary's", "Isles of Scilly", 49.9160, -6.3050, 0.2, "TR21", "0", 1),
]
STREETS = {
    "Truro": ("Tregolls Road", "Lemon Street", "Kenwyn Road", "Station Road", "Malpas Road"),
    "Falmouth": ("Killigrew Street", "Western Terrace", "Melvill Road", "Trescobeas Road"),
    "Penzance": ("Alverton Road", "Morrab Road", "Penalverne Drive", "Heamoor Road"),
    "St Ives": ("Trelyon Avenue", "Higher Stennack", "Penbeagle Way"),
    "Hayle": ("Commercial Road", "Penpol Terrace", "Trelissick Road"),
    "Camborne": ("Tehidy Road", "Basset Road", "Trelowarren Street", "Centenary Street"),
    "Redruth": ("Clinton Road", "Albany Road", "Plain-an-Gwarry", "Trefusis Road"),
    "Helston": ("Godolphin Road", "Meneage Street", "Clodgey Lane"),
    "Newquay": ("Edgcumbe Avenue", "Pentire Road", "Trenance Road", "Tower Road"),
    "St Austell": ("Alexandra Road", "Truro Road", "Tregonissey Road", "Bodmin Road"),
    "Bodmin": ("St Nicholas Street", "Lostwithiel Road", "Castle Street"),
    "Wadebridge": ("Trevanson Road", "West Hill", "Egloshayle Road"),
    "Liskeard": ("Dean Street", "Station Road", "Greenbank Road"),
    "Looe": ("Shutta Road", "Barbican Hill", "Polperro Road"),
    "Saltash": ("Callington Road", "St Stephens Road", "Fore Street"),
    "Launceston": ("Dunheved Road", "Western Road", "St Thomas Road"),
    "Bude": ("Killerton Road", "Kings Hill", "Stratton Road"),
    "St Mary's": ("Church Street, Hugh Town",),
}

# Home names are built from Cornish place-name parts ("Tre" homestead, "Chy" house, "lowen" happy...),
# so they sound local without copying any real home's name.
NAME_STARTS = ("Tre", "Pol", "Pen", "Ros", "Bos", "Lan", "Nans", "Car", "Chy ")
NAME_ENDS = (
    "lowen withen vean meor gwyns hallow vethan kerris dinnick venna warne tallan gollan gwidden skewes vose".split()
)
SUFFIXES = {
    "residential": ("House", "Lodge", "Care Home", "Court", "Residential Home", "Manor"),
    "nursing": ("Nursing Home", "Care Centre", "Manor Nursing Home"),
    "specialist": ("House", "Lodge"),
}
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters UK postcodes use in the last two places
CLOSED_REASONS = ("Norovirus outbreak", "Covid-19 outbreak", "Influenza outbreak", "Norovirus outbreak")  # one each
NOTES = (
    "Can take bariatric patient",
    "Assessments Mon–Fri only",
    "Ground-floor room with en suite free",
    "Male bed only",
    "Female bed only",
    "Ring before sending a referral",
    "No admissions after 4pm",
    "Hoist-trained staff on every shift",
)
# channel, actor, weight: most managers use the web form, some text in.
REPORTERS = ((Channel.WEB, "manager (web form)", 6), (Channel.SMS, "manager (sms)", 3), (Channel.DEMO, "demo seed", 1))


CHASED_FOR, CLOCK_STEP = timedelta(days=3), timedelta(minutes=30)


def seed(now: datetime) -> list[tuple[str, str, str]]:
    """Create the Cornwall and Isles of Scilly demo region; return [(email, password, description)] logins."""
    rng = random.Random(2026)
    counts_rng = random.Random(6)  # its own stream: the rest of the demo stays as it was before this choice
    region = Region(name=REGION)
    localities = {name: Locality(name=name, region=region) for name in LOCALITIES}
    session.add_all([region, *localities.values()])
    session.flush()  # gives region its id for the hospitals
    logins = _add_users(region.id)

    homes: list[tuple[CareHome, dict[str, int]]] = []
    stems: set[str] = set()  # one home per stem, so no "Polmeor House" beside a "Polmeor Lodge"
    cqc_ids: set[str] = set()
    # Ofcom's ranges reserved for fiction (01632 960xxx, 07700 900xxx): a demo number never rings anyone.
    landlines = iter(rng.sample(range(1000), 1000))
    phones = iter(rng.sample(range(1000), 1000))
    for town, locality, lat, lon, radius, district, sectors, count in TOWNS:
        for _ in range(count):
            style, beds = _beds(rng)
            home = CareHome(
                name=f"{_unique(stems, _stem, rng)} {rng.choice(SUFFIXES[style])}",
                address=f"{rng.randint(1, 120)} {rng.choice(STREETS[town])}, {town}",
                postcode=f"{district} {rng.choice(sectors)}{''.join(rng.choices(POSTCODE_UNIT_LETTERS, k=2))}",
                locality=localities[locality],
                phone=f"01632 960{next(landlines):03d}",
                cqc_location_id=_unique(cqc_ids, _cqc_location_id, rng),
                listed_publicly=rng.random() > 0.05,
                chase_due_at=now - CHASED_FOR,  # when the chaser is switched on: homes with no numbers are due
            )
            # About half the homes let families see how many beds are free, not only that some are.
            home.public_counts = counts_rng.random() < 0.5
            home.latitude, home.longitude = _jitter(rng, lat, lon, radius)
            home.offers = [Offer(kind_code=k, capacity=n, position=KIND_ORDER.index(k)) for k, n in beds.items()]
            home.contacts = [Contact(phone=f"+447700900{next(phones):03d}", name="Home manager")]
            if rng.random() < 0.4:
                home.contacts.append(Contact(phone=f"+447700900{next(phones):03d}", name="Deputy manager"))
            session.add(home)
            homes.append((home, beds))
    # Each locality's discharge hub hears about homes that stop answering reminders.
    for name, place in localities.items():
        place.escalation_name, place.escalation_phone = f"{name} discharge hub", f"+447700900{next(phones):03d}"
    session.commit()

    # History seq numbers must follow time, so every update is planned first and recorded oldest first.
    # The chaser was switched on CHASED_FOR ago and has run every half hour since, as the clock
    # would, so the region arrives with its reminders, escalations and outbox already lived in.
    plan = _plan_updates(rng, homes, now)
    plan.append(_penzance_nursing_bed(homes, plan, now))
    plan.sort(key=lambda u: u[0])
    moment = switched_on = now - CHASED_FOR
    for when, home_id, change, channel, actor in (u for u in plan if u[0] < switched_on):
        record_update(home_id, change, channel=channel, actor=actor, now=when)
    for when, home_id, change, channel, actor in (u for u in plan if u[0] >= switched_on):
        while moment <= when:
            ladder.run_pass(moment)
            moment += CLOCK_STEP
        record_update(home_id, change, channel=channel, actor=actor, now=when)
    while moment <= now:
        ladder.run_pass(moment)
        moment += CLOCK_STEP
    return logins


def _penzance_nursing_bed(homes, plan, now: datetime):
    """The walk-through in docs/public-search.md: a family at TR18 2PF looking for nursing care finds a
    Penzance home first, with 2 nursing beds confirmed about 3 hours ago (after its other planned updates)."""
    home = next(h for h, beds in homes if "NUR" in beds and h.address.endswith("Penzance") and h.public_counts)
    latest = max((when for when, home_id, *_ in plan if home_id == home.id), default=now - timedelta(days=1))
    when = max(now - timedelta(hours=3), latest + timedelta(minutes=1))
    return when, home.id, Change(counts={"NUR": 2}, admissions="open"), Channel.WEB, "manager (web form)"


def logins() -> list[tuple[str, str, str]]:
    """The demo sign-ins as (email, password, description): coordinators, one per hospital, then the admin."""
    people = [(f"{h[5]}@{EMAIL_DOMAIN}", DEMO_PASSWORD, f"discharge coordinator, {h[0]} ({h[1]})") for h in HOSPITALS]
    return [*people, (f"admin@{EMAIL_DOMAIN}", DEMO_PASSWORD, "administrator")]


def _add_users(region_id: int) -> list[tuple[str, str, str]]:
    password_hash = hash_password(DEMO_PASSWORD)
    for (name, site, postcode, lat, lon, _mailbox), (email, _, _) in zip(HOSPITALS, logins(), strict=False):
        hospital = Hospital(name=name, site=site, postcode=postcode, latitude=lat, longitude=lon, region_id=region_id)
        session.add(
            User(
                email=email,
                name=f"{name} discharge hub",
                password_hash=password_hash,
                role=Role.COORDINATOR,
                hospital=hospital,
            )
        )
    admin_email = logins()[-1][0]
    session.add(User(email=admin_email, name="Demo administrator", password_hash=password_hash, role=Role.ADMIN))
    return logins()


def _beds(rng: random.Random) -> tuple[str, dict[str, int]]:
    """A home's style and its registered beds per kind of care, in KIND_ORDER."""
    style = rng.choices(("residential", "nursing", "specialist"), weights=(56, 36, 8))[0]
    if style == "specialist":  # small mental health or learning disability homes
        return style, {rng.choice(("MH", "LD")): rng.randint(6, 20)}
    beds = {}
    if style == "residential":
        beds["RES"] = rng.randint(18, 40)
        if rng.random() < 0.6:
            beds["DRES"] = rng.randint(6, 20)
    else:
        if rng.random() < 0.5:
            beds["RES"] = rng.randint(6, 12)
        beds["NUR"] = rng.randint(20, 40)
        if rng.random() < 0.6:
            beds["DNUR"] = rng.randint(8, 16)
    if rng.random() < 0.1:  # a few beds commissioned for discharge to assess
        beds["D2A"] = rng.randint(2, 4)
    return style, dict(sorted(beds.items(), key=lambda kv: KIND_ORDER.index(kv[0])))


def _stem(rng: random.Random) -> str:
    start, end = rng.choice(NAME_STARTS), rng.choice(NAME_ENDS)
    return start + end.capitalize() if start.endswith(" ") else start + end


def _cqc_location_id(rng: random.Random) -> str:
    return "1-" + str(rng.randint(100_000_000, 9_999_999_999))  # CQC's style: "1-" then 9 or 10 digits


def _unique(seen: set[str], make, *args) -> str:
    """make(*args) until it gives a value not yet in `seen`."""
    value = make(*args)
    while value in seen:
        value = make(*args)
    seen.add(value)
    return value


def _jitter(rng: random.Random, lat: float, lon: float, radius_km: float) -> tuple[float, float]:
    """A point spread evenly over a disc of radius_km around (lat, lon)."""
    distance, bearing = radius_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / 111.2
    dlon = distance * math.sin(bearing) / (111.2 * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def _counts(rng: random.Random, beds: dict[str, int]) -> dict[str, int]:
    # Many zeros, rarely more than three free beds of a kind: vacancies are scarce.
    return {k: min(cap, rng.choices((0, 1, 2, 3, 4), weights=(45, 25, 15, 10, 5))[0]) for k, cap in beds.items()}


def _plan_updates(rng: random.Random, homes: list[tuple[CareHome, dict[str, int]]], now: datetime):
    """(when, home id, change, channel, actor) for every update, unordered.

    Ages are spread across the board's freshness bands (AGEING_AFTER 24h, UNVERIFIED_AFTER 72h by default):
    3 homes never report, 6 are over 72 hours old, 12 between 24 and 72 hours, the rest within a day.
    """
    order = rng.sample(homes, len(homes))
    unverified, ageing, fresh = order[3:9], order[9:21], order[21:]
    age = {h.id: timedelta(hours=rng.uniform(73, 240)) for h, _ in unverified}
    age |= {h.id: timedelta(hours=rng.uniform(24.5, 71)) for h, _ in ageing}
    age |= {h.id: timedelta(minutes=rng.uniform(4, 23.5 * 60)) for h, _ in fresh}
    reported = unverified + ageing + fresh
    outbreaks = rng.sample(fresh + ageing, len(CLOSED_REASONS))  # closed homes are recent news, not unverified
    closed = {h.id: why for (h, _), why in zip(outbreaks, CLOSED_REASONS, strict=True)}
    noted = {h.id: note for (h, _), note in zip(rng.sample(reported, len(NOTES)), NOTES, strict=True)}
    twice = {h.id for h, _ in rng.sample(reported, 20)}

    plan = []
    for home, beds in reported:
        when = now - age[home.id]
        channel, actor, _ = rng.choices(REPORTERS, weights=[r[2] for r in REPORTERS])[0]
        if home.id in twice:  # an older report, so the home's history has more than one row
            earlier = when - timedelta(hours=rng.uniform(6, 120))
            plan.append((earlier, home.id, Change(counts=_counts(rng, beds), admissions="open"), channel, actor))
        elif (home, beds) in fresh:  # a home that answers keeps a daily rhythm (some days after a reminder)
            day_before = when - timedelta(hours=rng.uniform(18, 30))
            first = day_before - timedelta(hours=rng.uniform(18, 30))
            plan.append((first, home.id, Change(counts=_counts(rng, beds), admissions="open"), channel, actor))
            plan.append((day_before, home.id, Change(), channel, actor))
        if home.id in closed:
            change = Change(
                counts=dict.fromkeys(beds, 0),
                admissions="closed",
                closed_reason=closed[home.id],
                reopens_on=(now + timedelta(days=rng.randint(5, 10))).date(),
                note=noted.get(home.id),
            )
        elif home.id in twice and home.id not in noted and rng.random() < 0.3:
            change = Change()  # "no change": the manager confirms the numbers already recorded
        else:
            change = Change(counts=_counts(rng, beds), admissions="open", note=noted.get(home.id))
        plan.append((when, home.id, change, channel, actor))
    return plan
