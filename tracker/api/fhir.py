"""Availability as HL7 FHIR R4: each home a `Location`, each kind of care it offers a
`HealthcareService`, served through the REST API as a searchset `Bundle` (application/fhir+json).

FHIR R4 has no field for beds, so capacity, beds available and how fresh they are travel in one
complex extension on each HealthcareService (BED_AVAILABILITY, defined in docs/exports.md). Built as
plain dicts: the app needs no FHIR library, and the tests validate what it sends with fhir.resources.
"""

from __future__ import annotations

from datetime import datetime

from flask import Response, json, request, url_for
from sqlalchemy import select

from tracker.api.rest import Problem, bp, caller, kinds_of_care, query_args
from tracker.availability import Freshness, countable, freshness, held, standing_holds
from tracker.db import session
from tracker.models import CareHome, Locality, utcnow
from tracker.timefmt import local_time

FHIR_JSON = "application/fhir+json"
# Canonical URLs name things; they need not resolve. One fixed base, not each deployment's address,
# so every tracker's exports mean the same thing to a receiving system.
CANONICAL = "https://care-home-bed-tracker.example/fhir"
BED_AVAILABILITY = f"{CANONICAL}/StructureDefinition/bed-availability"
CARE_KIND_SYSTEM = f"{CANONICAL}/CodeSystem/care-kind"
HOME_ID_SYSTEM = f"{CANONICAL}/Id/care-home"
CQC_LOCATION_SYSTEM = "https://www.cqc.org.uk/location"  # the Care Quality Commission's location id

_SITE = {"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "si", "display": "Site"}
_CARE_HOME = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
    "code": "NCCF",
    "display": "Nursing or custodial care facility",
}
_AGED_CARE = {"system": "http://terminology.hl7.org/CodeSystem/service-category", "code": "2", "display": "Aged Care"}


def location(home: CareHome) -> dict:
    resource = {
        "resourceType": "Location",
        "id": f"home-{home.id}",
        "identifier": [{"system": HOME_ID_SYSTEM, "value": str(home.id)}],
        "status": "active",
        "name": home.name,
        "type": [{"coding": [_CARE_HOME]}],
        "physicalType": {"coding": [_SITE]},
    }
    if home.cqc_location_id:
        resource["identifier"].append({"system": CQC_LOCATION_SYSTEM, "value": home.cqc_location_id})
    if home.phone:
        resource["telecom"] = [{"system": "phone", "value": home.phone, "use": "work"}]
    address = {"use": "work", "type": "physical", "country": "GB"}
    if home.address:
        address["line"] = [home.address]
    if home.postcode:
        address["postalCode"] = home.postcode
    address["text"] = ", ".join(part for part in (home.address, home.postcode) if part) or home.name
    resource["address"] = address
    if home.latitude is not None and home.longitude is not None:
        resource["position"] = {"longitude": home.longitude, "latitude": home.latitude}
    return resource


def services(
    home: CareHome, kinds: dict[str, str], now: datetime, holds: list[dict], only: str | None = None
) -> list[dict]:
    """One HealthcareService per kind of care the home offers.

    Beds available are sent only while the data is verified (not older than UNVERIFIED_AFTER), as the
    board counts them; closed to admissions sends 0 available and says why in `notAvailable`.
    """
    fresh = freshness(home.confirmed_at, now)
    result = []
    for offer in home.offers:
        if only is not None and offer.kind_code != only:
            continue
        name = kinds.get(offer.kind_code, offer.kind_code)
        parts = [{"url": "capacity", "valueUnsignedInt": offer.capacity}]
        available = countable(offer.available, home.admissions_open, fresh.verified, held(holds, offer.kind_code, now))
        verified = available is not None
        if verified:
            parts.append({"url": "available", "valueUnsignedInt": available})
        if home.confirmed_at:
            parts.append({"url": "confirmed", "valueDateTime": home.confirmed_at.isoformat()})
        parts.append({"url": "freshness", "valueCode": str(fresh)})
        parts.append({"url": "admissions", "valueCode": "open" if home.admissions_open else "closed"})
        service = {
            "resourceType": "HealthcareService",
            "id": f"home-{home.id}-{offer.kind_code}",
            "extension": [{"url": BED_AVAILABILITY, "extension": parts}],
            "active": True,
            "category": [{"coding": [_AGED_CARE], "text": "Care home"}],
            "type": [
                {"coding": [{"system": CARE_KIND_SYSTEM, "code": offer.kind_code, "display": name}], "text": name}
            ],
            "location": [{"reference": f"Location/home-{home.id}", "display": home.name}],
            "name": f"{home.name}: {name}",
            "comment": _summary(home, offer, fresh, verified),
        }
        if home.phone:
            service["telecom"] = [{"system": "phone", "value": home.phone, "use": "work"}]
        if not home.admissions_open:
            closed = {"description": "Closed to admissions" + (f": {home.closed_reason}" if home.closed_reason else "")}
            if home.reopens_on:
                closed["during"] = {"end": home.reopens_on.isoformat()}
            service["notAvailable"] = [closed]
        result.append(service)
    return result


