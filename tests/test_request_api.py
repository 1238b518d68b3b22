"""REST API v1 bed requests (/api/v1/requests, docs/requests.md, docs/api.md): a hospital's token sees and
acts on its own hospital's requests, an admin's on all; a home's token and a token with no hospital are
refused; bad input is a 400, never a 500."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from tracker import bed_requests
from tracker.auth import create_token
from tracker.db import session
from tracker.models import (
    AuditEvent,
    BedRequest,
    Channel,
    Contact,
    Hold,
    Hospital,
    OutboundMessage,
    RequestState,
    Role,
    Update,
    utcnow,
)
from tracker.timefmt import LONDON
from tracker.vacancies import Change, record_update

PROBLEM = "application/problem+json"
VALID_NHS_NUMBER = "943 476 5919"
HUGE = "9" * 5000


def a_home_to_ask(make_home, name="Penrose Court", phone="+447700900002", *, now: datetime, beds=1):
    """A home with a nursing bed free (confirmed at `now`) and a mobile to text."""
    home = make_home(name=name, offers={"NUR": 10, "RES": 5})
    session.add(Contact(home_id=home.id, phone=phone, name="Jo Smith"))
    session.commit()
    record_update(home.id, Change(counts={"NUR": beds, "RES": 0}), channel=Channel.WEB, actor="t", now=now)
    return home


def ask(hospital_id: int, homes, *, now: datetime, needs="hoist, two carers") -> BedRequest:
    """A request from `hospital_id` asking `homes` for a nursing bed from today (UK), made as the board makes it."""
    need = bed_requests.read_need(hospital_id=hospital_id, kind="NUR", from_date=today(now), needs=needs,
                                  max_km="200", now=now)  # fmt: skip
    request, _ = bed_requests.open_request(need, [h.id for h in homes], user_id=None, now=now)
    return session.get(BedRequest, request.id)


def answer(request: BedRequest, home, verdict: str, text: str = "", *, now: datetime, contact_id=None) -> Update:
    asked = next(a for a in request.asked if a.home_id == home.id)
    return bed_requests.answer(asked.id, verdict, text, channel=Channel.SMS, actor="text message from a contact",
                               contact_id=contact_id, now=now)  # fmt: skip


def today(now: datetime) -> str:
    return now.astimezone(LONDON).date().isoformat()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def hospitals():
    """Two hospitals in Cornwall: the homes are within 200 km of both."""
    made = [
        Hospital(name="West Cornwall Hospital", site="Penzance", latitude=50.1221, longitude=-5.5430),
        Hospital(name="Royal Cornwall Hospital", site="Truro", latitude=50.27, longitude=-5.09),
    ]
    session.add_all(made)
    session.commit()
    return [h.id for h in made]


@pytest.fixture
def ward(hospitals):
    """West Cornwall Hospital's discharge system."""
    return bearer(create_token("Penzance discharge system", Role.COORDINATOR, hospital_id=hospitals[0]))


@pytest.fixture
def admin():
    return bearer(create_token("Operations desk", Role.ADMIN))


@pytest.fixture
def two_homes(make_home):
    now = utcnow()
    return (a_home_to_ask(make_home, "Penrose Court", "+447700900002", now=now),
            a_home_to_ask(make_home, "Trelawney House", "+447700900001", now=now, beds=2))  # fmt: skip


def new_request(home_ids, **overrides) -> dict:
    return {"kind": "NUR", "from_date": today(utcnow()), "needs": "hoist, two carers", "max_km": 200,
            "home_ids": home_ids, **overrides}  # fmt: skip


