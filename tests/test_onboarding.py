"""Admin pages that onboard a region: care homes, contacts, form links, users and invitations,
hospitals, regions and localities; and the audit log of every change."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tracker.auth import hash_password
from tracker.db import session
from tracker.managers import links
from tracker.models import AuditEvent, CareHome, Channel, Hospital, Locality, Region, Role, User
from tracker.vacancies import Change, record_update

from .conftest import FROZEN_AT, PASSWORD

FORM_OK = {
    "name": "Chy Lowen",
    "address": "1 Alverton Road, Penzance",
    "postcode": "tr18 4tg",
    "latitude": "50.118",
    "longitude": "-5.541",
    "phone": "01736 000000",
    "listed_publicly": "y",
    "capacity-NUR": "30",
    "capacity-RES": "10",
}


@pytest.fixture
def admin(client, make_home):
    make_home(name="Existing Home")  # gives the region and a locality to choose
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


def locality_id() -> int:
    return session.scalars(select(Locality)).first().id


def events(action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    return session.scalars(query.where(AuditEvent.action == action) if action else query).all()


def fresh(model, id_):
    return session.get(model, id_, populate_existing=True)


@pytest.mark.parametrize("page", ["/admin/homes", "/admin/homes/new", "/admin/users", "/admin/places", "/admin/audit"])
def test_onboarding_pages_are_for_admins_only(signed_in, page):
    assert signed_in.get(page).status_code == 403


# ---- care homes ------------------------------------------------------------------------------


def test_an_admin_creates_a_home_with_its_kinds_and_the_audit_log_says_who(admin):
    response = admin.post("/admin/homes/new", data={**FORM_OK, "locality_id": locality_id()})
    assert response.status_code == 302
    home = session.scalars(select(CareHome).where(CareHome.name == "Chy Lowen")).one()
    assert home.postcode == "TR18 4TG" and home.listed_publicly and home.cqc_location_id is None
    assert {o.kind_code: (o.capacity, o.available) for o in home.offers} == {"NUR": (30, None), "RES": (10, None)}
    (created,) = events("home.create")
    ade = session.scalars(select(User).where(User.email == "admin@example.nhs.uk")).one()
    # The log keeps who by id; the page names them while their account exists.
    assert (created.actor, created.user_id, created.target_id) == ("signed-in user", ade.id, home.id)
    assert "Ade &lt;admin@example.nhs.uk&gt;" in admin.get("/admin/audit").get_data(as_text=True)
    assert created.changes["name"] == [None, "Chy Lowen"] and created.changes["kinds"] == [{}, {"NUR": 30, "RES": 10}]
    page = admin.get(f"/admin/homes/{home.id}").get_data(as_text=True)
    assert "/h/" in page and "Replace the link" in page


def test_a_new_home_is_due_its_first_reminder_from_when_the_admin_created_it(frozen_clock, admin):
    assert admin.post("/admin/homes/new", data={**FORM_OK, "locality_id": locality_id()}).status_code == 302
    home = session.scalars(select(CareHome).where(CareHome.name == "Chy Lowen")).one()
    assert home.chase_due_at == FROZEN_AT and home.reminders_sent == 0


def test_a_bad_home_form_says_what_is_wrong_keeps_what_was_typed_and_saves_nothing(admin):
    data = {**FORM_OK, "locality_id": locality_id(), "postcode": "NOT A CODE", "capacity-NUR": "lots"}
    response = admin.post("/admin/homes/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Nothing was saved yet" in page
    assert "That does not look like a UK postcode." in page
    assert 'value="NOT A CODE"' in page and 'value="lots"' in page
    assert session.scalars(select(CareHome).where(CareHome.name == "Chy Lowen")).all() == [] and events() == []


def test_a_home_with_no_kind_of_care_is_refused(admin):
    data = {**FORM_OK, "locality_id": locality_id(), "capacity-NUR": "", "capacity-RES": ""}
    page = admin.post("/admin/homes/new", data=data).get_data(as_text=True)
    assert "Enter the registered beds for at least one kind of care." in page


def test_capacity_cannot_go_below_the_beds_recorded_free(admin):
    home = session.scalars(select(CareHome)).one()
    record_update(home.id, Change(counts={"NUR": 5, "RES": 1}), channel=Channel.WEB, actor="t")
    data = {**FORM_OK, "name": home.name, "locality_id": home.locality_id, "capacity-NUR": "4", "capacity-RES": "20"}
    page = admin.post(f"/admin/homes/{home.id}", data=data).get_data(as_text=True)
    assert "5 beds are recorded free now" in page
    assert fresh(CareHome, home.id).offer("NUR").capacity == 40 and events() == []


def test_editing_a_home_audits_exactly_what_changed(admin):
    home = session.scalars(select(CareHome)).one()
    data = {**FORM_OK, "name": home.name, "locality_id": home.locality_id, "capacity-NUR": "40", "capacity-RES": ""}
    assert admin.post(f"/admin/homes/{home.id}", data=data).status_code == 302
    edited = fresh(CareHome, home.id)
    assert [o.kind_code for o in edited.offers] == ["NUR"]  # no longer offers residential care
    (event,) = events("home.update")
    assert event.changes["kinds"] == [{"NUR": 40, "RES": 20}, {"NUR": 40}]
    assert event.changes["postcode"] == ["", "TR18 4TG"] and "name" not in event.changes
    log = admin.get("/admin/audit").get_data(as_text=True)
    assert "home.update" in log and "TR18 4TG" in log and "Ade &lt;admin@example.nhs.uk&gt;" in log


def test_two_homes_cannot_share_a_cqc_location_id(admin):
    session.scalars(select(CareHome)).one().cqc_location_id = "1-123456789"
    session.commit()
    data = {**FORM_OK, "locality_id": locality_id(), "cqc_location_id": "1-123456789"}
    page = admin.post("/admin/homes/new", data=data).get_data(as_text=True)
    assert "Another home already has this CQC location ID." in page
    assert len(session.scalars(select(CareHome)).all()) == 1


def test_contacts_are_added_and_removed_on_the_home_page_and_audited(admin):
    home = session.scalars(select(CareHome)).one()
    admin.post(f"/admin/homes/{home.id}/contacts", data={"phone": "07700 900123", "name": "Jo, manager"})
    bad = admin.post(f"/admin/homes/{home.id}/contacts", data={"phone": "12"}, follow_redirects=True)
    assert "Contact not added" in bad.get_data(as_text=True)
    (contact,) = fresh(CareHome, home.id).contacts
    assert contact.phone == "+447700900123"
    admin.post(f"/admin/homes/{home.id}/contacts/{contact.id}/remove")
    assert fresh(CareHome, home.id).contacts == []
    assert [(e.action, e.changes) for e in events()] == [
        ("contact.add", {"contact_id": [None, contact.id]}),
        ("contact.remove", {"contact_id": [contact.id, None]}),
    ]


def test_replacing_the_form_link_from_the_admin_page_stops_the_old_one(admin, app):
    home = session.scalars(select(CareHome)).one()
    old = "/h/" + links.link_token(home)
    admin.post(f"/admin/homes/{home.id}/rotate-link")
    assert app.test_client().get(old).status_code == 410
    assert app.test_client().get("/h/" + links.link_token(fresh(CareHome, home.id))).status_code == 200
    assert events("home.rotate_link")


# ---- users and invitations -------------------------------------------------------------------


def invite(admin, **fields) -> str:
    data = {"name": "Pat Coordinator", "email": "Pat@Example.nhs.uk", "role": "coordinator", "hospital_id": "0"}
    page = admin.post("/admin/users/new", data={**data, **fields}).get_data(as_text=True)
    return re.search(r"http://127\.0\.0\.1:5000(/invite/[^<\s]+)", page).group(1)


def test_an_invited_user_chooses_a_password_with_the_link_once_and_is_signed_in(admin, app):
    link = invite(admin)
    user = session.scalars(select(User).where(User.email == "pat@example.nhs.uk")).one()
    visitor = app.test_client()
    assert visitor.post("/login", data={"email": user.email, "password": ""}).status_code == 401
    short = visitor.post(link, data={"password": "short", "again": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    differ = visitor.post(link, data={"password": "a long password one", "again": "a long password two"})
    assert "not the same" in differ.get_data(as_text=True)
    done = visitor.post(link, data={"password": "a long enough password", "again": "a long enough password"})
    assert done.status_code == 302 and visitor.get("/board").status_code == 200
    assert app.test_client().get(link).status_code == 410  # used: it works once
    assert [e.action for e in events()] == ["user.invite", "user.accept_invite"]


def test_a_new_invitation_replaces_the_old_link_and_password(admin, app):
    link = invite(admin)
    user = session.scalars(select(User).where(User.email == "pat@example.nhs.uk")).one()
    page = admin.post(f"/admin/users/{user.id}/invite").get_data(as_text=True)
    assert "/invite/" in page and app.test_client().get(link).status_code == 410


def test_an_email_already_in_use_is_refused(admin):
    page = admin.post(
        "/admin/users/new", data={"name": "X", "email": "ADMIN@example.nhs.uk", "role": "admin", "hospital_id": "0"}
    ).get_data(as_text=True)
    assert "Someone already has an account with this email address." in page


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(admin, app, coordinator):
    theirs = app.test_client()
    assert theirs.post("/login", data={"email": coordinator.email, "password": PASSWORD}).status_code == 302
    admin.post(f"/admin/users/{coordinator.id}/active", data={"active": "0"})
    assert theirs.get("/board").status_code == 302  # their session no longer counts
    assert app.test_client().post("/login", data={"email": coordinator.email, "password": PASSWORD}).status_code == 401
    assert [e.action for e in events()] == ["user.disable"]


def test_an_admin_cannot_disable_themself_or_drop_their_own_admin_role(admin):
    me = session.scalars(select(User).where(User.role == Role.ADMIN)).one()
    admin.post(f"/admin/users/{me.id}/active", data={"active": "0"})
    page = admin.post(
        f"/admin/users/{me.id}", data={"name": "Ade", "email": me.email, "role": "coordinator", "hospital_id": "0"}
    ).get_data(as_text=True)
    assert "cannot take away your own admin role" in page
    assert fresh(User, me.id).active and fresh(User, me.id).role == Role.ADMIN


# ---- hospitals, regions and localities -------------------------------------------------------


def test_regions_localities_and_hospitals_are_created_with_escalation_contacts(admin):
    admin.post("/admin/regions", data={"name": "Devon"})
    devon = session.scalars(select(Region).where(Region.name == "Devon")).one()
    assert admin.post(
        "/admin/localities/new",
        data={"name": "Plymouth", "region_id": devon.id, "escalation_name": "Hub", "escalation_phone": "07700 900555"},
    ).status_code == 302  # fmt: skip
    assert (
        session.scalars(select(Locality).where(Locality.name == "Plymouth")).one().escalation_phone == "+447700900555"
    )
    no_place = admin.post("/admin/hospitals/new", data={"name": "Derriford", "region_id": devon.id})
    assert "latitude and longitude: boards measure distance from it" in no_place.get_data(as_text=True)
    admin.post(
        "/admin/hospitals/new",
        data={"name": "Derriford", "region_id": devon.id, "latitude": "50.417", "longitude": "-4.113"},
    )
    assert session.scalars(select(Hospital)).one().region_id == devon.id
    assert [e.action for e in events()] == ["region.create", "locality.create", "hospital.create"]
    assert "Plymouth" in admin.get("/admin/places").get_data(as_text=True)


def test_a_bad_escalation_phone_is_refused_with_the_reason(admin):
    place = session.scalars(select(Locality)).one()
    page = admin.post(
        f"/admin/localities/{place.id}",
        data={"name": place.name, "region_id": place.region_id, "escalation_phone": "12"},
    ).get_data(as_text=True)
    assert "not a possible phone number" in page and fresh(Locality, place.id).escalation_phone is None


def test_the_audit_log_cannot_be_rewritten(admin):
    admin.post("/admin/regions", data={"name": "Devon"})
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE audit_event SET actor = 'someone else'"))
        session.commit()
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("DELETE FROM audit_event"))
        session.commit()
    session.rollback()


def test_changes_made_on_the_command_line_are_audited_as_such(admin, runner):
    home = session.scalars(select(CareHome)).one()
    runner.invoke(args=["contacts", "add", str(home.id), "07700 900124"])
    runner.invoke(args=["homes", "rotate-link", str(home.id)])
    runner.invoke(args=["homes", "chase-policy", str(home.id), "--stale-after", "48h"])
    runner.invoke(args=["localities", "escalation", home.locality.name, "07700 900500"])
    assert [(e.action, e.actor) for e in events()] == [
        ("contact.add", "command line"),
        ("home.rotate_link", "command line"),
        ("home.chase_policy", "command line"),
        ("locality.update", "command line"),
    ]
