"""Towns and villages a family can search by name, from tracker/data/places.csv (scripts/make_places.py).

GeoNames' places of 500 or more people in Great Britain, each with the postcode district of its nearest
postcode, which tells apart two places of one name: "St Ives (TR26)" in Cornwall, "Saint Ives (PE27)"
in Cambridgeshire.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

PLACES_CSV = Path(__file__).resolve().parent.parent / "data" / "places.csv"


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    district: str
    population: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.district})"


def key(name: str) -> str:
    """What two spellings of one place share: 'St. Mary's' and 'saint marys' are both 'st marys'."""
    words = re.sub(r"[^a-z0-9 ]", "", name.casefold().replace("-", " ")).split()
    return " ".join("st" if w == "saint" else w for w in words)


@cache
def _places() -> dict[str, list[Place]]:
    by_key: dict[str, list[Place]] = {}
    with open(PLACES_CSV, newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            place = Place(row["name"], float(row["latitude"]), float(row["longitude"]), row["district"],
                          int(row["population"]))  # fmt: skip
            by_key.setdefault(key(place.name), []).append(place)
    for found in by_key.values():
        found.sort(key=lambda p: -p.population)
    return by_key


def find(text: str) -> list[Place]:
    """Every place called `text`, largest first. 'St Ives (TR26)', a label this module made, finds one."""
    if match := re.fullmatch(r"\s*(.*?)\s*\(\s*([A-Za-z0-9]{2,4})\s*\)\s*", text):
        district = match.group(2).upper()
        return [p for p in _places().get(key(match.group(1)), []) if p.district == district]
    return list(_places().get(key(text), []))


def suggest(text: str, count: int = 3) -> list[str]:
    """Names that start with what was typed ('Newcastle' -> 'Newcastle upon Tyne', ...), largest
    first, else names close to a misspelt one ('Penzanse' -> 'Penzance')."""
    typed = key(text)
    if len(typed) >= 3:
        longer = [found[0] for k, found in _places().items() if k.startswith(typed + " ")]
        if longer:
            return [p.name for p in sorted(longer, key=lambda p: -p.population)[:count]]
    close = difflib.get_close_matches(typed, _places().keys(), n=count, cutoff=0.75)
    return [_places()[k][0].name for k in close]


@cache
def _grid() -> dict[tuple[int, int], list[Place]]:
    """Places of 1,000 or more people by 0.1-degree cell, to name the town a home is in."""
    grid: dict[tuple[int, int], list[Place]] = {}
    for found in _places().values():
        for place in found:
            if place.population >= 1000:
                grid.setdefault((int(place.lat * 10), int(place.lon * 10)), []).append(place)
    return grid


@lru_cache(maxsize=65_536)  # homes do not move: an index rebuild then names 15,000 homes for free
def nearest_town(lat: float, lon: float, within_km: float = 10.0) -> str:
    """The nearest town or village of 1,000+ people within `within_km`, or '' when none is."""
    cy, cx = int(lat * 10), int(lon * 10)
    squash = (0.64 if 48 < lat < 61 else 1.0) ** 2  # cos(latitude) across Great Britain, near enough to rank
    best, best_d2 = "", (within_km / 111.2) ** 2
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            for place in _grid().get((cy + dy, cx + dx), ()):
                d2 = (place.lat - lat) ** 2 + (place.lon - lon) ** 2 * squash
                if d2 < best_d2:
                    best, best_d2 = place.name, d2
    return best
