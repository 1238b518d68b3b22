"""CSRF switched on, as in production: a form posted without its token changes nothing; the token
from the page works; the API, which takes bearer tokens and no cookies, is not affected."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tracker.auth import create_token, hash_password
from tracker.db import session
from tracker.models import AuditEvent, CareHome, Role, Update, User

from .conftest import PASSWORD
from .test_onboarding import FORM_OK

ADMIN = {"email": "admin@example.nhs.uk", "password": PASSWORD}


@pytest.fixture
def app(make_app, environ):
    """CSRF on, and a client that sends only what the test gives it (the shared one adds the token)."""
    app = make_app(environ, {"TESTING": True})
    assert app.config["WTF_CSRF_ENABLED"] is not False
    with app.app_context():
        yield app


def csrf_token(http, path: str) -> str:
    """The token a browser would submit: read from the form on the page, as a person's browser has it."""
    page = http.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


@pytest.fixture
def admin(client, make_home):
    make_home(name="Existing Home")  # gives a locality to choose
    session.add(User(email=ADMIN["email"], name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    signed_in = client.post("/login", data={**ADMIN, "csrf_token": csrf_token(client, "/login")})
    assert signed_in.status_code == 302
    return client


def homes() -> int:
    return session.scalar(select(func.count()).select_from(CareHome))


def test_signing_in_without_the_forms_token_is_refused(client, make_home):
    session.add(User(email=ADMIN["email"], name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    refused = client.post("/login", data=ADMIN)
    assert refused.status_code == 400 and "This page had expired" in refused.get_data(as_text=True)
    assert client.get("/admin/homes").status_code == 302  # still signed out


def test_an_admin_post_without_a_csrf_token_is_refused_and_changes_nothing(admin):
    locality_id = session.scalars(select(CareHome)).one().locality_id
    before = homes(), session.scalar(select(func.count()).select_from(AuditEvent))
    refused = admin.post("/admin/homes/new", data={**FORM_OK, "locality_id": locality_id})
    assert refused.status_code == 400 and "This page had expired" in refused.get_data(as_text=True)
    forged = admin.post("/admin/homes/new", data={**FORM_OK, "locality_id": locality_id, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert (homes(), session.scalar(select(func.count()).select_from(AuditEvent))) == before


def test_an_admin_post_with_the_token_from_the_page_works(admin):
    locality_id = session.scalars(select(CareHome)).one().locality_id
    token = csrf_token(admin, "/admin/homes/new")
    created = admin.post("/admin/homes/new", data={**FORM_OK, "locality_id": locality_id, "csrf_token": token})
    assert created.status_code == 302
    assert session.scalars(select(CareHome).where(CareHome.name == "Chy Lowen")).one().offer("NUR").capacity == 30


def test_the_api_reads_and_records_with_bearer_tokens_while_csrf_is_on(client, make_home):
    home = make_home()
    hub = {"Authorization": f"Bearer {create_token('Treliske hub system', Role.COORDINATOR)}"}
    assert client.get("/api/v1/homes", headers=hub).status_code == 200
    recorded = client.post(f"/api/v1/homes/{home.id}/updates", json={"counts": {"NUR": 2}}, headers=hub)
    assert recorded.status_code == 201 and recorded.json["state"]["kinds"]["NUR"]["available"] == 2
    assert len(session.scalars(select(Update)).all()) == 1
