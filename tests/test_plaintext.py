"""The one rule for stored text (tracker/plaintext.py), and that every channel applies it: the managers'
form, text messages, keypad calls, the API, the admin pages and the CQC import. Control and other
non-printing characters are removed; whitespace becomes one space."""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import select

from tracker.auth import create_token, hash_password
from tracker.db import session
from tracker.managers import contacts, links
from tracker.models import CareHome, Contact, InboundMessage, Role, Update, User
from tracker.plaintext import NON_PRINTING, clean

from .conftest import PASSWORD
from .signed import MANAGER, WEBHOOK_ENV, Call, managed_home, text

NASTY = "\x00\x01\x07\x1b\x7f\x9f\u200b\u200e\u202e\ufeff\ufffe\ue000"  # none of them whitespace


def printable(value: str) -> bool:
    return not any(unicodedata.category(c) in NON_PRINTING for c in value)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Norovirus\x00 outbreak", "Norovirus outbreak"),
        ("  flu\tand\r\nCovid\u2028ward\x85 2  ", "flu and Covid ward 2"),
        ("Piran\u200b’s\u202e House\ufeff", "Piran’s House"),
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),
        ("Cafe\u0301 Court", "Café Court"),  # an accent typed as its own mark: one character, GSM-7
        ("no\u00a0break", "no break"),
        ("😷 isolating 👍🏽", "😷 isolating 👍🏽"),
        ("\ud800lone surrogate", "lone surrogate"),
        (NASTY, ""),
    ],
)
def test_clean_keeps_what_prints_and_makes_whitespace_one_space(raw, kept):
    assert clean(raw) == kept


@pytest.fixture
def app(make_app, environ):
    app = make_app({**environ, **WEBHOOK_ENV}, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        yield app


@pytest.fixture
def home(make_home):
    return managed_home(make_home)


def stored(home) -> CareHome:
    return session.get(CareHome, home.id, populate_existing=True)


def test_the_managers_form_stores_a_reason_and_note_without_control_characters(client, home):
    response = client.post(
        "/h/" + links.link_token(home),
        data={
            "kind-NUR": "2", "kind-RES": "0", "admissions": "closed", "closed_reason": f"Noro{NASTY}virus\tbay 2",
            "note": f"Hoist\x00 available\r\nask for Jo{NASTY}", "action": "save",
        },
    )  # fmt: skip
    assert response.status_code == 303
    saved = stored(home)
    assert (saved.closed_reason, saved.note) == ("Norovirus bay 2", "Hoist available ask for Jo")
    (row,) = session.scalars(select(Update)).all()
    assert row.state["closed_reason"] == "Norovirus bay 2"


def test_a_text_message_is_stored_and_understood_clean(client, home):
    text(client, "NUR 1 RES 0")
    reply = text(client, f"CLOSED\x00 flu\u200b out{NASTY}break\x1b")
    assert "Closed: flu outbreak." in reply
    ET.fromstring(reply)
    log = session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert log.body == "CLOSED flu outbreak" and printable(log.reply)
    assert stored(home).closed_reason == "flu outbreak"


def test_a_reason_stored_before_the_rule_never_breaks_a_reply(client, home):
    text(client, "NUR 1 RES 0")
    session.get(CareHome, home.id).admissions_open = False
    session.get(CareHome, home.id).closed_reason = "flu\x01\x0b outbreak"  # as an older version could store it
    session.commit()
    reply = text(client, "STATUS")
    assert (
        ET.fromstring(reply).find("Message").text.endswith("Closed: flu outbreak. Confirmed just now by text message.")
    )


def test_a_keypad_call_with_control_characters_gets_well_formed_twiml(client, home, make_home):
    contacts.add_contact(make_home(name="Penmere Lodge"), MANAGER)
    home.name = "Trelawney\x07 House"  # stored before the rule: the menu speaks it, but not into the XML
    session.commit()
    twiml = Call(client).post(digits="\x001\x1b").twiml
    assert "For Trelawney House, press 2." in twiml
    assert printable(twiml) and ET.fromstring(twiml).tag == "Response"


def test_the_api_stores_a_reason_and_note_without_control_characters(client, home):
    token = create_token("Treliske hub system", Role.COORDINATOR)
    response = client.post(
        f"/api/v1/homes/{home.id}/updates",
        json={"counts": {"NUR": 1}, "admissions": "closed", "closed_reason": "Flu\u0000\ud800 ward", "note": "a\tb"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.json
    assert response.json["state"]["closed_reason"] == "Flu ward" and response.json["state"]["note"] == "a b"
    assert stored(home).closed_reason == "Flu ward"


def test_the_admin_pages_store_names_without_control_characters(client, home):
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    form = {
        "name": f"Chy\x00 Lowen{NASTY}", "address": "1 Alverton\tRoad", "postcode": "TR18 4TG", "phone": "",
        "locality_id": home.locality_id, "capacity-NUR": "30", "listed_publicly": "y",
    }  # fmt: skip
    assert client.post(f"/admin/homes/{home.id}", data=form).status_code == 302
    assert (stored(home).name, stored(home).address) == ("Chy Lowen", "1 Alverton Road")
    client.post(f"/admin/homes/{home.id}/contacts", data={"phone": "07700 900555", "name": "Sam\x1b[0m\u202e"})
    assert session.scalars(select(Contact).where(Contact.phone == "+447700900555")).one().name == "Sam[0m"


def test_the_cqc_import_stores_names_without_control_characters(runner, tmp_path):
    weekly = Path(__file__).parent / "data" / "cqc_directory_weekly.csv"
    path = tmp_path / "weekly.csv"
    path.write_text(weekly.read_text().replace("Penrose Court,", "Penrose\x00 Court\u200b\x1b,", 1))
    result = runner.invoke(args=["import-cqc", str(path), "--local-authority", "Cornwall", "--region", "South West"])
    assert result.exit_code == 0, result.output
    names = set(session.scalars(select(CareHome.name)))
    assert "Penrose Court" in names and all(printable(n) for n in names)
