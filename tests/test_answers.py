"""A care home answers a bed request (docs/requests.md): by text (signed Twilio webhooks) and on its one-tap page."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import CsrfClient
from tests.requesting import T0, VALID_NHS_NUMBER, homes_near_west_cornwall, just_after_t0  # noqa: F401
from tests.signed import BASE, TOKEN, signed_post
from tracker import bed_requests
from tracker.db import session
from tracker.managers import contacts
from tracker.managers.sms import WITHHELD
from tracker.models import (
    AskedHome,
    AuditEvent,
    BedRequest,
    Channel,
    Hold,
    HoldEnd,
    InboundMessage,
    RequestMessage,
    Update,
    Verdict,
)
from tracker.segments import segments
from tracker.timefmt import local_time
from tracker.vacancies import Change, HoldRequest, record_update

TRELAWNEY, PENROSE = "+447700900001", "+447700900002"


@pytest.fixture
def app(make_app, environ):
    env = {**environ, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE, "HELP_CONTACT": "the Treliske discharge hub"}
    app = make_app(env, {"TESTING": True})  # CSRF on: the page's forms need it, Twilio's webhook must not
    app.test_client_class = CsrfClient
    with app.app_context():
        yield app


@pytest.fixture
def homes(app, make_home, coordinator):
    """Two homes near West Cornwall Hospital with a nursing bed free, each with its manager's mobile."""
    return homes_near_west_cornwall(
        make_home, [("Trelawney House", 1, TRELAWNEY, 50.13), ("Penrose Court", 2, PENROSE, 50.15)]
    )


def ask(coordinator, homes, names=("Trelawney House", "Penrose Court"), needs="hoist, two carers") -> BedRequest:
    need = bed_requests.read_need(hospital_id=coordinator.hospital_id, kind="NUR", from_date="2031-05-07",
                                  needs=needs, max_km="20", now=T0)  # fmt: skip
    request, _ = bed_requests.open_request(need, [homes[n].id for n in names], user_id=coordinator.id, now=T0)
    return session.get(BedRequest, request.id)


def asked(request, home) -> AskedHome:
    session.expire_all()
    query = select(AskedHome).where(AskedHome.request_id == request.id, AskedHome.home_id == home.id)
    return session.scalars(query).one()


_sids = iter(range(1, 10**6))


