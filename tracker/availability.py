"""The one rule for a bed you can count on: fresh, ageing or unverified, open to admissions, not held.

Every representation (the board's snapshot and events, the CSV exports, the REST API and its SQL,
FHIR, the families' search index, the reports over history, the SMS status reply) asks this module;
tests/test_availability.py draws homes, holds and times and holds them all to it. A hold
(docs/holds.md) takes one bed of its kind out of the count while it stands (`held`). Thresholds
default to the app's AGEING_AFTER and UNVERIFIED_AFTER; pure callers (reports, tests) pass them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, func, select

from tracker.models import CareHome, Hold, Hospital, Offer

# The largest number of beds any channel accepts for one kind of care at one home: registered beds
# (admin form, CQC import) and beds free (a text, a call). The largest care homes in England have a
# few hundred beds; 2,000 leaves room for a typo to be refused and a real home never to be. The
# database's own check is only available <= capacity.
MAX_BEDS = 2000

# The UK and its islands, as a latitude/longitude box: where a home may be placed (admin form, CQC
# import). A family's device may be a little outside it (at sea, a fix drifting), so searches from a
# device accept NEAR_UK_MARGIN degrees more all round.
UK_SOUTH, UK_NORTH, UK_WEST, UK_EAST = 49.8, 60.9, -8.7, 1.8
NEAR_UK_MARGIN = 0.8


def in_uk(lat: float, lon: float, margin: float = 0.0) -> bool:
    return UK_SOUTH - margin <= lat <= UK_NORTH + margin and UK_WEST - margin <= lon <= UK_EAST + margin


def capacity_holds(capacity: int, available: int | None) -> bool:
    """Registered beds are never fewer than beds free (the database checks the same: available_in_range)."""
    return available is None or 0 <= available <= capacity


class Freshness(enum.StrEnum):
    FRESH = "fresh"
    AGEING = "ageing"
    UNVERIFIED = "unverified"

    @property
    def verified(self) -> bool:
        return self is not Freshness.UNVERIFIED


# The words every channel uses (CSV, FHIR, API, pages, events): the enum's values.
WORDS = tuple(str(f) for f in Freshness)


def _ageing_after() -> timedelta:
    return current_app.config["AGEING_AFTER"]


def _unverified_after() -> timedelta:
    return current_app.config["UNVERIFIED_AFTER"]


def ageing_at(confirmed_at: datetime, ageing_after: timedelta | None = None) -> datetime:
    """When data confirmed at `confirmed_at` stops being fresh."""
    return confirmed_at + (_ageing_after() if ageing_after is None else ageing_after)


def unverified_at(confirmed_at: datetime, unverified_after: timedelta | None = None) -> datetime:
    """When data confirmed at `confirmed_at` stops being verified: its beds stop counting then."""
    return confirmed_at + (_unverified_after() if unverified_after is None else unverified_after)


def verified_since(now: datetime, unverified_after: timedelta | None = None) -> datetime:
    """Data confirmed after this moment is verified at `now` (the same boundary as unverified_at)."""
    return now - (_unverified_after() if unverified_after is None else unverified_after)


def fresh_since(now: datetime, ageing_after: timedelta | None = None) -> datetime:
    """Data confirmed after this moment is fresh at `now` (the same boundary as ageing_at)."""
    return now - (_ageing_after() if ageing_after is None else ageing_after)


def verified(confirmed_at: datetime | None, now: datetime, unverified_after: timedelta | None = None) -> bool:
    return confirmed_at is not None and confirmed_at > verified_since(now, unverified_after)


def freshness(
    confirmed_at: datetime | None,
    now: datetime,
    ageing_after: timedelta | None = None,
    unverified_after: timedelta | None = None,
) -> Freshness:
    if not verified(confirmed_at, now, unverified_after):
        return Freshness.UNVERIFIED
    if confirmed_at <= fresh_since(now, ageing_after):
        return Freshness.AGEING
    return Freshness.FRESH


def counts(admissions_open: bool, is_verified: bool) -> bool:
    """Whether a home's beds count as free: open to admissions and its data verified."""
    return admissions_open and is_verified


def standing(holds: Iterable[Mapping], now: datetime) -> list[Mapping]:
    """The holds of a home's state ("holds": [{"kind", "until", ...}]) standing at `now`: `until` is to come.

    A hold counts until its `until` even before the clock ends it, so every representation agrees
    at any moment, and the reports over history count what stood then."""
    return [h for h in holds if datetime.fromisoformat(h["until"]) > now]


def held(holds: Iterable[Mapping], kind: str, now: datetime) -> int:
    """Holds of `kind` standing at `now`, from a home's state (`standing`)."""
    return sum(1 for h in standing(holds, now) if h["kind"] == kind)


def countable(available: int | None, admissions_open: bool, is_verified: bool, held: int = 0) -> int | None:
    """Beds of one kind a coordinator can count on: None while not known (unverified, or never
    reported), 0 while the home is closed to admissions, else the beds free less those held."""
    if not is_verified or available is None:
        return None
    return max(0, available - held) if counts(admissions_open, is_verified) else 0


def standing_holds(home_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Each home's holds not yet ended, as its state lists them (vacancies.hold_json), soonest `until` first:
    for callers holding rows, not states. `held` and `standing` say which of them count at a moment."""
    from tracker.db import session  # the rule itself needs no database; only this reader does
    from tracker.vacancies import hold_json  # the write path imports this module

    found: dict[int, list[dict]] = {}
    ids = list(home_ids)
    if not ids:
        return found
    query = (
        select(Hold.home_id, Hold.id, Hold.kind_code, Hospital.name, Hold.until, Hold.hospital_id)
        .join(Hospital, Hold.hospital_id == Hospital.id)
        .where(Hold.home_id.in_(ids), Hold.ended_at.is_(None))
        .order_by(Hold.until, Hold.id)
    )
    for home_id, *hold in session.execute(query):
        found.setdefault(home_id, []).append(hold_json(*hold))
    return found


def bed_free_clause(now: datetime) -> ColumnElement[bool]:
    """`countable` > 0 for a query over offer, less holds: more beds free than holds standing at `now`."""
    standing = (
        select(func.count(Hold.id))
        .where(
            Hold.home_id == Offer.home_id,
            Hold.kind_code == Offer.kind_code,
            Hold.ended_at.is_(None),
            Hold.until > now,
        )
        .scalar_subquery()
    )
    return Offer.available > standing


def countable_clause(now: datetime, unverified_after: timedelta | None = None) -> ColumnElement[bool]:
    """`counts` in SQL, for a query over care_home: open to admissions and verified at `now`."""
    return and_(CareHome.admissions_open, verified_clause(now, unverified_after))


def verified_clause(now: datetime, unverified_after: timedelta | None = None) -> ColumnElement[bool]:
    return CareHome.confirmed_at > verified_since(now, unverified_after)
