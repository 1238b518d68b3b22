"""The admin pages that exist so far: texts received, the Outbox, and contacts that cannot be texted."""

from __future__ import annotations

import pytest

from tracker import contacts
from tracker.auth import hash_password
from tracker.db import session
from tracker.messaging import send_sms
from tracker.models import InboundMessage, Role, User, utcnow

from .conftest import PASSWORD


@pytest.fixture
def admin(client):
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


@pytest.mark.parametrize("page", ["/admin/", "/admin/messages", "/admin/outbox", "/admin/contacts"])
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
