"""Sending texts through Twilio's SDK: what is stored for each answer Twilio can give."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from sqlalchemy import select
from twilio.http import HttpClient
from twilio.http.response import Response

from tracker import contacts
from tracker.db import session
from tracker.messaging import send_sms
from tracker.models import Contact, OutboundState

SID = "AC" + "0" * 32


class FakeTwilio(HttpClient):
    """Answers the Messages API as Twilio does, and remembers what it was asked."""

    def __init__(self, answer):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=False)
        self.answer, self.requests = answer, []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, **_):
        self.requests.append({"method": method, "url": url, "data": data})
        if isinstance(self.answer, Exception):
            raise self.answer
        status, body = self.answer
        return Response(status, json.dumps(body))


@pytest.fixture
def app(make_app, environ):
    twilio = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+447700900999"}
    app = make_app({**environ, **twilio, "PUBLIC_BASE_URL": "https://beds.example.nhs.uk"}, {"TESTING": True})
    with app.app_context():
        yield app


def using(app, answer) -> FakeTwilio:
    app.extensions["twilio_http_client"] = fake = FakeTwilio(answer)
    return fake


def test_a_sent_text_keeps_twilios_id_and_first_state(app):
    fake = using(app, (201, {"sid": "SMabc", "status": "queued", "to": "+447700900123", "body": "Hi"}))
    message = send_sms("+447700900123", "Hi", purpose="reminder")
    assert (message.state, message.twilio_sid) == (OutboundState.QUEUED, "SMabc")
    (request,) = fake.requests
    assert request["data"]["StatusCallback"] == "https://beds.example.nhs.uk/twilio/status"
    assert request["data"]["From"] == "+447700900999" and request["data"]["To"] == "+447700900123"


def test_an_invalid_number_fails_and_flags_the_contact(app, make_home):
    contacts.add_contact(make_home(), "+447700900123")
    session.commit()
    using(app, (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}))
    message = send_sms("+447700900123", "Hi", purpose="reminder")
    assert (message.state, message.error_code) == (OutboundState.FAILED, 21211)
    assert session.scalars(select(Contact)).one().failure == "not a valid phone number"


def test_a_number_that_replied_stop_is_flagged_as_opted_out(app, make_home):
    contacts.add_contact(make_home(), "+447700900123")
    session.commit()
    using(app, (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}))
    assert send_sms("+447700900123", "Hi", purpose="reminder").state == OutboundState.FAILED
    assert session.scalars(select(Contact)).one().opted_out_at is not None


def test_a_timeout_is_marked_uncertain_not_resent(app):
    fake = using(app, requests.ReadTimeout("read timed out"))
    message = send_sms("+447700900123", "Hi", purpose="reminder")
    assert message.state == OutboundState.UNCERTAIN and "ReadTimeout" in message.error
    assert len(fake.requests) == 1
