"""UK GDPR: the history and the audit log name no one, erasure leaves nothing, prune keeps to its periods,
and a subject access request finds everything (docs/data-protection.md)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tracker import bed_requests, scheduler
from tracker.admin import privacy
from tracker.auth import create_token
from tracker.config import ConfigError, load
from tracker.db import session
from tracker.models import (
    AuditEvent,
    BedRequest,
    CareHome,
    Channel,
    Contact,
    InboundMessage,
    OutboundMessage,
    OutboundState,
    RequestState,
    Role,
    SignIn,
    Update,
    Verdict,
)
from tracker.outbox import queue
from tracker.vacancies import Change, record_update

from .signed import MANAGER, WEBHOOK_ENV, Call, text
from .test_request_api import answer, ask

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NAME = "Jo Smith"
SPELLINGS = (MANAGER, "7700900123", "07700 900123", NAME)  # any trace of the manager


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def app(make_app, environ):
    app = make_app({**environ, **WEBHOOK_ENV}, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        yield app


@pytest.fixture
def home(make_home, runner):
    home = make_home(name="Trelawney House", offers={"NUR": 40, "RES": 20})
    assert runner.invoke(args=["contacts", "add", str(home.id), "07700 900123", "--name", NAME]).exit_code == 0
    return home


def traces(rows) -> list[str]:
    """Every column of every row, as text, that holds any spelling of the manager."""
    found = []
    for row in rows:
        for column in row.__table__.columns:
            value = str(getattr(row, column.key))
            found += [f"{column.key}={value}" for s in SPELLINGS if s in value]
    return found


def test_history_rows_of_every_channel_name_no_one_and_refer_to_who_sent_them(client, home):
    hub = create_token("ward system", Role.COORDINATOR)
    text(client, "NUR 2 RES 0")
    Call(client).post().key("3").key("1").key("1")
    response = client.post(
        f"/api/v1/homes/{home.id}/updates", json={"counts": {"NUR": 4}}, headers={"Authorization": f"Bearer {hub}"}
    )
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    contact_id = session.scalars(select(Contact.id)).one()
    rows = session.scalars(select(Update).order_by(Update.seq)).all()
    assert [(str(r.channel), r.actor, r.contact_id, r.token_id is not None) for r in rows] == [
        ("sms", "text message from a contact", contact_id, False),
        ("voice", "phone call from a contact", contact_id, False),
        ("api", "API token 'ward system'", None, True),
    ]
    assert traces(rows) == [] and traces([session.get(CareHome, home.id)]) == []
    assert session.get(CareHome, home.id).confirmed_by == "API token 'ward system'"


def test_the_history_csv_has_no_phone_numbers_or_names(client, home, signed_in):
    text(client, "NUR 2 RES 0")
    response = signed_in.get(f"/board/history.csv?from=30/11/2026&to=30/11/2026&home={home.id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and not [s for s in SPELLINGS if s in body]
    (row,) = csv.DictReader(io.StringIO(body.lstrip("\ufeff")))
    assert (row["How"], row["By"]) == ("text message", "text message from a contact")


def test_erasing_a_contact_leaves_nothing_of_them_in_the_history_or_the_audit_log(client, home, runner):
    text(client, "NUR 2 RES 0")
    assert runner.invoke(args=["contacts", "remove", str(home.id), "07700 900123"]).exit_code == 0
    assert session.scalars(select(Contact)).all() == []
    assert traces(session.scalars(select(Update)).all()) == []
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["contact.add", "contact.remove"] and traces(events) == []
    # The update itself stays, from "a former contact": nothing left names who sent it.
    assert privacy.subject_access(MANAGER)["updates_made"] == []


def test_a_new_contact_never_takes_an_erased_contacts_place_in_the_history(client, home, runner):
    text(client, "NUR 2 RES 0")
    runner.invoke(args=["contacts", "remove", str(home.id), "07700 900123"])
    runner.invoke(args=["contacts", "add", str(home.id), "07700 900456", "--name", "Sam"])
    (row,) = session.scalars(select(Update)).all()
    assert session.get(Contact, row.contact_id) is None


def inbound(sid: str, at: datetime) -> InboundMessage:
    message = InboundMessage(
        message_sid=sid, sender=MANAGER, body="NUR 2", received_at=at, outcome="recorded", reply="Recorded"
    )
    session.add(message)
    return message


def outbound(at: datetime, state: OutboundState) -> OutboundMessage:
    message = queue(MANAGER, "Please update", purpose="reminder", now=at)
    message.state = state
    return message


def test_prune_removes_exactly_what_is_past_each_period_and_nothing_else(app, home, coordinator):
    old_in, new_in = inbound("SM1", NOW - timedelta(days=30, seconds=1)), inbound("SM2", NOW - timedelta(days=29))
    old_sent = outbound(NOW - timedelta(days=91), OutboundState.DELIVERED)
    old_waiting = outbound(NOW - timedelta(days=91), OutboundState.PENDING)
    new_sent = outbound(NOW - timedelta(days=89), OutboundState.DELIVERED)
    session.add(SignIn(user_id=coordinator.id, token_hash="a" * 64, created_at=NOW - timedelta(days=15)))
    session.add(SignIn(user_id=coordinator.id, token_hash="b" * 64, created_at=NOW - timedelta(days=13)))
    session.commit()
    ids = (old_in.id, new_in.id, old_sent.id, old_waiting.id, new_sent.id)

    assert privacy.prune(NOW) == privacy.Pruned(inbound=1, outbound=1, sign_ins=1)
    session.expire_all()
    received = {m.id: (m.sender, m.body, m.reply, m.outcome) for m in session.scalars(select(InboundMessage))}
    assert received == {ids[0]: ("", "", "", "recorded"), ids[1]: (MANAGER, "NUR 2", "Recorded", "recorded")}
    assert sorted(session.scalars(select(OutboundMessage.id))) == sorted(ids[3:])
    assert session.scalars(select(SignIn.token_hash)).all() == ["b" * 64]
    assert privacy.prune(NOW) == privacy.Pruned(0, 0, 0)  # a second clock, or a rerun, finds nothing to do


def test_prune_periods_are_configured_and_checked(tmp_path):
    base = {"TRACKER_ENV": "test"}
    config = load({**base, "INBOUND_RETENTION": "7d", "OUTBOUND_RETENTION": "30d"}, tmp_path)
    assert (config["INBOUND_RETENTION"], config["OUTBOUND_RETENTION"]) == (timedelta(days=7), timedelta(days=30))
    defaults = load(base, tmp_path)
    assert (defaults["INBOUND_RETENTION"], defaults["OUTBOUND_RETENTION"]) == (timedelta(days=30), timedelta(days=90))
    with pytest.raises(ConfigError, match="INBOUND_RETENTION"):
        load({**base, "INBOUND_RETENTION": "1h"}, tmp_path)
    # Shorter than its reminder ladder, a sent text's once-only key could go while the ladder runs.
    with pytest.raises(ConfigError, match="OUTBOUND_RETENTION='10d': expected from 16d"):
        load({**base, "OUTBOUND_RETENTION": "10d", "REMIND_EVERY": "2d"}, tmp_path)


def test_the_clock_prunes_daily_and_the_command_prunes_at_a_given_time(app, home, runner):
    assert (scheduler.prune, scheduler.DAILY) in scheduler.jobs(app)
    inbound("SM1", NOW - timedelta(days=31))
    session.commit()
    result = runner.invoke(args=["prune", "--at", "2026-11-30T12:00:00+00:00"])
    assert result.exit_code == 0 and result.output.startswith("1 text(s) received lost their sender and words; 0 ")
    assert session.scalars(select(InboundMessage.sender)).one() == ""


def test_subject_access_finds_everything_held_about_a_phone(client, home, runner, tmp_path):
    text(client, "NUR 2 RES 0")
    outbound(NOW, OutboundState.OUTBOX)
    session.commit()
    runner.invoke(args=["localities", "escalation", home.locality.name, "07700 900123", "--name", NAME])
    path = tmp_path / "jo.json"
    result = runner.invoke(args=["subject-access", "07700 900123", "--output", str(path)])
    assert result.exit_code == 0, result.output
    found = json.loads(path.read_text())
    assert found["phone"] == MANAGER
    assert [(c["name"], c["home"]) for c in found["contacts"]] == [(NAME, "Trelawney House")]
    assert [m["body"] for m in found["texts_received"]] == ["NUR 2 RES 0"]
    assert [m["body"] for m in found["texts_sent"]] == ["Please update"]
    assert [u["actor"] for u in found["updates_made"]] == ["text message from a contact"]
    assert [e["action"] for e in found["audit_events"]] == ["contact.add", "locality.update"]
    assert found["escalation_contact_of"][0]["escalation_name"] == NAME


def test_subject_access_finds_a_user_without_their_password_hash(runner, coordinator):
    result = runner.invoke(args=["subject-access", coordinator.email])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["user"]["name"] == "Pat Coordinator" and found["user"]["hospital"] == "West Cornwall Hospital"
    assert "password" not in result.output


def test_subject_access_refuses_what_is_neither_a_phone_nor_an_email(runner):
    result = runner.invoke(args=["subject-access", "12"])
    assert result.exit_code != 0 and "give a phone number or an e-mail address" in result.output


# ---- bed requests: what people wrote goes, who answered what and when stays -----------------------


def asked_home(home):
    """`home`, with a nursing bed free now and its manager's contact id."""
    record_update(home.id, Change(counts={"NUR": 1, "RES": 0}), channel=Channel.WEB, actor="t", now=NOW)
    return session.scalars(select(Contact.id)).one()