def test_a_hospitals_system_finds_homes_asks_them_and_takes_a_yes(client, ward, hospitals, two_homes):
    penrose, trelawney = two_homes
    found = client.get(f"/api/v1/requests/matches?kind=NUR&from_date={today(utcnow())}&max_km=50", headers=ward)
    assert found.status_code == 200, found.json
    assert {(m["home"]["name"], m["free"], m["textable"]) for m in found.json["homes"]} == {
        ("Penrose Court", 1, True),
        ("Trelawney House", 2, True),
    }
    opened = client.post("/api/v1/requests", json=new_request([penrose.id, trelawney.id]), headers=ward)
    assert opened.status_code == 201, opened.json
    body = opened.json
    assert (body["state"], body["hospital"]["id"], body["needs"], body["not_asked"]) == (
        "open", hospitals[0], "hoist, two carers", [])  # fmt: skip
    texted = session.scalars(select(OutboundMessage.to).order_by(OutboundMessage.to)).all()
    assert texted == ["+447700900001", "+447700900002"]
    request = session.get(BedRequest, body["id"])
    assert session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "request.open")).all() == [
        "API token 'Penzance discharge system'"
    ]

    answer(request, penrose, "question", "Is a hoist needed at night?", now=utcnow())
    asked_id = next(h["asked_id"] for h in body["homes"] if h["home"]["id"] == penrose.id)
    replied = client.post(f"/api/v1/requests/{request.id}/homes/{asked_id}/reply", json={"text": "Yes, at night"},
                          headers=ward)  # fmt: skip
    assert replied.status_code == 201, replied.json
    said = next(h for h in replied.json["homes"] if h["asked_id"] == asked_id)["messages"]
    assert [(m["from_home"], m["text"], m["channel"]) for m in said] == [
        (True, "Is a hoist needed at night?", "sms"), (False, "Yes, at night", "api")]  # fmt: skip
    answer(request, penrose, "yes", now=utcnow())

    listed = client.get("/api/v1/requests?state=open", headers=ward).json["requests"]
    assert [r["id"] for r in listed] == [request.id]
    chosen = client.post(f"/api/v1/requests/{request.id}/choose", json={"home_id": penrose.id, "hours": 2},
                         headers=ward)  # fmt: skip
    assert chosen.status_code == 200, chosen.json
    assert chosen.json["state"] == "chosen" and chosen.json["hold_id"] is not None
    hold = session.get(Hold, chosen.json["hold_id"])
    assert (hold.home_id, hold.hospital_id) == (penrose.id, hospitals[0])
    row = session.scalars(select(Update).where(Update.hold_id == hold.id)).one()
    assert (row.channel, row.actor, row.token_id is not None) == (
        Channel.API, "API token 'Penzance discharge system'", True)  # fmt: skip
    # The request has closed: a second choice, a cancel and a reply are refused and change nothing.
    again = client.post(f"/api/v1/requests/{request.id}/choose", json={"home_id": penrose.id}, headers=ward)
    assert again.status_code == 409 and again.mimetype == PROBLEM
    assert client.post(f"/api/v1/requests/{request.id}/cancel", headers=ward).status_code == 409
    late = client.post(f"/api/v1/requests/{request.id}/homes/{asked_id}/reply", json={"text": "x"}, headers=ward)
    assert late.status_code == 409 and "closed" in late.json["detail"]
    assert client.get(f"/api/v1/requests/{request.id}", headers=ward).json["state"] == "chosen"


def test_taking_a_home_that_has_not_said_yes_is_409_and_holds_nothing(client, ward, two_homes):
    penrose, trelawney = two_homes
    request_id = client.post("/api/v1/requests", json=new_request([penrose.id]), headers=ward).json["id"]
    taken = client.post(f"/api/v1/requests/{request_id}/choose", json={"home_id": trelawney.id}, headers=ward)
    assert taken.status_code == 409 and "has not answered yes" in taken.json["detail"]
    assert session.scalars(select(Hold)).all() == []
    cancelled = client.post(f"/api/v1/requests/{request_id}/cancel", headers=ward)
    assert (cancelled.status_code, cancelled.json["state"]) == (200, "cancelled")


