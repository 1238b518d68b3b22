"""Times as people in England read them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def local_time(moment: datetime | str) -> str:
    """'14:05 on Monday 23 November 2026', in UK time whatever the server's zone; ISO text as states carry it."""
    local = (datetime.fromisoformat(moment) if isinstance(moment, str) else moment).astimezone(LONDON)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B %Y}"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    raise AssertionError("unreachable")


def short_time(moment: datetime) -> str:
    """'14:05 Mon 23 Nov', for text messages."""
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M %a} {local.day} {local:%b}"


def duration(span: timedelta) -> str:
    """'24 hours', '90 minutes', '3 days': a setting as people say it."""
    seconds = int(span.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0 and (seconds >= size or size == 1):
            count = seconds // size
            if unit == "day" and count == 1:
                return "24 hours"
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")