def closed_request(home, coordinator, contact_id, *, opened: datetime, needs: str, question: str):
    record_update(home.id, Change(), channel=Channel.WEB, actor="t", now=opened)  # verified when asked
    request = ask(coordinator.hospital_id, [home], now=opened, needs=needs)
    answer(request, home, "question", question, now=opened, contact_id=contact_id)
    bed_requests.reply(request.asked[0].id, "Yes, at night too", user_id=coordinator.id, now=opened)
    answer(request, home, "yes", now=opened, contact_id=contact_id)
    bed_requests.cancel(request.id, user_id=coordinator.id, now=opened + timedelta(hours=1))
    return request.id


def test_prune_blanks_the_words_of_requests_closed_past_the_retention_and_keeps_the_facts(app, home, coordinator):
    contact_id = asked_home(home)
    old = closed_request(home, coordinator, contact_id, opened=NOW - timedelta(days=31, hours=1), needs="hoist",
                         question="Is a hoist needed?")  # fmt: skip
    recent = closed_request(home, coordinator, contact_id, opened=NOW - timedelta(days=29, hours=1),
                            needs="PEG feeding", question="Overnight too?")  # fmt: skip

    assert privacy.prune(NOW) == privacy.Pruned(0, 0, 0, request_words=3)  # the needs, the question, the reply
    session.expire_all()
    kept = session.get(BedRequest, recent)
    assert kept.needs == "PEG feeding"
    assert [m.text for m in kept.asked[0].messages] == ["Overnight too?", "Yes, at night too", ""]
    pruned = session.get(BedRequest, old)
    assert (pruned.needs, pruned.state, pruned.asked[0].verdict) == ("", RequestState.CANCELLED, Verdict.YES)
    assert [(m.text, m.from_home, m.verdict, m.contact_id, m.seq is not None) for m in pruned.asked[0].messages] == [
        ("", True, Verdict.QUESTION, contact_id, True),
        ("", False, None, None, False),
        ("", True, Verdict.YES, contact_id, True),
    ]
    assert privacy.prune(NOW) == privacy.Pruned(0, 0, 0)  # a rerun finds nothing left to do


def test_subject_access_for_a_phone_includes_its_answers_to_bed_requests(app, home, coordinator, runner):
    contact_id = asked_home(home)
    request = ask(coordinator.hospital_id, [home], now=NOW, needs="hoist")
    answer(request, home, "question", "Is a hoist needed?", now=NOW, contact_id=contact_id)
    answer(request, home, "yes", now=NOW, contact_id=contact_id)
    result = runner.invoke(args=["subject-access", "07700 900123"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["request_answers"]
    assert [(a["verdict"], a["text"], a["request_code"], a["home"]) for a in found] == [
        ("question", "Is a hoist needed?", request.code, "Trelawney House"),
        ("yes", "", request.code, "Trelawney House"),
    ]
    # The coordinator's reply is theirs, not the home's: it is found by the coordinator's e-mail.
    bed_requests.reply(request.asked[0].id, "Yes, at night too", user_id=coordinator.id, now=NOW)
    theirs = privacy.subject_access(coordinator.email)
    assert [m["text"] for m in theirs["request_replies"]] == ["Yes, at night too"]
