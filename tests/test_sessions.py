"""Sessions that end: signing out, disabling, a new password and revoking a token end every copy of
the cookies and every board connection they opened; sign-ins expire; SECRET_KEY can be rotated."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import delete, select

from tracker import auth
from tracker.coordinators import board
from tracker.db import session
from tracker.extensions import socketio
from tracker.managers import links
from tracker.models import ApiToken, Channel, Role, SignIn, User, utcnow
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD, SECRET

NEW_PASSWORD = "a brand new long password"


def sign_in(app, email, password=PASSWORD):
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": password}).status_code == 302
    return client


def copy_of(app, client, *names):
    """Another browser holding copies of `client`'s cookies, as a thief or a backup would."""
    other = app.test_client()
    for name in names:
        other.set_cookie(name, client.get_cookie(name).value)
    return other


def opens_board(client) -> bool:
    response = client.get("/board")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def board_of(app, client):
    connection = socketio.test_client(app, namespace="/board", flask_test_client=client)
    assert connection.is_connected("/board")
    connection.get_received("/board")
    return connection


def watchers() -> list[str]:
    """The connections the server would send England's next update to."""
    return [sid for sid, _ in socketio.server.manager.get_participants("/board", board.ENGLAND)]


@pytest.fixture
def admin(app, coordinator):
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=auth.hash_password(PASSWORD),
                     role=Role.ADMIN))  # fmt: skip
    session.commit()
    return sign_in(app, "admin@example.nhs.uk")


def test_copies_of_the_session_and_remember_me_cookies_are_refused_after_sign_out(app, coordinator):
    browser = sign_in(app, coordinator.email)
    session_copy = copy_of(app, browser, "session")
    remember_copy = copy_of(app, browser, "remember_token")
    assert opens_board(session_copy) and opens_board(remember_copy)  # copies work while signed in

    browser.post("/logout")

    assert not opens_board(browser)
    assert not opens_board(copy_of(app, session_copy, "session"))
    assert not opens_board(copy_of(app, remember_copy, "remember_token"))


def test_every_sign_in_has_its_own_remember_me_cookie_and_does_not_end_the_others(app, coordinator):
    desk, ward = sign_in(app, coordinator.email), sign_in(app, coordinator.email)
    assert desk.get_cookie("remember_token").value != ward.get_cookie("remember_token").value
    assert opens_board(desk) and opens_board(ward)
    assert "|" in desk.get_cookie("remember_token").value  # Flask-Login's signed form: token|digest
    assert str(coordinator.id) != desk.get_cookie("remember_token").value.split("|")[0]


def test_signing_out_ends_every_sign_in_of_that_user_and_closes_their_boards(app, coordinator):
    desk, ward = sign_in(app, coordinator.email), sign_in(app, coordinator.email)
    ward_board = board_of(app, ward)
    desk.post("/logout")
    assert not opens_board(ward)
    assert not ward_board.is_connected("/board") and watchers() == []
    assert session.scalars(select(SignIn)).all() == []


def test_remember_me_cookies_are_secure_samesite_and_bounded(app, make_app, environ, coordinator):
    production_env = {**environ, "TRACKER_ENV": "production", "PUBLIC_BASE_URL": "https://beds.example.nhs.uk"}
    production = make_app(production_env, {"WTF_CSRF_ENABLED": False})
    client = production.test_client()
    response = client.post("/login", data={"email": coordinator.email, "password": PASSWORD})
    assert response.status_code == 302
    remember = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    assert "Secure" in remember and "SameSite=Lax" in remember and "HttpOnly" in remember
    assert production.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)


def test_a_sign_in_ends_after_its_lifetime_whatever_the_cookie_says(app, coordinator):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        browser = sign_in(app, coordinator.email)
    with time_machine.travel(start + timedelta(days=13, hours=23), tick=False):
        assert opens_board(browser)
    with time_machine.travel(start + timedelta(days=14), tick=False):
        assert not opens_board(copy_of(app, browser, "remember_token"))
        assert not opens_board(browser)


