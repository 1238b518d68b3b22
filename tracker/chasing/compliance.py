"""Compliance: the share of homes whose numbers were fresh (availability.py), by locality.

Read from the history (vacancy_update), so any past moment can be measured the same way as now: a
home counts at time t when it recorded an update or a "no change" within AGEING_AFTER before t (a
day by default). Homes are those in the tracker today (a home added last week counts as unconfirmed
before it joined).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from tracker.availability import fresh_since
from tracker.db import session
from tracker.models import CareHome, Locality, Update


@dataclass(frozen=True)
class Share:
    confirmed: int
    homes: int

    @property
    def percent(self) -> int:
        return round(100 * self.confirmed / self.homes) if self.homes else 0


def _homes_by_locality() -> dict[str, int]:
    statement = select(Locality.name, func.count(CareHome.id)).join(CareHome.locality).group_by(Locality.name)
    return dict(session.execute(statement).all())


def by_locality(at: datetime, homes: dict[str, int] | None = None) -> dict[str, Share]:
    """Each locality's share at `at`, plus "All localities"."""
    homes = homes if homes is not None else _homes_by_locality()
    confirmed = dict(
        session.execute(
            select(Locality.name, func.count(func.distinct(Update.home_id)))
            .join(CareHome, Update.home_id == CareHome.id)
            .join(CareHome.locality)
            # A hold placed or ended is not the home confirming its numbers.
            .where(
                Update.recorded_at > fresh_since(at),
                Update.recorded_at <= at,
                Update.hold_id.is_(None),
                Update.answer_id.is_(None),
            )
            .group_by(Locality.name)
        ).all()
    )
    shares = {name: Share(confirmed.get(name, 0), count) for name, count in sorted(homes.items())}
    shares["All localities"] = Share(sum(s.confirmed for s in shares.values()), sum(homes.values()))
    return shares


def daily(now: datetime, days: int = 14) -> list[tuple[datetime, dict[str, Share] | None]]:
    """The share at this time of day on each of the last `days` days, oldest first; None for a day
    before the tracker's first update (nothing to measure, which is not the same as 0 %)."""
    first = session.scalar(select(func.min(Update.recorded_at)))
    moments = [now - timedelta(days=back) for back in range(days - 1, -1, -1)]
    homes = _homes_by_locality()  # counted once: the homes are today's for every day
    return [(at, by_locality(at, homes) if first is not None and at >= first else None) for at in moments]
