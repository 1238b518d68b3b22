"""The one write path: every channel records an update by calling `record_update`.

validate everything -> one transaction (home row locked, current state, history row with the next
seq) -> publish to boards only after the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tracker import audit, availability, identifiers, plaintext
from tracker.db import session
from tracker.models import (
    CHANNEL_WORDS,
    AskedHome,
    BedRequest,
    BoardCursor,
    CareHome,
    CareKind,
    Channel,
    Hold,
    HoldEnd,
    Hospital,
    Region,
    RequestMessage,
    RequestState,
    Update,
    Verdict,
    utcnow,
)
from tracker.observability import UPDATES_RECORDED

log = logging.getLogger(__name__)

_signals = Namespace()
# Sent inside an update's transaction, with the locked home and `now`: what must change with the
# update or not at all connects here (the chaser resets the home's reminder ladder: any update or
# "no change" answers every reminder). A receiver that raises undoes the whole update.
recording = _signals.signal("recording")
# Sent after the commit, with the history row: the boards and the families' live pages connect here
# (create_app wires them). Nothing in this module knows who listens.
recorded = _signals.signal("recorded")
REASON_MAX_CHARS = 120


class UpdateRejected(Exception):
    """Input that cannot be recorded. `errors` maps a field (a kind code, "note", ...) to a plain-English message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


class KeyReused(UpdateRejected):
    """An idempotency key already recorded a different update (another home, or other values)."""

    def __init__(self):
        super().__init__(
            {"form": "This was already sent once with other details, so it was not recorded again: check and send it."}
        )


@dataclass(frozen=True)
class HoldRequest:
    """Hold one bed of `kind` for a hospital until `until` (None: HOLD_DEFAULT from now)."""

    kind: str
    hospital_id: int
    until: datetime | None = None
    # The request whose YES this hold takes (bed_requests.choose): the request closes with the hold,
    # in its transaction, so two coordinators cannot both take one request's answers.
    request_id: int | None = None


@dataclass(frozen=True)
class Answer:
    """A home's answer to a bed request it was asked (bed_request_home.id): yes, no or a question."""

    asked_id: int
    verdict: str
    text: str = ""


@dataclass(frozen=True)
class Change:
    """What a channel asks for. Values arrive raw (form strings, parsed SMS); validation happens here.

    An empty Change is a "no change" confirmation of what is recorded now. With `confirm`, the Change
    names what the sender was shown, and is recorded as "no change" only if that is what is recorded:
    otherwise it is refused (the form's confirm button must never confirm numbers not on screen).
    """

    counts: Mapping[str, Any] = field(default_factory=dict)  # kind code -> beds available now
    admissions: str | None = None  # "open", "closed", or None to leave as is
    closed_reason: str | None = None
    reopens_on: Any = None  # a date or "YYYY-MM-DD"; only kept while closed
    note: str | None = None  # None leaves the note as is; "" clears it
    confirm: bool = False
    # A hold operation (docs/holds.md), alone in its Change: it acts on the home's beds for a
    # hospital, and does not confirm the home's numbers.
    hold: HoldRequest | None = None
    release_hold: int | None = None
    admit_hold: int | None = None  # the person arrived: ends the hold and lowers its kind's beds by one
    expire_hold: int | None = None  # the clock: only once the hold's `until` has passed
    # A home answering a request (docs/requests.md), alone in its Change: recorded in the history's
    # sequence under the home's row lock, without confirming the home's numbers.
    answer: Answer | None = None

    @property
    def holds_something(self) -> bool:
        return any(x is not None for x in (self.hold, self.release_hold, self.admit_hold, self.expire_hold))


