"""The admin pages that exist so far: chasing and compliance, texts received, the Outbox, and contacts
that cannot be texted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tracker.auth import hash_password
from tracker.chasing import compliance, ladder
from tracker.db import session
from tracker.managers import contacts
from tracker.models import CareHome, Channel, InboundMessage, Role, User, utcnow
from tracker.outbox import send_sms
from tracker.timefmt import LONDON
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD


@pytest.fixture
def admin(client):
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


@pytest.mark.parametrize("page", ["/admin/", "/admin/messages", "/admin/outbox", "/admin/contacts", "/admin/chasing"])
def test_admin_pages_need_an_admin(client, signed_in, page):
    assert signed_in.get(page).status_code == 403


def test_admin_pages_send_strangers_to_sign_in(client):
    assert "/login" in client.get("/admin/messages").headers["Location"]


def test_the_outbox_shows_texts_kept_offline(admin, make_home):
    home = make_home()
    send_sms("+447700900123", "Please confirm your beds today", purpose="reminder", home_id=home.id)
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "Please confirm your beds today" in page and "outbox" in page and "Twilio is not configured" in page


def test_texts_received_are_listed_with_their_outcome(admin, make_home):
    home = make_home()
    session.add(
        InboundMessage(
            message_sid="SM1", sender="+447700900123", body="NUR 2", received_at=utcnow(), home_id=home.id,
            outcome="recorded", reply="Trelawney House: recorded",
        )
    )  # fmt: skip
    session.commit()
    page = admin.get("/admin/messages").get_data(as_text=True)
    assert "NUR 2" in page and "recorded" in page and "Trelawney House" in page


def test_contacts_that_cannot_be_texted_are_flagged(admin, make_home):
    home = make_home()
    stopped = contacts.add_contact(home, "+447700900123", "Jo")
    failed = contacts.add_contact(home, "+447700900124", "Sam")
    stopped.opted_out_at = utcnow()
    failed.failed_at, failed.failure = utcnow(), "a landline or unreachable carrier"
    session.commit()
    page = admin.get("/admin/contacts").get_data(as_text=True)
    assert "No: replied STOP" in page and "No: a landline or unreachable carrier" in page


# ---- chasing and compliance ------------------------------------------------------------------


def confirm(home, at):
    record_update(home.id, Change(counts={"NUR": 1, "RES": 1}), channel=Channel.WEB, actor="t", now=at)


def test_the_chasing_page_shows_who_is_due_reminded_and_not_answering(admin, make_home):
    now = utcnow()
    answering, reminded, silent, due = (make_home(name=n) for n in ("Answering", "Reminded", "Silent", "Overdue"))
    for home in (answering, reminded, silent, due):
        contacts.add_contact(home, f"+4477009001{home.id:02d}")
    session.commit()
    confirm(answering, now - timedelta(hours=2))
    for home in (reminded, silent, due):
        confirm(home, now - timedelta(hours=30))
    ladder.set_overrides(session.get(CareHome, silent.id), {"hours": "00:00-24:00", "max_reminders": "0"})
    ladder.set_overrides(session.get(CareHome, reminded.id), {"hours": "00:00-24:00"})
    # Working hours that exclude the present moment, whenever the test runs.
    elsewhere = "20:00-21:00" if now.astimezone(LONDON).hour < 12 else "05:00-06:00"
    ladder.set_overrides(session.get(CareHome, due.id), {"hours": elsewhere})
    session.commit()
    ladder.run_pass(now)

    page = admin.get("/admin/chasing").get_data(as_text=True)
    words = " ".join(page.split())
    assert "older than 24 hours, between 08:00 and 20:00 UK time, every 4 hours up to 3 times" in words
    sections = {
        title: page.split(title)[1].split("<h2>")[0]
        for title in ("escalated (", "not yet answered (", "Due a first reminder (")
    }
    assert "Silent" in sections["escalated ("] and "Not answering since" in sections["escalated ("]
    assert "nobody: the locality has no escalation contact" in sections["escalated ("]
    assert "Reminded" in sections["not yet answered ("] and "Silent" not in sections["not yet answered ("]
    assert "Overdue" in sections["Due a first reminder ("] and "Overdue" not in sections["not yet answered ("]
    assert "Answering" not in "".join(sections.values())


def test_compliance_is_the_share_confirmed_within_a_day_by_locality_and_over_14_days(admin, make_home):
    now = utcnow()
    west = [make_home(name=f"West {i}", locality="West Cornwall") for i in range(4)]
    east = [make_home(name=f"East {i}", locality="East Cornwall") for i in range(2)]
    for home in west[:3] + east[:1]:
        confirm(home, now - timedelta(hours=1))
    confirm(west[0], now - timedelta(days=3, hours=1))  # three days ago only one home had confirmed

    shares = compliance.by_locality(now)
    assert (shares["West Cornwall"].percent, shares["East Cornwall"].percent) == (75, 50)
    assert (shares["All localities"].confirmed, shares["All localities"].homes) == (4, 6)
    history = compliance.daily(now)
    assert len(history) == 14 and history[-1][0] == now
    assert [day["All localities"].confirmed for _, day in history[-4:]] == [1, 0, 0, 4]

    page = admin.get("/admin/chasing").get_data(as_text=True)
    assert "75%" in page and "50%" in page and "67%" in page and "The last 14 days" in page
    assert '<rect width="75%" height="100%"/></svg>75%' in page  # drawn without a style attribute (CSP)
    assert "style=" not in page


def test_days_before_the_first_update_are_shown_as_no_data_not_zero(admin, make_home):
    now = utcnow()
    confirm(make_home(), now - timedelta(days=2))
    history = compliance.daily(now)
    assert [day is None for _, day in history] == [True] * 11 + [False] * 3
    assert "before the first update in the tracker" in admin.get("/admin/chasing").get_data(as_text=True)
