"""CSV exports: the board as a coordinator filtered it, and the history for a date range.

Pure functions over plain rows (the board's snapshot dicts, history tuples), so the rules are tested
without a request. The board's own rules (tracker/static/board.js) are followed exactly: a home's
beds count as free only while it is open to admissions and its data is not unverified.
docs/exports.md lists the columns.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tracker.availability import Freshness, countable, counts, freshness, held
from tracker.geo import km_between
from tracker.models import CHANNEL_WORDS, Channel, history_what
from tracker.timefmt import LONDON

# Excel opens a CSV as UTF-8 only when it starts with a byte order mark; without it, names like
# "Tŷ Gwyn" arrive garbled.
BOM = "\ufeff"
# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets (OWASP's
# "CSV injection"): a home's note could otherwise reach a coordinator's spreadsheet as a live formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SORTS = ("distance", "beds", "freshness")
MAX_HISTORY_DAYS = 366


class BadRequest(ValueError):
    """A filter or date a person typed is not usable; the message says why, in plain English."""


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The CSV, a line at a time (history can be long: it is streamed), BOM first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180's line ending, which Excel expects
    writer.writerow([safe_cell(h) for h in header])
    yield BOM + _drain(buffer)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def uk_time(moment: datetime | None) -> str:
    """'2026-11-23 14:05 GMT' (or BST): UK time, with the zone so no one has to guess."""
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M %Z") if moment else ""


def uk_date(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else ""


# ---- the board, as filtered ----------------------------------------------------------------


@dataclass(frozen=True)
class BoardFilters:
    """The board's URL filters (board.js readFilters), already checked."""

    region_id: int | None = None  # None: all of England
    kind: str = ""
    locality: str = ""
    origin: tuple[float, float] | None = None  # the hospital distances are measured from
    max_km: float | None = None
    only_free: bool = False
    hide_unverified: bool = False
    sort: str = "distance"


@dataclass(frozen=True)
class BoardRow:
    home: dict
    freshness: Freshness
    usable: bool  # open and not unverified: its beds count
    km: float | None
    beds: int
    free: dict[str, int | None]  # kind -> beds it counts (availability.countable, holds taken out)


def parse_max_km(raw: str) -> float | None:
    if raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"Within (km): {raw!r} is not a number of kilometres.") from None
    if not math.isfinite(value) or value < 0:
        raise BadRequest("Within (km): give a distance of 0 km or more.")
    return value


def board_rows(
    homes: Iterable[dict], filters: BoardFilters, now: datetime, ageing_after: timedelta, unverified_after: timedelta
) -> list[BoardRow]:
    """The homes the board shows for these filters, in its order (board.js render())."""
    shown = []
    for home in homes:
        confirmed = datetime.fromisoformat(home["confirmed_at"]) if home["confirmed_at"] else None
        fresh = freshness(confirmed, now, ageing_after, unverified_after)
        usable = counts(home["admissions"] == "open", fresh.verified)
        km = _distance_km(home, filters.origin)
        free = _countable(home, fresh, now)
        beds = sum(n or 0 for code, n in free.items() if not filters.kind or code == filters.kind)
        if filters.kind and filters.kind not in home["kinds"]:
            continue
        if filters.locality and home["locality"] != filters.locality:
            continue
        if filters.hide_unverified and fresh is Freshness.UNVERIFIED:
            continue
        if filters.only_free and beds == 0:
            continue
        if filters.max_km is not None and (km is None or km > filters.max_km):
            continue
        shown.append(BoardRow(home, fresh, usable, km, beds, free))
    # Python's sort is stable, as the browser's is: ties keep the snapshot's order (by name).
    by_distance = sorted(shown, key=lambda r: (r.km is None, r.km or 0, r.home["name"].casefold()))
    if filters.sort == "beds":
        return sorted(by_distance, key=lambda r: -r.beds)
    if filters.sort == "freshness":
        return sorted(shown, key=lambda r: r.home["confirmed_at"] or "", reverse=True)
    return by_distance


def _countable(home: dict, fresh: Freshness, now: datetime) -> dict[str, int | None]:
    is_open, holds = home["admissions"] == "open", home.get("holds", [])
    return {
        code: countable(o["available"], is_open, fresh.verified, held(holds, code, now))
        for code, o in home["kinds"].items()
    }


def _distance_km(home: dict, origin: tuple[float, float] | None) -> float | None:
    if origin is None or home["lat"] is None or home["lon"] is None:
        return None
    return km_between(origin[0], origin[1], home["lat"], home["lon"])


