"""Sending texts through Twilio's SDK: what is stored for each answer Twilio can give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tracker.db import session
from tracker.managers import contacts
from tracker.models import Contact, OutboundMessage, OutboundState
from tracker.outbox import ATTEMPT_TIMEOUT, RETRY_AFTER, queue, send_sms, sweep

from .twilio_fake import QUEUED, TWILIO_ENV, using


@pytest.fixture
def app(make_app, environ):
    app = make_app({**environ, **TWILIO_ENV, "PUBLIC_BASE_URL": "https://beds.example.nhs.uk"}, {"TESTING": True})
    with app.app_context():
        yield app


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


# ---- retries: what Twilio did not act on is tried again; what it may have acted on never is -----

BUSY = (429, {"code": 20429, "message": "Too Many Requests", "status": 429})
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def stored(message_id: int) -> OutboundMessage:
    return session.get(OutboundMessage, message_id, populate_existing=True)


def test_a_send_twilio_refused_as_busy_is_retried_after_a_backoff(app):
    fake = using(app, [BUSY, QUEUED])
    message = send_sms("+447700900123", "Hi", purpose="reminder", now=START)
    assert message.state == OutboundState.PENDING and message.next_attempt_at == START + RETRY_AFTER[0]
    assert sweep(START + RETRY_AFTER[0] - timedelta(seconds=1)) == (0, 0)  # not before its time
    assert sweep(START + RETRY_AFTER[0]) == (1, 0)
    assert (stored(message.id).state, stored(message.id).attempts) == (OutboundState.QUEUED, 2)
    assert sweep(START + timedelta(days=1)) == (0, 0) and len(fake.requests) == 2  # never again


def test_a_connection_that_was_refused_is_retried(app):
    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "Connection refused")))
    fake = using(app, [refused, QUEUED])
    message = send_sms("+447700900123", "Hi", purpose="reminder", now=START)
    assert message.state == OutboundState.PENDING and "could not reach Twilio" in message.error
    sweep(START + RETRY_AFTER[0])
    assert stored(message.id).state == OutboundState.QUEUED and len(fake.requests) == 2


def test_a_send_still_refused_after_the_last_retry_is_failed_with_the_reason(app):
    fake = using(app, BUSY)
    message = send_sms("+447700900123", "Hi", purpose="reminder", now=START)
    moment = START
    for wait in RETRY_AFTER:
        moment += wait
        sweep(moment)
    final = stored(message.id)
    assert final.state == OutboundState.FAILED and final.error.startswith(f"gave up after {len(RETRY_AFTER) + 1}")
    assert len(fake.requests) == len(RETRY_AFTER) + 1


def test_an_attempt_cut_off_by_a_crash_is_marked_uncertain_and_never_repeated(app):
    class Killed(BaseException):
        """The process dying while the request is in flight."""

    fake = using(app, [Killed(), QUEUED])
    with pytest.raises(Killed):
        send_sms("+447700900123", "Hi", purpose="reminder", now=START)
    session.remove()  # what the dead process had not committed is gone
    (message,) = session.scalars(select(OutboundMessage)).all()
    assert message.state == OutboundState.PENDING and message.attempts == 1
    assert sweep(START + ATTEMPT_TIMEOUT - timedelta(seconds=1)) == (0, 0)
    assert sweep(START + ATTEMPT_TIMEOUT) == (0, 1)
    assert stored(message.id).state == OutboundState.UNCERTAIN and "may have gone" in stored(message.id).error
    sweep(START + timedelta(days=1))
    assert len(fake.requests) == 1


def test_a_stored_message_never_attempted_is_sent_by_the_next_sweep(app):
    fake = using(app, QUEUED)
    message = queue("+447700900123", "Hi", purpose="reminder", now=START)
    session.commit()  # ...and the process died before delivering it
    assert sweep(START + timedelta(minutes=1)) == (1, 0)
    assert stored(message.id).state == OutboundState.QUEUED and len(fake.requests) == 1
