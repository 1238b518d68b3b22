"""Families' search: publicly listed homes held in memory per process, ranked by distance.

Only public fields ever enter the index, so nothing else can leave through the page, the API or the
live channel: no notes, closure reasons, contacts, capacities or who confirmed. Exact counts are kept
only for homes that allow them (`care_home.public_counts`). The index is patched from the homes that
changed since the board cursor it was built at, and rebuilt whole every PUBLIC_INDEX_TTL_SECONDS to pick
up homes listed or unlisted without an update. A search is then a vectorised scan: 15,000 homes take
well under a millisecond (bench/search.py measures it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from flask import current_app
from sqlalchemy import select

from . import places, timefmt
from .db import session
from .geocoding import Location
from .models import BoardCursor, CareHome, Freshness, Offer, freshness

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
RESULTS = 20  # homes with vacancies listed, nearest first
OTHERS = 20  # homes nearby without a vacancy (full, closed or unverified), shown as such
FURTHER = 5  # when none within the radius has one: the nearest further away that do


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


class Index:
    """An immutable snapshot of the public homes as arrays: replaced whole, never changed in place."""

    def __init__(self, homes: list[PublicHome], seq: int):
        self.homes = homes
        self.seq = seq
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

    def replaced(self, changed: list[PublicHome], seq: int) -> Index:
        homes = list(self.homes)
        for home in changed:
            homes[self.position[home.id]] = home
        index = Index(homes, seq)
        index.built_at = self.built_at  # a patch does not postpone the next whole rebuild
        return index


_lock = threading.Lock()


def current_index() -> Index:
    """This process's index, brought up to date with the board cursor (one indexed single-row read)."""
    holder = current_app.extensions.setdefault("public_index", {})
    index: Index | None = holder.get("index")
    seq = session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1)) or 0
    ttl = current_app.config["PUBLIC_INDEX_TTL_SECONDS"]
    if index is not None and index.seq == seq and time.monotonic() - index.built_at < ttl:
        return index
    with _lock:  # one thread rebuilds; the others wait for it rather than each building their own
        index = holder.get("index")
        if index is None or time.monotonic() - index.built_at >= ttl or seq < index.seq:
            index = Index(_public_homes(), seq)
        elif index.seq < seq:
            changed = _public_homes(since=index.seq)
            if all(home.id in index.position for home in changed) and _still_listed(index, since=index.seq):
                index = index.replaced(changed, seq)
            else:  # a home newly listed, or one that has just been unlisted: start again
                index = Index(_public_homes(), seq)
        holder["index"] = index
        return index


def _still_listed(index: Index, since: int) -> bool:
    """No home in the index that changed since `since` has been unlisted meanwhile."""
    unlisted = session.scalars(
        select(CareHome.id).where(CareHome.last_seq > since, CareHome.listed_publicly.is_(False))
    ).all()
    return not any(home_id in index.position for home_id in unlisted)


def _public_homes(since: int | None = None) -> list[PublicHome]:
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
    if since is not None:
        query = query.where(CareHome.last_seq > since)
        offers = offers.where(Offer.home_id.in_(select(CareHome.id).where(CareHome.last_seq > since)))
    connection = session.connection()
    offered: dict[int, list[tuple[str, int | None]]] = {}
    for home_id, code, available in connection.execute(offers.order_by(Offer.position)):
        offered.setdefault(home_id, []).append((code, available))
    return [
        PublicHome(home_id, name, places.nearest_town(lat, lon), address, postcode, phone, lat, lon, bool(open_),
                   confirmed_at, tuple(offered.get(home_id, ())), bool(public_counts))
        for home_id, name, address, postcode, phone, lat, lon, open_, confirmed_at, public_counts
        in connection.execute(query)
    ]  # fmt: skip


