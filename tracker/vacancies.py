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
from datetime import date, datetime
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tracker import availability, plaintext
from tracker.db import session
from tracker.models import BoardCursor, CareHome, CareKind, Channel, Region, Update, utcnow
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
        counts, admissions_open, reason, reopens_on, note = _validate(home, change, now)

        before = home_state(home)
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
            changed=state != before,
            state=state,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=fingerprint,
        )
        session.add(row)
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
    """The part of a home that updates change. Stored in each history row and sent to boards as is."""
    return {
        "admissions": "open" if home.admissions_open else "closed",
        "closed_reason": home.closed_reason,
        "reopens_on": home.reopens_on.isoformat() if home.reopens_on else None,
        "note": home.note,
        "note_at": home.note_at.isoformat() if home.note_at else None,
        "kinds": {o.kind_code: {"capacity": o.capacity, "available": o.available} for o in home.offers},
    }


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
    }
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
