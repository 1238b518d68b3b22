"""Bed requests: a coordinator asks every matching home at once, homes answer by one text or one tap,
and the coordinator takes one YES, which becomes a hold (docs/requests.md).

The write path does the parts that must agree with a home's beds: each answer is a history row
(`Change(answer=...)`), and taking a YES is a hold placed with the request's id, which closes the
request in the hold's transaction. This module adds the need, the homes that match it, the texts,
and the clock's pass. It announces every change after its commit (`changed`); the request pages
connect there.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from blinker import Namespace
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tracker import audit, availability, identifiers, outbox, plaintext
from tracker.db import session
from tracker.geo import km_between
from tracker.models import (
    AskedHome,
    BedRequest,
    CareHome,
    CareKind,
    Channel,
    Contact,
    Hold,
    Hospital,
    Locality,
    Offer,
    RequestMessage,
    RequestState,
    Update,
    utcnow,
)
from tracker.segments import Echo, fit, squeeze
from tracker.signing import base_url, signing_keys
from tracker.timefmt import LONDON
from tracker.vacancies import Answer, Change, HoldRequest, UpdateRejected, record_update

log = logging.getLogger(__name__)

# Sent after each commit that changes a request, with its id: the request pages connect here.
changed = Namespace().signal("changed")

NEEDS_MAX_CHARS = 160
REPLY_MAX_CHARS = 240
MAX_KM = 200
FURTHEST_AHEAD = timedelta(days=28)  # "from when": a discharge is planned days ahead, not months
COORDINATOR_ACTOR = "signed-in user"


class RequestRefused(Exception):
    """A need or an act that cannot be done. `errors` maps a field to a plain-English message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


@dataclass(frozen=True)
class Need:
    """What a coordinator asks for: never who it is for."""

    hospital_id: int
    kind: str
    from_date: date
    needs: str
    max_km: float | None = None
    locality_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Match:
    """A home that can count a bed of the need's kind now."""

    home: CareHome
    km: float | None
    free: int  # beds of the kind it counts (availability.countable)
    textable: int  # its contacts we can text: a home without one cannot be asked


def read_need(
    *, hospital_id: Any, kind: Any, from_date: Any, needs: Any, max_km: Any = "", locality_ids: Any = (), now: datetime
) -> Need:
    """A Need from raw input (form strings, JSON values). Raises RequestRefused naming every problem."""
    errors: dict[str, str] = {}
    hospital = session.get(Hospital, int(hospital_id)) if _whole(hospital_id) else None
    if hospital is None:
        errors["hospital_id"] = "Choose the hospital the bed is for."
    kind_code = kind.strip().upper() if isinstance(kind, str) else ""
    if not kind_code or session.get(CareKind, kind_code[:8]) is None:
        errors["kind"] = "Choose the kind of care."
    today = now.astimezone(LONDON).date()
    start = _date(from_date)
    if start is None:
        errors["from_date"] = "Enter the date the bed is needed from, like 2 December."
    elif start < today:
        errors["from_date"] = "The date the bed is needed from has passed: enter today or later."
    elif start > today + FURTHEST_AHEAD:
        errors["from_date"] = f"Ask for a bed needed within {FURTHEST_AHEAD.days} days."
    distance = _distance(max_km)
    if distance == "bad":
        errors["max_km"] = f"Enter a distance in km from 1 to {MAX_KM}, or leave it blank to choose localities."
    areas = _localities(locality_ids)
    if areas is None:
        errors["locality_ids"] = "Choose localities from the list."
    elif distance is None and not areas and "max_km" not in errors:
        errors["max_km"] = "Say how far from the hospital (in km), or choose localities."
    text = plaintext.clean(needs) if isinstance(needs, str) else ""
    if len(text) > NEEDS_MAX_CHARS:
        errors["needs"] = f"Keep the needs to {NEEDS_MAX_CHARS} characters (they have {len(text)})."
    elif problem := identifiers.patient_identifier(text):
        errors["needs"] = problem
    if errors:
        raise RequestRefused(errors)
    return Need(hospital.id, kind_code, start, text, None if distance is None else float(distance), tuple(areas))