def record_update(
    home_id: int,
    change: Change,
    *,
    channel: Channel,
    actor: str,
    contact_id: int | None = None,
    user_id: int | None = None,
    token_id: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Update:
    """Record `change` for a home and return its history row. Raises UpdateRejected; then nothing is written.

    `actor` says how it came without naming anyone (the history is kept for ever); who sent it is
    `contact_id`, `user_id` or `token_id`. A repeat of an `idempotency_key` returns the update it first
    recorded, if it asks for the same thing. Free text (reason, note, actor) is stored as plaintext.clean
    leaves it: control and other non-printing characters removed, whitespace one space, whatever channel.
    """
    now = now or utcnow()
    actor = plaintext.clean(actor)[:120]
    fingerprint = _fingerprint(home_id, change) if idempotency_key else None
    if idempotency_key and (done := _already_recorded(idempotency_key, home_id, fingerprint)):
        return done
    try:
        # populate_existing: the session may hold this home from an earlier transaction; read it afresh
        # under the lock, or a concurrent update could be overwritten in the history row.
        home = session.scalars(
            select(CareHome)
            .where(CareHome.id == home_id)
            .with_for_update(of=CareHome)
            .execution_options(populate_existing=True)
        ).one_or_none()
        if home is None:
            raise UpdateRejected({"home": "That care home is not in the tracker."})
        before = home_state(home)
        hold_id = answer_id = None
        if change.answer is not None:
            answer = _apply_answer(home, change, channel=channel, contact_id=contact_id, user_id=user_id, now=now)
            answer_id = answer.id
        elif change.holds_something:
            hold_id = _apply_hold(home, change, actor=actor, user_id=user_id, now=now)
        else:
            counts, admissions_open, reason, reopens_on, note = _validate(home, change, now)
            for code, value in counts.items():
                home.offer(code).available = value
            home.admissions_open = admissions_open
            home.closed_reason = reason
            home.reopens_on = reopens_on
            if note != home.note:
                home.note_at = now if note else None
            home.note = note
            home.confirmed_at, home.confirmed_by, home.confirmed_via = now, actor, channel
            recording.send(home, now=now)
        state = home_state(home)

        region_id = home.locality.region_id
        region_prev_seq = session.execute(
            select(Region.last_seq).where(Region.id == region_id).with_for_update()
        ).scalar_one()
        # Everything else is written before the cursor is taken: every writer in the country waits on
        # that one row, so it is held only for the last few statements and the commit.
        session.flush()
        # The UPDATE takes the cursor row's lock until commit, so seqs commit in the order they are drawn.
        seq = session.execute(
            update(BoardCursor).where(BoardCursor.id == 1).values(seq=BoardCursor.seq + 1).returning(BoardCursor.seq)
        ).scalar_one()
        home.last_seq = seq
        session.execute(update(Region).where(Region.id == region_id).values(last_seq=seq))
        row = Update(
            seq=seq,
            home_id=home.id,
            region_id=region_id,
            region_prev_seq=region_prev_seq,
            recorded_at=now,
            channel=channel,
            actor=actor,
            contact_id=contact_id,
            user_id=user_id,
            token_id=token_id,
            changed=_numbers(state) != _numbers(before),
            state=state,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=fingerprint,
            hold_id=hold_id,
            answer_id=answer_id,
        )
        session.add(row)
        if answer_id is not None:
            answer.seq = seq
        session.commit()
    except UpdateRejected:
        session.rollback()
        raise
    except IntegrityError:
        session.rollback()
        # The same submission raced itself (a double tap, a redelivered SMS): the first one won.
        if idempotency_key and (done := _already_recorded(idempotency_key, home_id, fingerprint)):
            return done
        raise
    except Exception:
        session.rollback()  # nothing half-written is left in the session for its next user
        raise
    # Who recorded it stays in the history, not in the log: seq, home and channel are enough to find it.
    log.info("update recorded", extra={"seq": row.seq, "home": row.home_id, "channel": str(row.channel)})
    UPDATES_RECORDED.labels(str(row.channel)).inc()
    recorded.send(row)
    return row


def home_state(home: CareHome) -> dict:
    """The part of a home that updates change. Stored in each history row and sent to boards as is.

    `confirmed_at`/`confirmed_via` are when and how the home last confirmed its numbers: a hold's
    history row is not a confirmation, so boards and reports read the confirmation from here."""
    return {
        "admissions": "open" if home.admissions_open else "closed",
        "closed_reason": home.closed_reason,
        "reopens_on": home.reopens_on.isoformat() if home.reopens_on else None,
        "note": home.note,
        "note_at": home.note_at.isoformat() if home.note_at else None,
        "kinds": {o.kind_code: {"capacity": o.capacity, "available": o.available} for o in home.offers},
        "holds": availability.standing_holds([home.id]).get(home.id, []),
        "confirmed_at": home.confirmed_at.isoformat() if home.confirmed_at else None,
        "confirmed_via": str(home.confirmed_via) if home.confirmed_via else None,
    }


def hold_json(hold_id: int, kind: str, hospital: str, until: datetime, hospital_id: int) -> dict:
    """A standing hold as home states carry it (history rows, board events, snapshots); the API's adds to it."""
    return {"id": hold_id, "kind": kind, "hospital": hospital, "until": until.isoformat(), "hospital_id": hospital_id}


def _numbers(state: dict) -> dict:
    """What a "no change" leaves as it was: the state less when it was confirmed."""
    return {k: v for k, v in state.items() if k not in ("confirmed_at", "confirmed_via")}


HOLD_ACTIONS = {"hold": "hold.place", "release_hold": "hold.release", "admit_hold": "hold.admit",
                "expire_hold": "hold.expire"}  # fmt: skip


def _apply_hold(home: CareHome, change: Change, *, actor: str, user_id: int | None, now: datetime) -> int:
    """Place or end one hold on the locked home, with its audit row. Returns the hold's id."""
    asked = [name for name in HOLD_ACTIONS if getattr(change, name) is not None]
    plain = Change(hold=change.hold, release_hold=change.release_hold, admit_hold=change.admit_hold,
                   expire_hold=change.expire_hold)  # fmt: skip
    if len(asked) != 1 or change != plain:
        raise UpdateRejected({"hold": "A hold is placed or ended on its own, one at a time, with nothing else."})
    if change.hold is not None:
        hold = _place(home, change.hold, user_id, now, actor=actor)
        summary = f"held one {hold.kind_code} bed for hospital {hold.hospital_id} until {hold.until.isoformat()}"
    else:
        hold = _standing(home, getattr(change, asked[0]))
        how = {"release_hold": HoldEnd.RELEASED, "admit_hold": HoldEnd.ADMITTED, "expire_hold": HoldEnd.EXPIRED}
        if how[asked[0]] is HoldEnd.EXPIRED and hold.until > now:
            raise UpdateRejected({"hold": f"That hold stands until {hold.until.isoformat()}: it has not expired."})
        if how[asked[0]] is HoldEnd.ADMITTED:
            offer = home.offer(hold.kind_code)
            # The person arrived and took the held bed: one fewer free (never below 0, if the home
            # already counted them).
            if offer is not None and offer.available:
                offer.available -= 1
        hold.ended_at, hold.ended_how = now, how[asked[0]]
        summary = f"{how[asked[0]]}: hold {hold.id} of one {hold.kind_code} bed for hospital {hold.hospital_id}"
    audit.record(HOLD_ACTIONS[asked[0]], hold, summary=summary, actor=actor)
    return hold.id


ANSWER_WORDS = {Verdict.YES: "yes", Verdict.NO: "no", Verdict.QUESTION: "a question"}


def _apply_answer(
    home: CareHome, change: Change, *, channel: Channel, contact_id: int | None, user_id: int | None, now: datetime
) -> RequestMessage:
    """Record a home's answer to an open request it was asked, with its audit row."""
    answer = change.answer
    if change != Change(answer=answer):
        raise UpdateRejected({"answer": "An answer to a request is recorded on its own, with nothing else."})
    asked = None
    if isinstance(answer.asked_id, int) and not isinstance(answer.asked_id, bool):
        asked = session.scalars(
            select(AskedHome).where(AskedHome.id == answer.asked_id).execution_options(populate_existing=True)
        ).one_or_none()
    if asked is None or asked.home_id != home.id:
        raise UpdateRejected({"answer": "This home was not asked that request."})
    request = session.scalars(
        select(BedRequest).where(BedRequest.id == asked.request_id).execution_options(populate_existing=True)
    ).one()
    if request.state is not RequestState.OPEN:
        raise UpdateRejected({"answer": f"Request {request.code} has closed ({request.state}): no answer is needed."})
    try:
        verdict = Verdict(answer.verdict)
    except ValueError:
        raise UpdateRejected({"answer": "Answer yes, no, or ask a question."}) from None
    text = plaintext.clean(answer.text or "")
    if verdict is Verdict.QUESTION and not text:
        raise UpdateRejected({"answer": "Write the question to ask."})
    if len(text) > ANSWER_MAX_CHARS:
        raise UpdateRejected({"answer": f"Keep it to {ANSWER_MAX_CHARS} characters (it has {len(text)})."})
    if problem := identifiers.patient_identifier(text):
        raise UpdateRejected({"answer": problem})
    message = RequestMessage(asked_id=asked.id, at=now, from_home=True, verdict=verdict, text=text,
                             channel=channel, contact_id=contact_id, user_id=user_id)  # fmt: skip
    session.add(message)
    # A question leaves a YES or NO standing: the home asked something about it.
    if verdict is not Verdict.QUESTION or asked.verdict is None:
        asked.verdict = verdict
    asked.answered_at = now
    session.flush()
    audit.record("request.answer", request, summary=f"home {home.id} answered {ANSWER_WORDS[verdict]}",
                 actor=f"{CHANNEL_WORDS[channel]}")  # fmt: skip
    return message


ANSWER_MAX_CHARS = 300


def _place(home: CareHome, request: HoldRequest, user_id: int | None, now: datetime, *, actor: str) -> Hold:
    """A new hold, if one bed of its kind is countable now (seen under the home's row lock)."""
    offer = home.offer(request.kind)
    hospital = session.get(Hospital, request.hospital_id) if isinstance(request.hospital_id, int) else None
    longest = current_app.config["HOLD_MAX"]
    until = request.until or now + current_app.config["HOLD_DEFAULT"]
    if offer is None:
        problem = f"{home.name} does not offer {_kind_name(request.kind)}, so no bed of it can be held."
    elif hospital is None:
        problem = "Choose the hospital the bed is held for."
    elif not home.admissions_open:
        problem = f"{home.name} is closed to admissions, so no bed can be held there."
    elif not isinstance(until, datetime) or until.tzinfo is None or until <= now:
        problem = "A hold must last until a time still to come."
    elif until > now + longest:
        problem = f"A hold may last at most {_hours(longest)}."
    else:
        fresh = availability.verified(home.confirmed_at, now)
        holds = home_state(home)["holds"]
        free = availability.countable(offer.available, True, fresh, availability.held(holds, request.kind, now))
        if free is None:
            problem = f"{home.name}'s numbers are not verified: phone the home before holding a bed."
        elif free < 1:
            problem = f"{home.name} has no {offer.kind.name.lower()} bed left to hold."
        else:
            problem = None
    if not problem and request.request_id is not None:
        problem = _take_request(home, request, hospital, now, actor=actor)
    if problem:
        raise UpdateRejected({"hold": problem})
    hold = Hold(home_id=home.id, kind_code=offer.kind_code, hospital_id=hospital.id, held_by_user_id=user_id,
                created_at=now, until=until)  # fmt: skip
    session.add(hold)
    session.flush()
    if request.request_id is not None:
        session.execute(update(BedRequest).where(BedRequest.id == request.request_id).values(hold_id=hold.id))
    return hold


def _take_request(home: CareHome, hold: HoldRequest, hospital: Hospital, now: datetime, *, actor: str) -> str | None:
    """Close an open request by taking this home's YES; the problem, if it cannot be taken."""
    request = session.get(BedRequest, hold.request_id) if isinstance(hold.request_id, int) else None
    if request is None or request.hospital_id != hospital.id or request.kind_code != hold.kind:
        return "That request is not for this bed."
    asked = session.scalars(
        select(AskedHome).where(AskedHome.request_id == request.id, AskedHome.home_id == home.id)
    ).one_or_none()
    if asked is None or asked.verdict is not Verdict.YES:
        return f"{home.name} has not answered yes to request {request.code}."
    # The claim: of two coordinators taking two YESes at once, the second finds it closed.
    taken = session.execute(
        update(BedRequest)
        .where(BedRequest.id == request.id, BedRequest.state == RequestState.OPEN)
        .values(state=RequestState.CHOSEN, closed_at=now)
    ).rowcount
    if not taken:
        return f"Request {request.code} has already closed: reload the page."
    audit.record("request.choose", request, summary=f"took home {home.id}'s yes", actor=actor)
    return None


def _standing(home: CareHome, hold_id: object) -> Hold:
    """The standing hold `hold_id` at this home, re-read under the home's row lock."""
    hold = None
    if isinstance(hold_id, int) and not isinstance(hold_id, bool):
        hold = session.scalars(
            select(Hold).where(Hold.id == hold_id).execution_options(populate_existing=True)
        ).one_or_none()
    if hold is None or hold.home_id != home.id:
        raise UpdateRejected({"hold": "There is no such hold at this home."})
    if hold.ended_at is not None:
        raise UpdateRejected({"hold": f"That hold has already ended ({hold.ended_how})."})
    return hold


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 1 else "1 hour"


def _already_recorded(key: str, home_id: int, fingerprint: str) -> Update | None:
    """The update this key recorded, when this is a true repeat of it. Raises KeyReused for anything else:
    answering a different request with the first one's result would tell its sender it was recorded."""
    done = session.scalars(select(Update).where(Update.idempotency_key == key)).one_or_none()
    if done is None:
        return None
    # Rows from before fingerprints were kept (None) can only be checked for the home.
    if done.home_id != home_id or done.idempotency_fingerprint not in (None, fingerprint):
        raise KeyReused()
    return done


def _fingerprint(home_id: int, change: Change) -> str:
    """What a request asked for, whatever its spelling: the form's "2" and the API's 2 are one request."""
    canonical = {
        "home": home_id,
        "counts": {str(code): str(value).strip() for code, value in change.counts.items()},
        "admissions": change.admissions,
        "closed_reason": change.closed_reason,
        "reopens_on": None if change.reopens_on is None else str(change.reopens_on),
        "note": change.note,
        "hold": [str(getattr(change, name)) for name in HOLD_ACTIONS],
    }
    if change.answer is not None:  # only then: keys recorded before answers existed keep their hashes
        canonical["answer"] = str(change.answer)
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _validate(home: CareHome, change: Change, today_at: datetime):
    errors: dict[str, str] = {}
    counts: dict[str, int] = {}
    for code, raw in change.counts.items():
        offer = home.offer(code)
        if offer is None:
            errors[code] = f"{home.name} does not offer {_kind_name(code)}, so its beds cannot be recorded."
            continue
        label = offer.kind.name
        value = _whole_number(raw)
        if value is None:
            errors[code] = f"{label}: enter a whole number of beds, like 2."
        elif value < 0:
            errors[code] = f"{label}: the number of free beds cannot be below 0."
        elif not availability.capacity_holds(offer.capacity, value):
            errors[code] = (
                f"{label}: the home is registered for {offer.capacity} beds, so no more than "
                f"{offer.capacity} can be free."
            )
        else:
            counts[code] = value

    if (change.confirm or not change.counts) and any(o.available is None for o in home.offers):
        errors["counts"] = "No numbers are recorded yet, so there is nothing to confirm: enter the beds free now."

    if change.admissions not in (None, "open", "closed"):
        errors["admissions"] = "Choose whether the home is open or closed to admissions."
    admissions_open = (
        home.admissions_open if change.admissions not in ("open", "closed") else change.admissions == "open"
    )

    reason, reopens_on = None, None
    if not admissions_open:
        reason = plaintext.clean(change.closed_reason if change.closed_reason is not None else home.closed_reason or "")
        if not reason:
            errors["closed_reason"] = "Say why admissions are closed, for example 'Covid outbreak'."
        elif len(reason) > REASON_MAX_CHARS:
            errors["closed_reason"] = f"Keep the reason to {REASON_MAX_CHARS} characters (it has {len(reason)})."
        raw_date = change.reopens_on if change.reopens_on is not None else home.reopens_on
        reopens_on = _date(raw_date)
        if raw_date not in (None, "") and reopens_on is None:
            errors["reopens_on"] = "Enter the expected reopening date as a date, like 2026-12-01, or leave it blank."
        elif reopens_on is not None and reopens_on < today_at.date():
            errors["reopens_on"] = "The expected reopening date has passed: enter a later date, or leave it blank."

    note = home.note if change.note is None else plaintext.clean(change.note)
    limit = current_app.config["NOTE_MAX_CHARS"]
    if len(note) > limit:
        errors["note"] = f"Keep the note to {limit} characters (it has {len(note)})."

    if change.confirm and "counts" not in errors:
        shown = (counts, admissions_open, reason, reopens_on, note)
        if errors or _differs(home, *shown):
            # Said first: the fields' own problems matter less than that nothing was confirmed.
            errors = {"confirm": CONFIRM_REFUSED, **errors}

    if errors:
        raise UpdateRejected(errors)
    return counts, admissions_open, reason, reopens_on, note


CONFIRM_REFUSED = (
    "Nothing was confirmed: the numbers on the page are not the ones recorded. "
    "Check them, then press Save to record them."
)


def _differs(home: CareHome, counts, admissions_open, reason, reopens_on, note) -> bool:
    """Whether validated values differ from what the home has recorded now."""
    if any(counts.get(o.kind_code) != o.available for o in home.offers):
        return True
    if (admissions_open, note) != (home.admissions_open, home.note):
        return True
    return not admissions_open and (reason, reopens_on) != (home.closed_reason, home.reopens_on)


def _whole_number(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,6}", raw.strip()):
        return int(raw.strip())
    return None


def _date(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            return None
    return None


def _kind_name(code: str) -> str:
    kind = session.get(CareKind, code)
    return kind.name.lower() + " care" if kind else repr(code if len(code) <= 20 else code[:20] + "...")
