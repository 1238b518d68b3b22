"""Outbound text messages: one sender, two backends (Twilio, or the offline Outbox).

Every message is stored before it is handed to a backend and keeps its state afterwards, so an
admin can see what was sent, what failed and why. A message is attempted only after a committed
claim, so however many processes deliver, each attempt happens once; a refusal Twilio did not act
on is retried with backoff, and an attempt whose outcome is unknown is never repeated. Twilio's
status callbacks move the state on (sms.status_callback); a state only ever moves forward.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import requests
from flask import current_app
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from tracker.db import session
from tracker.models import Contact, OutboundMessage, OutboundState, utcnow
from tracker.observability import mask_phone

log = logging.getLogger(__name__)

# Twilio error codes that mean the number will never take a text from us.
OPTED_OUT = 21610  # the recipient replied STOP: never text them again until they reply START
PERMANENT = {21211: "not a valid phone number", 21614: "not a mobile number", 30005: "unknown or inactive number",
             30006: "a landline or unreachable carrier", 21408: "a country we may not text"}  # fmt: skip

RANK = {
    OutboundState.PENDING: 0,
    OutboundState.OUTBOX: 1,
    OutboundState.UNCERTAIN: 1,
    OutboundState.ACCEPTED: 2,
    OutboundState.QUEUED: 3,
    OutboundState.SENDING: 4,
    OutboundState.SENT: 5,
    OutboundState.DELIVERED: 6,
    OutboundState.UNDELIVERED: 6,
    OutboundState.FAILED: 6,
}


# Twilio refused the request without acting on it: too many requests, or the API briefly down.
RETRYABLE_STATUS = {429, 503}
# Waits before the 2nd, 3rd... attempt of a text Twilio did not take (busy, unreachable).
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
# An attempt still without an outcome this long after it began was cut off (the process died).
ATTEMPT_TIMEOUT = timedelta(minutes=10)
CUT_OFF = "the sender stopped during the attempt: the text may have gone, so it is not sent again"
HTTP_TIMEOUT_S = 30  # the SDK's default is to wait for ever


def queue(to: str, body: str, *, purpose: str, home_id: int | None = None, key: str | None = None, now: datetime):
    """Store a message, due for delivery now. The caller commits: with the work that decided to send
    it, so deciding and storing happen together or not at all. `key` makes it once-only."""
    message = OutboundMessage(
        to=to, body=body, purpose=purpose, home_id=home_id, dedupe_key=key, state=OutboundState.PENDING,
        next_attempt_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(message)
    return message


def send_sms(to: str, body: str, *, purpose: str, home_id: int | None = None, now: datetime | None = None):
    """Store the message (kept even if the process dies during the send), then deliver it."""
    message = queue(to, body, purpose=purpose, home_id=home_id, now=now or utcnow())
    session.commit()
    deliver(message.id, now=now)
    return message


def deliver(message_id: int, *, now: datetime | None = None) -> bool:
    """Make one attempt at a due message; False when it was not due (another process took it).

    The attempt is claimed and committed before the request leaves: a process that dies during the
    request leaves it claimed, and sweep() then marks it uncertain rather than sending it again.
    """
    now = now or utcnow()
    claimed = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.state == OutboundState.PENDING,
            OutboundMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=None, attempts=OutboundMessage.attempts + 1, attempted_at=now)
    ).rowcount
    session.commit()
    if not claimed:
        return False
    message = session.get(OutboundMessage, message_id, populate_existing=True)
    if current_app.config["SMS_BACKEND"] == "twilio":
        _send_with_twilio(message, now)
    else:
        message.state = OutboundState.OUTBOX
    message.updated_at = now
    session.commit()
    log_state(message)
    return True


def log_state(message: OutboundMessage) -> None:
    """One log line per state a text reaches: never its body, and its number masked."""
    log.info(
        "text state",
        extra={
            "text_id": message.id,
            "state": str(message.state),
            "purpose": message.purpose,
            "to": mask_phone(message.to),
            "attempts": message.attempts,
            "error_code": message.error_code,
        },
    )


def sweep(now: datetime | None = None) -> tuple[int, int]:
    """One pass over the outbox: attempt every due message, and mark attempts cut off by a crash as
    uncertain. Returns (attempted, marked uncertain)."""
    now = now or utcnow()
    cut_off = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.state == OutboundState.PENDING,
            OutboundMessage.next_attempt_at.is_(None),
            OutboundMessage.attempted_at <= now - ATTEMPT_TIMEOUT,
        )
        .values(state=OutboundState.UNCERTAIN, error=CUT_OFF, updated_at=now)
    ).rowcount
    session.commit()
    if cut_off:
        log.warning("texts cut off mid-send marked uncertain", extra={"count": cut_off})
    due = session.scalars(
        select(OutboundMessage.id)
        .where(OutboundMessage.state == OutboundState.PENDING, OutboundMessage.next_attempt_at <= now)
        .order_by(OutboundMessage.next_attempt_at)
    ).all()
    attempted = sum(deliver(message_id, now=now) for message_id in due)
    return attempted, cut_off


def _send_with_twilio(message: OutboundMessage, now: datetime) -> None:
    config = current_app.config
    # Tests hand in an HTTP client that answers as Twilio's API would; production uses the SDK's own.
    http = current_app.extensions.get("twilio_http_client") or TwilioHttpClient(timeout=HTTP_TIMEOUT_S)
    client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], http_client=http)
    sender = (
        {"messaging_service_sid": config["TWILIO_MESSAGING_SERVICE_SID"]}
        if config["TWILIO_MESSAGING_SERVICE_SID"]
        else {"from_": config["TWILIO_FROM"]}
    )
    callback = f"{config['PUBLIC_BASE_URL']}/twilio/status" if config["PUBLIC_BASE_URL"] else None
    try:
        created = client.messages.create(to=message.to, body=message.body, status_callback=callback, **sender)
    except TwilioRestException as exc:
        message.error_code, message.error = exc.code, str(exc.msg)[:300]
        if exc.status in RETRYABLE_STATUS:
            _retry_or_give_up(message, now)
        else:
            message.state = OutboundState.FAILED
            flag_contact(message.to, exc.code)
    except (requests.Timeout, requests.ConnectionError) as exc:
        if _never_connected(exc):  # nothing reached Twilio: safe to try again
            message.error = f"could not reach Twilio: {type(exc).__name__}"
            _retry_or_give_up(message, now)
        else:
            # The request may have reached Twilio before the connection failed: sending again could
            # text the same person twice. Leave it for a person to look at.
            message.state, message.error = OutboundState.UNCERTAIN, f"no answer from Twilio: {type(exc).__name__}"
    else:
        # Twilio sends no callback for the first state: keep the one the create call returned.
        message.twilio_sid = created.sid
        message.state = _state(created.status) or OutboundState.QUEUED
        message.error_code = message.error = None


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the connection itself failed (refused, no route, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)  # DNS failures included


def _retry_or_give_up(message: OutboundMessage, now: datetime) -> None:
    if message.attempts <= len(RETRY_AFTER):
        message.next_attempt_at = now + RETRY_AFTER[message.attempts - 1]
    else:
        message.state = OutboundState.FAILED
        message.error = f"gave up after {message.attempts} attempts: {message.error}"


def record_status(sid: str, status: str, error_code: int | None) -> bool:
    """Apply a status callback. Callbacks arrive out of order, so a state never moves back."""
    state = _state(status)
    message = session.scalars(select(OutboundMessage).where(OutboundMessage.twilio_sid == sid)).one_or_none()
    if message is None or state is None:
        return False
    moved = RANK[state] > RANK[message.state]
    if moved:
        message.state = state
        message.updated_at = utcnow()
    if error_code:
        message.error_code = error_code
        flag_contact(message.to, error_code)
    session.commit()
    if moved:
        log_state(message)
    return True


def flag_contact(phone: str, error_code: int | None) -> None:
    """Mark every contact with this number that Twilio says cannot be texted. The caller commits."""
    now = utcnow()
    if error_code == OPTED_OUT:
        session.execute(update(Contact).where(Contact.phone == phone).values(opted_out_at=now))
    elif error_code in PERMANENT:
        session.execute(
            update(Contact).where(Contact.phone == phone).values(failed_at=now, failure=PERMANENT[error_code])
        )


def _state(status: str | None) -> OutboundState | None:
    try:
        return OutboundState(status)
    except ValueError:
        return None
