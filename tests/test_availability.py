"""One rule for a bed you can count on (tracker/availability.py): every representation agrees with it.

Hypothesis draws homes (kinds, capacities, beds free or never reported, open or closed, beds held for
a hospital until some time, standing or past), when each last confirmed, the moment it is looked at,
and the AGEING_AFTER/UNVERIFIED_AFTER settings; the homes are recorded through the write path, and
the board's snapshot and update events, the board's CSV, the REST API (its SQL), FHIR, the families'
search index and the reports over history must each say what `availability` says: which beds count,
and whether the data is fresh, ageing or unverified.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tracker import availability, scheduler
from tracker.admin import reports
from tracker.auth import create_token
from tracker.availability import Freshness
from tracker.coordinators import board, csv_export
from tracker.db import session
from tracker.families import search_index
from tracker.families.geocoding import Location
from tracker.models import CareHome, CareKind, Channel, Hospital, Locality, Offer, Region, Role, Update
from tracker.vacancies import Change, HoldRequest, record_update

KINDS = ("RES", "NUR", "DNUR")
# Each example looks at its own moment, 60 days after the last one's: earlier examples' homes are
# then long unverified, and add nothing to what this one counts (the reports read all of history).
FIRST = datetime(2031, 3, 1, 12, tzinfo=UTC)
_examples = itertools.count()


@pytest.fixture
def environ(environ):
    return {**environ, "API_RATE_LIMIT": "100000/minute"}


@st.composite
def drawn_home(draw, unverified_after: timedelta):
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True))
    capacities = {k: draw(st.integers(1, 40)) for k in kinds}
    reported = draw(st.booleans())
    counts = {}
    if reported:  # some kinds may stay never reported (None) even then
        for kind in kinds:
            if draw(st.booleans()) or not counts:
                counts[kind] = draw(st.integers(0, capacities[kind]))
    hours = st.integers(0, int((unverified_after + timedelta(hours=24)).total_seconds() // 60))
    age = draw(st.one_of(hours.map(lambda m: timedelta(minutes=m)), st.just(unverified_after)))
    is_open = draw(st.booleans())
    # Holds placed when the home confirmed, each lasting 1 minute to 24 hours: some still stand at
    # the moment looked at, some have passed their time (the clock has a pass to run on them).
    holds = []
    if reported and is_open:
        for kind, beds in counts.items():
            for _ in range(draw(st.integers(0, min(beds, 2)))):
                holds.append((kind, timedelta(minutes=draw(st.integers(1, 24 * 60)))))
    return capacities, counts if reported else None, age, is_open, holds


@st.composite
def scenarios(draw):
    ageing = timedelta(hours=draw(st.integers(1, 48)))
    unverified = ageing + timedelta(hours=draw(st.integers(1, 72)))
    homes = draw(st.lists(drawn_home(unverified), min_size=1, max_size=5))
    return ageing, unverified, homes


def _record(number: int, now: datetime, drawn) -> CareHome:
    capacities, counts, age, is_open, holds = drawn
    home = CareHome(name=f"Home {number}", locality_id=_locality_id(), latitude=50.12, longitude=-5.53)
    home.offers = [Offer(kind_code=k, capacity=c, position=i) for i, (k, c) in enumerate(capacities.items())]
    session.add(home)
    session.commit()
    if counts is not None:
        change = Change(counts=counts, admissions="open" if is_open else "closed", closed_reason="Outbreak")
        record_update(home.id, change, channel=Channel.WEB, actor="t", now=now - age)
        for kind, lasting in holds:
            held = Change(hold=HoldRequest(kind, _hospital_id(), now - age + lasting))
            record_update(home.id, held, channel=Channel.WEB, actor="t", now=now - age)
    elif not is_open:
        home.admissions_open = False
        session.commit()
    return session.get(CareHome, home.id)


def _hospital_id() -> int:
    found = session.scalars(select(Hospital)).first()
    if found is None:
        found = Hospital(name="Royal Cornwall", latitude=50.27, longitude=-5.09)
        session.add(found)
        session.commit()
    return found.id


def _locality_id() -> int:
    place = session.scalars(select(Locality)).first()
    if place is None:
        place = Locality(name="West Cornwall", region=Region(name="Cornwall and the Isles of Scilly"))
        session.add(place)
        session.commit()
    return place.id


def _expected(home: CareHome, now: datetime) -> tuple[Freshness, dict[str, int | None]]:
    fresh = availability.freshness(home.confirmed_at, now)
    holds = availability.standing_holds([home.id]).get(home.id, [])
    return fresh, {o.kind_code: availability.countable(o.available, home.admissions_open, fresh.verified,
                                                       availability.held(holds, o.kind_code, now))
                   for o in home.offers}  # fmt: skip


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_every_representation_agrees_with_the_one_rule(app, client, scenario):
    ageing, unverified, drawn = scenario
    app.config["AGEING_AFTER"], app.config["UNVERIFIED_AFTER"] = ageing, unverified
    now = FIRST + next(_examples) * timedelta(days=60)
    homes = [_record(n, now, d) for n, d in enumerate(drawn)]
    ids = {h.id for h in homes}
    expected = {h.id: _expected(h, now) for h in homes}
    # The clock's pass ends the holds past their time (through the write path): nothing it does
    # changes what counts at `now`, and the families' index, which waits for it, then agrees too.
    scheduler.expire_holds(now=now)
    assert {i: _expected(session.get(CareHome, i), now) for i in ids} == expected
    counted = {i: sum(v or 0 for v in kinds.values()) for i, (_, kinds) in expected.items()}
    hub = {"Authorization": f"Bearer {create_token(f'hub {now}', Role.COORDINATOR)}"}

    with time_machine.travel(now, tick=False):
        # The board: each home's times, compared with the clock as board.js compares them.
        snapshot = {h["id"]: h for h in board.snapshot_homes(None) if h["id"] in ids}
        for home_id, home in snapshot.items():
            fresh, _ = expected[home_id]
            assert _as_board_js(home, now) == str(fresh)
        for row in session.scalars(select(Update).where(Update.home_id.in_(ids))):
            event = board.update_event(row, regional=False)["home"]
            confirmed = datetime.fromisoformat(row.state["confirmed_at"])  # a hold's row is no confirmation
            assert _as_board_js(event, now) == str(availability.freshness(confirmed, now))

        # The board's CSV.
        kinds = [(k.code, k.name) for k in session.scalars(select(CareKind).order_by(CareKind.position))]
        rows = csv_export.board_rows(snapshot.values(), csv_export.BoardFilters(), now, ageing, unverified)
        header, table = csv_export.board_table(rows, kinds)
        for row, cells in zip(rows, table, strict=True):
            line = dict(zip(header, cells, strict=True))
            fresh, by_kind = expected[row.home["id"]]
            assert line["Data"].split(":")[0] == str(fresh)
            assert line["Beds free (counted)"] == counted[row.home["id"]]
            for code, name in kinds:
                if code in by_kind:
                    assert line[f"{name}: beds free"] == ("" if by_kind[code] is None else by_kind[code])

        # The REST API: its freshness, and its SQL for "with vacancies" and "hide unverified".
        listed = client.get("/api/v1/homes?limit=1000", headers=hub).json["homes"]
        for home in listed:
            if home["id"] in ids:
                assert home["freshness"] == str(expected[home["id"]][0])
        free = client.get("/api/v1/homes?limit=1000&with_vacancies=1", headers=hub).json["homes"]
        assert {h["id"] for h in free} & ids == {i for i in ids if counted[i] > 0}
        for code in KINDS:
            free = client.get(f"/api/v1/homes?limit=1000&with_vacancies=1&kind={code}", headers=hub).json["homes"]
            assert {h["id"] for h in free} & ids == {i for i in ids if (expected[i][1].get(code) or 0) > 0}
        verified = client.get("/api/v1/homes?limit=1000&hide_unverified=1", headers=hub).json["homes"]
        assert {h["id"] for h in verified} & ids == {i for i in ids if expected[i][0].verified}

        # FHIR: each kind's beds available only while countable, and the same word.
        bundle = client.get("/api/v1/fhir/HealthcareService", headers=hub).json
        for entry in bundle.get("entry", []):
            service = entry["resource"]
            if service["resourceType"] != "HealthcareService":
                continue
            _, home_id, code = service["id"].split("-")
            if int(home_id) not in ids:
                continue
            parts = {p["url"]: p for p in service["extension"][0]["extension"]}
            fresh, by_kind = expected[int(home_id)]
            assert parts["freshness"]["valueCode"] == str(fresh)
            assert parts.get("available", {}).get("valueUnsignedInt") == by_kind[code]

        # The families' search: status, word, and which homes are listed as having a vacancy.
        index = search_index.Index(search_index._public_homes(sorted(ids)), 0, search_index._areas())
        for public in index.homes:
            shown = search_index.view(public, now)
            fresh, by_kind = expected[public.id]
            assert shown["freshness"] == str(fresh)
            assert (shown["status"] == "unverified") == (fresh is Freshness.UNVERIFIED)
            public_kinds = {code for code, _ in public.offers}
            has_vacancy = any((by_kind[code] or 0) > 0 for code in public_kinds)
            assert (shown["status"] == "vacancies") == has_vacancy
        results = search_index.search(Location("here", 50.12, -5.53), "", 10, now, index)
        listed_free = {h["id"] for h in results.vacancies + results.further}
        assert listed_free == {h.id for h in index.homes if any((expected[h.id][1][c] or 0) > 0 for c, _ in h.offers)}

    # The reports over history, at this moment.
    (totals,) = reports.beds_by_kind([now], unverified)
    for code in KINDS:
        assert totals.get(code, 0) == sum(by_kind.get(code) or 0 for _, by_kind in expected.values())


def _as_board_js(home: dict, now: datetime) -> str:
    """board.js's freshness(): the server's times against the clock, nothing re-derived."""
    if not home["unverified_at"] or now >= datetime.fromisoformat(home["unverified_at"]):
        return "unverified"
    if now >= datetime.fromisoformat(home["ageing_at"]):
        return "ageing"
    return "fresh"


@pytest.mark.parametrize(
    ("age", "word"),
    [
        (timedelta(0), "fresh"),
        (timedelta(hours=24), "ageing"),
        (timedelta(hours=72), "unverified"),
        (None, "unverified"),
    ],
)
def test_freshness_changes_exactly_at_the_thresholds(age, word):
    now = datetime(2031, 1, 1, tzinfo=UTC)
    confirmed = None if age is None else now - age
    assert availability.freshness(confirmed, now, timedelta(hours=24), timedelta(hours=72)) == word


def test_a_closed_home_counts_no_beds_and_an_unverified_one_none_known():
    assert availability.countable(3, True, True) == 3
    assert availability.countable(3, False, True) == 0
    assert availability.countable(3, True, False) is None
    assert availability.countable(None, True, True) is None
