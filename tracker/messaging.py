"""Outbound text messages: one sender, two backends (Twilio, or the offline Outbox).

Every message is stored before it is handed to a backend and keeps its state afterwards, so an
admin can see what was sent, what failed and why. Twilio's status callbacks move the state on
(sms.status_callback); a state only ever moves forward.
"""

from __future__ import annotations

from datetime import datetime

import requests
from flask import current_app
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from .db import session
from .models import Contact, OutboundMessage, OutboundState, utcnow

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


def send_sms(to: str, body: str, *, purpose: str, home_id: int | None = None, now: datetime | None = None):
    """Store the message, hand it to the configured backend, and store what became of it."""
    now = now or utcnow()
    message = OutboundMessage(
        to=to, body=body, purpose=purpose, home_id=home_id, state=OutboundState.PENDING, created_at=now, updated_at=now
    )
    session.add(message)
    session.commit()  # kept even if the process dies during the send
    if current_app.config["SMS_BACKEND"] == "twilio":
        _send_with_twilio(message)
    else:
        message.state = OutboundState.OUTBOX
    message.updated_at = utcnow()
    session.commit()
    return message


def _send_with_twilio(message: OutboundMessage) -> None:
    config = current_app.config
    # Tests hand in an HTTP client that answers as Twilio's API would; production uses the SDK's own.
    http = current_app.extensions.get("twilio_http_client")
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
        message.state, message.error_code, message.error = OutboundState.FAILED, exc.code, str(exc.msg)[:300]
        flag_contact(message.to, exc.code)
    except (requests.Timeout, requests.ConnectionError) as exc:
        # The request may have reached Twilio before the connection failed: sending again could text
        # the same person twice. Leave it for a person to look at.
        message.state, message.error = OutboundState.UNCERTAIN, f"no answer from Twilio: {type(exc).__name__}"
    else:
        # Twilio sends no callback for the first state: keep the one the create call returned.
        message.twilio_sid = created.sid
        message.state = _state(created.status) or OutboundState.QUEUED


def record_status(sid: str, status: str, error_code: int | None) -> bool:
    """Apply a status callback. Callbacks arrive out of order, so a state never moves back."""
    state = _state(status)
    message = session.scalars(select(OutboundMessage).where(OutboundMessage.twilio_sid == sid)).one_or_none()
    if message is None or state is None:
        return False
    if RANK[state] > RANK[message.state]:
        message.state = state
        message.updated_at = utcnow()
    if error_code:
        message.error_code = error_code
        flag_contact(message.to, error_code)
    session.commit()
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
