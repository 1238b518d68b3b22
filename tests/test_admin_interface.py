"""Admins work from the interface: one signed-in header, a link replaced only when asked twice and
texted to the home, a position from the postcode, a home's chasing policy on its page, and long
lists (the audit log above all) a page at a time or as CSV."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tracker import audit
from tracker.auth import hash_password
from tracker.db import session
from tracker.managers import contacts, links
from tracker.models import AuditEvent, CareHome, Contact, OutboundMessage, OutboundState, Role, User
from tracker.segments import segments

from .conftest import PASSWORD

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def home(make_home):
    return make_home(name="Trelawney House")


@pytest.fixture
def admin(client, home):
    session.add(User(email="ade@example.nhs.uk", name="Ade Bello", password_hash=hash_password(PASSWORD),
                     role=Role.ADMIN))  # fmt: skip
    session.commit()
    assert client.post("/login", data={"email": "ade@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


def fresh(home: CareHome) -> CareHome:
    return session.get(CareHome, home.id, populate_existing=True)


def account_nav(page: str) -> str:
    found = re.search(r'<nav class="account-nav".*?</nav>', page, re.S)
    return found.group(0) if found else ""


# ---- one header on every signed-in page ------------------------------------------------------


@pytest.mark.parametrize("path", ["/board", "/board/history", "/account/password", "/admin/", "/admin/audit"])
def test_an_admin_sees_one_header_with_administration_on_every_signed_in_page(admin, path):
    nav = account_nav(admin.get(path).get_data(as_text=True))
    assert "Ade Bello" in nav
    for label, href in [("Board", "/board"), ("Administration", "/admin/"), ("Password", "/account/password")]:
        assert f'href="{href}"' in nav and f">{label}</a>" in nav
    assert 'action="/logout"' in nav and 'name="csrf_token"' in nav and "Sign out" in nav


@pytest.mark.parametrize("path", ["/board", "/board/history", "/account/password"])
def test_a_coordinator_sees_the_header_without_administration(signed_in, path):
    nav = account_nav(signed_in.get(path).get_data(as_text=True))
    assert "Pat Coordinator" in nav and ">Board</a>" in nav and ">Password</a>" in nav and "Sign out" in nav
    assert "Administration" not in nav and "/admin/" not in nav


def test_the_families_and_managers_pages_never_name_who_is_signed_in(admin, home, app):
    for path in ["/find-a-care-home", "/h/" + links.link_token(home), "/"]:
        page = admin.get(path).get_data(as_text=True)
        assert account_nav(page) == "" and "Ade Bello" not in page, path


# ---- replacing a home's link: asked first, then texted -----------------------------------------


def test_replacing_the_link_asks_first_and_a_get_changes_nothing(admin, home, app):
    old = "/h/" + links.link_token(home)
    page = admin.get(f"/admin/homes/{home.id}/rotate-link").get_data(as_text=True)
    assert "This stops the current link working at once." in page and 'method="post"' in page
    assert fresh(home).link_version == 1 and app.test_client().get(old).status_code == 200
    assert session.scalars(select(AuditEvent)).all() == []

    done = admin.post(f"/admin/homes/{home.id}/rotate-link")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/admin/homes/{home.id}/link")
    assert app.test_client().get(old).status_code == 410
    new = links.link_url(fresh(home))
    shown = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert new in shown and "No phone of this home can be texted" in shown and "Text it to" not in shown
    (event,) = session.scalars(select(AuditEvent)).all()
    ade = session.scalars(select(User).where(User.email == "ade@example.nhs.uk")).one()
    assert event.action == "home.rotate_link" and event.user_id == ade.id  # by reference: docs/data-protection.md
    token = new.rsplit("/", 1)[1]
    assert token not in str(event.changes) and token not in event.summary  # the link is a secret


def test_replacing_the_link_without_the_forms_csrf_token_is_refused(make_app, environ, make_home):
    app = make_app(environ, {"TESTING": True})  # CSRF on, as in production
    with app.app_context():
        home = make_home()
        session.add(User(email="ade@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD),
                         role=Role.ADMIN))  # fmt: skip
        session.commit()
        client = app.test_client()
        login = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        data = {"email": "ade@example.nhs.uk", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 302

        assert client.post(f"/admin/homes/{home.id}/rotate-link").status_code == 400
        assert client.post(f"/admin/homes/{home.id}/link/text").status_code == 400
        assert fresh(home).link_version == 1

        page = client.get(f"/admin/homes/{home.id}/rotate-link").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post(f"/admin/homes/{home.id}/rotate-link", data={"csrf_token": token}).status_code == 302
        assert fresh(home).link_version == 2


def test_the_new_link_is_texted_to_the_phones_that_can_be_texted_and_no_others(admin, home):
    for phone, name in [("07700 900101", "Jo"), ("07700 900102", "Sam"), ("07700 900103", "Kit")]:
        contacts.add_contact(home, phone, name)
    session.commit()
    sam, kit = fresh(home).contacts[1:]
    sam.opted_out_at = MONDAY  # replied STOP
    kit.failed_at, kit.failure = MONDAY, "not a mobile number"
    session.commit()
    admin.post(f"/admin/homes/{home.id}/rotate-link")
    page = admin.get(f"/admin/homes/{home.id}/link").get_data(as_text=True)
    assert "Text it to the home's contacts (1)" in page

    response = admin.post(f"/admin/homes/{home.id}/link/text", follow_redirects=True)
    assert "on its way to 1 phone of Trelawney House" in response.get_data(as_text=True)
    (text,) = session.scalars(select(OutboundMessage)).all()
    assert text.to == "+447700900101" and text.purpose == "form link" and text.home_id == home.id
    assert text.state == OutboundState.OUTBOX  # Twilio is not configured in tests
    link = links.link_url(fresh(home))
    assert text.body.endswith(link) and "Ade Bello" in text.body and "Trelawney House's form" in text.body
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "home.text_link")).one()
    assert event.summary == "form link texted to 1 phone(s)" and link.rsplit("/", 1)[1] not in event.summary


def test_a_home_with_no_phone_that_can_be_texted_is_sent_nothing(admin, home):
    contacts.add_contact(home, "07700 900101", "Jo")
    session.commit()
    fresh(home).contacts[0].opted_out_at = MONDAY
    session.commit()
    response = admin.post(f"/admin/homes/{home.id}/link/text", follow_redirects=True)
    assert "Nothing was sent: no phone of Trelawney House can be texted" in response.get_data(as_text=True)
    assert session.scalars(select(OutboundMessage)).all() == []


def test_a_link_text_names_its_sender_and_keeps_the_link_whole_however_long_the_names(app, make_home):
    long_home = make_home(name="The Very Long Name Of A Care Home In Cornwall That Goes On – And On " * 2)
    body = links.link_text(long_home, "Ade Bello")
    assert body.endswith(links.link_url(long_home)) and segments(body) <= 2
    assert body.startswith("Care home bed tracker: Ade Bello sent you the link")


# ---- a home's position from its postcode -------------------------------------------------------


def home_form(home: CareHome, **fields) -> dict:
    data = {"name": home.name, "locality_id": home.locality_id, "postcode": "TR18 2PF", "capacity-NUR": "40",
            "capacity-RES": "20", "latitude": "", "longitude": ""}  # fmt: skip
    return {**data, **fields}


def test_a_blank_position_is_taken_from_the_postcode(admin, home):
    assert admin.post(f"/admin/homes/{home.id}", data=home_form(home)).status_code == 302
    saved = fresh(home)
    assert saved.latitude == pytest.approx(50.1220, abs=1e-3) and saved.longitude == pytest.approx(-5.5430, abs=1e-3)
    event = session.scalars(select(AuditEvent)).one()
    assert event.changes["latitude"][0] == 50.12 and event.changes["postcode"] == ["", "TR18 2PF"]


def test_a_position_typed_in_is_kept_and_replaced_from_the_postcode_only_when_asked(admin, home):
    typed = home_form(home, latitude="50.2", longitude="-5.4")
    assert admin.post(f"/admin/homes/{home.id}", data=typed).status_code == 302
    assert (fresh(home).latitude, fresh(home).longitude) == (50.2, -5.4)
    asked = {**typed, "position_from_postcode": "y"}
    assert admin.post(f"/admin/homes/{home.id}", data=asked).status_code == 302
    assert fresh(home).latitude == pytest.approx(50.1220, abs=1e-3)
    page = admin.get(f"/admin/homes/{home.id}").get_data(as_text=True)
    assert 'name="position_from_postcode" type="checkbox" value="y">' in page  # unticked: it was for one save


def test_an_unknown_postcode_says_so_and_saves_nothing(admin, home):
    response = admin.post(f"/admin/homes/{home.id}", data=home_form(home, postcode="TR99 9ZZ"))
    page = response.get_data(as_text=True)
    assert "The postcode TR99 9ZZ is not in the postcode directory" in page and "Nothing was saved yet" in page
    assert fresh(home).postcode == "" and fresh(home).latitude == 50.12
    assert session.scalars(select(AuditEvent)).all() == []


def test_half_a_position_is_refused(admin, home):
    page = admin.post(f"/admin/homes/{home.id}", data=home_form(home, latitude="50.2")).get_data(as_text=True)
    assert "Enter both the latitude and the longitude, or neither" in page and fresh(home).latitude == 50.12


# ---- how a home is chased --------------------------------------------------------------------


def test_the_chasing_policy_is_set_on_the_homes_page_as_the_command_line_sets_it(admin, home, runner):
    page = admin.get(f"/admin/homes/{home.id}").get_data(as_text=True)
    assert f'action="/admin/homes/{home.id}/chase-policy"' in page and "The defaults apply." in page
    data = {"chased": "1", "stale_after": "48h", "remind_every": "", "max_reminders": "2", "hours": "09:00-17:00"}
    response = admin.post(f"/admin/homes/{home.id}/chase-policy", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/homes/{home.id}#chasing")
    overrides = {"stale_after": "48h", "max_reminders": "2", "hours": "09:00-17:00"}
    assert fresh(home).chase_policy == overrides
    (event,) = session.scalars(select(AuditEvent)).all()
    assert event.action == "home.chase_policy" and event.changes["chase_policy"] == [None, overrides]
    out = runner.invoke(args=["homes", "chase-policy", str(home.id)]).output  # the command reads the same
    assert "due after 2 days, reminded every" in out and "up to 2 times, 09:00-17:00 UK time" in out


def test_a_chasing_setting_that_cannot_be_used_is_refused_with_the_reason(admin, home):
    data = {"chased": "1", "stale_after": "soon", "remind_every": "", "max_reminders": "", "hours": ""}
    response = admin.post(f"/admin/homes/{home.id}/chase-policy", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was saved yet" in page
    assert "expected a duration such as 90m, 24h or 3d" in page and 'href="#chase-stale_after"' in page
    assert 'value="soon"' in page  # what was typed is kept
    for bad in ({"max_reminders": "9" * 5000}, {"remind_every": "1m"}, {"hours": "20:00-08:00"}):
        refused = admin.post(f"/admin/homes/{home.id}/chase-policy", data={**data, "stale_after": "", **bad})
        assert refused.status_code == 400, bad
    assert fresh(home).chase_policy is None and session.scalars(select(AuditEvent)).all() == []


def test_chasing_is_turned_off_and_back_to_the_defaults_from_the_page(admin, home):
    admin.post(f"/admin/homes/{home.id}/chase-policy", data={"stale_after": "", "hours": ""})  # box unticked
    assert fresh(home).chase_policy == {"enabled": False} and fresh(home).chase_due_at is None
    assert "not chased" in admin.get(f"/admin/homes/{home.id}").get_data(as_text=True)
    admin.post(f"/admin/homes/{home.id}/chase-policy", data={"clear": "1", "stale_after": "1h"})
    assert fresh(home).chase_policy is None and fresh(home).chase_due_at is not None


# ---- long lists, a page at a time --------------------------------------------------------------


def audit_rows(count: int, home: CareHome, start: datetime = MONDAY) -> None:
    for n in range(count):
        with time_machine.travel(start + timedelta(hours=n), tick=False):
            audit.record("home.update", home, changes={"phone": [str(n), str(n + 1)]}, actor=f"entry {n}")
    session.commit()


def test_the_audit_log_is_shown_a_page_at_a_time_newest_first(admin, home):
    audit_rows(250, home)
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert "1 to 100 of 250 entries (page 1 of 3)" in first and "entry 249" in first and "entry 149" not in first
    assert 'rel="next" href="/admin/audit?page=2"' in first and 'rel="prev"' not in first
    last = admin.get("/admin/audit?page=3").get_data(as_text=True)
    assert "201 to 250 of 250" in last and "entry 0<" in last and "entry 50<" not in last and 'rel="next"' not in last
    assert "page 3 of 3" in admin.get("/admin/audit?page=99999").get_data(as_text=True)  # past the end: the last
    for bad in ("0", "-1", "two", "9" * 50):
        assert "page 1 of 3" in admin.get(f"/admin/audit?page={bad}").get_data(as_text=True)
    filtered = admin.get("/admin/audit?type=CareHome&page=2").get_data(as_text=True)
    assert 'href="/admin/audit?type=CareHome&amp;page=3"' in filtered  # the filter is kept from page to page


def test_the_whole_audit_log_or_a_date_range_downloads_as_csv(admin, home):
    audit_rows(30, home)  # from Monday 10:00, an hour apart: 14 on Monday, 16 on Tuesday (UK time, GMT)
    whole = admin.get("/admin/audit.csv")
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = whole.get_data(as_text=True).splitlines()
    assert len(lines) == 31 and lines[0].lstrip("\ufeff").startswith("Entry,When (UK time),Who,Action")
    assert ",2026-03-02 10:00 GMT,entry 0,home.update,CareHome,Trelawney House," in lines[1]
    assert "phone: 0 -> 1" in lines[1]
    monday = admin.get("/admin/audit.csv?from=02/03/2026&to=02/03/2026").get_data(as_text=True).splitlines()
    assert len(monday) == 15 and "entry 13" in monday[-1]
    bad = admin.get("/admin/audit.csv?from=yesterday&to=02/03/2026")
    assert bad.status_code == 400 and "is not a date" in bad.get_data(as_text=True)


def test_homes_outbox_and_contacts_are_paged_too(admin, home, make_home):
    for n in range(205):
        session.add(CareHome(name=f"Home {n:03}", locality=home.locality))
    session.commit()
    first = admin.get("/admin/homes").get_data(as_text=True)
    assert "1 to 200 of 206 homes" in first and "Home 198" in first and "Trelawney House" not in first
    assert "Trelawney House" in admin.get("/admin/homes?page=2").get_data(as_text=True)
    assert "Home 004" in admin.get("/admin/homes?q=home+00").get_data(as_text=True)  # a search is one page
    for n in range(201):
        session.add(Contact(home=home, phone=f"+447700{n:06}"))
    session.commit()
    assert "1 to 200 of 201 contacts" in admin.get("/admin/contacts").get_data(as_text=True)
    assert admin.get("/admin/outbox?page=2").status_code == 200 and admin.get("/admin/messages").status_code == 200