def board_table(rows: Sequence[BoardRow], kinds: Sequence[tuple[str, str]]) -> tuple[list[str], list[list]]:
    """Header and rows of the board's CSV. A kind's "beds free" is what the board counts: blank while
    the data is unverified or was never reported, 0 while the home is closed to admissions."""
    header = ["Care home", "Locality", "Address", "Postcode", "Phone", "Distance (km)", "Admissions",
              "Closed reason", "Reopens on"]  # fmt: skip
    for _, name in kinds:
        header += [f"{name}: beds free", f"{name}: capacity"]
    header += ["Beds free (counted)", "Data", "Last confirmed (UK time)", "Confirmed by",
               "Not answering reminders since (UK time)", "Note"]  # fmt: skip
    table = []
    for row in rows:
        home = row.home
        cells = [home["name"], home["locality"], home["address"], home["postcode"], home["phone"],
                 "" if row.km is None else round(row.km, 1), "Open" if home["admissions"] == "open" else "Closed",
                 home["closed_reason"], uk_date(home["reopens_on"])]  # fmt: skip
        for code, _ in kinds:
            offer = home["kinds"].get(code)
            if offer is None:
                cells += ["", ""]
                continue
            free = row.free[code]
            cells += ["" if free is None else free, offer["capacity"]]
        data = str(row.freshness) + (": not counted" if row.freshness is Freshness.UNVERIFIED else "")
        confirmed = datetime.fromisoformat(home["confirmed_at"]) if home["confirmed_at"] else None
        flagged = datetime.fromisoformat(home["not_answering_since"]) if home["not_answering_since"] else None
        via = CHANNEL_WORDS.get(Channel(home["confirmed_via"])) if home["confirmed_via"] else ""
        cells += [row.beds, data, uk_time(confirmed), via, uk_time(flagged), home["note"]]
        table.append(cells)
    return header, table


# ---- history for a date range ----------------------------------------------------------------


def parse_uk_date(label: str, raw: str) -> date:
    """'23/11/2026' (or '2026-11-23', as a browser's date picker sends it)."""
    text = raw.strip()
    if not text:
        raise BadRequest(f"Enter the {label} date, for example 23/11/2026.")
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise BadRequest(f"The {label} date {text!r} is not a date: write it as day/month/year, for example 23/11/2026.")


def date_range(raw_from: str, raw_to: str, *, max_days: int = MAX_HISTORY_DAYS) -> tuple[date, date]:
    first, last = parse_uk_date("from", raw_from), parse_uk_date("to", raw_to)
    if last < first:
        raise BadRequest(f"The to date ({last:%d/%m/%Y}) is before the from date ({first:%d/%m/%Y}).")
    if (last - first).days + 1 > max_days:
        raise BadRequest(f"Choose at most {max_days} days at a time.")
    return first, last


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """From midnight starting `first` to midnight ending `last`, UK time (so a BST day is 23:00–23:00 UTC)."""
    start = datetime(first.year, first.month, first.day, tzinfo=LONDON)
    after = last + timedelta(days=1)
    return start, datetime(after.year, after.month, after.day, tzinfo=LONDON)


# The history's "What" column (models.history_what): only the first two are the home confirming its numbers.
WHAT_WORDS = {"update": "update", "no change": "no change", "hold": "hold placed or ended",
              "answer": "answer to a bed request"}  # fmt: skip


def history_header(kinds: Sequence[tuple[str, str]]) -> list[str]:
    header = ["Seq", "Recorded (UK time)", "Care home", "Care home id", "Locality", "Region", "How", "By", "What",
              "Changed", "Admissions", "Closed reason", "Reopens on", "Note"]  # fmt: skip
    for _, name in kinds:
        header += [f"{name}: beds free", f"{name}: capacity"]
    return header


def history_row(row: Sequence, kinds: Sequence[tuple[str, str]]) -> list:
    """One history row: (seq, recorded_at, home name, home id, locality, region, channel, actor,
    changed, state, hold_id, answer_id). Each is the home's state at that moment; only an update or a
    "no change" is the home vouching for it (a hold or an answer to a bed request is not)."""
    seq, recorded_at, home, home_id, locality, region, channel, actor, changed, state, hold_id, answer_id = row
    what = history_what(changed, hold_id, answer_id)
    cells = [seq, uk_time(recorded_at), home, home_id, locality, region, CHANNEL_WORDS.get(channel, str(channel)),
             actor, WHAT_WORDS[what], "yes" if changed else ("no change" if what == "no change" else "no"),
             "Open" if state.get("admissions") == "open" else "Closed",
             state.get("closed_reason"), uk_date(state.get("reopens_on")), state.get("note")]  # fmt: skip
    for code, _ in kinds:
        offer = state.get("kinds", {}).get(code)
        cells += ["", ""] if offer is None else [offer.get("available"), offer.get("capacity")]
    return cells