def matching_homes(need: Need, now: datetime) -> list[Match]:
    """The homes that can count a bed of the need's kind now, nearest first, within its distance or localities."""
    hospital = session.get(Hospital, need.hospital_id)
    query = (
        select(CareHome, Offer.available)
        .join(Offer, (Offer.home_id == CareHome.id) & (Offer.kind_code == need.kind))
        .where(availability.countable_clause(now), Offer.available > 0)
        .order_by(CareHome.name)
    )
    if need.locality_ids:
        query = query.where(CareHome.locality_id.in_(need.locality_ids))
    rows = session.execute(query).all()
    holds = availability.standing_holds(home.id for home, _ in rows)
    textable = dict(
        session.execute(
            select(Contact.home_id, func.count())
            .where(Contact.home_id.in_([home.id for home, _ in rows]), *_textable())
            .group_by(Contact.home_id)
        ).all()
    )
    found = []
    for home, available in rows:
        verified = availability.verified(home.confirmed_at, now)
        held = availability.held(holds.get(home.id, []), need.kind, now)
        free = availability.countable(available, home.admissions_open, verified, held) or 0
        km = None
        if home.latitude is not None and home.longitude is not None:
            km = km_between(hospital.latitude, hospital.longitude, home.latitude, home.longitude)
        if free < 1 or (need.max_km is not None and (km is None or km > need.max_km)):
            continue
        found.append(Match(home, km, free, textable.get(home.id, 0)))
    return sorted(found, key=lambda m: (m.km is None, m.km or 0, m.home.name.casefold()))


def open_request(need: Need, home_ids: list[int], *, user_id: int | None, actor: str = COORDINATOR_ACTOR,
                 now: datetime | None = None):  # fmt: skip
    """Ask the chosen homes that still match; returns (request, names of chosen homes no longer asked).

    The request, the homes asked, the audit row and every text are written in one transaction, then
    the texts are sent: a crash after the commit leaves them for the outbox's next pass."""
    now = now or utcnow()
    if not home_ids:
        raise RequestRefused({"homes": "Choose at least one home to ask."})
    matches = {m.home.id: m for m in matching_homes(need, now)}
    chosen = list(dict.fromkeys(home_ids))
    asking = [matches[i] for i in chosen if i in matches and matches[i].textable]
    asked_ids = {m.home.id for m in asking}
    skipped = [i for i in chosen if i not in asked_ids]
    skipped_names = list(session.scalars(select(CareHome.name).where(CareHome.id.in_(skipped)))) if skipped else []
    if not asking:
        raise RequestRefused(
            {"homes": "None of the chosen homes can be asked now: their beds have gone or they have no mobile to text."}
        )
    for _attempt in range(5):
        request = BedRequest(
            code=_new_code(), hospital_id=need.hospital_id, kind_code=need.kind, from_date=need.from_date,
            max_km=need.max_km, locality_ids=list(need.locality_ids) or None, needs=need.needs,
            created_by_user_id=user_id, created_at=now, expires_at=now + current_app.config["REQUEST_OPEN_FOR"],
            state=RequestState.OPEN,
        )  # fmt: skip
        request.asked = [AskedHome(home_id=m.home.id, km=m.km) for m in asking]
        session.add(request)
        try:
            session.flush()
        except IntegrityError:  # that code was just taken by another open request
            session.rollback()
            continue
        break
    else:
        raise RuntimeError("no free request code after 5 tries")
    audit.record("request.open", request, summary=f"asked {len(asking)} home(s) for one {need.kind} bed", actor=actor)
    texts = [text for asked in request.asked for text in _text_home(asked, ask_text(request, asked), "ask", now)]
    session.commit()
    log.info("bed request opened", extra={"request": request.id, "homes": len(asking)})
    _deliver(texts, now)
    changed.send(request.id)
    return request, skipped_names


def ask_text(request: BedRequest, asked: AskedHome) -> str:
    """The text asking a home: who, what, from when, the needs, how to answer. One segment where the link allows."""
    head = f"{request.hospital.name} asks for 1 {request.kind.name.lower()} bed from {day(request.from_date)}"
    needs = f". Needs: {request.needs}" if request.needs else ""
    tail = f". Reply YES {request.code} or NO {request.code}, or tap {answer_url(asked)}"
    # One segment only when the needs fit whole: a home must not say yes to half of them.
    return squeeze(head, needs, tail, most=1) or fit(Echo(head, least=20), Echo(needs, least=20), tail)


