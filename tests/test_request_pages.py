"""The coordinators' bed request pages: asking, the live request page, its JSON and its /requests namespace."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tracker import bed_requests
from tracker.auth import hash_password
from tracker.db import session
from tracker.extensions import socketio
from tracker.models import (
    AskedHome,
    BedRequest,
    Channel,
    Hold,
    Hospital,
    OutboundMessage,
    RequestState,
    Role,
    User,
)
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD
from .requesting import T0, VALID_NHS_NUMBER, homes_near_west_cornwall, just_after_t0  # noqa: F401

NEED = {"action": "find", "kind": "NUR", "from_date": "2031-05-07", "where": "km", "max_km": "20",
        "needs": "hoist, two carers"}  # fmt: skip


@pytest.fixture
def homes(app, make_home, coordinator):
    """Near West Cornwall Hospital: two homes with a nursing bed and a mobile, one full, one with no mobile."""
    return homes_near_west_cornwall(
        make_home,
        [
            ("Trelawney House", 1, "+447700900001", 50.13),
            ("Penrose Court", 2, "+447700900002", 50.15),
            ("Full House", 0, "+447700900003", 50.14),
            ("Quiet Lodge", 1, None, 50.16),
        ],
    )


def sign_in(app, email):
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def other_coordinator(app):
    """A coordinator at another hospital."""
    hospital = Hospital(name="Royal Cornwall Hospital", site="Truro", latitude=50.27, longitude=-5.09)
    user = User(email="truro@example.nhs.uk", name="Sam", password_hash=hash_password(PASSWORD),
                role=Role.COORDINATOR, hospital=hospital)  # fmt: skip
    session.add(user)
    session.commit()
    return sign_in(app, user.email)


@pytest.fixture
def admin(app):
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    return sign_in(app, "admin@example.nhs.uk")


def ask(coordinator, homes, names=("Trelawney House", "Penrose Court")) -> BedRequest:
    need = bed_requests.read_need(hospital_id=coordinator.hospital_id, kind="NUR", from_date="2031-05-07",
                                  needs="hoist", max_km="20", now=T0)  # fmt: skip
    made, _ = bed_requests.open_request(need, [homes[n].id for n in names], user_id=coordinator.id, now=T0)
    return made


def asked(request, home) -> AskedHome:
    query = select(AskedHome).where(AskedHome.request_id == request.id, AskedHome.home_id == home.id)
    return session.scalars(query).one()


def answer(request, home, verdict, text=""):
    bed_requests.answer(asked(request, home).id, verdict, text, channel=Channel.SMS, actor="text message")


def texts() -> int:
    return session.scalar(select(func.count()).select_from(OutboundMessage))


def text_of(response) -> str:
    return response.get_data(as_text=True)


# ---- who may see what --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/requests", "/requests/new", "/requests/1", "/requests/1.json"])
def test_the_pages_need_a_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_hospital_s_coordinator_is_told_there_is_no_such_request(homes, coordinator, other_coordinator):
    request = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    answer(request, homes["Penrose Court"], "question", "Night hoist?")
    base = f"/requests/{request.id}"
    assert other_coordinator.get(base).status_code == 404
    assert other_coordinator.get(base + ".json").status_code == 404
    trelawney, penrose = asked(request, homes["Trelawney House"]).id, asked(request, homes["Penrose Court"]).id
    assert other_coordinator.post(f"{base}/homes/{trelawney}/hold").status_code == 404
    assert other_coordinator.post(f"{base}/homes/{penrose}/reply", data={"reply": "Yes"}).status_code == 404
    assert other_coordinator.post(f"{base}/cancel").status_code == 404
    assert f"Request {request.code}" not in text_of(other_coordinator.get("/requests"))
    session.expire_all()
    assert session.get(BedRequest, request.id).state is RequestState.OPEN and texts() == 2  # the two asks only


@pytest.mark.parametrize("path", ["/requests/99999999999", "/requests/99999999999.json", "/requests/0"])
def test_an_id_no_request_can_have_is_not_found(signed_in, path):
    assert signed_in.get(path).status_code == 404


@pytest.mark.parametrize("raw", ["99999999999", "²", "-1"])
def test_a_home_id_no_home_can_have_is_not_asked(homes, signed_in, raw):
    response = signed_in.post("/requests/new", data={**NEED, "action": "send", "home": [raw]})
    assert response.status_code == 400 and "Choose at least one home to ask." in text_of(response) and texts() == 0


def test_posts_without_the_page_s_csrf_token_change_nothing(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    forged = {"X-CSRFToken": "forged"}
    send = {**NEED, "action": "send", "home": [str(homes["Penrose Court"].id)]}
    assert signed_in.post("/requests/new", data=send, headers=forged).status_code == 400
    assert signed_in.post(f"/requests/{request.id}/cancel", headers=forged).status_code == 400
    session.expire_all()
    assert session.scalar(select(func.count(BedRequest.id))) == 1 and texts() == 2
    assert session.get(BedRequest, request.id).state is RequestState.OPEN


def test_an_admin_sees_every_hospital_s_requests(homes, coordinator, admin):
    request = ask(coordinator, homes)
    listing = text_of(admin.get("/requests"))
    assert f"Request {request.code}" in listing and "West Cornwall Hospital" in listing
    assert admin.get(f"/requests/{request.id}").status_code == 200
    assert admin.get(f"/requests/{request.id}.json").json["hospital"]["name"] == "West Cornwall Hospital"


def test_the_list_shows_open_requests_first_with_their_answers(homes, coordinator, signed_in):
    older = ask(coordinator, homes)
    bed_requests.cancel(older.id, user_id=coordinator.id)
    request = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    answer(request, homes["Penrose Court"], "question", "Night hoist?")
    page = text_of(signed_in.get("/requests"))
    assert page.index(f"Request {request.code}") < page.index(f"Request {older.code}")
    row = re.search(rf"Request {request.code}.*?</tr>", page, re.S).group(0)
    assert "2 asked" in row and "1 YES" in row and "0 NO" in row and "1 question" in row
    assert re.search(r"expires in 3 h 58 min", row)
    assert "Cancelled" in re.search(rf"Request {older.code}.*?</tr>", page, re.S).group(0)


# ---- asking ------------------------------------------------------------------------------------


def test_the_form_says_to_describe_needs_only_and_starts_from_today_within_20_km(homes, signed_in):
    page = text_of(signed_in.get("/requests/new"))
    assert "Do not enter names, dates of birth or NHS numbers: describe needs only." in page
    assert 'name="from_date" value="2031-05-06"' in page and 'name="max_km"' in page and 'value="20"' in page
    assert 'name="locality_ids"' in page and "West Cornwall" in page
    assert 'name="hospital_id"' not in page  # a coordinator asks for their own hospital
    assert 'name="csrf_token"' in page


def test_an_admin_chooses_the_hospital(homes, coordinator, admin):
    page = text_of(admin.get("/requests/new"))
    assert '<select id="hospital_id" name="hospital_id"' in page
    refused = admin.post("/requests/new", data=NEED)
    assert refused.status_code == 400 and "Choose the hospital the bed is for." in text_of(refused)
    found = admin.post("/requests/new", data={**NEED, "hospital_id": str(coordinator.hospital_id)})
    assert found.status_code == 200 and "Trelawney House" in text_of(found)


@pytest.mark.parametrize("action", ["find", "send"])
def test_a_need_with_an_nhs_number_is_refused_beside_the_field_and_nothing_is_sent(homes, signed_in, action):
    needs, home = f"hoist, NHS {VALID_NHS_NUMBER}", str(homes["Penrose Court"].id)
    data = {**NEED, "action": action, "needs": needs, "home": [home]}
    response = signed_in.post("/requests/new", data=data)
    page = text_of(response)
    assert response.status_code == 400
    assert re.search(r'class="error-summary".*?<a href="#needs">', page, re.S)
    assert 'id="needs-error"' in page and 'aria-invalid="true"' in page
    assert "5919</textarea>" in page  # what was typed is kept to be corrected, not echoed in the message
    assert session.scalar(select(func.count()).select_from(BedRequest)) == 0 and texts() == 0


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        ("kind", {"kind": ""}, "Choose the kind of care."),
        ("from_date", {"from_date": "2031-05-05"}, "has passed"),
        ("max_km", {"max_km": "far"}, "Enter a distance in km"),
        ("locality_ids", {"where": "localities", "max_km": "20"}, "or choose localities"),
        ("needs", {"needs": "x" * 161}, "Keep the needs to 160 characters"),
    ],
)
def test_each_bad_field_is_named_in_the_summary_and_beside_it(homes, signed_in, field, change, message):
    response = signed_in.post("/requests/new", data={**NEED, **change})
    page = text_of(response)
    assert response.status_code == 400
    assert f'<a href="#{field}">' in page and f'id="{field}-error"' in page and message in page


def test_the_homes_that_can_count_a_bed_are_listed_ticked_and_one_without_a_mobile_cannot_be(homes, signed_in):
    page = text_of(signed_in.post("/requests/new", data=NEED))
    names = re.findall(r"<strong>([^<]+)</strong>\s*<span class=\"sub\">", page)
    assert names == ["Trelawney House", "Penrose Court", "Quiet Lodge"]  # nearest first; Full House has no bed
    assert re.search(rf'value="{homes["Trelawney House"].id}" checked', page)
    assert re.search(rf'value="{homes["Quiet Lodge"].id}" disabled', page)
    assert "Cannot be asked: no mobile number to text." in page
    assert "2 nursing beds free" in page and '<span class="age fresh">fresh</span>' in page and "km" in page


def test_sending_asks_the_ticked_homes_and_names_those_not_asked(homes, signed_in):
    chosen = [str(homes[n].id) for n in ("Trelawney House", "Full House")]
    response = signed_in.post("/requests/new", data={**NEED, "action": "send", "home": chosen})
    assert response.status_code == 303
    request = session.scalars(select(BedRequest)).one()
    assert response.headers["Location"].endswith(f"/requests/{request.id}")
    assert [a.home.name for a in request.asked] == ["Trelawney House"] and texts() == 1
    page = text_of(signed_in.get(response.headers["Location"]))
    assert f"Request {request.code} sent: 1 home asked." in page
    assert "Not asked, because their beds have gone or they have no mobile to text: Full House." in page


def test_sending_with_no_home_ticked_says_so_and_sends_nothing(homes, signed_in):
    response = signed_in.post("/requests/new", data={**NEED, "action": "send"})
    assert response.status_code == 400 and "Choose at least one home to ask." in text_of(response)
    assert texts() == 0


def test_a_coordinator_without_a_hospital_is_told_why_they_cannot_ask(app, coordinator, signed_in):
    coordinator.hospital_id = None
    session.commit()
    response = signed_in.get("/requests/new")
    assert response.status_code == 403 and "has no hospital" in text_of(response)


# ---- the request page ----------------------------------------------------------------------


def test_the_page_shows_each_home_s_answer_conversation_and_phone(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    answer(request, homes["Penrose Court"], "question", "Does the person need a hoist at night?")
    page = text_of(signed_in.get(f"/requests/{request.id}"))
    assert f"Request {request.code}: 1 nursing bed" in page and "Open</strong> until 14:00" in page
    penrose = re.search(r'<h2 class="home-name">Penrose Court.*?</li>\s*</ol>', page, re.S).group(0)
    assert "Question" in penrose and "Does the person need a hoist at night?" in penrose and "01736 0001" in penrose
    trelawney = re.search(r'<h2 class="home-name">Trelawney House.*?</li>', page, re.S).group(0)
    assert "Waiting" in trelawney
    assert "Hold this bed" not in page and page.count('name="reply"') == 1
    assert re.search(r'<script id="request-data" type="application/json">\{.*"code"', page)


def test_the_json_is_the_request_as_request_json_gives_it(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    response = signed_in.get(f"/requests/{request.id}.json")
    assert response.headers["Cache-Control"] == "no-store"
    session.expire_all()
    expected = bed_requests.request_json(session.get(BedRequest, request.id), datetime.now(UTC))
    assert response.json == expected
    assert [h["verdict"] for h in response.json["homes"]] == ["yes", None]


def test_a_reply_is_texted_to_the_home_and_one_naming_a_patient_is_refused(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    home = homes["Penrose Court"]
    answer(request, home, "question", "Does the person need a hoist at night?")
    path = f"/requests/{request.id}/homes/{asked(request, home).id}/reply"
    refused = signed_in.post(path, data={"reply": f"Yes, NHS {VALID_NHS_NUMBER}"})
    assert refused.status_code == 400 and "Nothing was sent" in text_of(refused)
    assert f'id="reply-{asked(request, home).id}-error"' in text_of(refused) and texts() == 2
    sent = signed_in.post(path, data={"reply": "Yes, at night too."})
    assert sent.status_code == 303
    body = session.scalars(select(OutboundMessage.body).order_by(OutboundMessage.id.desc())).first()
    assert "Yes, at night too." in body and texts() == 3
    session.expire_all()  # the test shares the views' session, whose collections outlive their commits
    page = text_of(signed_in.get(f"/requests/{request.id}"))
    assert "Reply sent to Penrose Court." in page and "Your reply</strong>: Yes, at night too." in page


def test_holding_a_yes_holds_the_bed_for_the_hours_chosen_and_says_until_when(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    page = text_of(signed_in.get(f"/requests/{request.id}"))
    assert page.count("Hold this bed") == 1 and '<option value="24">24 hours</option>' in page
    assert '<option value="25">' not in page  # HOLD_MAX
    trelawney = asked(request, homes["Trelawney House"]).id
    assert signed_in.post(f"/requests/{request.id}/homes/{trelawney}/hold", data={"hours": "2"}).status_code == 303
    session.expire_all()
    request = session.get(BedRequest, request.id)
    hold = session.get(Hold, request.hold_id)
    assert request.state is RequestState.CHOSEN and hold.home_id == homes["Trelawney House"].id
    assert timedelta(hours=1, minutes=59) < hold.until - T0 < timedelta(hours=2, minutes=2)
    page = text_of(signed_in.get(f"/requests/{request.id}"))
    assert re.search(r"Held at Trelawney House until 12:0\d\.", page) and 'href="/board"' in page
    # Said once, by the page's banner; the notice says what else happened.
    assert page.count("Held at Trelawney House") == 1 and "Bed held. The other homes that answered" in page
    assert "Hold this bed" not in page and "Cancel this request" not in page


def test_a_hold_of_more_hours_than_allowed_is_refused_and_nothing_is_held(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    path = f"/requests/{request.id}/homes/{asked(request, homes['Trelawney House']).id}/hold"
    response = signed_in.post(path, data={"hours": "99"}, follow_redirects=True)
    assert "Hold for 1 to 24 hours. Nothing was held." in text_of(response)
    assert session.scalar(select(func.count()).select_from(Hold)) == 0


def test_a_yes_from_a_home_since_closed_shows_since_when_and_offers_no_hold(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    home = homes["Trelawney House"]
    answer(request, home, "yes")
    answer(request, homes["Penrose Court"], "yes")
    record_update(home.id, Change(admissions="closed", closed_reason="norovirus"), channel=Channel.SMS, actor="t",
                  now=T0 + timedelta(seconds=30))  # fmt: skip
    page = text_of(signed_in.get(f"/requests/{request.id}"))
    assert "Closed to admissions since 10:00 (norovirus)" in page
    assert page.count("Hold this bed") == 1  # Penrose Court's only
    held_penrose = signed_in.post(
        f"/requests/{request.id}/homes/{asked(request, home).id}/hold", data={}, follow_redirects=True
    )
    assert "closed to admissions" in text_of(held_penrose) and session.scalar(select(func.count(Hold.id))) == 0


def test_cancelling_closes_the_request_once(homes, coordinator, signed_in):
    request = ask(coordinator, homes)
    page = text_of(signed_in.get(f"/requests/{request.id}"))
    assert f"Yes, cancel request {request.code}" in page
    done = signed_in.post(f"/requests/{request.id}/cancel", follow_redirects=True)
    assert f"Request {request.code} cancelled" in text_of(done) and "Cancelled</strong>" in text_of(done)
    again = signed_in.post(f"/requests/{request.id}/cancel", follow_redirects=True)
    assert "That request has already closed." in text_of(again)
    session.expire_all()
    assert session.get(BedRequest, request.id).state is RequestState.CANCELLED


def test_the_board_and_the_header_link_to_asking(homes, signed_in):
    page = text_of(signed_in.get("/board"))
    assert page.count('href="/requests/new"') == 2  # the board's button and the header's link


# ---- the /requests namespace -------------------------------------------------------------------


def watcher(app, http):
    return socketio.test_client(app, namespace="/requests", flask_test_client=http)


def changes(page) -> list[dict]:
    return [e["args"][0] for e in page.get_received("/requests") if e["name"] == "changed"]


def test_a_page_hears_of_changes_only_to_a_request_it_may_see(app, homes, coordinator, signed_in, other_coordinator):
    request = ask(coordinator, homes)
    mine, theirs = watcher(app, signed_in), watcher(app, other_coordinator)
    assert mine.emit("watch", {"request_id": request.id}, namespace="/requests", callback=True) == {"ok": True}
    refused = theirs.emit("watch", {"request_id": request.id}, namespace="/requests", callback=True)
    assert refused == {"ok": False, "error": "There is no such request for your hospital."}
    for junk in (None, {"request_id": "1"}, {"request_id": True}, {"request_id": 10**12}, [request.id]):
        assert mine.emit("watch", junk, namespace="/requests", callback=True)["ok"] is False
    answer(request, homes["Trelawney House"], "yes")
    assert changes(mine) == [{"id": request.id}] and changes(theirs) == []


def test_an_admin_page_may_watch_any_request(app, homes, coordinator, admin):
    request = ask(coordinator, homes)
    page = watcher(app, admin)
    assert page.emit("watch", {"request_id": request.id}, namespace="/requests", callback=True) == {"ok": True}
    bed_requests.cancel(request.id, user_id=None)
    assert changes(page) == [{"id": request.id}]


def test_a_connection_without_a_sign_in_is_refused(app, client):
    assert not watcher(app, client).is_connected("/requests")


def test_signing_out_closes_the_request_pages_connections(app, homes, coordinator):
    desk, ward = sign_in(app, coordinator.email), sign_in(app, coordinator.email)
    page = watcher(app, ward)
    assert page.is_connected("/requests")
    desk.post("/logout")
    assert not page.is_connected("/requests")
