"""Personal data (UK GDPR, docs/data-protection.md): what is kept only for a while, and what is held about a person.

`prune` is the clock's daily job: one pass, given `now`, that blanks or deletes what has outlived its
period. Every statement says what it removes by age and by what is still there, so a second clock, or
a rerun, finds nothing left to do. `subject_access` gathers everything held about one phone or e-mail.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, or_, select, update

from tracker.db import session
from tracker.models import (
    AskedHome,
    AuditEvent,
    BedRequest,
    CareHome,
    Contact,
    InboundMessage,
    Locality,
    OutboundMessage,
    OutboundState,
    RequestMessage,
    RequestState,
    SignIn,
    Update,
    User,
    utcnow,
)
from tracker.phones import to_e164


@dataclass(frozen=True)
class Pruned:
    inbound: int  # texts received whose body and sender were blanked
    outbound: int  # texts sent, deleted
    sign_ins: int  # expired sign-ins, deleted
    request_words: int = 0  # closed bed requests' needs and messages whose words were blanked


def prune(now: datetime | None = None) -> Pruned:
    """Blank or delete what is past its retention period; commits. Idempotent."""
    now = now or utcnow()
    config = current_app.config
    # The row stays (what the text did, the update it recorded); who sent it and what they wrote go.
    inbound = session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.received_at < now - config["INBOUND_RETENTION"],
            or_(InboundMessage.sender != "", InboundMessage.body != "", InboundMessage.reply != ""),
        )
        .values(sender="", body="", reply="")
    ).rowcount
    # A text still waiting to be sent is kept whatever its age. A sent one's dedupe key (which holds
    # its number) only stops a reminder ladder texting twice, and the ladder ended long before.
    outbound = session.execute(
        delete(OutboundMessage).where(
            OutboundMessage.created_at < now - config["OUTBOUND_RETENTION"],
            OutboundMessage.state != OutboundState.PENDING,
        )
    ).rowcount
    sign_ins = session.execute(delete(SignIn).where(SignIn.created_at < now - config["SIGN_IN_LIFETIME"])).rowcount
    # What coordinators and homes wrote about a bed request (the needs, answers, replies) goes as a
    # received text's words do, counted from when the request closed; who answered what, and when, stays.
    closed = select(BedRequest.id).where(
        BedRequest.state != RequestState.OPEN, BedRequest.closed_at < now - config["INBOUND_RETENTION"]
    )
    request_words = session.execute(
        update(BedRequest).where(BedRequest.id.in_(closed), BedRequest.needs != "").values(needs="")
    ).rowcount
    request_words += session.execute(
        update(RequestMessage)
        .where(
            RequestMessage.asked_id.in_(select(AskedHome.id).where(AskedHome.request_id.in_(closed))),
            RequestMessage.text != "",
        )
        .values(text="")
    ).rowcount
    session.commit()
    return Pruned(inbound, outbound, sign_ins, request_words)


def subject_access(person: str) -> dict[str, Any]:
    """Everything held about the owner of a phone number or an e-mail address, ready for JSON."""
    if "@" in person:
        return _about_user(person.strip())
    return _about_phone(to_e164(person))


def _about_phone(phone: str) -> dict[str, Any]:
    contacts = session.scalars(select(Contact).where(Contact.phone == phone).order_by(Contact.id)).all()
    ids = [c.id for c in contacts]
    history = session.scalars(select(Update).where(Update.contact_id.in_(ids)).order_by(Update.seq)).all()
    contact_events = [
        e
        for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("contact.%")).order_by(AuditEvent.id))
        if set(e.changes.get("contact_id") or []) & set(ids)
    ]
    return {
        "phone": phone,
        "contacts": [
            _row(c, "id", "home_id", "name", "phone", "opted_out_at", "failed_at", "failure") | {"home": c.home.name}
            for c in contacts
        ],
        "escalation_contact_of": [
            _row(p, "id", "name", "escalation_name", "escalation_phone")
            for p in session.scalars(select(Locality).where(Locality.escalation_phone == phone))
        ],
        "texts_received": [
            _row(m, "id", "received_at", "sender", "body", "home_id", "outcome", "reply", "update_seq")
            for m in session.scalars(
                select(InboundMessage).where(InboundMessage.sender == phone).order_by(InboundMessage.id)
            )
        ],
        "texts_sent": [
            _row(m, "id", "created_at", "to", "body", "purpose", "home_id", "state", "error")
            for m in session.scalars(
                select(OutboundMessage).where(OutboundMessage.to == phone).order_by(OutboundMessage.id)
            )
        ],
        "updates_made": [_history(u) for u in history],
        "request_answers": [_message(m) for m in _messages(RequestMessage.contact_id.in_(ids))],
        "audit_events": [_event(e) for e in _mentioning(phone, contact_events)],
    }


def _about_user(email: str) -> dict[str, Any]:
    user = session.scalars(select(User).where(User.email.ilike(email))).one_or_none()
    if user is None:
        return {"email": email, "user": None}
    about = (AuditEvent.target_type == "User") & (AuditEvent.target_id == user.id)
    events = session.scalars(
        select(AuditEvent).where(or_(AuditEvent.user_id == user.id, about)).order_by(AuditEvent.id)
    ).all()
    history = session.scalars(select(Update).where(Update.user_id == user.id).order_by(Update.seq)).all()
    return {
        "email": user.email,
        # Never the password hash: it is a secret of the account, not information about the person.
        "user": _row(user, "id", "email", "name", "role", "hospital_id", "active")
        | {"hospital": user.hospital.name if user.hospital else None},
        "sign_ins": [
            _row(s, "id", "created_at")
            for s in session.scalars(select(SignIn).where(SignIn.user_id == user.id).order_by(SignIn.id))
        ],
        "updates_made": [_history(u) for u in history],
        "bed_requests_opened": [
            _row(r, "id", "code", "created_at", "hospital_id", "kind_code", "from_date", "needs", "state", "closed_at")
            for r in session.scalars(
                select(BedRequest).where(BedRequest.created_by_user_id == user.id).order_by(BedRequest.id)
            )
        ],
        "request_replies": [_message(m) for m in _messages(RequestMessage.user_id == user.id)],
        "audit_events": [_event(e) for e in _mentioning(user.email, events)],
    }


def _mentioning(text: str, found: list[AuditEvent]) -> list[AuditEvent]:
    """`found`, and any other audit row whose changes or summary contain `text` (a number set on a locality...)."""
    known = {e.id for e in found}
    # Rare and read by an admin's command: scanning the log is simpler than indexing its JSON.
    others = [
        e
        for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        if e.id not in known and (text in str(e.changes) or text in e.summary or text in e.target_name)
    ]
    return sorted([*found, *others], key=lambda e: e.id)


def _history(row: Update) -> dict[str, Any]:
    home = session.get(CareHome, row.home_id)
    return _row(row, "seq", "recorded_at", "home_id", "channel", "actor", "what", "changed", "hold_id", "answer_id",
                "state") | {"home": home.name if home else None}  # fmt: skip


def _messages(who) -> list[RequestMessage]:
    return list(session.scalars(select(RequestMessage).where(who).order_by(RequestMessage.id)))


def _message(message: RequestMessage) -> dict[str, Any]:
    """One answer or reply about a bed request, with the request and home it was about."""
    asked = session.get(AskedHome, message.asked_id)
    return _row(message, "id", "at", "from_home", "verdict", "text", "channel", "seq") | {
        "request_code": asked.request.code,
        "home_id": asked.home_id,
        "home": asked.home.name,
    }


def _event(event: AuditEvent) -> dict[str, Any]:
    names = ("id", "at", "user_id", "actor", "action", "target_type", "target_id", "target_name", "changes", "summary")
    return _row(event, *names)


def _row(obj: object, *names: str) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