def test_open_requests_are_listed_first_and_state_filters(client, ward, two_homes):
    penrose, trelawney = two_homes
    first = client.post("/api/v1/requests", json=new_request([penrose.id]), headers=ward).json["id"]
    client.post(f"/api/v1/requests/{first}/cancel", headers=ward)
    second = client.post("/api/v1/requests", json=new_request([trelawney.id]), headers=ward).json["id"]
    third = client.post("/api/v1/requests", json=new_request([penrose.id]), headers=ward).json["id"]
    client.post(f"/api/v1/requests/{third}/cancel", headers=ward)
    assert [r["id"] for r in client.get("/api/v1/requests", headers=ward).json["requests"]] == [second, third, first]
    cancelled = client.get("/api/v1/requests?state=cancelled", headers=ward).json["requests"]
    assert [r["id"] for r in cancelled] == [third, first]


def test_a_hospitals_token_sees_only_its_hospitals_requests_and_an_admin_sees_all(client, ward, admin, hospitals,
                                                                               two_homes):  # fmt: skip
    penrose, _ = two_homes
    theirs = client.post("/api/v1/requests", json=new_request([penrose.id], hospital_id=hospitals[1]), headers=admin)
    assert theirs.status_code == 201, theirs.json
    other = theirs.json["id"]
    assert client.get("/api/v1/requests", headers=ward).json["requests"] == []
    for method, url, body in [
        ("get", f"/api/v1/requests/{other}", None),
        ("post", f"/api/v1/requests/{other}/cancel", None),
        ("post", f"/api/v1/requests/{other}/choose", {"home_id": penrose.id}),
        ("post", f"/api/v1/requests/{other}/homes/{theirs.json['homes'][0]['asked_id']}/reply", {"text": "hello"}),
    ]:
        response = getattr(client, method)(url, json=body, headers=ward)
        assert (response.status_code, response.json["detail"]) == (404, f"There is no bed request {other}."), url
    assert session.get(BedRequest, other).state is RequestState.OPEN
    named = client.post("/api/v1/requests", json=new_request([penrose.id], hospital_id=hospitals[1]), headers=ward)
    assert named.status_code == 403 and "West Cornwall Hospital only" in named.json["detail"]
    assert [r["id"] for r in client.get("/api/v1/requests", headers=admin).json["requests"]] == [other]
    unnamed = client.post("/api/v1/requests", json=new_request([penrose.id]), headers=admin)
    assert unnamed.status_code == 400 and unnamed.json["detail"].startswith("hospital_id:")


def test_a_homes_token_and_a_token_with_no_hospital_are_refused(client, hospitals, two_homes):
    penrose, _ = two_homes
    home_token = bearer(create_token("Penrose's system", Role.COORDINATOR, home_id=penrose.id))
    no_hospital = bearer(create_token("Old hub", Role.COORDINATOR))
    for headers, words in ((home_token, "care home's token"), (no_hospital, "belongs to no hospital")):
        for method, url in (("get", "/api/v1/requests"), ("get", "/api/v1/requests/matches?kind=NUR"),
                            ("post", "/api/v1/requests")):  # fmt: skip
            response = getattr(client, method)(url, json=new_request([penrose.id]), headers=headers)
            assert response.status_code == 403 and words in response.json["detail"], (url, response.json)
    assert session.scalars(select(BedRequest)).all() == []


def test_a_need_naming_a_patient_is_400_with_the_rules_words_and_nothing_is_sent(client, ward, two_homes):
    penrose, _ = two_homes
    refused = client.post("/api/v1/requests", json=new_request([penrose.id], needs=f"hoist, NHS {VALID_NHS_NUMBER}"),
                          headers=ward)  # fmt: skip
    assert refused.status_code == 400 and refused.mimetype == PROBLEM
    assert set(refused.json["errors"]) == {"needs"} and "NHS number" in refused.json["errors"]["needs"]
    assert "5919" not in refused.get_data(as_text=True)
    assert session.scalars(select(BedRequest)).all() == [] and session.scalars(select(OutboundMessage)).all() == []


