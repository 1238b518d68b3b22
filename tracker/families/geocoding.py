"""What a family typed ('TR18 2PF', 'tr18', 'Penzance') or where their phone is, as a point to search from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tracker import availability
from tracker.families import places, postcodes


@dataclass(frozen=True)
class Location:
    label: str  # said back to the family: "TR18 2PF", "Penzance (TR18)", "your location"
    lat: float
    lon: float


@dataclass
class NotFound(Exception):
    """The message is plain English for the family; `choices` are places they may have meant."""

    message: str
    choices: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def locate(text: str) -> Location:
    text = text.strip()
    if not text:
        raise NotFound("Enter a postcode or the name of a town.")
    if len(text) > 60:
        raise NotFound("That is too long for a postcode or a town name.")
    postcode = postcodes.normalise(text)
    if postcode:
        point = postcodes.locate(postcode)
        if point is None:
            if " " in postcode:
                raise NotFound(
                    f"We cannot find the postcode {postcode}. It may be new or mistyped: check it, or try "
                    f"just the first part ({postcodes.district_of(postcode)})."
                )
            raise NotFound(f"We cannot find the postcode district {postcode}. Check it and try again.")
        return Location(postcode, point.lat, point.lon)
    found = places.find(text)
    if len(found) == 1 or (found and _one_town(found)):
        place = found[0]
        return Location(place.label, place.lat, place.lon)
    if found:
        raise NotFound(f"There is more than one {text}. Which did you mean?", [p.label for p in found])
    if re.search(r"\d", text) or re.fullmatch(r"[A-Za-z]{1,2}\d?\s*\d?", text):
        raise NotFound("That does not look like a UK postcode. A postcode looks like TR18 2PF.")
    suggestions = places.suggest(text)
    if suggestions:
        raise NotFound(f"We do not know a town called {text}. Did you mean one of these?", suggestions)
    # Without a digit it is more likely a town than a postcode, but say both.
    raise NotFound(f"That does not look like a UK postcode, and we do not know a town called {text}.")


def _one_town(found: list[places.Place]) -> bool:
    """GeoNames sometimes lists a town twice (the town and its parish): the same district is one place."""
    return len({p.district for p in found}) == 1


def point(lat_raw: str, lon_raw: str) -> Location:
    """A location the family's device gave ('my location'), checked to be in or near the UK."""
    try:
        lat, lon = float(lat_raw), float(lon_raw)
    except ValueError:
        raise NotFound("lat and lon must be numbers, like lat=50.12&lon=-5.54.") from None
    if not availability.in_uk(lat, lon, margin=availability.NEAR_UK_MARGIN):
        raise NotFound("That location is not in the UK: this service covers care homes in England.")
    return Location("your location", lat, lon)