def public_home(home: CareHome) -> PublicHome:
    """The public part of a home already loaded (the live channel's, right after its update)."""
    return PublicHome(
        home.id, home.name, places.nearest_town(home.latitude, home.longitude), home.address, home.postcode,
        home.phone, home.latitude, home.longitude, home.admissions_open, home.confirmed_at,
        tuple((o.kind_code, o.available) for o in home.offers if o.kind_code in PUBLIC_KINDS), home.public_counts,
    )  # fmt: skip


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

    def as_json(self) -> dict:
        return {
            "near": self.origin.label,
            "lat": round(self.origin.lat, 5),
            "lon": round(self.origin.lon, 5),
            "care": self.care or None,
            "care_name": PUBLIC_KINDS.get(self.care, "Any kind of care"),
            "radius_km": self.radius_km,
            "generated_at": self.now.isoformat(),
            "results": self.vacancies,
            "without_vacancies": self.others,
            "further_away": self.further,
        }


def search(origin: Location, care: str, radius_km: int, now: datetime, index: Index | None = None) -> Results:
    index = index or current_index()
    if not index.homes:
        return Results(origin, care, radius_km, [], [], [], now)
    distance = _haversine_km(index, origin)
    offers = index.offers[care]
    expire_after = current_app.config["EXPIRE_AFTER"]
    # Open, confirmed within EXPIRE_AFTER, and a bed of the kind free: only these count as available.
    available = offers & index.open & (index.confirmed > (now - expire_after).timestamp()) & index.vacancy[care]
    within = distance <= radius_km
    vacancies = _nearest(distance, available & within, RESULTS)
    others = _nearest(distance, offers & ~available & within, OTHERS)
    further = [] if vacancies.size else _nearest(distance, available & ~within, FURTHER)
    return Results(
        origin,
        care,
        radius_km,
        [view(index.homes[i], now, float(distance[i]), care) for i in vacancies],
        [view(index.homes[i], now, float(distance[i]), care) for i in others],
        [view(index.homes[i], now, float(distance[i]), care) for i in further],
        now,
    )


def _haversine_km(index: Index, origin: Location) -> np.ndarray:
    lat0, lon0 = np.radians(origin.lat), np.radians(origin.lon)
    a = np.sin((index.lat - lat0) / 2) ** 2 + np.cos(lat0) * np.cos(index.lat) * np.sin((index.lon - lon0) / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(a))


def _nearest(distance: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    candidates = np.flatnonzero(mask)
    if candidates.size > count:
        candidates = candidates[np.argpartition(distance[candidates], count)[:count]]
    return candidates[np.argsort(distance[candidates], kind="stable")]


# ---- what a family is shown --------------------------------------------------------------------


def view(home: PublicHome, now: datetime, distance_km: float | None = None, care: str = "") -> dict:
    """A home as the public page, the API and the live channel show it: the one place public fields are
    chosen. `status` is for the kind of care searched for (any kind when `care` is empty)."""
    config = current_app.config
    fresh = freshness(home.confirmed_at, now, config["STALE_AFTER"], config["EXPIRE_AFTER"])
    free = [(code, beds) for code, beds in home.offers if beds]
    if fresh == Freshness.STALE:
        status, words = "unverified", "Not confirmed recently: ring the home to ask"
    elif not home.admissions_open:
        status, words = "closed", "Not taking new residents at the moment"
    elif any(code == care or not care for code, _ in free):
        status, words = "vacancies", "Has vacancies"
    else:
        status, words = "full", f"No vacancies for {PUBLIC_KINDS[care].lower()}" if care else "No vacancies"
    shown = {
        "id": home.id,
        "name": home.name,
        "town": home.town,
        "address": home.address,
        "postcode": home.postcode,
        "phone": home.phone,
        "lat": home.lat,
        "lon": home.lon,
        "status": status,
        "status_text": words,
        "kinds": [{"code": code, "name": PUBLIC_KINDS[code]} for code, _ in home.offers],
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
        "freshness": "unverified" if fresh == Freshness.STALE else str(fresh),
    }
    if distance_km is not None:
        shown["distance_km"] = round(distance_km, 1)
    return shown
