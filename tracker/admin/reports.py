"""Reports for commissioners, read from the history (vacancy_update): beds free by kind of care over
time, and how long a vacancy stays free before it is filled. The methods are in docs/reports.md and
on the page; each function takes `now` so a test can fix the moment.

Both walk each home's updates in order (home, seq), reading only the rows that can matter: those
recorded after the range's start less UNVERIFIED_AFTER (anything older was unverified by the start).
What counts is availability.py's rule, applied at each moment of the past.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby

from sqlalchemy import select

from tracker.availability import countable, held, unverified_at, verified, verified_since
from tracker.db import session
from tracker.models import CareHome, Locality, Update
from tracker.timefmt import LONDON

# Beds are counted at midday UK time: discharges are planned in the morning and placed in the
# afternoon, so noon is the moment a commissioner's "beds free that day" most often means.
SAMPLE_TIME = time(12, 0)


def _updates(since: datetime, until: datetime) -> Iterator[tuple[int, list[tuple[datetime, dict]]]]:
    """Each home's updates recorded in (since, until], oldest first (ix_vacancy_update_recorded_at)."""
    query = (
        select(Update.home_id, Update.recorded_at, Update.state)
        .where(Update.recorded_at > since, Update.recorded_at <= until)
        .order_by(Update.home_id, Update.seq)
    )
    rows = session.execute(query)
    for home_id, group in groupby(rows, key=lambda row: row[0]):
        yield home_id, [(at, state) for _, at, state in group]


def _confirmed_at(at: datetime, state: dict) -> datetime | None:
    """When the home last confirmed its numbers, as of a history row: a hold's or an answer's row is not
    a confirmation, and its state says when the last one was (rows from before states said so were)."""
    confirmed = state.get("confirmed_at", at.isoformat())
    return datetime.fromisoformat(confirmed) if confirmed else None


# ---- beds free by kind over time ---------------------------------------------------------------


def sample_moments(first: date, last: date, now: datetime) -> list[datetime]:
    """Midday UK time on each day from `first` to `last`, leaving out middays still to come."""
    days = ((first + timedelta(days=n)) for n in range((last - first).days + 1))
    moments = [datetime.combine(day, SAMPLE_TIME, tzinfo=LONDON) for day in days]
    return [m for m in moments if m <= now]


def beds_by_kind(moments: Sequence[datetime], unverified_after: timedelta) -> list[dict[str, int]]:
    """For each moment, beds free by kind: each home's latest state at that moment, counted only if
    the home was open to admissions and its data verified then (younger than UNVERIFIED_AFTER), as the
    board would have counted them."""
    totals: list[dict[str, int]] = [defaultdict(int) for _ in moments]
    if not moments:
        return totals
    for _, updates in _updates(verified_since(moments[0], unverified_after), moments[-1]):
        latest = -1
        for index, moment in enumerate(moments):
            while latest + 1 < len(updates) and updates[latest + 1][0] <= moment:
                latest += 1
            if latest < 0:
                continue
            at, state = updates[latest]
            confirmed = _confirmed_at(at, state)
            is_open, is_verified = state.get("admissions") == "open", verified(confirmed, moment, unverified_after)
            holds = state.get("holds", [])
            for code, offer in state.get("kinds", {}).items():
                free = countable(offer.get("available"), is_open, is_verified, held(holds, code, moment))
                totals[index][code] += free or 0
    return totals


# ---- time from a vacancy appearing to its being filled -----------------------------------------

FILLED, CLOSED, LAPSED = "filled", "closed", "lapsed"


@dataclass(frozen=True)
class Vacancy:
    """Beds of one kind at one home, shown as free from `opened` until `ended` (None: still free now)."""

    home_id: int
    kind: str
    opened: datetime
    ended: datetime | None
    outcome: str | None  # filled (back to 0), closed (to admissions), lapsed (unverified); None: still free

    @property
    def hours(self) -> float | None:
        return None if self.ended is None else (self.ended - self.opened).total_seconds() / 3600


def vacancies(start: datetime, end: datetime, now: datetime, unverified_after: timedelta) -> list[Vacancy]:
    """Every vacancy that appeared in [start, end), followed up to `now`.

    A vacancy appears when a home's beds of a kind go from none shown to some: from 0, from closed,
    or from unverified (the board did not count them before). It ends when an update says 0 (filled),
    when the home closes to admissions, or UNVERIFIED_AFTER after the home's last update (lapsed: the
    board stopped counting it, and whether it was filled is not known).
    """
    found = []
    for home_id, updates in _updates(verified_since(start, unverified_after), now):
        shown: dict[str, datetime] = {}  # kind -> when its beds appeared
        last_at = None  # when the home last confirmed its numbers
        for at, state in updates:
            if shown and at >= unverified_at(last_at, unverified_after):
                found += _lapse(home_id, shown, unverified_at(last_at, unverified_after))
            # A hold's or an answer's row is not a confirmation: it must not keep a vacancy verified.
            last_at = _confirmed_at(at, state) or at
            is_open = state.get("admissions") == "open"
            kinds = state.get("kinds", {})
            for kind in list(shown):
                free = (kinds.get(kind) or {}).get("available") or 0
                if not is_open or free == 0:
                    found.append(Vacancy(home_id, kind, shown.pop(kind), at, FILLED if is_open else CLOSED))
            if not verified(last_at, at, unverified_after):
                continue
            for kind, offer in kinds.items():
                if is_open and (offer.get("available") or 0) > 0 and kind not in shown:
                    shown[kind] = at
        if shown and now >= unverified_at(last_at, unverified_after):
            found += _lapse(home_id, shown, unverified_at(last_at, unverified_after))
        found += [Vacancy(home_id, kind, opened, None, None) for kind, opened in shown.items()]
    return [v for v in found if start <= v.opened < end]


def _lapse(home_id: int, shown: dict[str, datetime], at: datetime) -> list[Vacancy]:
    """End every vacancy shown: the home's data became unverified at `at`."""
    ended = [Vacancy(home_id, kind, opened, at, LAPSED) for kind, opened in shown.items()]
    shown.clear()
    return ended


@dataclass(frozen=True)
class FillTimes:
    label: str
    filled: int
    median_hours: float | None
    p90_hours: float | None
    still_free: int
    withdrawn: int  # closed to admissions or lapsed before being filled


def fill_times(found: Sequence[Vacancy], label_of, order: Sequence[str] = ()) -> list[FillTimes]:
    """Median and 90th percentile hours to fill, per group (label_of(vacancy)), then all together."""
    groups: dict[str, list[Vacancy]] = defaultdict(list)
    for vacancy in found:
        groups[label_of(vacancy)].append(vacancy)
    labels = [label for label in order if label in groups] + sorted(set(groups) - set(order))
    rows = [_summarise(label, groups[label]) for label in labels]
    if rows:
        rows.append(_summarise("All", list(found)))
    return rows


def _summarise(label: str, group: list[Vacancy]) -> FillTimes:
    hours = sorted(v.hours for v in group if v.outcome == FILLED)
    return FillTimes(
        label=label,
        filled=len(hours),
        median_hours=percentile(hours, 0.5),
        p90_hours=percentile(hours, 0.9),
        still_free=sum(1 for v in group if v.outcome is None),
        withdrawn=sum(1 for v in group if v.outcome in (CLOSED, LAPSED)),
    )


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the nearest ranks (NumPy's and Excel's PERCENTILE.INC method)."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def home_localities() -> dict[int, str]:
    return dict(session.execute(select(CareHome.id, Locality.name).join(CareHome.locality)).all())
