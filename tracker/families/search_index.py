"""Families' search: publicly listed homes held in memory per process, ranked by distance.

Only public fields ever enter the index, so nothing else can leave through the page, the API or the
live channel: no notes, closure reasons, contacts, capacities or who confirmed. Exact counts are kept
only for homes that allow them (`care_home.public_counts`). The index is patched from the homes that
changed since the board cursor it was built at, and rebuilt whole every PUBLIC_INDEX_TTL_SECONDS to pick
up homes listed or unlisted without an update. A search is then a few array operations over the
homes; bench/search.py times whole searches with 15,000 homes.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
from flask import current_app
from sqlalchemy import func, select

from tracker import availability, timefmt
from tracker.availability import Freshness, freshness
from tracker.db import session
from tracker.extensions import socketio
from tracker.families import places
from tracker.families.geocoding import Location
from tracker.models import BoardCursor, CareHome, Hold, Locality, Offer, Region, Update

# Kinds of care in a family's words. A kind not listed here is not shown to the public: discharge to
# assess beds are arranged by the NHS for a patient leaving hospital, not chosen by a family.
PUBLIC_KINDS = {
    "RES": "Residential care",
    "NUR": "Nursing care",
    "DRES": "Dementia care",
    "DNUR": "Dementia care with nursing",
    "MH": "Mental health care",
    "LD": "Learning disability care",
}
EARTH_KM = 6371.0088
KM_PER_MILE = 1.609344
RESULTS = 20  # homes with vacancies listed, nearest first
OTHERS = 20  # homes nearby without a vacancy (full, closed or unverified), shown as such
FURTHER = 5  # when none within the radius has one: the nearest further away that do
PATCH_LIMIT = 500  # homes changed since the index was made; more, and a rebuild is as cheap
# A region covers the box around its listed homes, widened by this much: a family just over its edge
# still sees the homes near them; one further out is told the tracker does not cover where they are.
COVERAGE_MARGIN_KM = 25


@dataclass(frozen=True)
class PublicHome:
    id: int
    name: str
    town: str
    address: str
    postcode: str
    phone: str
    lat: float
    lon: float
    admissions_open: bool
    confirmed_at: datetime | None
    # (kind, beds available or None before the first report), public kinds only. Counts stay here even
    # when public_counts is off: only what view() emits leaves the process.
    offers: tuple[tuple[str, int | None], ...]
    public_counts: bool
    # Holds not yet ended, as {"kind", "until"} (never the hospital: that is not public). Which of them
    # count is asked at each search (`free`): one past its `until` frees its bed then, not when the clock
    # ends it a minute later.
    holds: tuple[dict, ...] = ()

    def free(self, now: datetime) -> tuple[tuple[str, int | None], ...]:
        """`offers` less the beds held at `now` (availability.held)."""
        if not self.holds:
            return self.offers
        return tuple((code, _less(beds, availability.held(self.holds, code, now))) for code, beds in self.offers)

    @cached_property
    def static(self) -> dict:
        """What only a rebuild changes, made once per home rather than once per search."""
        return {"id": self.id, "name": self.name, "town": self.town, "address": self.address,
                "postcode": self.postcode, "phone": self.phone, "lat": self.lat, "lon": self.lon,
                "kinds": [{"code": code, "name": PUBLIC_KINDS[code]} for code, _ in self.offers]}  # fmt: skip


@dataclass(frozen=True)
class Area:
    """Where a region's listed homes are, as a box in degrees, COVERAGE_MARGIN_KM included."""

    region: str
    south: float
    north: float
    west: float
    east: float

    def holds(self, where: Location) -> bool:
        return self.south <= where.lat <= self.north and self.west <= where.lon <= self.east


