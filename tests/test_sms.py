"""POST /twilio/sms and /twilio/status, signed as Twilio signs them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, select

from tracker.db import session
from tracker.managers import contacts
from tracker.models import CareHome, Contact, InboundMessage, OutboundMessage, OutboundState, Update, utcnow

from .signed import BASE, MANAGER, WEBHOOK_ENV, managed_home, signature, signed_post, text


@pytest.fixture
def app(make_app, environ):
    env = {**environ, **WEBHOOK_ENV, "HELP_CONTACT": "the Treliske discharge hub"}
    app = make_app(env, {"TESTING": True, "WTF_CSRF_ENABLED": True})  # Twilio's routes must not need CSRF
    with app.app_context():
        yield app


@pytest.fixture
def home(make_home):
    return managed_home(make_home, "Jo (manager)")


def history() -> list[Update]:
    return session.scalars(select(Update).order_by(Update.seq)).all()


def test_a_registered_number_texting_counts_records_them_and_says_exactly_that(client, home):
    reply = text(client, "NUR 2 RES 0")
    assert "Trelawney House: recorded at" in reply and "NUR 2, RES 0. Open to admissions. Ref 1." in reply
    (row,) = history()
    assert row.channel == "sms" and row.state["kinds"]["NUR"]["available"] == 2
    # Who: the contact, by id; the history keeps no name or number (docs/data-protection.md).
    assert (row.actor, row.contact_id) == ("text message from a contact", session.scalars(select(Contact.id)).one())
    logged = session.scalars(select(InboundMessage)).one()
    assert (logged.outcome, logged.update_seq, logged.home_id) == ("recorded", row.seq, home.id)


def test_the_board_updates_live_from_a_text(client, home, app):
    from tracker.extensions import socketio

    app.config["BOARD_COALESCE_MS"] = 0
    from tracker.auth import create_token
    from tracker.models import Role

    board = socketio.test_client(app, namespace="/board", auth={"token": create_token("t", Role.COORDINATOR)})
    board.get_received("/board")
    text(client, "nursing 3")
    (event,) = [e["args"][0] for e in board.get_received("/board") if e["name"] == "update"]
    assert event["home"]["kinds"]["NUR"]["available"] == 3 and event["home"]["confirmed_via"] == "sms"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("SAME", "confirmed no change at"),
        ("FULL", "NUR 0, RES 0"),
        ("CLOSED norovirus outbreak", "Closed: norovirus outbreak."),
    ],
)
def test_keywords_record_through_the_write_path(client, home, body, expected):
    text(client, "NUR 2 RES 1")
    assert expected in text(client, body)
    assert len(history()) == 2


def test_open_reopens_a_closed_home(client, home):
    text(client, "NUR 0 RES 0")
    text(client, "closed flu")
    assert "Open to admissions." in text(client, "OPEN")
    assert session.get(CareHome, home.id).admissions_open


def test_status_link_and_help_answer_and_record_nothing(client, home):
    assert "no numbers recorded yet" in text(client, "STATUS")
    text(client, "NUR 4 RES 2")
    assert "NUR 4, RES 2. Open to admissions. Confirmed just now by text message." in text(client, "status")
    assert f"update your beds at {BASE}/h/" in text(client, "LINK")
    assert "Your kinds: NUR RES" in text(client, "help")
    assert len(history()) == 1


def test_a_kind_the_home_does_not_offer_is_refused_by_name(client, home):
    reply = text(client, "MH 2")
    assert "Not recorded. Trelawney House does not offer mental health care" in reply
    assert history() == []


def test_more_beds_than_registered_is_refused_and_nothing_recorded(client, home):
    assert "no more than 40 can be free" in text(client, "NUR 41")
    assert history() == []


def test_anything_not_understood_gets_an_example_and_records_nothing(client, home):
    reply = text(client, "we have some beds")
    assert "like: NUR 2 RES 0" in reply and "HELP" in reply
    assert history() == []
    assert session.scalars(select(InboundMessage)).one().outcome == "not-understood"


def test_an_unknown_number_is_told_whom_to_contact(client, home):
    reply = text(client, "NUR 2", sender="+447700900555")
    assert "not registered with the care home bed tracker. Ask the Treliske discharge hub to add it." in reply
    assert history() == []
    assert session.scalars(select(InboundMessage)).one().outcome == "unknown-sender"


def test_a_number_written_nationally_is_the_same_contact(client, home):
    text(client, "NUR 1", sender="07700 900123")
    assert len(history()) == 1


def test_a_repeated_delivery_changes_nothing_and_gets_the_same_reply(client, home):
    first = text(client, "NUR 2", sid="SMrepeat")
    again = text(client, "NUR 2", sid="SMrepeat")
    assert first == again
    assert len(history()) == 1
    assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_a_contact_of_several_homes_starts_with_the_home_code(client, home, make_home):
    other = make_home(name="Penmere Lodge", offers={"RES": 30})
    contacts.add_contact(other, MANAGER)
    session.commit()
    assert (home.short_code, other.short_code) == ("TRE", "PEN")

    reply = text(client, "RES 2")
    assert "You text for several homes: start with its code, like: PEN RES 2." in reply
    assert "Codes: PEN Penmere Lodge, TRE Trelawney House" in reply
    assert history() == []

    assert "Penmere Lodge: recorded" in text(client, "pen RES 2")
    assert history()[0].home_id == other.id


def test_stop_is_noted_against_the_contact_without_a_reply(client, home):
    assert "<Message>" not in text(client, "STOP")
    assert session.scalars(select(Contact)).one().opted_out_at is not None
    text(client, "START")
    assert session.scalars(select(Contact)).one().opted_out_at is None


# ---- signatures ------------------------------------------------------------------------------


def test_a_forged_signature_is_refused_and_records_nothing(client, home):
    params = {"MessageSid": "SMforged", "From": MANAGER, "Body": "NUR 2"}
    assert signed_post(client, "/twilio/sms", params, token="not-the-token").status_code == 403
    assert history() == [] and session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_a_signature_for_another_url_is_refused(client, home):
    params = {"MessageSid": "SMwrongurl", "From": MANAGER, "Body": "NUR 2"}
    assert signed_post(client, "/twilio/sms", params, url="http://localhost/twilio/sms").status_code == 403


def test_a_request_without_a_signature_is_refused(client, home):
    assert client.post("/twilio/sms", data={"MessageSid": "SMx", "From": MANAGER, "Body": "NUR 2"}).status_code == 403
    assert history() == []


def test_a_tampered_body_is_refused(client, home):
    params = {"MessageSid": "SMtamper", "From": MANAGER, "Body": "NUR 2"}
    tampered = {**params, "Body": "NUR 40"}
    sign = signature("/twilio/sms", params)
    assert client.post("/twilio/sms", data=tampered, headers={"X-Twilio-Signature": sign}).status_code == 403


def test_with_no_auth_token_configured_every_request_is_refused(make_app, environ, make_home):
    app = make_app({**environ, "PUBLIC_BASE_URL": BASE}, {"TESTING": True})
    with app.app_context():
        make_home()
        params = {"MessageSid": "SMnotoken", "From": MANAGER, "Body": "NUR 2"}
        response = signed_post(app.test_client(), "/twilio/sms", params, token="")
        assert response.status_code == 403
        assert history() == []


# ---- outbound texts and their status callbacks ----------------------------------------------


def test_without_twilio_texts_go_to_the_outbox(app, home):
    from tracker.outbox import send_sms

    message = send_sms(MANAGER, "Please confirm your beds", purpose="reminder", home_id=home.id)
    assert message.state == OutboundState.OUTBOX
    assert session.scalars(select(OutboundMessage)).one().body == "Please confirm your beds"


def sent_message(state=OutboundState.QUEUED, sid="SMout1") -> OutboundMessage:
    message = OutboundMessage(
        to=MANAGER, body="x", purpose="reminder", state=state, twilio_sid=sid, created_at=utcnow(), updated_at=utcnow()
    )
    session.add(message)
    session.commit()
    return message


def status(client, sid, state, error=None):
    params = {"MessageSid": sid, "MessageStatus": state, **({"ErrorCode": str(error)} if error else {})}
    return signed_post(client, "/twilio/status", params)


def test_status_callbacks_only_move_a_message_forward(client, home):
    message = sent_message()
    assert status(client, "SMout1", "delivered").status_code == 204
    assert status(client, "SMout1", "sent").status_code == 204  # arrived late: ignored
    session.refresh(message)
    assert message.state == OutboundState.DELIVERED


def test_an_opt_out_error_flags_the_contact(client, home):
    sent_message()
    status(client, "SMout1", "failed", error=21610)
    assert session.scalars(select(Contact)).one().opted_out_at is not None


def test_a_permanent_failure_flags_the_contact_with_the_reason(client, home):
    sent_message()
    status(client, "SMout1", "undelivered", error=30006)
    contact = session.scalars(select(Contact)).one()
    assert contact.failed_at is not None and contact.failure == "a landline or unreachable carrier"


@pytest.mark.parametrize("error", ["9" * 5000, "99999999999", "3O005", "\u0663"])
def test_a_status_callback_with_a_malformed_error_code_is_400_and_changes_nothing(client, home, error):
    message = sent_message()
    response = status(client, "SMout1", "failed", error)
    assert response.status_code == 400 and "ErrorCode must be a Twilio error code" in response.get_data(as_text=True)
    session.refresh(message)
    assert message.state == OutboundState.QUEUED and message.error_code is None


def test_a_forged_status_callback_is_refused(client, home):
    message = sent_message()
    params = {"MessageSid": "SMout1", "MessageStatus": "failed"}
    assert signed_post(client, "/twilio/status", params, token="forged").status_code == 403
    session.refresh(message)
    assert message.state == OutboundState.QUEUED


def test_the_card_for_managers_is_a_page_in_the_app(client):
    page = client.get("/sms-card").get_data(as_text=True)
    assert "NUR 2 RES 0" in page and "<code>D2A</code> short stay / discharge to assess" in page


def test_twilio_curl_prints_a_request_the_webhook_accepts(app, client, home):
    import shlex

    output = app.test_cli_runner().invoke(args=["twilio-curl", "/twilio/sms", f"From={MANAGER}", "Body=NUR 3"]).output
    words = shlex.split(output)
    signature = words[words.index("-H") + 1].split(": ", 1)[1]
    data = dict(w.split("=", 1) for w in words[words.index("-H") + 2 :] if w != "--data-urlencode")
    assert words[4] == f"{BASE}/twilio/sms"
    response = client.post("/twilio/sms", data=data, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200 and "NUR 3" in response.get_data(as_text=True)


def test_status_warns_when_boards_show_the_numbers_as_unverified(client, home):
    from datetime import timedelta

    from tracker.models import Channel
    from tracker.vacancies import Change, record_update

    four_days_ago = utcnow() - timedelta(days=4)
    record_update(home.id, Change(counts={"NUR": 1, "RES": 0}), channel=Channel.SMS, actor="t", now=four_days_ago)
    reply = text(client, "STATUS")
    assert "Confirmed 4 days ago" in reply and "Boards show this as unverified: text SAME" in reply


# ---- replies keep every promise --------------------------------------------------------------


def test_a_long_reason_with_curly_quotes_is_shortened_in_the_reply_never_the_ref(client, home):
    from tracker.segments import CUT, segments

    text(client, "NUR 2 RES 1")
    reason = ("Norovirus – staff’s advice: no admissions until the “all clear” from " * 2)[:120]
    reply = ET.fromstring(text(client, f"CLOSED {reason}")).find("Message").text
    (_, row) = history()
    assert reply.endswith(f"{CUT}. Ref {row.seq}.") and segments(reply) == 2
    assert reason.startswith(reply.split("Closed: ")[1].removesuffix(f"{CUT}. Ref {row.seq}."))
    assert row.state["closed_reason"] == reason.strip()


def test_the_hint_is_left_off_before_the_reason_is_shortened(client, home):
    text(client, "NUR 2 RES 1")
    assert "Closed: flu’s back. Ref 2. Text SAME when nothing has changed." in text(client, "CLOSED flu’s back")
    text(client, "OPEN")
    # UCS-2, 134 characters in two segments: the reason whole and the Ref, without the hint.
    assert text(client, "CLOSED Norovirus – staff’s advice").endswith(
        "Closed: Norovirus – staff’s advice. Ref 4.</Message></Response>"
    )


def test_closed_with_a_comma_or_colon_keeps_the_whole_reason(client, home):
    text(client, "NUR 2 RES 1")
    assert "Closed: norovirus outbreak." in text(client, "CLOSED,norovirus outbreak")
    assert "Closed: flu on ward 2." in text(client, "Closed: flu on ward 2")
    assert session.get(CareHome, home.id).closed_reason == "flu on ward 2"


def test_punctuation_around_numbers_and_kind_names_is_forgiven(client, home):
    assert "NUR 2, RES 0. Open to admissions." in text(client, "Nursing: 2, Residential: 0.")
    assert "NUR 3, RES 0." in text(client, "“NUR 3!” 👍")
    assert "confirmed no change" in text(client, "Same, thanks.")


def test_a_message_not_understood_gets_an_example_in_the_homes_own_kinds(client, make_home):
    penmere = make_home(name="Penmere Lodge", offers={"DRES": 12, "LD": 4})
    contacts.add_contact(penmere, MANAGER)
    session.commit()
    reply = text(client, "we have some beds")
    assert "Send the beds free, like: DRES 2 LD 0. Text HELP for more." in reply
    assert "like: DRES 2 LD 0." in text(client, "HELP")


def test_status_says_which_beds_are_held_for_hospitals_and_until_when(client, home):
    from datetime import UTC, datetime, timedelta

    import time_machine

    from tracker.models import Channel, Hold, Hospital
    from tracker.vacancies import Change, HoldRequest, record_update

    at = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)  # 13:00 in London
    hospital = Hospital(name="Royal Cornwall Hospital", site="Truro", latitude=50.27, longitude=-5.09)
    session.add(hospital)
    session.commit()
    record_update(home.id, Change(counts={"NUR": 2, "RES": 1}), channel=Channel.SMS, actor="t", now=at)
    for kind, hours in (("NUR", 3), ("RES", 1)):
        change = Change(hold=HoldRequest(kind, hospital.id, at + timedelta(hours=hours)))
        record_update(home.id, change, channel=Channel.WEB, actor="t", now=at)
    with time_machine.travel(at + timedelta(minutes=5), tick=False):
        reply = text(client, "STATUS")
    holds = session.scalars(select(Hold.id).order_by(Hold.until)).all()
    assert (
        f"NUR 2, RES 1. Open to admissions. Held: 1 RES until 14:00 (RELEASE {holds[0]}), "
        f"1 NUR until 16:00 (RELEASE {holds[1]})." in reply
    )
    # Kept short for a text: the home's form names the hospital.
    assert "Royal Cornwall" not in reply
    with time_machine.travel(at + timedelta(hours=2), tick=False):
        later = text(client, "STATUS")
    assert f"Held: 1 NUR until 16:00 (RELEASE {holds[1]})." in later