def test_a_refused_need_lists_every_field_error(client, ward, two_homes):
    penrose, _ = two_homes
    refused = client.post("/api/v1/requests", headers=ward,
                          json=new_request([penrose.id], kind="XYZ", from_date="2000-01-01", max_km=-3))  # fmt: skip
    assert refused.status_code == 400
    assert set(refused.json["errors"]) == {"kind", "from_date", "max_km"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"home_ids": [1], "colour": "red"}, "Unknown field(s): colour."),
        ({"home_ids": []}, "home_ids: a list of 1 to 200"),
        ({"home_ids": [int(HUGE[:400])]}, "home_ids: a list of 1 to 200"),
        ({"home_ids": ["1"]}, "home_ids: a list of 1 to 200"),
        ({"home_ids": "1"}, "home_ids: a list of 1 to 200"),
        ({"home_ids": [True]}, "home_ids: a list of 1 to 200"),
        ({"home_ids": [1], "needs": 7}, "needs: expected a string."),
        ({"home_ids": [1], "kind": ["NUR"]}, "kind: expected a string."),
        ({"home_ids": [1], "max_km": int(HUGE[:400])}, "Enter a distance in km"),
        ({"home_ids": [1], "max_km": {"km": 2}}, "Enter a distance in km"),
        ({"home_ids": [1], "locality_ids": [int(HUGE[:400])]}, "Choose localities from the list."),
        ({"home_ids": [1], "hospital_id": int(HUGE[:400])}, "hospital_id:"),
    ],
)
def test_bad_input_to_ask_is_400_never_500(client, ward, two_homes, body, detail):
    response = client.post("/api/v1/requests", json={**new_request([1]), **body}, headers=ward)
    assert response.status_code in (400, 403) and response.mimetype == PROBLEM
    assert detail in response.json["detail"], response.json
    assert session.scalars(select(BedRequest)).all() == []


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/requests/{HUGE[:30]}",
        f"/api/v1/requests?limit={HUGE}",
        "/api/v1/requests?state=pending",
        "/api/v1/requests?colour=red",
        "/api/v1/requests/matches?kind=NUR&locality=1,x",
        f"/api/v1/requests/matches?kind=NUR&max_km={HUGE[:90]}",
        "/api/v1/requests/matches?kind=NUR&max_km=nan",
        "/api/v1/requests/matches?kind=NUR&from_date=soon&max_km=5",
    ],
)
def test_bad_parameters_are_400_or_404_never_500(client, ward, two_homes, url):
    response = client.get(url, headers=ward)
    assert response.status_code in (400, 404) and response.mimetype == PROBLEM, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("choose", {"home_id": "1"}),
        ("choose", {"home_id": 1, "hours": 99}),
        ("choose", {"home_id": 1, "hours": int(HUGE[:400])}),
        ("choose", {"home_id": 1, "colour": "red"}),
        ("choose", [1]),
        ("homes/{asked}/reply", {"text": 5}),
        ("homes/{asked}/reply", {"text": "hello", "to": "all"}),
        ("homes/{asked}/reply", {"text": f"NHS {VALID_NHS_NUMBER}"}),
        ("homes/{asked}/reply", {"text": "   "}),
    ],
)
def test_bad_input_to_act_on_a_request_is_400_and_changes_nothing(client, ward, two_homes, path, body):
    penrose, _ = two_homes
    opened = client.post("/api/v1/requests", json=new_request([penrose.id]), headers=ward).json
    url = f"/api/v1/requests/{opened['id']}/" + path.format(asked=opened["homes"][0]["asked_id"])
    sent = session.scalar(select(func.count(OutboundMessage.id)))
    response = client.post(url, json=body, headers=ward)
    assert response.status_code == 400 and response.mimetype == PROBLEM, response.json
    assert session.get(BedRequest, opened["id"]).state is RequestState.OPEN
    assert session.scalar(select(func.count(OutboundMessage.id))) == sent
    assert session.scalars(select(Hold)).all() == []


def test_a_reply_to_a_home_the_request_did_not_ask_is_404(client, ward, two_homes):
    penrose, _ = two_homes
    opened = client.post("/api/v1/requests", json=new_request([penrose.id]), headers=ward).json
    response = client.post(f"/api/v1/requests/{opened['id']}/homes/99999/reply", json={"text": "hi"}, headers=ward)
    assert response.status_code == 404