class Index:
    """An immutable snapshot of the public homes as arrays: replaced whole, never changed in place."""

    def __init__(self, homes: list[PublicHome], seq: int, areas: tuple[Area, ...] = ()):
        self.homes = homes
        self.seq = seq
        self.areas = areas  # the regions' boxes: refreshed by rebuilds, not patches
        self.built_at = time.monotonic()
        self.position = {home.id: i for i, home in enumerate(homes)}
        self.lat = np.radians([h.lat for h in homes]) if homes else np.zeros(0)
        self.lon = np.radians([h.lon for h in homes]) if homes else np.zeros(0)
        self.open = np.array([h.admissions_open for h in homes], dtype=bool)
        self.confirmed = np.array([h.confirmed_at.timestamp() if h.confirmed_at else -np.inf for h in homes])
        self.offers = {code: np.zeros(len(homes), dtype=bool) for code in PUBLIC_KINDS}
        self.vacancy = {code: np.zeros(len(homes), dtype=bool) for code in PUBLIC_KINDS}
        for i, home in enumerate(homes):
            for code, available in home.offers:
                self.offers[code][i] = True
                self.vacancy[code][i] = bool(available)
        self.offers[""] = np.logical_or.reduce(list(self.offers.values())) if homes else np.zeros(0, dtype=bool)
        self.vacancy[""] = np.logical_or.reduce(list(self.vacancy.values())) if homes else np.zeros(0, dtype=bool)
        # `vacancy` is before holds; the few homes with holds are looked at again at each search's `now`.
        self.holding = {i for i, home in enumerate(homes) if home.holds}

    def replaced(self, changed: list[PublicHome], seq: int) -> Index:
        """A copy with `changed` (homes already in it) put in their places: a few copied arrays, not a rebuild."""
        index = copy.copy(self)
        index.homes, index.seq = list(self.homes), seq
        index.open, index.confirmed = self.open.copy(), self.confirmed.copy()
        index.offers = {code: mask.copy() for code, mask in self.offers.items()}
        index.vacancy = {code: mask.copy() for code, mask in self.vacancy.items()}
        index.holding = set(self.holding)
        for home in changed:  # a home's place on the map is not patched: moving one needs a rebuild
            i = self.position[home.id]
            index.homes[i] = home
            index.open[i] = home.admissions_open
            index.confirmed[i] = home.confirmed_at.timestamp() if home.confirmed_at else -np.inf
            available = dict(home.offers)
            for code in PUBLIC_KINDS:
                index.offers[code][i] = code in available
                index.vacancy[code][i] = bool(available.get(code))
            index.offers[""][i] = bool(available)
            index.vacancy[""][i] = any(available.values())
            if home.holds:
                index.holding.add(i)
            else:
                index.holding.discard(i)
        return index


_lock = threading.Lock()


def current_index() -> Index:
    """This process's index, brought up to date with the board cursor (one indexed single-row read).

    Only a process's first search builds the index while it waits. Past PUBLIC_INDEX_TTL_SECONDS a
    rebuild starts in the background and searches go on with the patched index meanwhile: a rebuild
    at 15,000 homes takes hundreds of milliseconds (bench/search.py reports it).
    """
    holder = current_app.extensions.setdefault("public_index", {})
    seq = session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1)) or 0
    index: Index | None = holder.get("index")
    if index is not None and index.seq == seq and not _expired(index, holder):
        return index
    with _lock:  # one thread builds or patches; the others wait for it rather than each doing it again
        index = holder.get("index")
        if index is None or seq < index.seq:  # none yet, or the database was replaced under us
            index = holder["index"] = Index(_public_homes(), seq, _areas())
        elif index.seq < seq:
            # The history's primary key finds what changed; care_home.last_seq has no index.
            ids = session.scalars(select(Update.home_id).where(Update.seq > index.seq).distinct()).all()
            changed = _public_homes(ids=ids) if len(ids) <= PATCH_LIMIT else []
            gone = set(ids) - {home.id for home in changed}  # unlisted (or unplaced) since
            if len(ids) <= PATCH_LIMIT and _patchable(index, changed) and not gone & index.position.keys():
                index = holder["index"] = index.replaced(changed, seq)
            else:  # a home newly listed, just unlisted, or moved: start again
                index = holder["index"] = Index(_public_homes(), seq, _areas())
        return index