def text(client, body, sender=TRELAWNEY, sid=None) -> str:
    """What the tracker texts back to a text Twilio signed and delivered."""
    params = {"MessageSid": sid or f"SM{next(_sids):032d}", "From": sender, "To": "+447700900999", "Body": body}
    response = signed_post(client, "/twilio/sms", params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return ET.fromstring(response.get_data(as_text=True)).findtext("Message") or ""


def logged() -> InboundMessage:
    return session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()


def count(model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def page_path(request, home) -> str:
    return "/r/" + bed_requests.answer_url(asked(request, home)).rsplit("/r/", 1)[1]


# ---- by text -------------------------------------------------------------------------------------


def test_yes_by_text_is_recorded_through_the_write_path_and_thanked_in_one_segment(client, homes, coordinator):
    request = ask(coordinator, homes)
    reply = text(client, f"YES {request.code}")
    assert reply == (
        f"Thank you: West Cornwall Hospital has your YES for request {request.code} (1 nursing bed). "
        "They will text if they take it."
    )
    assert segments(reply) == 1
    state = asked(request, homes["Trelawney House"])
    (message,) = state.messages
    assert state.verdict is Verdict.YES and (message.channel, message.from_home) == (Channel.SMS, True)
    assert message.contact_id is not None
    row = session.get(Update, message.seq)
    assert row.answer_id == message.id and row.channel == "sms"
    assert (logged().outcome, logged().update_seq) == ("answered", row.seq)
    assert asked(request, homes["Penrose Court"]).verdict is None


def test_no_with_a_reason_by_text_keeps_the_reason(client, homes, coordinator):
    request = ask(coordinator, homes)
    reply = text(client, f"NO {request.code} no hoist available", sender=PENROSE)
    assert reply == f"Thank you: your NO to request {request.code} is recorded."
    state = asked(request, homes["Penrose Court"])
    assert state.verdict is Verdict.NO and state.messages[0].text == "no hoist available"


@pytest.mark.parametrize("start", ["? {code}", "Q {code}", "question {code}:", "{code} ?"])
def test_a_question_by_text_goes_to_the_hospital(client, homes, coordinator, start):
    request = ask(coordinator, homes)
    reply = text(client, start.format(code=request.code) + " does the person smoke")
    assert reply == f"Your question on request {request.code} was sent to West Cornwall Hospital."
    (message,) = asked(request, homes["Trelawney House"]).messages
    assert (message.verdict, message.text) == (Verdict.QUESTION, "does the person smoke")


@pytest.mark.parametrize("body", ["yes {code}.", "Yes, {code}", "{code} yes", "yes please {code}", "YES {code} thanks"])
def test_a_yes_is_understood_however_it_is_typed(client, homes, coordinator, body):
    request = ask(coordinator, homes)
    assert "has your YES" in text(client, body.format(code=request.code))
    (message,) = asked(request, homes["Trelawney House"]).messages
    assert (message.verdict, message.text) == (Verdict.YES, "")


def test_a_bare_yes_answers_the_only_open_request_and_a_second_one_asks_for_the_number(client, homes, coordinator):
    first = ask(coordinator, homes)
    assert f"has your YES for request {first.code}" in text(client, "yes")
    second = ask(coordinator, homes)
    reply = text(client, "YES")
    assert "You have 2 open bed requests: reply YES or NO with the request's number" in reply
    assert logged().outcome == "answer-unmatched"
    assert asked(second, homes["Trelawney House"]).messages == []
    assert len(asked(first, homes["Trelawney House"]).messages) == 1


def test_a_bare_no_with_a_reason_answers_the_only_open_request(client, homes, coordinator):
    request = ask(coordinator, homes)
    assert text(client, "No, we have no hoist") == f"Thank you: your NO to request {request.code} is recorded."
    assert asked(request, homes["Trelawney House"]).messages[0].text == "we have no hoist"


def test_an_unknown_code_or_no_open_request_changes_nothing(client, homes, coordinator):
    assert text(client, "YES") == "There is no open bed request for your home, so there is nothing to answer."
    ask(coordinator, homes)
    before = count(Update)
    reply = text(client, "YES 0000")
    assert reply == "There is no bed request 0000 for your home: check the number in the text you were sent."
    assert count(Update) == before and count(RequestMessage) == 0
    assert logged().outcome == "answer-unmatched"


def test_a_closed_request_needs_no_answer(client, homes, coordinator):
    request = ask(coordinator, homes)
    bed_requests.cancel(request.id, user_id=coordinator.id, now=T0)
    reply = text(client, f"YES {request.code}")
    assert reply == f"Request {request.code} has closed, so no answer is needed. Thank you."
    assert count(RequestMessage) == 0


def test_an_unregistered_number_is_told_whom_to_ask(client, homes, coordinator):
    request = ask(coordinator, homes)
    reply = text(client, f"YES {request.code}", sender="+447700900555")
    assert "not registered with the care home bed tracker. Ask the Treliske discharge hub to add it." in reply
    assert count(RequestMessage) == 0 and logged().outcome == "unknown-sender"


def test_a_forged_webhook_is_refused_and_records_nothing(client, homes, coordinator):
    request = ask(coordinator, homes)
    params = {"MessageSid": "SMforged", "From": TRELAWNEY, "Body": f"YES {request.code}"}
    assert signed_post(client, "/twilio/sms", params, token="not-the-token").status_code == 403
    assert count(RequestMessage) == 0 and count(InboundMessage) == 0


def test_a_redelivered_text_records_its_answer_once(client, homes, coordinator):
    request = ask(coordinator, homes)
    first = text(client, f"NO {request.code} full", sid="SManswer")
    again = text(client, f"NO {request.code} full", sid="SManswer")
    assert first == again
    assert len(asked(request, homes["Trelawney House"]).messages) == 1 and count(InboundMessage) == 1


def test_a_contact_of_several_homes_answers_without_a_home_code(client, homes, coordinator):
    contacts.add_contact(homes["Penrose Court"], TRELAWNEY, "manager")
    session.commit()
    request = ask(coordinator, homes, names=("Penrose Court",))
    assert "has your YES" in text(client, "YES")  # the only open request of either home
    assert asked(request, homes["Penrose Court"]).verdict is Verdict.YES


@pytest.mark.parametrize(
    "body",
    [f"? {{code}} is this {VALID_NHS_NUMBER}", "NO {code} born 3 March 1941", "NUR 2 DOB 01/02/1940"],
)
def test_a_text_with_a_patient_identifier_is_refused_and_stored_nowhere(client, homes, coordinator, body):
    request = ask(coordinator, homes)
    before = count(Update)
    reply = text(client, body.format(code=request.code))
    assert reply.startswith("Not recorded. Remove the") and "names, dates of birth or NHS numbers" in reply
    assert count(Update) == before and count(RequestMessage) == 0
    assert logged().body == WITHHELD and logged().outcome in ("answer-refused", "refused")
    stored = [m.body + m.reply for m in session.scalars(select(InboundMessage))]
    stored += [a.summary for a in session.scalars(select(AuditEvent))]
    assert not any(x in s for s in stored for x in ("5919", "1941", "1940"))


def test_an_unregistered_numbers_text_with_an_identifier_is_withheld_too(client, homes):
    text(client, f"NHS {VALID_NHS_NUMBER}", sender="+447700900555")
    assert logged().body == WITHHELD


# ---- the bed-count language is unchanged ---------------------------------------------------------


def test_a_count_with_no_in_it_stays_a_count_while_a_request_is_open(client, homes, coordinator):
    request = ask(coordinator, homes)
    assert "recorded at" in text(client, "NUR no")
    assert "confirmed no change" in text(client, "no change")
    assert "NUR 0, RES 0" in text(client, "no nursing")
    assert asked(request, homes["Trelawney House"]).messages == []
    latest = session.scalars(select(Update).order_by(Update.seq.desc())).first()
    assert latest.state["kinds"]["NUR"]["available"] == 0


def test_no_beds_with_no_request_open_is_not_understood_as_before(client, homes):
    assert "Which kind of care is 0 for?" in text(client, "no beds")
    assert logged().outcome == "not-understood"


# ---- holds and STATUS by text --------------------------------------------------------------------


def hold(coordinator, home, hours=3) -> int:
    change = Change(hold=HoldRequest("NUR", coordinator.hospital_id, T0 + timedelta(hours=hours)))
    return record_update(home.id, change, channel=Channel.WEB, actor="t", now=T0).hold_id


def test_release_by_text_gives_the_held_bed_back(client, homes, coordinator):
    held = hold(coordinator, homes["Trelawney House"])
    reply = text(client, f"RELEASE {held}")
    assert f"Trelawney House: hold {held} released: that NUR bed counts as free again. Ref" in reply
    assert session.get(Hold, held).ended_how is HoldEnd.RELEASED
    assert logged().outcome == "released"
    assert "Not released. That hold has already ended (released)." == text(client, f"release {held}")


def test_release_refuses_another_homes_hold_and_asks_which_hold_without_a_number(client, homes, coordinator):
    theirs = hold(coordinator, homes["Penrose Court"])
    assert text(client, f"RELEASE {theirs}") == "Not released. There is no such hold at this home."
    assert session.get(Hold, theirs).ended_at is None
    assert "Say which hold to release, like: RELEASE 12." in text(client, "RELEASE")


def test_help_says_how_to_answer_a_request_and_release_a_hold(client, homes):
    reply = text(client, "HELP")
    assert "YES or NO and a request's number answers it. RELEASE and a hold's number gives the bed back." in reply
    assert segments(reply) <= 2


def test_status_names_each_hold_to_release_and_the_requests_waiting_for_an_answer(client, homes, coordinator):
    held = hold(coordinator, homes["Penrose Court"], hours=4)  # until 14:00 in London
    request = ask(coordinator, homes)
    reply = text(client, "STATUS", sender=PENROSE)
    assert f"Held: 1 NUR until 14:00 (RELEASE {held})." in reply
    assert f"Asked: {request.code} NUR from 7 May." in reply
    assert segments(reply) == 1
    text(client, f"NO {request.code}", sender=PENROSE)
    assert "Asked:" not in text(client, "STATUS", sender=PENROSE)


# ---- the one-tap page ----------------------------------------------------------------------------


def test_the_page_shows_who_asks_for_what_and_the_homes_beds(client, homes, coordinator):
    request = ask(coordinator, homes)
    page = client.get(page_path(request, homes["Penrose Court"])).get_data(as_text=True)
    assert f"Bed request {request.code}" in page
    assert "West Cornwall Hospital asks Penrose Court for 1 nursing bed from 7 May." in page
    assert "hoist, two carers" in page
    assert "Your nursing beds free</dt><dd>\n    2" in page
    assert 'name="csrf_token"' in page and "Yes, we can take them" in page and "Ask the question" in page


def test_yes_on_the_page_is_recorded_and_confirmed(client, homes, coordinator):
    request = ask(coordinator, homes)
    path = page_path(request, homes["Trelawney House"])
    response = client.post(path, data={"verdict": "yes", "submission": "a" * 32})
    assert response.status_code == 303 and "#recorded" in response.location
    page = client.get(response.location).get_data(as_text=True)
    assert "Recorded: your YES" in page and "West Cornwall Hospital will text you if they take your bed." in page
    (message,) = asked(request, homes["Trelawney House"]).messages
    assert (message.channel, message.contact_id) == (Channel.WEB, None)
    assert session.get(Update, message.seq).actor == "manager (web form)"
    # The same page sent twice (a double tap, a resend) records once.
    client.post(path, data={"verdict": "yes", "submission": "a" * 32})
    assert len(asked(request, homes["Trelawney House"]).messages) == 1


def test_no_and_a_question_on_the_page_show_the_conversation_with_the_hospitals_reply(client, homes, coordinator):
    request = ask(coordinator, homes)
    home = homes["Penrose Court"]
    path = page_path(request, home)
    client.post(path, data={"verdict": "question", "question": "Is a hoist needed at night?"})
    bed_requests.reply(asked(request, home).id, "Yes, at night too.", user_id=coordinator.id, now=T0)
    response = client.post(path, data={"verdict": "no", "no": "No night staff for a hoist"})
    page = client.get(response.location).get_data(as_text=True)
    assert "Recorded: your NO" in page and "You wrote: “No night staff for a hoist”" in page
    conversation = page.split("Conversation so far", 1)[1]
    said = ["Is a hoist needed at night?", "Yes, at night too.", "No night staff for a hoist"]
    assert [conversation.index(s) for s in said] == sorted(conversation.index(s) for s in said)
    assert "West Cornwall Hospital, at" in conversation and "You, by web form" in conversation
    assert asked(request, home).verdict is Verdict.NO


def test_the_page_refuses_an_empty_question_and_a_patient_identifier_and_records_nothing(client, homes, coordinator):
    request = ask(coordinator, homes)
    path = page_path(request, homes["Trelawney House"])
    empty = client.post(path, data={"verdict": "question", "question": " "})
    assert empty.status_code == 422 and "Write the question to ask." in empty.get_data(as_text=True)
    named = client.post(path, data={"verdict": "no", "no": f"not for NHS {VALID_NHS_NUMBER}"})
    assert named.status_code == 422 and "Remove the NHS number." in named.get_data(as_text=True)
    assert client.post(path, data={"verdict": "maybe"}).status_code == 422
    assert count(RequestMessage) == 0
    assert not any("5919" in a.summary for a in session.scalars(select(AuditEvent)))


def test_the_page_without_its_csrf_token_records_nothing(app, homes, coordinator):
    request = ask(coordinator, homes)
    response = FlaskClient(app).post(page_path(request, homes["Trelawney House"]), data={"verdict": "yes"})
    assert response.status_code == 400 and "This page had expired, so nothing was recorded." in response.get_data(
        as_text=True
    )
    assert count(RequestMessage) == 0


@pytest.mark.parametrize("token", ["not-a-token", "MQ.forged"])
def test_a_forged_token_is_a_plain_404(client, homes, coordinator, token):
    ask(coordinator, homes)
    tries = (client.get(f"/r/{token}"), client.post(f"/r/{token}", data={"verdict": "yes"}),
             FlaskClient(client.application).post(f"/r/{token}", data={"verdict": "yes"}))  # fmt: skip
    for response in tries:
        assert response.status_code == 404 and "This link does not work" in response.get_data(as_text=True)
    assert count(RequestMessage) == 0


def test_after_the_yes_is_taken_the_page_says_closed_and_until_when_the_bed_is_held(client, homes, coordinator):
    request = ask(coordinator, homes)
    trelawney, penrose = homes["Trelawney House"], homes["Penrose Court"]
    client.post(page_path(request, trelawney), data={"verdict": "yes"})
    bed_requests.choose(request.id, trelawney.id, user_id=coordinator.id, now=T0 + timedelta(minutes=1))
    page = client.get(page_path(request, trelawney)).get_data(as_text=True)
    assert f"Request {request.code} is closed, no answer needed." in page and "Yes, we can take them" not in page
    until = local_time(session.scalars(select(Hold)).one().until)
    assert f"West Cornwall Hospital took your YES: your bed is held for them until {until}." in page
    other = client.get(page_path(request, penrose)).get_data(as_text=True)
    assert "is closed, no answer needed." in other and "took your YES" not in other
    late = client.post(page_path(request, penrose), data={"verdict": "yes"})
    assert late.status_code == 409 and "has closed" in late.get_data(as_text=True)
    assert asked(request, penrose).messages == []
