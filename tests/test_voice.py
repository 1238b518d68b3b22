"""POST /twilio/voice: a registered caller keys the beds free for each kind, hears them read back,
and presses 1 to record them through the write path."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tracker.db import session
from tracker.managers import contacts
from tracker.models import Update

from .signed import MANAGER, WEBHOOK_ENV, Call, managed_home, signed_post


@pytest.fixture
def app(make_app, environ):
    app = make_app({**environ, **WEBHOOK_ENV}, {"TESTING": True})
    with app.app_context():
        yield app


@pytest.fixture
def home(make_home):
    return managed_home(make_home)


def test_a_caller_keys_each_kind_confirms_and_the_board_is_updated(client, home):
    call = Call(client).post()
    assert 'input="dtmf"' in call.twiml and "Nursing beds free: key the number, then hash." in call.says()
    assert "Residential beds free" in call.key("2").says()
    assert "You keyed nursing 2, residential 1. Press 1 to record this" in call.key("1").says()
    assert "Recorded for Trelawney House: nursing 2, residential 1." in call.key("1").says()
    assert "<Hangup />" in call.twiml
    (row,) = session.scalars(select(Update)).all()
    assert row.channel == "voice" and row.state["kinds"]["NUR"]["available"] == 2
    assert row.state["kinds"]["RES"]["available"] == 1


def test_too_many_beds_is_asked_again(client, home):
    call = Call(client).post().key("41")
    assert "more than your 40 registered Nursing beds" in call.says()
    assert "Residential beds free" in call.key("3").says()


def test_pressing_2_starts_again_and_records_nothing(client, home):
    call = Call(client).post().key("2").key("1")
    assert "Nursing beds free" in call.key("2").says()
    assert session.scalars(select(Update)).all() == []


def test_an_unknown_caller_hears_whom_to_contact(client, home):
    call = Call(client, caller="+447700900555").post()
    assert "not registered with the care home bed tracker" in call.says() and "<Hangup />" in call.twiml


def test_a_caller_for_several_homes_chooses_one(client, home, make_home):
    other = make_home(name="Penmere Lodge", offers={"RES": 30})
    contacts.add_contact(other, MANAGER)
    session.commit()
    call = Call(client).post()
    assert "For Penmere Lodge, press 1. For Trelawney House, press 2." in call.says()
    assert "Residential beds free" in call.key("1").says()
    call.key("4").key("1")
    assert session.scalars(select(Update)).one().home_id == other.id


def test_a_forged_call_is_refused(client, home):
    assert signed_post(client, "/twilio/voice", {"From": MANAGER, "Digits": "1"}, token="forged").status_code == 403


@pytest.mark.parametrize(
    ("digits", "heard"),
    [
        ("9" * 5000, "That is more than your 40 registered Nursing beds. Please try again."),
        ("١٢", "Sorry, I did not get a number. Nursing beds free: key the number, then hash."),
    ],
    ids=["5000 digits", "Arabic-Indic digits"],
)
def test_a_number_no_keypad_sends_is_asked_again_and_records_nothing(client, home, digits, heard):
    call = Call(client).post().key(digits)
    assert heard in call.says() and "stage=count" in call.twiml
    assert session.scalars(select(Update)).all() == []


def test_leading_zeros_are_only_zeros(client, home):
    call = Call(client).post().key("0" * 4400 + "3")
    assert "Residential beds free" in call.says()
    assert "You keyed nursing 3, residential 1." in call.key("1").says()


def test_a_home_menu_choice_of_thousands_of_digits_is_asked_again(client, home, make_home):
    other = make_home(name="Penmere Lodge", offers={"RES": 30})
    contacts.add_contact(other, MANAGER)
    session.commit()
    call = Call(client).post().key("1" * 5000)
    assert "Which home are you calling about?" in call.says()