def _expired(index: Index, holder: dict) -> bool:
    """Past its time to live: start one background rebuild (if none is running), and serve this one."""
    if time.monotonic() - index.built_at < current_app.config["PUBLIC_INDEX_TTL_SECONDS"]:
        return False
    with _lock:
        start, holder["rebuilding"] = not holder.get("rebuilding"), True
    if start:
        socketio.start_background_task(_rebuild_in_background, current_app._get_current_object(), holder)
    return False


def _rebuild_in_background(app, holder: dict) -> None:
    try:
        with app.app_context():
            rebuild()
    finally:
        holder["rebuilding"] = False


def rebuild() -> Index:
    """Build the index afresh from the database, as PUBLIC_INDEX_TTL_SECONDS' background rebuild does."""
    holder = current_app.extensions.setdefault("public_index", {})
    seq = session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1)) or 0
    index = Index(_public_homes(), seq, _areas())  # read before the lock: searches go on meanwhile
    with _lock:
        holder["index"] = index  # if updates committed since, the next search patches from `seq`
    session.remove()
    return index


def _patchable(index: Index, changed: list[PublicHome]) -> bool:
    """Every changed home is already in the index, where it was."""
    for home in changed:
        i = index.position.get(home.id)
        if i is None or (index.homes[i].lat, index.homes[i].lon) != (home.lat, home.lon):
            return False
    return True


def _public_homes(ids: list[int] | None = None) -> list[PublicHome]:
    """Listed homes with a location, as plain rows: the ORM's per-row work would dominate at 15,000."""
    query = (
        select(
            CareHome.id, CareHome.name, CareHome.address, CareHome.postcode, CareHome.phone, CareHome.latitude,
            CareHome.longitude, CareHome.admissions_open, CareHome.confirmed_at, CareHome.public_counts,
        )
        .where(CareHome.listed_publicly.is_(True), CareHome.latitude.is_not(None), CareHome.longitude.is_not(None))
        .order_by(CareHome.id)
    )  # fmt: skip
    offers = select(Offer.home_id, Offer.kind_code, Offer.available).where(Offer.kind_code.in_(PUBLIC_KINDS))
    if ids is not None:
        query, offers = query.where(CareHome.id.in_(ids)), offers.where(Offer.home_id.in_(ids))
    connection = session.connection()
    holds = _holds(ids)
    offered: dict[int, list[tuple[str, int | None]]] = {}
    for home_id, code, available in connection.execute(offers.order_by(Offer.position)):
        offered.setdefault(home_id, []).append((code, available))
    return [
        PublicHome(home_id, name, places.nearest_town(lat, lon), address, postcode, phone, lat, lon, bool(open_),
                   confirmed_at, tuple(offered.get(home_id, ())), bool(public_counts), holds.get(home_id, ()))
        for home_id, name, address, postcode, phone, lat, lon, open_, confirmed_at, public_counts
        in connection.execute(query)
    ]  # fmt: skip


def _areas() -> tuple[Area, ...]:
    """Each region's box around its listed, placed homes: what the families' search covers."""
    rows = session.execute(
        select(Region.name, func.min(CareHome.latitude), func.max(CareHome.latitude), func.min(CareHome.longitude),
               func.max(CareHome.longitude))
        .join(Locality, Locality.region_id == Region.id)
        .join(CareHome, CareHome.locality_id == Locality.id)
        .where(CareHome.listed_publicly.is_(True), CareHome.latitude.is_not(None), CareHome.longitude.is_not(None))
        .group_by(Region.id, Region.name)
        .order_by(Region.name)
    )  # fmt: skip
    margin = np.degrees(COVERAGE_MARGIN_KM / EARTH_KM)
    areas = []
    for name, south, north, west, east in rows:
        wide = margin / max(np.cos(np.radians(max(abs(south), abs(north)) + margin)), 0.01)
        areas.append(Area(name, south - margin, north + margin, west - wide, east + wide))
    return tuple(areas)


