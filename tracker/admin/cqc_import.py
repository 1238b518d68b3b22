"""Importing a CQC directory file: care homes, their kinds of care and capacities, and localities.

Each row is checked whole (cqc_files.location) before anything is written, then written in its own
transaction with its audit row, so a bad row is reported and skipped and never half-imported; a
dry run writes every row in savepoints of one transaction and rolls it all back. Vacancies are never
written here (vacancies.record_update is their only writer). The rules are in docs/cqc-import.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tracker import audit, availability, plaintext
from tracker.admin import cqc_files
from tracker.db import session
from tracker.families import postcodes
from tracker.models import CareHome, CareKind, Locality, Offer, Region, utcnow

LIST_LIMIT = 20  # names and lines shown per heading of a summary; the rest are counted


class ImportRefused(Exception):
    """The whole import cannot start (no region to put new localities in); the message says what to do."""


@dataclass
class Summary:
    source: str  # the file's name
    title: str  # which CQC file it is
    unit: str  # "line" or "row"
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # "Name: what changed"
    unchanged: int = 0
    left_out: Counter = field(default_factory=Counter)  # reason -> rows (not care homes, other authorities)
    bad_rows: list[str] = field(default_factory=list)  # "line 12: why"
    notes: list[str] = field(default_factory=list)  # imported, with something to check
    default_beds: int = 0
    given_default_beds: list[str] = field(default_factory=list)  # homes whose new kinds got default_beds

    @property
    def skipped(self) -> int:
        return sum(self.left_out.values()) + len(self.bad_rows)

    def headline(self) -> str:
        counts = (
            f"{len(self.created)} created, {len(self.updated)} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped."
        )
        if self.dry_run:
            return f"Dry run of {self.source} ({self.title}), nothing was saved: it would give {counts}"
        return f"Imported {self.source} ({self.title}): {counts}"

    def sections(self, limit: int = LIST_LIMIT) -> list[tuple[str, list[str]]]:
        """(heading, lines) for each part with something in it; long lists end with "... and N more"."""
        left_out = [f"{count} {reason}" for reason, count in sorted(self.left_out.items())]
        parts = [
            ("Created", self.created),
            ("Updated", self.updated),
            ("Skipped", left_out + _capped(self.bad_rows, limit)),
            ("Imported, but check", self.notes + self._defaulted(limit)),
        ]
        return [(heading, _capped(lines, limit)) for heading, lines in parts if lines]

    def _defaulted(self, limit: int) -> list[str]:
        homes = self.given_default_beds
        if not homes:
            return []
        names = ", ".join(homes[:limit]) + (f" and {len(homes) - limit} more" if len(homes) > limit else "")
        return [
            f"{len(homes)} home(s) given {self.default_beds} beds for each new kind of care, as this file has no bed "
            f"counts: import the monthly care directory with filters, or set them on each home's page ({names})"
        ]

    def lines(self, limit: int = LIST_LIMIT) -> list[str]:
        out = [self.headline()]
        for heading, lines in self.sections(limit):
            out += [f"{heading}:"] + [f"  {line}" for line in lines]
        return out


def _capped(lines: list[str], limit: int) -> list[str]:
    return lines if len(lines) <= limit + 1 else lines[:limit] + [f"... and {len(lines) - limit} more"]


def run_import(
    sheet: cqc_files.Sheet,
    source: str,
    *,
    local_authority: str | None = None,
    region: str | None = None,
    actor: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,
    now: datetime | None = None,
) -> Summary:
    """Import every care home of `sheet` (from cqc_files.open_file). `actor` None: the signed-in admin."""
    # Every cell as plaintext.clean leaves it: a file's stray control characters (a NUL, a tab or
    # line break inside a name) never reach a home's name or address.
    run = _Import(plaintext.clean(source), sheet, region, actor, dry_run, now or utcnow())
    seen: dict[str, int] = {}
    try:
        for line, cells in sheet.rows:
            if progress:
                progress(1)
            where = f"{sheet.unit} {line}"
            try:
                cells = {name: plaintext.clean(value) for name, value in cells.items()}
                found = cqc_files.location(sheet.kind, line, cells, local_authority)
                if found.cqc_id in seen:
                    raise cqc_files.BadRow(
                        f"{found.cqc_id} is listed again (first on {sheet.unit} {seen[found.cqc_id]})"
                    )
                seen[found.cqc_id] = line
            except cqc_files.NotWanted as exc:
                run.summary.left_out[str(exc)] += 1
                continue
            except cqc_files.BadRow as exc:
                run.summary.bad_rows.append(f"{where}: {exc}")
                continue
            run.write(found, where)
    finally:
        session.rollback()  # a dry run's whole work; otherwise every row is committed and only reads are open
    return run.summary


class _Import:
    def __init__(
        self, source: str, sheet: cqc_files.Sheet, region: str | None, actor: str | None, dry_run: bool, now: datetime
    ):
        self.now = now  # when new homes are first due a reminder
        self.summary = Summary(source=source, title=sheet.title, unit=sheet.unit, dry_run=dry_run)
        self.actor, self.dry_run = actor, dry_run
        self.defaulted = False  # whether the row being written gave a kind the default beds
        self.region_name = plaintext.clean(region or "")
        if not self.region_name:
            regions = session.scalars(select(Region).limit(2)).all()
            if len(regions) != 1:
                raise ImportRefused(
                    "Say which region new localities belong to (--region, or the Region field): the tracker has "
                    + ("no region yet, and one is created with the name given." if not regions else "several.")
                )
        self.positions = dict(session.execute(select(CareKind.code, CareKind.position)).all())
        self.summary.default_beds = current_app.config["CQC_DEFAULT_BEDS"]

    def write(self, found: cqc_files.Location, where: str) -> None:
        """Write one location, with its audit row, in a savepoint; commit it unless this is a dry run."""
        notes: list[str] = []
        self.defaulted = False
        try:
            with session.begin_nested():
                outcome = self._apply(found, where, notes)
        except IntegrityError:
            # Another import or an admin gave this CQC location ID to a home since this row was read.
            self.summary.bad_rows.append(f"{where}: another home took CQC location ID {found.cqc_id} meanwhile")
            return
        if not self.dry_run:
            session.commit()
        if outcome is None:
            self.summary.unchanged += 1
        elif outcome == "created":
            self.summary.created.append(found.name)
        else:
            self.summary.updated.append(f"{found.name}: {outcome}")
        self.summary.notes += notes
        if self.defaulted:
            self.summary.given_default_beds.append(found.name)

    def _apply(self, found: cqc_files.Location, where: str, notes: list[str]) -> str | None:
        # Locked and read afresh, as the write path does: a manager's update may be changing its beds free.
        home = session.scalars(
            select(CareHome)
            .where(CareHome.cqc_location_id == found.cqc_id)
            .with_for_update(of=CareHome)
            .execution_options(populate_existing=True)
        ).one_or_none()
        created = home is None
        # Everything that queries comes before a new home joins the session, which would flush it half-filled.
        coordinates = self._coordinates(home, found, where, notes)
        if created:
            # Listed publicly: CQC publishes every care home; exact counts stay the home's choice.
            home = CareHome(
                cqc_location_id=found.cqc_id, link_version=1, listed_publicly=True, public_counts=False,
                locality=self._locality(found.local_authority), chase_due_at=self.now,
            )  # fmt: skip
        values = {"name": found.name, "address": found.address, "postcode": found.postcode, "phone": found.phone}
        if home.phone and _digits(home.phone) == _digits(found.phone):
            values["phone"] = home.phone  # the weekly and monthly files space numbers differently: not a change
        changes = audit.apply(home, {**values, **coordinates})
        session.add(home)

        before = {o.kind_code: o.capacity for o in home.offers}
        self._offers(home, found, before, where, notes)
        after = {o.kind_code: o.capacity for o in home.offers}
        if before != after:
            changes["kinds"] = [before, after]
        if not changes:
            return None
        action = "created" if created else "updated"
        summary = f"{action} from {self._from(where)}"
        audit.record("home.import", home, changes=changes, actor=self.actor, summary=summary)
        return "created" if created else ", ".join(dict.fromkeys(_words(name, changes[name]) for name in changes))

    def _from(self, where: str | None = None) -> str:
        return f"CQC file {self.summary.source}" + (f", {where}" if where else "")

    def _coordinates(self, home: CareHome | None, found: cqc_files.Location, where: str, notes: list[str]) -> dict:
        if found.latitude is not None:
            return {"latitude": found.latitude, "longitude": found.longitude}
        if home and home.postcode == found.postcode and home.latitude is not None:
            return {}  # same postcode: keep what is there, which an admin may have made exact
        point = postcodes.locate(found.postcode)
        if point is None:
            notes.append(f"{where}: {found.name}: postcode {found.postcode} not found, so no map position")
            return {"latitude": None, "longitude": None}
        return {"latitude": point.lat, "longitude": point.lon}

    def _offers(self, home: CareHome, found: cqc_files.Location, before: dict, where: str, notes: list[str]) -> None:
        """Add the kinds CQC lists (never remove one) and set capacities; see docs/cqc-import.md."""
        for code in found.kinds:
            offer = home.offer(code)
            if offer is None:
                capacity = found.beds or max(before.values(), default=0)
                if not capacity:
                    capacity, self.defaulted = self.summary.default_beds, True
                home.offers.append(Offer(kind_code=code, capacity=capacity, position=self.positions.get(code, 0)))
            elif found.beds is not None and offer.capacity != found.beds:
                if not availability.capacity_holds(found.beds, offer.available):
                    notes.append(
                        f"{where}: {found.name}: {code} keeps {offer.capacity} beds: {offer.available} are "
                        f"recorded free now, more than CQC's {found.beds}"
                    )
                else:
                    offer.capacity = found.beds

    def _locality(self, authority: str) -> Locality:
        """The locality named after the local authority, made (with its region if need be) on first use."""
        place = session.scalars(select(Locality).where(func.lower(Locality.name) == authority.lower())).first()
        if place is None:
            place = Locality(name=authority, region=self._region())
            session.add(place)
            audit.record("locality.create", place, changes={"name": [None, authority]}, actor=self.actor,
                         summary=f"for {self._from()}")  # fmt: skip
        return place

    def _region(self) -> Region:
        if not self.region_name:
            return session.scalars(select(Region)).one()
        region = session.scalars(select(Region).where(func.lower(Region.name) == self.region_name.lower())).first()
        if region is None:
            region = Region(name=self.region_name)
            session.add(region)
            audit.record("region.create", region, changes={"name": [None, region.name]}, actor=self.actor)
        return region


def _digits(phone: str | None) -> str:
    return "".join(c for c in phone or "" if c.isdigit())


def _words(field_name: str, change: list) -> str:
    """What changed, for the summary: the field, or for kinds of care each capacity before and after."""
    if field_name == "kinds":
        before, after = change
        moves = [f"{code} {before.get(code, 'new')}→{after[code]}" for code in after if before.get(code) != after[code]]
        return "kinds of care (" + ", ".join(moves) + ")"
    return {"latitude": "map position", "longitude": "map position"}.get(field_name, field_name)
