"""Exports: the board as filtered and the history as CSV (signed-in users), and availability as a
FHIR R4 Bundle through the API (tokens), validated by fhir.resources."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.location import Location

from tracker import bed_requests
from tracker.api import fhir
from tracker.auth import create_token
from tracker.coordinators import csv_export, downloads
from tracker.db import session
from tracker.models import Channel, Locality, Region, Role, utcnow
from tracker.timefmt import LONDON
from tracker.vacancies import Change, record_update

from .test_request_api import a_home_to_ask, answer, ask


def record(home, at=None, admissions=None, reason=None, note=None, **counts):
    return record_update(
        home.id, Change(counts=counts, admissions=admissions, closed_reason=reason, note=note),
        channel=Channel.WEB, actor="manager (web form)", now=at,
    )  # fmt: skip


def read_csv(response) -> list[dict]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff"), "Excel needs the byte order mark to read UTF-8"
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.fixture
def homes(make_home):
    """Open with beds, closed with beds, unverified with beds, and full."""
    open_ = make_home(name="Chy Lowen", offers={"NUR": 30, "RES": 10}, phone="01736 000001")
    closed = make_home(name="Polwithen", offers={"NUR": 20})
    stale = make_home(name="Trevose House", offers={"RES": 20}, locality="East Cornwall")
    full = make_home(name="Bosence", offers={"RES": 12})
    record(open_, NUR=2, RES=1)
    record(closed, NUR=3)
    record(closed, admissions="closed", reason="Norovirus outbreak")
    record(stale, at=utcnow() - timedelta(hours=80), RES=5)
    record(full, RES=0)
    return open_, closed, stale, full


# ---- the board as CSV ------------------------------------------------------------------------


def test_the_board_csv_counts_only_open_verified_beds(signed_in, homes):
    response = signed_in.get("/board/export.csv?region=all&from=")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="care-home-beds-')
    rows = {r["Care home"]: r for r in read_csv(response)}
    assert set(rows) == {"Chy Lowen", "Polwithen", "Trevose House", "Bosence"}
    assert rows["Chy Lowen"]["Nursing: beds free"] == "2" and rows["Chy Lowen"]["Beds free (counted)"] == "3"
    assert rows["Chy Lowen"]["Data"] == "fresh" and rows["Chy Lowen"]["Phone"] == "01736 000001"
    closed = rows["Polwithen"]
    assert (closed["Admissions"], closed["Closed reason"]) == ("Closed", "Norovirus outbreak")
    assert closed["Nursing: beds free"] == "0" and closed["Beds free (counted)"] == "0"
    stale = rows["Trevose House"]
    assert stale["Residential: beds free"] == "" and stale["Beds free (counted)"] == "0"
    assert stale["Data"] == "unverified: not counted" and stale["Residential: capacity"] == "20"
    assert rows["Bosence"]["Residential: beds free"] == "0"
    # Times are UK local time and say which zone they are in.
    assert rows["Chy Lowen"]["Last confirmed (UK time)"].endswith((" GMT", " BST"))


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("vacancies=1", ["Chy Lowen"]),
        ("kind=RES", ["Bosence", "Chy Lowen", "Trevose House"]),
        ("kind=RES&vacancies=1", ["Chy Lowen"]),
        ("hide_stale=1", ["Bosence", "Chy Lowen", "Polwithen"]),
        ("locality=East+Cornwall", ["Trevose House"]),
        ("sort=beds", ["Chy Lowen", "Bosence", "Polwithen", "Trevose House"]),
    ],
)
def test_the_board_csv_takes_the_boards_filters(signed_in, homes, query, names):
    rows = read_csv(signed_in.get(f"/board/export.csv?region=all&from=&{query}"))
    assert [r["Care home"] for r in rows] == names


def test_distance_filters_from_the_coordinators_own_hospital_by_default(signed_in, homes, make_home):
    far = make_home(name="Scilly Home", offers={"RES": 5})
    far.latitude, far.longitude = 49.91, -6.31  # St Mary's, ~50 km from Penzance
    session.commit()
    record(far, RES=1)
    rows = read_csv(signed_in.get("/board/export.csv?region=all&max_km=10"))
    assert "Scilly Home" not in [r["Care home"] for r in rows]
    assert all(float(r["Distance (km)"]) <= 10 for r in rows)
    everything = read_csv(signed_in.get("/board/export.csv?region=all"))
    assert everything[-1]["Care home"] == "Scilly Home"  # nearest first, as the board sorts


def test_the_board_csv_defaults_to_the_coordinators_region(signed_in, coordinator, homes, make_home):
    cornwall = homes[0].locality.region
    session.add(Locality(name="Exeter", region=Region(name="Devon")))
    coordinator.hospital.region_id = cornwall.id
    session.commit()
    make_home(name="Devon Home", locality="Exeter")
    names = [r["Care home"] for r in read_csv(signed_in.get("/board/export.csv"))]
    assert "Devon Home" not in names and "Chy Lowen" in names
    assert "Devon Home" in [r["Care home"] for r in read_csv(signed_in.get("/board/export.csv?region=all"))]


def test_a_formula_in_a_note_reaches_the_spreadsheet_as_text(signed_in, make_home):
    home = make_home(name='=HYPERLINK("http://evil")')
    record(home, NUR=1, note="+SUM(A1:A9)")
    row = read_csv(signed_in.get("/board/export.csv?region=all"))[0]
    assert row["Care home"] == '\'=HYPERLINK("http://evil")'
    assert row["Note"] == "'+SUM(A1:A9)"


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=1+1", "'=1+1"), ("-2", "'-2"), ("@cmd", "'@cmd"), ("+44", "'+44"), ("\tx", "'\tx"), ("ok", "ok"), (3, 3)],
)
def test_cells_that_would_run_as_formulas_are_quoted(value, safe):
    assert csv_export.safe_cell(value) == safe


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("max_km=far", "Within (km): 'far' is not a number of kilometres."),
        ("kind=XYZ", "Kind of care: there is no kind 'XYZ'."),
        ("region=999", "Region: there is none with the id '999'."),
        ("from=abc", "Distance from: there is none with the id 'abc'."),
        ("locality=Atlantis", "Locality: there is no locality called 'Atlantis'."),
        ("sort=colour", "Sort by: choose one of distance, beds, freshness."),
    ],
)
def test_a_bad_board_filter_gets_a_plain_400(signed_in, homes, query, message):
    response = signed_in.get(f"/board/export.csv?{query}")
    assert response.status_code == 400 and response.mimetype == "text/plain"
    assert response.get_data(as_text=True).strip() == message


def test_downloads_need_a_sign_in(client):
    for path in ("/board/export.csv", "/board/history", "/board/history.csv?from=01/01/2026&to=02/01/2026"):
        assert "/login" in client.get(path).headers["Location"]


def test_the_board_page_offers_this_view_as_csv(signed_in):
    page = signed_in.get("/board").get_data(as_text=True)
    assert 'id="export-link" href="/board/export.csv"' in page and "/board/history" in page


# ---- history as CSV --------------------------------------------------------------------------


def test_history_is_every_update_in_the_range_in_uk_days(signed_in, homes, make_home):
    home = make_home(name="Ty Gwyn", offers={"NUR": 10})
    # 23:30 UTC on 30 June is 00:30 BST on 1 July: it belongs to July in the UK.
    record(home, at=datetime(2026, 6, 30, 22, 30, tzinfo=UTC), NUR=1)
    record(home, at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC), NUR=2)
    record(home, at=datetime(2026, 7, 2, 9, 0, tzinfo=UTC), NUR=0, note="=cmd|' /C calc'!A0")
    response = signed_in.get(f"/board/history.csv?from=01/07/2026&to=02/07/2026&home={home.id}")
    assert response.status_code == 200
    assert 'filename="bed-history-2026-07-01-to-2026-07-02.csv"' in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert [r["Nursing: beds free"] for r in rows] == ["2", "0"]
    assert rows[0]["Recorded (UK time)"] == "2026-07-01 00:30 BST"
    assert rows[0]["How"] == "web form" and rows[0]["Changed"] == "yes" and rows[0]["Care home"] == "Ty Gwyn"
    assert rows[1]["Note"] == "'=cmd|' /C calc'!A0"


def test_history_says_which_rows_are_holds_and_answers_to_bed_requests(signed_in, coordinator, make_home):
    now = utcnow()
    home = a_home_to_ask(make_home, now=now)
    record(home, at=now)
    request = ask(coordinator.hospital_id, [home], now=now, needs="hoist")
    answer(request, home, "question", "Is a hoist needed at night?", now=now)
    answer(request, home, "yes", now=now)
    bed_requests.choose(request.id, home.id, user_id=coordinator.id, now=now)
    day = f"{now.astimezone(LONDON):%d/%m/%Y}"
    rows = read_csv(signed_in.get(f"/board/history.csv?from={day}&to={day}&home={home.id}"))
    assert [(r["What"], r["Changed"]) for r in rows] == [
        ("update", "yes"),
        ("no change", "no change"),
        ("answer to a bed request", "no"),
        ("answer to a bed request", "no"),
        ("hold placed or ended", "yes"),
    ]
    # Nothing a home or a coordinator wrote about the request reaches the history.
    assert not [r for r in rows if "hoist" in str(r.values())]


# 23:30 UTC in summer is 00:30 the next day in the UK, and the form's days are UK days.
@pytest.mark.parametrize("frozen_clock", [datetime(2026, 7, 15, 23, 30, tzinfo=UTC)], indirect=True)
def test_history_filters_by_locality_and_region_in_chunks(frozen_clock, signed_in, homes, monkeypatch):
    monkeypatch.setattr(downloads, "HISTORY_CHUNK", 2)  # several chunks, each its own transaction
    _, _, stale, _ = homes
    today = utcnow().astimezone(LONDON).date()
    days = f"from={today - timedelta(days=10):%d/%m/%Y}&to={today:%d/%m/%Y}"
    by_locality = read_csv(signed_in.get(f"/board/history.csv?{days}&locality={stale.locality_id}"))
    assert [r["Care home"] for r in by_locality] == ["Trevose House"]
    everything = read_csv(signed_in.get(f"/board/history.csv?{days}&region={stale.locality.region_id}"))
    assert [int(r["Seq"]) for r in everything] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("to=02/07/2026", "Enter the from date, for example 23/11/2026."),
        ("from=31/02/2026&to=02/07/2026", "The from date &#39;31/02/2026&#39; is not a date"),
        ("from=02/07/2026&to=01/07/2026", "The to date (01/07/2026) is before the from date (02/07/2026)."),
        ("from=01/01/2025&to=02/07/2026", "Choose at most 366 days at a time."),
        ("from=01/07/2026&to=02/07/2026&home=99", "Care home: there is none with the id &#39;99&#39;."),
    ],
)
def test_a_bad_date_range_gets_400_with_a_plain_message(signed_in, homes, query, message):
    response = signed_in.get(f"/board/history.csv?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_the_history_form_takes_iso_dates_too(signed_in, homes):
    assert signed_in.get("/board/history").status_code == 200
    assert signed_in.get(f"/board/history.csv?from={utcnow():%Y-%m-%d}&to={utcnow():%Y-%m-%d}").status_code == 200


# ---- FHIR R4 through the API -----------------------------------------------------------------


def bearer(role=Role.COORDINATOR, home_id=None) -> dict:
    return {"Authorization": f"Bearer {create_token('Treliske EPR', role, home_id=home_id)}"}


def availability(service: dict) -> dict:
    (extension,) = [e for e in service["extension"] if e["url"] == fhir.BED_AVAILABILITY]
    return {part["url"]: next(v for k, v in part.items() if k.startswith("value")) for part in extension["extension"]}


def test_the_fhir_bundle_validates_and_carries_beds_only_when_verified(client, homes, make_home):
    make_home(name="Never Reported", offers={"RES": 8})
    response = client.get("/api/v1/fhir/HealthcareService", headers=bearer())
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    body = response.json
    Bundle.model_validate(body)  # fhir.resources: the structure FHIR defines, types and cardinality
    for entry in body["entry"]:  # and each resource by its own definition
        {"Location": Location, "HealthcareService": HealthcareService}[
            entry["resource"]["resourceType"]
        ].model_validate(entry["resource"])
    assert body["type"] == "searchset" and body["total"] == 6
    services = {e["resource"]["name"]: e["resource"] for e in body["entry"] if e["search"]["mode"] == "match"}
    locations = {e["resource"]["name"]: e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"}
    assert set(locations) == {"Chy Lowen", "Polwithen", "Trevose House", "Bosence", "Never Reported"}

    nursing = availability(services["Chy Lowen: Nursing"])
    assert nursing["capacity"] == 30 and nursing["available"] == 2 and nursing["freshness"] == "fresh"
    assert nursing["admissions"] == "open" and datetime.fromisoformat(nursing["confirmed"]) <= utcnow()
    assert services["Chy Lowen: Nursing"]["location"][0]["reference"] == f"Location/{locations['Chy Lowen']['id']}"
    assert services["Chy Lowen: Nursing"]["type"][0]["coding"][0]["code"] == "NUR"

    closed = services["Polwithen: Nursing"]
    assert availability(closed)["available"] == 0 and availability(closed)["admissions"] == "closed"
    assert closed["notAvailable"][0]["description"] == "Closed to admissions: Norovirus outbreak"

    unverified = availability(services["Trevose House: Residential"])
    assert "available" not in unverified and unverified["freshness"] == "unverified"
    assert "none are counted as available" in services["Trevose House: Residential"]["comment"]
    assert "available" not in availability(services["Never Reported: Residential"])

    where = locations["Chy Lowen"]
    assert where["position"] == {"latitude": 50.12, "longitude": -5.53}
    assert where["telecom"][0]["value"] == "01736 000001" and where["physicalType"]["coding"][0]["code"] == "si"


def test_fhir_filters_by_kind_and_lists_locations(client, homes):
    headers = bearer()
    body = client.get("/api/v1/fhir/HealthcareService?kind=NUR", headers=headers).json
    Bundle.model_validate(body)
    assert sorted(e["resource"]["name"] for e in body["entry"] if e["search"]["mode"] == "match") == [
        "Chy Lowen: Nursing",
        "Polwithen: Nursing",
    ]
    east = homes[2].locality_id
    locations = client.get(f"/api/v1/fhir/Location?locality={east}", headers=headers).json
    Bundle.model_validate(locations)
    assert [e["resource"]["name"] for e in locations["entry"]] == ["Trevose House"]


def test_fhir_needs_a_token_and_a_home_token_sees_its_home_only(client, homes):
    refused = client.get("/api/v1/fhir/HealthcareService")
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    own = bearer(home_id=homes[0].id)
    body = client.get("/api/v1/fhir/HealthcareService", headers=own).json
    assert {e["resource"]["id"] for e in body["entry"]} == {
        f"home-{homes[0].id}",
        *(f"home-{homes[0].id}-{k}" for k in ("NUR", "RES")),
    }


def test_fhir_refuses_an_unknown_kind_in_plain_english(client, homes):
    response = client.get("/api/v1/fhir/HealthcareService?kind=XYZ", headers=bearer())
    assert response.status_code == 400 and "there is no kind of care 'XYZ'" in response.json["detail"]