def miles(km: float) -> float:
    return km / KM_PER_MILE


def public_home(home: CareHome, holds: list[dict]) -> PublicHome:
    """The public part of a home already loaded (the live channel's, right after its update), with
    the holds its state lists."""
    offers = tuple((o.kind_code, o.available) for o in home.offers if o.kind_code in PUBLIC_KINDS)
    return PublicHome(
        home.id, home.name, places.nearest_town(home.latitude, home.longitude), home.address, home.postcode,
        home.phone, home.latitude, home.longitude, home.admissions_open, home.confirmed_at, offers,
        home.public_counts, tuple({"kind": h["kind"], "until": h["until"]} for h in holds),
    )  # fmt: skip


def _holds(ids: list[int] | None) -> dict[int, tuple[dict, ...]]:
    """Each home's holds not yet ended, as `held` reads them: which hospital holds a bed is never public."""
    query = select(Hold.home_id, Hold.kind_code, Hold.until).where(Hold.ended_at.is_(None))
    if ids is not None:
        query = query.where(Hold.home_id.in_(ids))
    found: dict[int, list[dict]] = {}
    for home_id, kind, until in session.execute(query.order_by(Hold.until, Hold.id)):
        found.setdefault(home_id, []).append({"kind": kind, "until": until.isoformat()})
    return {home_id: tuple(holds) for home_id, holds in found.items()}


def _less(available: int | None, held: int) -> int | None:
    return None if available is None else max(0, available - held)


# ---- searching ---------------------------------------------------------------------------------


@dataclass
class Results:
    origin: Location
    care: str  # a PUBLIC_KINDS code, or "" for any kind
    radius_km: int
    vacancies: list[dict]  # within the radius, with a vacancy of the kind, nearest first
    others: list[dict]  # within the radius, offering the kind, but full, closed or unverified
    further: list[dict]  # only when `vacancies` is empty: the nearest with a vacancy beyond the radius
    now: datetime
    seq: int = 0  # the board cursor the index was at: a live page asks what changed after it
    regions: list[str] = field(default_factory=list)  # the regions the tracker covers, by name
    covered: bool = True  # False: `origin` is outside every region, and nothing is listed

    def as_json(self) -> dict:
        return {
            "near": self.origin.label,
            "lat": round(self.origin.lat, 5),
            "lon": round(self.origin.lon, 5),
            "care": self.care or None,
            "care_name": PUBLIC_KINDS.get(self.care, "Any kind of care"),
            "radius_km": self.radius_km,
            "radius_miles": round(miles(self.radius_km)),
            "generated_at": self.now.isoformat(),
            "covered": self.covered,
            "regions_covered": self.regions,
            "results": self.vacancies,
            "without_vacancies": self.others,
            "further_away": self.further,
        }


def search(origin: Location, care: str, radius_km: int, now: datetime, index: Index | None = None) -> Results:
    index = index or current_index()
    regions = [area.region for area in index.areas]
    if not any(area.holds(origin) for area in index.areas):
        return Results(origin, care, radius_km, [], [], [], now, index.seq, regions, covered=False)
    offers = index.offers[care]
    # availability.counts over the whole index at once (open, and confirmed since it would be verified),
    # and a bed of the kind free: only these count as available.
    verified = index.confirmed > availability.verified_since(now).timestamp()
    available = offers & index.open & verified & _vacancy(index, care, now)
    # Exact distances only inside a box around the radius (a few hundred homes, not 15,000), and for
    # everything only when nothing inside has a vacancy and the nearest further away are wanted.
    distance = np.full(len(index.homes), np.inf)
    box = _box(index, origin, radius_km) & offers
    distance[box] = _haversine_km(index.lat[box], index.lon[box], origin)
    within = distance <= radius_km
    vacancies = _nearest(distance, available & within, RESULTS)
    others = _nearest(distance, offers & ~available & within, OTHERS)
    further = []
    if not vacancies.size:
        distance[available] = _haversine_km(index.lat[available], index.lon[available], origin)
        further = _nearest(distance, available & ~within, FURTHER)
    context = (now, care)
    return Results(
        origin,
        care,
        radius_km,
        [view(index.homes[i], *context, distance_km=float(distance[i])) for i in vacancies],
        [view(index.homes[i], *context, distance_km=float(distance[i])) for i in others],
        [view(index.homes[i], *context, distance_km=float(distance[i])) for i in further],
        now,
        index.seq,
        regions,
    )


