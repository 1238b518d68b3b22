"""REST API v1 bed requests (docs/requests.md, docs/api.md): list and read them, find the homes that
match a need, ask them, take one YES, cancel, and reply to a home's question.

Each act is bed_requests' own, as from the request pages. Who, as for holds: a coordinator token made
for a hospital sees and acts on that hospital's requests only (another's is answered as one that does
not exist); an admin token on every request, naming the hospital when it asks; a care home's token,
or a coordinator token with no hospital, is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, select

from tracker import auth, bed_requests
from tracker.api import openapi
from tracker.api.rest import MAX_LIMIT, Problem, _json_object, _whole, bp, caller, query_args
from tracker.bed_requests import RequestRefused
from tracker.db import session
from tracker.models import BedRequest, Channel, RequestState, Role, utcnow
from tracker.vacancies import UpdateRejected

MAX_HOMES = 200  # more than any area has to ask at once; a longer list is refused before it is read
NEW_REQUEST_FIELDS = ("kind", "from_date", "needs", "max_km", "locality_ids", "home_ids", "hospital_id")


@bp.get("/requests")
def list_requests():
    args = query_args(state=str, limit=int)
    hospital_id = _hospital()
    limit = args.get("limit", 100)
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(400, "Bad Request", f"limit: from 1 to {MAX_LIMIT}.")
    statement = select(BedRequest)
    if hospital_id is not None:
        statement = statement.where(BedRequest.hospital_id == hospital_id)
    if "state" in args:
        try:
            statement = statement.where(BedRequest.state == RequestState(args["state"]))
        except ValueError:
            states = ", ".join(s.value for s in RequestState)
            raise Problem(400, "Bad Request", f"state: one of {states}.") from None
    # Open requests first (the ones still waiting for a choice), then the most recent.
    still_open = case((BedRequest.state == RequestState.OPEN, 0), else_=1)
    statement = statement.order_by(still_open, BedRequest.created_at.desc(), BedRequest.id.desc())
    found = session.scalars(statement.limit(limit))
    now = utcnow()
    return {"requests": [bed_requests.request_json(r, now) for r in found]}


@bp.get("/requests/<int:request_id>")
def get_request(request_id: int):
    query_args()
    return bed_requests.request_json(_visible_request(request_id), utcnow())


@bp.get("/requests/matches")
def matches():
    args = query_args(hospital_id=int, kind=str, from_date=str, max_km=str, locality=_ids, needs=str)
    now = utcnow()
    need = _need(args, now, locality_ids=args.get("locality", []))
    found = bed_requests.matching_homes(need, now)
    return {
        "homes": [
            {
                "home": {"id": m.home.id, "name": m.home.name, "locality": m.home.locality.name},
                "km": None if m.km is None else round(m.km, 1),
                "free": m.free,
                # A home with no mobile to text cannot be asked: phone it instead.
                "textable": m.textable > 0,
            }
            for m in found
        ]
    }


@bp.post("/requests")
def open_request():
    query_args()
    _hospital()  # who first: a token that may not ask is told so whatever it sent
    body = _fields(_json_object(), NEW_REQUEST_FIELDS)
    for name in ("kind", "from_date", "needs"):
        if name in body and not isinstance(body[name], str):
            raise Problem(400, "Bad Request", f"{name}: expected a string.")
    home_ids = body.get("home_ids")
    if not isinstance(home_ids, list) or not 1 <= len(home_ids) <= MAX_HOMES or not all(map(_an_id, home_ids)):
        raise Problem(400, "Bad Request", f"home_ids: a list of 1 to {MAX_HOMES} care home ids to ask.")
    now = utcnow()
    need = _need(body, now, locality_ids=body.get("locality_ids", ()))
    try:
        request, skipped = bed_requests.open_request(need, home_ids, user_id=None, actor=_actor(), now=now)
    except RequestRefused as refused:
        raise _refused(refused) from None
    return {**bed_requests.request_json(request, now), "not_asked": skipped}, 201


@bp.post("/requests/<int:request_id>/choose")
def choose(request_id: int):
    query_args()
    request = _visible_request(request_id)
    body = _fields(_json_object(), ("home_id", "hours"))
    if not _an_id(body.get("home_id")):
        raise Problem(400, "Bad Request", "home_id: the id of the home whose YES you take.")
    longest = int(current_app.config["HOLD_MAX"].total_seconds() // 3600)
    hours = body.get("hours")
    if hours is not None and (not _an_int(hours) or not 1 <= hours <= longest):
        raise Problem(400, "Bad Request", f"hours: a whole number from 1 to {longest}, or leave it out.")
    now = utcnow()
    until = now + timedelta(hours=hours) if hours is not None else None
    try:
        bed_requests.choose(request.id, body["home_id"], user_id=None, until=until, actor=_actor(),
                            channel=Channel.API, token_id=caller().id, now=now)  # fmt: skip
    except UpdateRejected as rejected:
        raise Problem(409, "Conflict", " ".join(rejected.errors.values()), errors=rejected.errors) from None
    session.expire_all()
    return bed_requests.request_json(session.get(BedRequest, request.id), now)


@bp.post("/requests/<int:request_id>/cancel")
def cancel(request_id: int):
    query_args()
    request = _visible_request(request_id)
    now = utcnow()
    try:
        bed_requests.cancel(request.id, user_id=None, actor=_actor(), now=now)
    except RequestRefused as refused:
        raise Problem(409, "Conflict", " ".join(refused.errors.values()), errors=refused.errors) from None
    session.expire_all()
    return bed_requests.request_json(session.get(BedRequest, request.id), now)


@bp.post("/requests/<int:request_id>/homes/<int:asked_id>/reply")
def reply(request_id: int, asked_id: int):
    query_args()
    request = _visible_request(request_id)
    body = _fields(_json_object(), ("text",))
    if not isinstance(body.get("text"), str):
        raise Problem(400, "Bad Request", "text: the reply to send the home, as a string.")
    if asked_id > openapi.MAX_INT or asked_id not in {a.id for a in request.asked}:
        raise Problem(404, "Not Found", f"Request {request_id} did not ask a home {asked_id}.")
    now = utcnow()
    try:
        bed_requests.reply(asked_id, body["text"], user_id=None, actor=_actor(), channel=Channel.API, now=now)
    except RequestRefused as refused:
        status = 409 if session.get(BedRequest, request.id).state is not RequestState.OPEN else 400
        raise _refused(refused, status) from None
    session.expire_all()
    return bed_requests.request_json(session.get(BedRequest, request.id), now), 201


# ---- who, and what they sent ----------------------------------------------------------------------


def _hospital() -> int | None:
    """The hospital whose requests this token sees (None: every hospital's, for an admin's token)."""
    token = caller()
    if token.home_id is not None:
        raise Problem(403, "Forbidden", "A care home's token cannot see bed requests: homes answer by text or "
                      "by the link in the text they are sent.")  # fmt: skip
    if token.role is Role.ADMIN:
        return None
    if token.hospital_id is None:
        raise Problem(
            403,
            "Forbidden",
            "This token belongs to no hospital, so it cannot see or make bed requests: an administrator creates "
            "one for your hospital with `flask --app tracker tokens create --role coordinator --hospital ...`.",
        )
    return token.hospital_id


def _visible_request(request_id: int) -> BedRequest:
    hospital_id = _hospital()
    request = session.get(BedRequest, request_id) if request_id <= openapi.MAX_INT else None
    if request is None or not auth.acts_for(caller().role, hospital_id, request.hospital_id):
        # Another hospital's request is answered as one that does not exist, as for holds.
        raise Problem(404, "Not Found", f"There is no bed request {request_id}.")
    return request


def _need(given: dict, now, *, locality_ids) -> bed_requests.Need:
    """The need from a request's fields, for the token's hospital (or the one an admin's token names)."""
    own = _hospital()
    requested = given.get("hospital_id")
    if requested is not None and not _an_id(requested):
        raise Problem(400, "Bad Request", "hospital_id: the id of the hospital the bed is for.")
    if own is None and requested is None:
        raise Problem(400, "Bad Request", "hospital_id: an admin's token names the hospital the bed is for.")
    if own is not None and requested not in (None, own):
        raise Problem(403, "Forbidden", f"This token asks for beds for {caller().hospital.name} only (hospital_id "
                      f"{own}): leave hospital_id out, or send its own.")  # fmt: skip
    try:
        return bed_requests.read_need(
            hospital_id=own or requested, kind=given.get("kind"), from_date=given.get("from_date"),
            needs=given.get("needs", ""), max_km=given.get("max_km", ""), locality_ids=locality_ids, now=now,
        )  # fmt: skip
    except RequestRefused as refused:
        raise _refused(refused) from None


def _refused(refused: RequestRefused, status: int = 400) -> Problem:
    title = "Bad Request" if status == 400 else "Conflict"
    return Problem(status, title, " ".join(refused.errors.values()), errors=refused.errors)


def _fields(body: dict, allowed: tuple[str, ...]) -> dict:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Problem(400, "Bad Request", f"Unknown field(s): {', '.join(unknown)}. Send only {', '.join(allowed)}.")
    return body


def _actor() -> str:
    return f"API token {caller().name!r}"[:120]


def _an_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _an_id(value: Any) -> bool:
    return _an_int(value) and 1 <= value <= openapi.MAX_INT


def _ids(raw: str) -> list[int]:
    """Ids separated by commas ("3,5"), as a query parameter carries a list."""
    ids = [_whole(part.strip()) for part in raw.split(",")]
    if any(i < 1 for i in ids):
        raise ValueError("expected ids separated by commas, like 3,5")
    return ids
