"""The admin page that imports a CQC directory file by upload."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker.auth import hash_password
from tracker.db import session
from tracker.models import AuditEvent, CareHome, Role, User

from .conftest import PASSWORD
from .test_cqc_import import zip_bomb

WEEKLY = Path(__file__).parent / "data" / "cqc_directory_weekly.csv"


@pytest.fixture
def admin(client, make_home):
    make_home(name="Existing Home")  # the tracker's one region, so no region need be given
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


def upload(client, data: bytes = b"", name: str = "cqc_directory_weekly.csv", **fields):
    data = data or WEEKLY.read_bytes()
    form = {"file": (io.BytesIO(data), name), "local_authority": "Cornwall", **fields}  # a field left out is blank
    return client.post("/admin/import", data=form, content_type="multipart/form-data")


def count(model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_the_import_page_is_for_admins_only(signed_in, app):
    assert signed_in.get("/admin/import").status_code == 403
    assert upload(signed_in).status_code == 403
    assert app.test_client().get("/admin/import").status_code == 302  # to the sign-in page
    assert count(CareHome) == 0


def test_the_admin_pages_link_to_the_import(admin):
    assert 'href="/admin/import"' in admin.get("/admin/").get_data(as_text=True)
    page = admin.get("/admin/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page


def test_an_admin_uploads_a_file_and_sees_the_summary(admin):
    response = upload(admin)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Imported cqc_directory_weekly.csv (CQC care directory (weekly)): 7 created" in page
    assert "<li>Chy Lowen Care Home</li>" in page
    assert "line 11: the postcode &#39;TR26 ZZZ&#39; is not a UK postcode" in page
    home = session.scalars(select(CareHome).where(CareHome.cqc_location_id == "1-1000000001")).one()
    assert home.locality.name == "Cornwall"
    event = session.scalars(select(AuditEvent).where(AuditEvent.target_name == home.name)).one()
    assert event.action == "home.import" and event.actor == "signed-in user" and event.user_id
    assert event.summary == "created from CQC file cqc_directory_weekly.csv, line 6"


def test_checking_only_saves_nothing(admin):
    page = upload(admin, dry_run="y").get_data(as_text=True)
    assert "nothing was saved: it would give 7 created" in page
    assert count(CareHome) == 1 and count(AuditEvent) == 0


def test_a_file_that_is_not_a_cqc_directory_is_explained_and_saves_nothing(admin):
    page = upload(admin, b"Home,Beds\nChy Lowen,4\n", "beds.csv").get_data(as_text=True)
    assert "Nothing was saved yet" in page and "This is not a CQC directory file" in page
    assert count(CareHome) == 1


def test_no_file_is_asked_for(admin):
    page = admin.post("/admin/import", data={"local_authority": ""}).get_data(as_text=True)
    assert "Choose the CQC file to import." in page


def test_a_file_over_the_upload_limit_is_refused_with_a_way_forward(admin, app):
    # Under the test client's 500 kB spooling threshold: a larger body is a temporary file it never closes.
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    response = upload(admin, b"x" * 300 * 1024)
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "larger than 0.25 MB" in page and "import-cqc FILE" in page and count(CareHome) == 1


def test_the_upload_page_refuses_a_zip_bomb_and_changes_nothing(admin, tmp_path):
    bomb = zip_bomb(tmp_path / "directory.xlsx", unpacked_mb=40).read_bytes()
    response = upload(admin, bomb, "directory.xlsx")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "This file is not a spreadsheet as CQC publishes them" in page
    assert "Nothing was imported." in page
    assert count(CareHome) == 1 and count(AuditEvent) == 0  # the home the fixture made, and nothing more


def test_the_upload_page_refuses_a_spreadsheet_past_the_unpacked_limit(admin, app, tmp_path):
    app.config["CQC_MAX_UNPACKED_MB"] = 5
    response = upload(admin, zip_bomb(tmp_path / "directory.xlsx", unpacked_mb=8).read_bytes(), "directory.xlsx")
    page = response.get_data(as_text=True)
    assert "This spreadsheet unpacks to 8 MB, more than the 5 MB the import reads (CQC_MAX_UNPACKED_MB)" in page
    assert count(CareHome) == 1 and count(AuditEvent) == 0