def _vacancy(index: Index, care: str, now: datetime) -> np.ndarray:
    """Homes with a bed of `care` free at `now`: the index's mask, its homes with holds looked at again."""
    vacancy = index.vacancy[care]
    if not index.holding:
        return vacancy
    vacancy = vacancy.copy()
    for i in index.holding:
        vacancy[i] = any(beds for code, beds in index.homes[i].free(now) if code == care or not care)
    return vacancy


def _box(index: Index, origin: Location, radius_km: float) -> np.ndarray:
    """Homes within a latitude/longitude box that holds the whole radius (a little wider, to be safe)."""
    dlat = radius_km * 1.01 / EARTH_KM
    dlon = dlat / max(np.cos(np.radians(origin.lat) + dlat * np.sign(origin.lat)), 0.01)
    lat0, lon0 = np.radians(origin.lat), np.radians(origin.lon)
    return (np.abs(index.lat - lat0) <= dlat) & (np.abs(index.lon - lon0) <= dlon)


def _haversine_km(lat: np.ndarray, lon: np.ndarray, origin: Location) -> np.ndarray:
    lat0, lon0 = np.radians(origin.lat), np.radians(origin.lon)
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat0) * np.cos(lat) * np.sin((lon - lon0) / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(a))


def _nearest(distance: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    candidates = np.flatnonzero(mask)
    if candidates.size > count:
        candidates = candidates[np.argpartition(distance[candidates], count)[:count]]
    return candidates[np.argsort(distance[candidates], kind="stable")]


# ---- what a family is shown --------------------------------------------------------------------


def view(home: PublicHome, now: datetime, care: str = "", distance_km: float | None = None) -> dict:
    """A home as the public page, the API and the live channel show it: the one place public fields are
    chosen. `status` is for the kind of care searched for (any kind when `care` is empty)."""
    fresh = freshness(home.confirmed_at, now)
    free = [(code, beds) for code, beds in home.free(now) if beds]
    if fresh is Freshness.UNVERIFIED:
        status, words = "unverified", "Not confirmed recently: ring the home to ask"
    elif not home.admissions_open:
        status, words = "closed", "Not taking new residents at the moment"
    elif any(code == care or not care for code, _ in free):
        status, words = "vacancies", "Has vacancies"
    else:
        status, words = "full", f"No vacancies for {PUBLIC_KINDS[care].lower()}" if care else "No vacancies"
    shown = {
        **home.static,
        "status": status,
        "status_text": words,
        # Closed or unverified: never presented as available, whatever was last reported.
        "vacancies": [
            {"code": code, "name": PUBLIC_KINDS[code], "beds": beds if home.public_counts else None}
            for code, beds in free
        ]
        if status in ("vacancies", "full")
        else [],
        "confirmed_at": home.confirmed_at.isoformat() if home.confirmed_at else None,
        "age_seconds": int((now - home.confirmed_at).total_seconds()) if home.confirmed_at else None,
        "updated": timefmt.ago(home.confirmed_at, now),
        "freshness": str(fresh),
        # When the page must stop showing it as available, with no update to hear of (search.js).
        "unverified_at": availability.unverified_at(home.confirmed_at).isoformat() if home.confirmed_at else None,
    }
    if distance_km is not None:
        shown["distance_km"] = round(distance_km, 1)
        shown["distance_miles"] = round(miles(distance_km), 1)
    return shown
