"""Reports for commissioners (/admin/reports): beds free by kind over time, compliance by locality,
and time to fill a vacancy, on a small history built at chosen times."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from tracker.admin import reports
from tracker.auth import hash_password
from tracker.db import session
from tracker.models import Channel, Role, User
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD

EXPIRE = timedelta(hours=72)
DAY1 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday in GMT: midday UK time is 12:00 UTC
NOW = DAY1 + timedelta(days=5, hours=13)  # 13:00 on day 6


def at(day: int, hour: int) -> datetime:
    return DAY1 + timedelta(days=day - 1, hours=hour)


def record(home, when, admissions=None, reason=None, **counts):
    record_update(
        home.id, Change(counts=counts, admissions=admissions, closed_reason=reason),
        channel=Channel.WEB, actor="manager", now=when,
    )  # fmt: skip


@pytest.fixture
def history(app, make_home):
    """A: two nursing vacancies filled in 6 h and 24 h. B: one closed before it filled, one lapsed.
    C: one still free at NOW."""
    a = make_home(name="Chy Lowen", offers={"NUR": 10, "RES": 5})
    b = make_home(name="Trevose House", offers={"RES": 20}, locality="East Cornwall")
    c = make_home(name="Polwithen", offers={"NUR": 5})
    record(a, at(1, 9), NUR=2, RES=0)
    record(a, at(1, 15), NUR=0)
    record(a, at(2, 8), NUR=1)
    record(a, at(2, 20))  # "no change": the same vacancy goes on
    record(a, at(3, 8), NUR=0)
    record(b, at(1, 10), RES=3)
    record(b, at(1, 11), admissions="closed", reason="Norovirus")
    record(b, at(2, 10), admissions="open", RES=3)  # then silence: unverified from day 5, 10:00
    record(c, at(6, 9), NUR=1)
    return a, b, c


def test_beds_by_kind_count_each_homes_latest_open_verified_numbers_at_midday(history):
    moments = reports.sample_moments(date(2026, 3, 2), date(2026, 3, 8), NOW)
    assert len(moments) == 6  # the 7th midday is still to come
    assert moments[0] == at(1, 12)
    totals = reports.beds_by_kind(moments, EXPIRE)
    counted = [(day.get("NUR", 0), day.get("RES", 0)) for day in totals]
    # Day 1: B closed at 11:00. Day 5: B's and A's numbers are over 72 h old, so nothing counts.
    assert counted == [(2, 0), (1, 3), (0, 3), (0, 3), (0, 0), (1, 0)]


def test_vacancies_run_from_appearing_to_filled_closed_lapsed_or_still_free(history):
    a, b, c = history
    start, end = DAY1, DAY1 + timedelta(days=6)
    found = sorted(reports.vacancies(start, end, NOW, EXPIRE), key=lambda v: (v.home_id, v.opened))
    assert [(v.home_id, v.kind, v.hours, v.outcome) for v in found] == [
        (a.id, "NUR", 6.0, "filled"),
        (a.id, "NUR", 24.0, "filled"),
        (b.id, "RES", 1.0, "closed"),
        (b.id, "RES", 72.0, "lapsed"),
        (c.id, "NUR", None, None),
    ]
    # Only vacancies that appeared in the range: from day 2, A's first and B's first are left out.
    later = reports.vacancies(DAY1 + timedelta(days=1), end, NOW, EXPIRE)
    assert sorted(v.opened for v in later) == [at(2, 8), at(2, 10), at(6, 9)]


def test_fill_times_give_median_and_90th_percentile_with_counts(history):
    found = reports.vacancies(DAY1, DAY1 + timedelta(days=6), NOW, EXPIRE)
    names = {"NUR": "Nursing", "RES": "Residential"}
    rows = {r.label: r for r in reports.fill_times(found, lambda v: names[v.kind], order=["Nursing", "Residential"])}
    assert list(rows) == ["Nursing", "Residential", "All"]
    nursing = rows["Nursing"]
    assert (nursing.filled, nursing.median_hours, nursing.still_free, nursing.withdrawn) == (2, 15.0, 1, 0)
    assert nursing.p90_hours == pytest.approx(22.2)
    assert (rows["Residential"].filled, rows["Residential"].median_hours, rows["Residential"].withdrawn) == (0, None, 2)
    assert (rows["All"].filled, rows["All"].still_free, rows["All"].withdrawn) == (2, 1, 2)


@pytest.mark.parametrize(("values", "q", "expected"), [([], 0.5, None), ([5], 0.9, 5), ([1, 2, 3, 4], 0.5, 2.5)])
def test_percentiles_interpolate_between_ranks(values, q, expected):
    assert reports.percentile(values, q) == expected


# ---- the page --------------------------------------------------------------------------------


@pytest.fixture
def admin(client):
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


RANGE = "from=02/03/2026&to=07/03/2026"


def test_the_reports_page_draws_the_chart_and_tables(admin, history):
    with time_machine.travel(NOW, tick=False):
        page = admin.get(f"/admin/reports?{RANGE}").get_data(as_text=True)
    assert '<svg role="img" aria-labelledby="chart-title chart-desc"' in page and page.count("<polyline") == 2
    assert '<th scope="col">Residential</th><th scope="col">Nursing</th>' in page  # the kinds' own order
    residential, nursing = '<td data-label="Residential">', '<td data-label="Nursing">'
    assert f'<th scope="row">Mon 02/03/2026</th>{residential}0</td>{nursing}2</td>' in page
    assert f'<th scope="row">Tue 03/03/2026</th>{residential}3</td>{nursing}1</td>' in page
    assert "15.0" in page and "22.2" in page  # nursing's median and 90th percentile
    assert "East Cornwall" in page and "a vacancy <strong>appears</strong>" in page
    assert "/admin/chasing" in page
    assert "Compliance: confirmed within 24 hours, now" in page


def test_the_reports_default_to_the_last_30_days(admin, history):
    with time_machine.travel(NOW, tick=False):
        page = admin.get("/admin/reports").get_data(as_text=True)
    assert 'value="06/02/2026"' in page and 'value="07/03/2026"' in page


def test_report_tables_download_as_csv(admin, history):
    with time_machine.travel(NOW, tick=False):
        beds = admin.get(f"/admin/reports/beds-by-kind.csv?{RANGE}")
        fill = admin.get(f"/admin/reports/time-to-fill.csv?{RANGE}")
    rows = list(csv.DictReader(io.StringIO(beds.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["Day"], r["Nursing: beds free"], r["Residential: beds free"]) for r in rows][:2] == [
        ("02/03/2026", "2", "0"),
        ("03/03/2026", "1", "3"),
    ]
    assert rows[0]["Counted at (UK time)"] == "2026-03-02 12:00 GMT"
    table = list(csv.DictReader(io.StringIO(fill.get_data(as_text=True).lstrip("\ufeff"))))
    nursing = next(r for r in table if r["Group"] == "Nursing")
    assert (nursing["Vacancies filled"], nursing["Median hours to fill"], nursing["90th percentile hours to fill"]) == (
        "2",
        "15.0",
        "22.2",
    )
    assert {r["By"] for r in table} == {"Kind of care", "Locality"}


def test_a_bad_range_gets_400_with_a_plain_message(admin, history):
    response = admin.get("/admin/reports?from=07/03/2026&to=02/03/2026")
    assert response.status_code == 400
    assert "The to date (02/03/2026) is before the from date (07/03/2026)." in response.get_data(as_text=True)
    csv_response = admin.get("/admin/reports/time-to-fill.csv?from=yesterday&to=02/03/2026")
    assert csv_response.status_code == 400 and "is not a date" in csv_response.get_data(as_text=True)


@pytest.mark.parametrize(
    "page", ["/admin/reports", "/admin/reports/beds-by-kind.csv", "/admin/reports/time-to-fill.csv"]
)
def test_reports_are_for_admins(signed_in, page):
    assert signed_in.get(page).status_code == 403


def test_a_hold_on_a_vacancy_does_not_keep_it_verified_for_longer(app, make_home):
    from tracker.models import Hospital
    from tracker.vacancies import HoldRequest

    home = make_home(name="Chy Lowen", offers={"NUR": 10})
    hospital = Hospital(name="Royal Cornwall Hospital", site="Truro", latitude=50.27, longitude=-5.09)
    session.add(hospital)
    session.commit()
    record(home, at(1, 9), NUR=2)
    # Two days later a bed is held and released: neither is the home confirming its numbers.
    held = record_update(home.id, Change(hold=HoldRequest("NUR", hospital.id)), channel=Channel.WEB, actor="board",
                         now=at(3, 8))  # fmt: skip
    record_update(home.id, Change(release_hold=held.hold_id), channel=Channel.WEB, actor="board", now=at(5, 8))
    (vacancy,) = reports.vacancies(DAY1, DAY1 + timedelta(days=6), NOW, EXPIRE)
    # Lapsed 72 h after the home's own update (day 4, 09:00), as the board stopped counting it, and
    # the release on day 5 does not bring it back.
    assert (vacancy.opened, vacancy.ended, vacancy.outcome) == (at(1, 9), at(4, 9), "lapsed")