def test_a_new_password_ends_the_other_sign_ins_and_keeps_this_one(app, coordinator):
    here, elsewhere = sign_in(app, coordinator.email), sign_in(app, coordinator.email)
    elsewhere_board, here_board = board_of(app, elsewhere), board_of(app, here)

    new = {"password": NEW_PASSWORD, "again": NEW_PASSWORD}
    wrong = here.post("/account/password", data={"current": "guess", **new})
    assert wrong.status_code == 400 and "not your current password" in wrong.get_data(as_text=True)
    assert opens_board(elsewhere)

    changed = here.post("/account/password", data={"current": PASSWORD, **new})
    assert changed.status_code == 302
    assert opens_board(here) and here_board.is_connected("/board")
    assert not opens_board(elsewhere) and not elsewhere_board.is_connected("/board")
    assert app.test_client().post("/login", data={"email": coordinator.email, "password": PASSWORD}).status_code == 401
    assert opens_board(sign_in(app, coordinator.email, NEW_PASSWORD))


def test_a_disabled_users_open_board_is_disconnected_and_gets_no_further_update(app, admin, coordinator, make_home):
    home = make_home()
    theirs = sign_in(app, coordinator.email)
    their_board = board_of(app, theirs)
    admins_board = board_of(app, admin)

    admin.post(f"/admin/users/{coordinator.id}/active", data={"active": "0"})

    assert not their_board.is_connected("/board")
    record_update(home.id, Change(counts={"NUR": 2}, note="private to the board"), channel=Channel.WEB, actor="t")
    assert len(watchers()) == 1  # the admin's board only
    assert [e["name"] for e in admins_board.get_received("/board")] == ["update"]
    assert not their_board.queue  # nothing arrived after the disconnect, the note included
    assert not opens_board(theirs)


def test_a_board_whose_sign_in_ended_in_another_process_is_disconnected_at_the_next_tick(app, coordinator):
    """No message queue (the embedded default) and the user disabled by `flask users disable` in
    another process: the tick finds the sign-in gone."""
    their_board = board_of(app, sign_in(app, coordinator.email))
    session.execute(delete(SignIn))  # as another process would
    session.commit()
    board.tick()
    assert not their_board.is_connected("/board") and watchers() == []


def test_a_replay_asked_for_after_the_sign_in_ended_disconnects_instead(app, coordinator, make_home):
    home = make_home()
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t")
    their_board = board_of(app, sign_in(app, coordinator.email))
    session.execute(delete(SignIn))
    session.commit()
    their_board.emit("replay", {"since": 0}, namespace="/board")
    assert not their_board.is_connected("/board") and not their_board.queue


def test_a_revoked_token_is_refused_at_once_and_its_board_disconnected(app, runner, make_home):
    home = make_home()
    token = auth.create_token("Hospital system", Role.COORDINATOR)
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get(f"/api/v1/homes/{home.id}", headers=headers).status_code == 200
    machine = socketio.test_client(app, namespace="/board", auth={"token": token})
    assert machine.is_connected("/board")

    token_id = session.scalars(select(ApiToken.id)).one()
    result = runner.invoke(args=["tokens", "revoke", str(token_id)])

    assert result.exit_code == 0 and "refused from now on" in result.output
    assert client.get(f"/api/v1/homes/{home.id}", headers=headers).status_code == 401
    assert not machine.is_connected("/board") and watchers() == []
    assert not socketio.test_client(app, namespace="/board", auth={"token": token}).is_connected("/board")


# ---- rotating SECRET_KEY ------------------------------------------------------------------------

OLD_KEY = "the-previous-secret-key-long-enough-for-production"


def test_form_links_signed_with_the_previous_key_work_while_it_is_a_fallback(app, make_app, environ, make_home):
    home = make_home()
    old = make_app({**environ, "SECRET_KEY": OLD_KEY}, {"TESTING": True})
    with old.app_context():
        old_link = "/h/" + links.link_token(home)
    rotated = make_app({**environ, "SECRET_KEY_FALLBACKS": f"some-older-key, {OLD_KEY}"}, {"TESTING": True})
    assert rotated.test_client().get(old_link).status_code == 200
    assert app.test_client().get(old_link).status_code == 404  # SECRET_KEY alone: not a link of ours
    with rotated.app_context():
        new_link = "/h/" + links.link_token(home)
    assert new_link != old_link and app.test_client().get(new_link).status_code == 200  # signed with SECRET_KEY


def test_a_session_signed_with_the_previous_key_still_opens_the_board(app, make_app, environ, coordinator):
    old = make_app({**environ, "SECRET_KEY": OLD_KEY}, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    browser = sign_in(old, coordinator.email)
    rotated = make_app({**environ, "SECRET_KEY_FALLBACKS": OLD_KEY}, {"TESTING": True})
    assert environ["SECRET_KEY"] == SECRET
    assert opens_board(copy_of(rotated, browser, "session"))
    assert not opens_board(copy_of(app, browser, "session"))  # without the fallback it is a stranger's
