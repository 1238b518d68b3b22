"""Operators' commands: users, form links, tokens, chasing, escalation contacts, the printed address."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tracker import auth
from tracker.db import session
from tracker.managers import contacts
from tracker.models import ApiToken, AuditEvent, CareHome, Channel, Locality, OutboundMessage, Role, SignIn, User
from tracker.vacancies import Change, record_update


def test_homes_link_prints_a_working_link_by_id_or_cqc_id(runner, client, make_home):
    home = make_home(cqc_location_id="1-123456789")
    by_id = runner.invoke(args=["homes", "link", str(home.id)])
    by_cqc = runner.invoke(args=["homes", "link", "1-123456789"])
    assert by_id.exit_code == 0 and by_id.output == by_cqc.output
    url = by_id.output.strip()
    assert url.startswith("http://127.0.0.1:5000/h/")
    assert client.get(url.removeprefix("http://127.0.0.1:5000")).status_code == 200


def test_homes_link_uses_the_public_base_url(runner, make_home, app):
    app.config["PUBLIC_BASE_URL"] = "https://beds.example.nhs.uk"
    home = make_home()
    assert runner.invoke(args=["homes", "link", str(home.id)]).output.startswith("https://beds.example.nhs.uk/h/")


def test_an_unknown_home_is_a_clear_error(runner):
    result = runner.invoke(args=["homes", "link", "nope"])
    assert result.exit_code != 0
    assert "No care home has id or CQC location id 'nope'" in result.output


def test_rotating_a_link_kills_the_old_one(runner, client, make_home):
    home = make_home()
    old = runner.invoke(args=["homes", "link", str(home.id)]).output.strip().removeprefix("http://127.0.0.1:5000")
    result = runner.invoke(args=["homes", "rotate-link", str(home.id)])
    assert result.exit_code == 0
    new = result.output.strip().splitlines()[-1].removeprefix("http://127.0.0.1:5000")
    assert client.get(old).status_code == 410
    assert client.get(new).status_code == 200
    session.expire_all()
    assert session.get(CareHome, home.id).link_version == 2


def test_homes_list_shows_ids_and_names(runner, make_home):
    make_home(name="Chy Lowen", cqc_location_id="1-555")
    output = runner.invoke(args=["homes", "list"]).output
    assert "1-555" in output and "Chy Lowen (West Cornwall)" in output


def test_tokens_create_prints_the_token_once_on_its_last_line_and_keeps_only_a_hash(runner):
    result = runner.invoke(args=["tokens", "create", "--role", "coordinator", "--name", "Treliske hub"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    stored = session.query(ApiToken).one()
    assert stored.name == "Treliske hub" and token not in stored.token_hash
    assert auth.token_from(token).id == stored.id


def test_tokens_create_refuses_an_unknown_role(runner):
    result = runner.invoke(args=["tokens", "create", "--role", "king", "--name", "x"])
    assert result.exit_code == 2 and "Invalid value for '--role'" in result.output


# ---- chasing ---------------------------------------------------------------------------------


def stale_home(make_home, hours=30):
    home = make_home()
    contacts.add_contact(home, "+447700900123", "Jo")
    session.commit()
    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC) - timedelta(hours=hours)
    record_update(home.id, Change(counts={"NUR": 1, "RES": 1}), channel=Channel.WEB, actor="t", now=at)
    return home


def test_chase_dry_run_prints_what_it_would_send_and_sends_nothing(runner, make_home):
    stale_home(make_home)
    result = runner.invoke(args=["chase", "--at", "2026-11-24T10:00:00+00:00", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "[dry run] Trelawney House" in result.output and "reminder 1 to +447700900123" in result.output
    assert "Reply SAME" in result.output and "1 step(s) would send" in result.output
    assert session.scalars(select(OutboundMessage)).all() == []
    assert session.scalars(select(CareHome)).one().reminders_sent == 0


def test_chase_at_a_time_sends_and_a_second_run_sends_nothing_more(runner, make_home):
    stale_home(make_home)
    first = runner.invoke(args=["chase", "--at", "2026-11-24T10:00:00+00:00"])
    again = runner.invoke(args=["chase", "--at", "2026-11-24T10:01:00+00:00"])
    assert "Trelawney House (#1): reminder 1 to +447700900123" in first.output and "1 step(s) sent" in first.output
    assert "0 step(s) sent" in again.output
    assert len(session.scalars(select(OutboundMessage)).all()) == 1


def test_chase_reads_a_time_without_a_zone_as_uk_time_and_says_who_waits(runner, make_home):
    stale_home(make_home)
    result = runner.invoke(args=["chase", "--at", "2026-11-25T07:30"])  # 07:30 GMT: before working hours
    assert "at 2026-11-25T07:30:00+00:00" in result.output
    assert "0 step(s) sent" in result.output and "1 home(s) due but outside their working hours" in result.output


def test_chase_refuses_a_time_it_cannot_read(runner):
    result = runner.invoke(args=["chase", "--at", "tomorrow"])
    assert result.exit_code != 0 and "expected an ISO 8601 time" in result.output


def test_a_homes_chase_policy_can_be_shown_changed_and_cleared(runner, make_home):
    home = stale_home(make_home)
    changed = runner.invoke(
        args=["homes", "chase-policy", str(home.id), "--stale-after", "48h", "--hours", "09:00-17:00"]
    )
    assert changed.exit_code == 0, changed.output
    assert "due after 2 days" in changed.output and "09:00-17:00" in changed.output
    assert session.get(CareHome, home.id, populate_existing=True).chase_policy == {
        "stale_after": "48h",
        "hours": "09:00-17:00",
    }
    off = runner.invoke(args=["homes", "chase-policy", str(home.id), "--off"])
    assert "NOT chased" in off.output and session.get(CareHome, home.id, populate_existing=True).chase_due_at is None
    cleared = runner.invoke(args=["homes", "chase-policy", str(home.id), "--clear"])
    assert "Overrides: none" in cleared.output and "08:00-20:00" in cleared.output


def test_a_bad_chase_policy_is_refused_and_nothing_changes(runner, make_home):
    home = make_home()
    result = runner.invoke(args=["homes", "chase-policy", str(home.id), "--remind-every", "soon"])
    assert result.exit_code != 0 and "Not changed: remind_every='soon': expected a duration" in result.output
    assert session.get(CareHome, home.id, populate_existing=True).chase_policy is None


def test_a_localitys_escalation_contact_is_set_by_name_and_listed(runner, make_home):
    make_home(locality="West Cornwall")
    result = runner.invoke(args=["localities", "escalation", "West Cornwall", "07700 900500", "--name", "West hub"])
    assert result.exit_code == 0 and "escalations go to West hub +447700900500" in result.output
    assert "West hub +447700900500" in runner.invoke(args=["localities", "list"]).output
    bad = runner.invoke(args=["localities", "escalation", "West Cornwall", "12"])
    assert bad.exit_code != 0 and "not a possible phone number" in bad.output
    assert session.scalars(select(Locality)).one().escalation_phone == "+447700900500"


def test_a_token_for_one_home_is_created_by_the_homes_id(runner, make_home):
    home = make_home()
    result = runner.invoke(args=["tokens", "create", "--role", "coordinator", "--name", "Home system", "--home", "1"])
    assert result.exit_code == 0 and "for Trelawney House only" in result.output
    assert session.scalars(select(ApiToken)).one().home_id == home.id


def test_a_token_for_a_hospital_is_created_by_the_hospitals_id_or_exact_name(runner, coordinator):
    hospital = coordinator.hospital_id
    by_id = runner.invoke(args=["tokens", "create", "--role", "coordinator", "--name", "Ward A", "--hospital", "1"])
    assert by_id.exit_code == 0 and "holding for West Cornwall Hospital" in by_id.output
    by_name = runner.invoke(
        args=["tokens", "create", "--role", "coordinator", "--name", "Ward B", "--hospital", "West Cornwall Hospital"]
    )
    assert by_name.exit_code == 0, by_name.output
    assert session.scalars(select(ApiToken.hospital_id)).all() == [hospital, hospital]
    listed = runner.invoke(args=["tokens", "list"]).output.splitlines()
    assert all("hospital: West Cornwall Hospital" in line for line in listed) and len(listed) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--role", "coordinator", "--hospital", "West Cornwall"], "No hospital has id or name 'West Cornwall'"),
        (["--role", "coordinator", "--hospital", "9"], "No hospital has id or name '9'"),
        (["--role", "coordinator", "--hospital", "1", "--home", "1"], "--home or --hospital, not both"),
        (["--role", "admin", "--hospital", "1"], "--hospital is for coordinator tokens"),
    ],
)
def test_tokens_create_refuses_a_hospital_it_cannot_tie_the_token_to(runner, coordinator, make_home, extra, message):
    make_home()
    result = runner.invoke(args=["tokens", "create", "--name", "x", *extra])
    assert result.exit_code != 0 and message in result.output
    assert session.scalars(select(ApiToken)).all() == []


# ---- users and tokens --------------------------------------------------------------------------


def test_create_admin_on_an_empty_production_database_prints_a_one_use_invitation(make_app, environ):
    production = {**environ, "TRACKER_ENV": "production", "PUBLIC_BASE_URL": "https://beds.example.nhs.uk"}
    app = make_app(production, {"WTF_CSRF_ENABLED": False})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["users", "create-admin", "Ade@Example.nhs.uk", "--name", "Ade"])
        assert result.exit_code == 0, result.output
        link = result.output.strip().splitlines()[-1]
        assert link.startswith("https://beds.example.nhs.uk/invite/")
        user = session.scalars(select(User)).one()
        assert (user.email, user.role, user.active) == ("ade@example.nhs.uk", Role.ADMIN, True)
        assert session.scalars(select(AuditEvent.action)).all() == ["user.invite"]
    browser = app.test_client()
    path = link.removeprefix("https://beds.example.nhs.uk")
    chosen = {"password": "a long enough password", "again": "a long enough password"}
    assert browser.post(path, data=chosen).status_code == 302
    assert browser.get("/admin/").status_code == 200  # signed in, as an administrator
    assert app.test_client().get(path).status_code == 410  # used once


def test_create_admin_refuses_an_email_in_use_or_not_an_email(runner, coordinator):
    taken = runner.invoke(args=["users", "create-admin", coordinator.email.upper(), "--name", "X"])
    assert taken.exit_code != 0 and "already has an account" in taken.output
    bad = runner.invoke(args=["users", "create-admin", "not-an-address", "--name", "X"])
    assert bad.exit_code != 0 and "is not an email address" in bad.output
    assert len(session.scalars(select(User)).all()) == 1


def test_users_list_shows_who_can_sign_in(runner, coordinator):
    runner.invoke(args=["users", "create-admin", "ade@example.nhs.uk", "--name", "Ade"])
    lines = runner.invoke(args=["users", "list"]).output.splitlines()
    assert any("ade@example.nhs.uk" in line and "admin" in line and "invited" in line for line in lines)
    assert any(coordinator.email in line and "active" in line and "(West Cornwall Hospital)" in line for line in lines)


def test_users_disable_ends_their_sign_ins_at_once(runner, app, signed_in, coordinator):
    assert signed_in.get("/board").status_code == 200
    result = runner.invoke(args=["users", "disable", coordinator.email])
    assert result.exit_code == 0 and "can no longer sign in" in result.output
    assert signed_in.get("/board").status_code == 302
    assert session.scalars(select(SignIn)).all() == []
    assert session.scalars(select(AuditEvent.actor)).all() == ["command line"]


def test_users_disable_keeps_the_last_administrator(runner):
    runner.invoke(args=["users", "create-admin", "ade@example.nhs.uk", "--name", "Ade"])
    result = runner.invoke(args=["users", "disable", "ade@example.nhs.uk"])
    assert result.exit_code != 0 and "last active administrator" in result.output
    assert session.scalars(select(User)).one().active
    unknown = runner.invoke(args=["users", "disable", "nobody@example.nhs.uk"])
    assert unknown.exit_code != 0 and "No one has an account" in unknown.output


def test_tokens_list_shows_each_token_and_its_last_use_never_the_secret(runner, app, make_home):
    home = make_home()
    quiet = auth.create_token("Spare system", Role.ADMIN)
    used = auth.create_token("Home system", Role.COORDINATOR, home_id=home.id)
    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        assert app.test_client().get(f"/api/v1/homes/{home.id}", headers={"Authorization": f"Bearer {used}"}).json
    output = runner.invoke(args=["tokens", "list"]).output
    first, second = output.splitlines()
    assert "Spare system" in first and "admin" in first and "home: all" in first and "last used never" in first
    assert "hospital: -" in first
    assert "Home system" in second and "home: Trelawney House" in second and "last used 2026-11-24 10:00" in second
    hashes = session.scalars(select(ApiToken.token_hash)).all()
    assert not any(secret in output for secret in [quiet, used, quiet[4:12], used[4:12], *hashes])


def test_tokens_revoke_refuses_the_token_at_once_and_an_unknown_id_is_a_clear_error(runner, app, make_home):
    home = make_home()
    token = auth.create_token("Old system", Role.COORDINATOR)
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get(f"/api/v1/homes/{home.id}", headers=headers).status_code == 200
    assert runner.invoke(args=["tokens", "revoke", "1"]).exit_code == 0
    assert app.test_client().get(f"/api/v1/homes/{home.id}", headers=headers).status_code == 401
    assert "REVOKED" in runner.invoke(args=["tokens", "list"]).output
    missing = runner.invoke(args=["tokens", "revoke", "99"])
    assert missing.exit_code != 0 and "No token has id 99" in missing.output


# ---- the address printed links use -------------------------------------------------------------


def test_links_and_signed_test_requests_use_the_port_the_server_answers_on(make_app, environ, make_home):
    app = make_app({**environ, "PORT": "8000", "TWILIO_AUTH_TOKEN": "local-test-token"}, {"TESTING": True})
    with app.app_context():
        home = make_home()
        contacts.add_contact(home, "+447700900123", "Jo")
        session.commit()
        runner = app.test_cli_runner()
        assert runner.invoke(args=["homes", "link", "1"]).output.startswith("http://127.0.0.1:8000/h/")
        curl = runner.invoke(args=["twilio-curl", "/twilio/sms", "From=+447700900123", "Body=NUR 2"]).output
    words = shlex.split(curl)  # as the shell would run it
    url, signature = words[words.index("POST") + 1], words[words.index("-H") + 1].removeprefix("X-Twilio-Signature: ")
    fields = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "--data-urlencode")
    response = app.test_client().post(
        url.removeprefix("http://127.0.0.1:8000"), base_url="http://127.0.0.1:8000", data=fields,
        headers={"X-Twilio-Signature": signature},
    )  # fmt: skip
    assert response.status_code == 200 and "NUR" in response.get_data(as_text=True)