def day(moment: date) -> str:
    return f"{moment.day} {moment:%b}"


# ---- the one-tap answer link ---------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(signing_keys(), salt="request-answer")


def answer_url(asked: AskedHome) -> str:
    """The home's one-tap answer page for this request: signed, so it answers for that home only."""
    return f"{base_url()}/r/{_serializer().dumps(asked.id)}"


def read_answer_token(token: str) -> AskedHome | None:
    try:
        asked_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(asked_id, int) or isinstance(asked_id, bool):
        return None
    return session.get(AskedHome, asked_id)


# ---- answers ---------------------------------------------------------------------------------------


def answer(
    asked_id: int,
    verdict: str,
    text: str = "",
    *,
    channel: Channel,
    actor: str,
    contact_id: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Update:
    """Record a home's answer through the write path; returns its history row. Raises UpdateRejected."""
    asked = session.get(AskedHome, asked_id)
    if asked is None:
        raise UpdateRejected({"answer": "There is no such request for this home."})
    row = record_update(
        asked.home_id, Change(answer=Answer(asked_id, verdict, text)), channel=channel, actor=actor,
        contact_id=contact_id, idempotency_key=idempotency_key, now=now,
    )  # fmt: skip
    changed.send(asked.request_id)
    return row


def asked_by_text(home_ids: list[int], code: str | None) -> AskedHome | str:
    """The open request a text answers, for a sender who speaks for `home_ids`; else what to reply.

    With a code, the open request of that code that asked one of their homes. Without one, their
    only open request: a contact asked twice must say which."""
    query = (
        select(AskedHome)
        .join(BedRequest)
        .where(AskedHome.home_id.in_(home_ids), BedRequest.state == RequestState.OPEN)
        .order_by(BedRequest.id)
    )
    if code is None:
        open_asks = session.scalars(query).all()
        if len(open_asks) == 1:
            return open_asks[0]
        if not open_asks:
            return "There is no open bed request for your home, so there is nothing to answer."
        codes = " or ".join(a.request.code for a in open_asks[:3])
        return (
            f"You have {len(open_asks)} open bed requests: reply YES or NO with the request's number, like YES {codes}."
        )
    asked = session.scalars(query.where(BedRequest.code == code)).first()
    if asked is not None:
        return asked
    closed = session.scalars(
        select(BedRequest)
        .join(AskedHome)
        .where(AskedHome.home_id.in_(home_ids), BedRequest.code == code)
        .order_by(BedRequest.id.desc())
    ).first()
    if closed is not None:
        return f"Request {code} has closed, so no answer is needed. Thank you."
    return f"There is no bed request {code} for your home: check the number in the text you were sent."


# ---- the coordinator's side ------------------------------------------------------------------------


def reply(asked_id: int, text: Any, *, user_id: int | None, actor: str = COORDINATOR_ACTOR, channel=Channel.WEB,
          now: datetime | None = None) -> RequestMessage:  # fmt: skip
    """The coordinator answers a home's question: stored, and texted to the home's contacts."""
    now = now or utcnow()
    asked = session.get(AskedHome, asked_id)
    if asked is None:
        raise RequestRefused({"reply": "There is no such home on this request."})
    request = asked.request
    words = plaintext.clean(text) if isinstance(text, str) else ""
    if request.state is not RequestState.OPEN:
        raise RequestRefused({"reply": f"Request {request.code} has closed: nothing was sent."})
    if not words:
        raise RequestRefused({"reply": "Write the reply to send."})
    if len(words) > REPLY_MAX_CHARS:
        raise RequestRefused({"reply": f"Keep the reply to {REPLY_MAX_CHARS} characters (it has {len(words)})."})
    if problem := identifiers.patient_identifier(words):
        raise RequestRefused({"reply": problem})
    message = RequestMessage(asked_id=asked.id, at=now, from_home=False, text=words, channel=channel,
                             user_id=user_id)  # fmt: skip
    session.add(message)
    session.flush()
    body = fit(
        f"{request.hospital.name} about request {request.code}: ",
        Echo(words, least=40),
        f" Reply YES {request.code} or NO {request.code}.",
    )
    texts = _text_home(asked, body, f"reply:{message.id}", now)
    audit.record("request.reply", request, summary=f"replied to home {asked.home_id}", actor=actor)
    session.commit()
    _deliver(texts, now)
    changed.send(request.id)
    return message


def choose(request_id: int, home_id: int, *, user_id: int | None, until: datetime | None = None,
           actor: str = COORDINATOR_ACTOR, channel=Channel.WEB, token_id: int | None = None,
           now: datetime | None = None) -> Update:  # fmt: skip
    """Take one home's YES: its bed is held for the request's hospital (through the write path, which
    closes the request with it); then every other home that answered is told it is no longer needed."""
    now = now or utcnow()
    request = session.get(BedRequest, request_id)
    if request is None:
        raise UpdateRejected({"hold": "There is no such request."})
    hold = HoldRequest(request.kind_code, request.hospital_id, until, request_id=request.id)
    row = record_update(home_id, Change(hold=hold), channel=channel, actor=actor, user_id=user_id, token_id=token_id,
                        now=now)  # fmt: skip
    thank(now, request_id=request_id)
    changed.send(request_id)
    return row


def cancel(request_id: int, *, user_id: int | None, actor: str = COORDINATOR_ACTOR,
           now: datetime | None = None) -> None:  # fmt: skip
    """The coordinator no longer needs a bed: the request closes, and the homes that answered are told."""
    now = now or utcnow()
    if not _close(request_id, RequestState.CANCELLED, now, actor=actor):
        raise RequestRefused({"request": "That request has already closed."})
    thank(now, request_id=request_id)
    changed.send(request_id)


def expire_due(now: datetime | None = None) -> int:
    """The clock's pass: close every open request past its time, then tell every home that answered
    a closed request and has not been told. Returns how many requests this pass expired."""
    now = now or utcnow()
    due = session.scalars(
        select(BedRequest.id).where(BedRequest.state == RequestState.OPEN, BedRequest.expires_at <= now)
    ).all()
    session.rollback()
    expired = [request_id for request_id in due if _close(request_id, RequestState.EXPIRED, now, actor="clock")]
    thank(now)
    for request_id in expired:
        changed.send(request_id)
    if expired:
        log.info("bed request expiry pass: %d request(s) expired", len(expired))
    return len(expired)


def _close(request_id: int, state: RequestState, now: datetime, *, actor: str) -> bool:
    """Close an open request; False when it had already closed (the UPDATE is the claim)."""
    closed = session.execute(
        update(BedRequest)
        .where(BedRequest.id == request_id, BedRequest.state == RequestState.OPEN)
        .values(state=state, closed_at=now)
    ).rowcount
    if closed:
        audit.record(f"request.{'expire' if state is RequestState.EXPIRED else 'cancel'}",
                     session.get(BedRequest, request_id), summary=str(state), actor=actor)  # fmt: skip
    session.commit()
    return bool(closed)


def thank(now: datetime, *, request_id: int | None = None) -> int:
    """Tell each home that answered a closed request how it ended, once: the home whose YES was taken
    that its bed is held, the others that it is no longer needed. The claim is `thanked_at`, set in
    the transaction that stores the texts. Returns how many homes were told."""
    query = (
        select(AskedHome.id)
        .join(BedRequest)
        .where(BedRequest.state != RequestState.OPEN, AskedHome.verdict.is_not(None), AskedHome.thanked_at.is_(None))
    )
    if request_id is not None:
        query = query.where(BedRequest.id == request_id)
    due = session.scalars(query).all()
    session.rollback()
    told = 0
    for asked_id in due:
        claimed = session.execute(
            update(AskedHome).where(AskedHome.id == asked_id, AskedHome.thanked_at.is_(None)).values(thanked_at=now)
        ).rowcount
        if not claimed:
            session.rollback()
            continue
        asked = session.get(AskedHome, asked_id)
        body = closing_text(asked.request, asked)
        texts = _text_home(asked, body, "closed", now)
        session.commit()
        _deliver(texts, now)
        told += 1
    return told


def closing_text(request: BedRequest, asked: AskedHome) -> str:
    hold = session.get(Hold, request.hold_id) if request.hold_id else None
    if hold is not None and hold.home_id == asked.home_id:
        until = hold.until.astimezone(LONDON)
        return fit(
            f"{request.hospital.name} is holding your {request.kind.name.lower()} bed (request {request.code}) "
            f"until {until:%H:%M} {day(until.date())}. Thank you. Text STATUS to see your holds."
        )
    return fit(f"{request.hospital.name}: request {request.code} is no longer needed. Thank you for answering.")


# ---- what a request page and the API are shown ------------------------------------------------------


def request_json(request: BedRequest, now: datetime) -> dict:
    """One request as its page and the API show it: the need, every home asked, and what each said.

    Each home says whether it could count the bed now (`free_now`), so a YES from a home that has
    since closed or filled its beds shows as such."""
    homes = [asked.home for asked in request.asked]
    holds = availability.standing_holds(h.id for h in homes)
    shown = []
    for asked in request.asked:
        home, offer = asked.home, asked.home.offer(request.kind_code)
        verified = availability.verified(home.confirmed_at, now)
        free = availability.countable(
            offer.available if offer else None, home.admissions_open, verified,
            availability.held(holds.get(home.id, []), request.kind_code, now),
        )  # fmt: skip
        shown.append({
            "asked_id": asked.id,
            "home": {"id": home.id, "name": home.name, "phone": home.phone, "locality": home.locality.name},
            "km": None if asked.km is None else round(asked.km, 1),
            "verdict": str(asked.verdict) if asked.verdict else None,
            "answered_at": _iso(asked.answered_at),
            "admissions": "open" if home.admissions_open else "closed",
            "closed_reason": home.closed_reason,
            "free_now": free,
            "messages": [
                {"at": _iso(m.at), "from_home": m.from_home, "verdict": str(m.verdict) if m.verdict else None,
                 "text": m.text, "channel": str(m.channel), "seq": m.seq}  # fmt: skip
                for m in asked.messages
            ],
        })  # fmt: skip
    return {
        "id": request.id,
        "code": request.code,
        "state": str(request.state),
        "hospital": {"id": request.hospital_id, "name": request.hospital.name},
        "kind": {"code": request.kind_code, "name": request.kind.name},
        "from_date": request.from_date.isoformat(),
        "needs": request.needs,
        "max_km": request.max_km,
        "locality_ids": request.locality_ids or [],
        "created_at": _iso(request.created_at),
        "expires_at": _iso(request.expires_at),
        "closed_at": _iso(request.closed_at),
        "hold_id": request.hold_id,
        "homes": shown,
    }


# ---- helpers ---------------------------------------------------------------------------------------


def _textable():
    return Contact.opted_out_at.is_(None), Contact.failed_at.is_(None)


def _contacts(home_id: int) -> list[Contact]:
    return list(session.scalars(select(Contact).where(Contact.home_id == home_id, *_textable()).order_by(Contact.id)))


def _text_home(asked: AskedHome, body: str, what: str, now: datetime) -> list:
    """Store one text to each textable contact of an asked home, once only (the key names the text
    and the contact). The caller commits, then delivers: what decided to send is stored with it."""
    return [
        outbox.queue(
            contact.phone,
            body,
            purpose="request",
            home_id=asked.home_id,
            key=f"{what}:{asked.id}:{contact.id}",
            now=now,
        )  # fmt: skip
        for contact in _contacts(asked.home_id)
    ]


def _deliver(texts, now: datetime) -> None:
    for text in texts:
        outbox.deliver(text.id, now=now)


def _new_code() -> str:
    """Four digits, unique among open requests (a unique index has the last word)."""
    taken = set(session.scalars(select(BedRequest.code).where(BedRequest.state == RequestState.OPEN)))
    while (code := str(1000 + secrets.randbelow(9000))) in taken:
        pass
    return code


def _whole(raw: Any) -> bool:
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int):
        return 0 < raw < 2**31
    return isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw.strip()) < 10


def _date(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            return None
    return None


def _distance(raw: Any) -> float | str | None:
    """A maximum distance in km, None when not given, "bad" when not one."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer of hundreds of digits
        return "bad"
    if isinstance(raw, bool) or not 1 <= value <= MAX_KM:
        return "bad"
    return value


def _localities(raw: Any) -> list[int] | None:
    """Locality ids that exist, or None when any given is not one."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str | int):
        raw = [raw]
    if not isinstance(raw, list | tuple) or len(raw) > 100:
        return None
    ids = []
    for value in raw:
        if not _whole(value):
            return None
        ids.append(int(value))
    found = set(session.scalars(select(Locality.id).where(Locality.id.in_(ids))))
    return sorted(set(ids)) if found == set(ids) else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