def _summary(home: CareHome, offer, fresh: Freshness, verified: bool) -> str:
    """What a person reading the resource should take from it, in one sentence."""
    if home.confirmed_at is None:
        return f"{offer.capacity} beds; the home has not reported yet."
    when = local_time(home.confirmed_at) + " UK time"
    if fresh is Freshness.UNVERIFIED:
        return f"{offer.capacity} beds; unverified: last confirmed at {when}, so none are counted as available."
    if not verified:
        return f"{offer.capacity} beds; beds free not reported (confirmed at {when})."
    if not home.admissions_open:
        return f"{offer.capacity} beds; closed to admissions (confirmed at {when})."
    return f"{offer.available} of {offer.capacity} beds free, confirmed at {when}."


def bundle(matches: list[dict], included: list[dict], base: str, self_url: str, now: datetime) -> dict:
    """A searchset Bundle: the resources searched for, then those they refer to (`_include`)."""

    def entry(resource: dict, mode: str) -> dict:
        return {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": mode},
        }

    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": now.isoformat(),
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [entry(r, "match") for r in matches] + [entry(r, "include") for r in included],
    }


# ---- the API operations ----------------------------------------------------------------------


@bp.get("/fhir/HealthcareService")
def fhir_services():
    """Every kind of care at every home the token may see, with the homes' Locations included."""
    args = query_args(region=int, locality=int, kind=str)
    kinds = kinds_of_care()
    if "kind" in args and args["kind"] not in kinds:
        raise Problem(
            400, "Bad Request", f"kind: there is no kind of care {args['kind']!r}; use one of {sorted(kinds)}."
        )
    now = utcnow()
    matches, homes = [], []
    listed = list(_homes(args))
    holds = standing_holds(h.id for h in listed)  # one query for every home, not one each
    for home in listed:
        if found := services(home, kinds, now, holds.get(home.id, []), only=args.get("kind")):
            matches += found
            homes.append(location(home))
    return _fhir(bundle(matches, homes, _base(), request.url, now))


@bp.get("/fhir/Location")
def fhir_locations():
    args = query_args(region=int, locality=int)
    return _fhir(bundle([location(h) for h in _homes(args)], [], _base(), request.url, utcnow()))


def _homes(args: dict) -> list[CareHome]:
    statement = select(CareHome).join(CareHome.locality).order_by(CareHome.id)
    if caller().home_id is not None:  # a token made for one home sees only that home
        statement = statement.where(CareHome.id == caller().home_id)
    if "region" in args:
        statement = statement.where(Locality.region_id == args["region"])
    if "locality" in args:
        statement = statement.where(CareHome.locality_id == args["locality"])
    return list(session.scalars(statement))


def _base() -> str:
    return url_for("api.fhir_locations", _external=True).rsplit("/Location", 1)[0]


def _fhir(body: dict) -> Response:
    return Response(json.dumps(body), mimetype=FHIR_JSON)
