"""REST API v1 holds (docs/holds.md, docs/api.md): list the standing ones, place, release, admit.

Each change is one call to the write path, as from the board, and the same rule says who may end
which hold (auth.acts_for): a coordinator token made for a hospital holds for that
hospital and acts on its holds only, as a signed-in coordinator does; an admin token names the
hospital and acts on every hold; a coordinator token without a hospital cannot hold. A token made
for one home sees its own home's holds and may release them, as the home's form can.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from tracker import auth, vacancies
from tracker.api import openapi
from tracker.api.rest import Problem, _json_object, _visible, bp, caller, query_args
from tracker.db import session
from tracker.models import Channel, Hold, Role, utcnow
from tracker.vacancies import Change, HoldRequest, UpdateRejected, record_update


@bp.get("/holds")
def holds():
    args = query_args(home=int)
    statement = select(Hold).where(Hold.ended_at.is_(None), Hold.until > utcnow())
    if caller().home_id is not None:
        statement = statement.where(Hold.home_id == caller().home_id)
    if caller().hospital_id is not None and caller().role is not Role.ADMIN:
        statement = statement.where(Hold.hospital_id == caller().hospital_id)
    if "home" in args:
        statement = statement.where(Hold.home_id == args["home"])
    return {"holds": [hold_json(h) for h in session.scalars(statement.order_by(Hold.until, Hold.id))]}


@bp.post("/homes/<int:home_id>/holds")
def place(home_id: int):
    query_args()
    home = _visible(home_id)
    if caller().home_id is not None:
        raise Problem(403, "Forbidden", "A care home's token cannot hold its beds: a hospital's system holds them.")
    _needs_a_hospital()
    body = _json_object()
    unknown = sorted(set(body) - {"kind", "hours", "hospital_id"})
    if unknown:
        raise Problem(400, "Bad Request", f"Unknown field(s): {', '.join(unknown)}. Send kind, hospital_id, hours.")
    kind, hours = body.get("kind"), body.get("hours")
    if not isinstance(kind, str) or not kind:
        raise Problem(400, "Bad Request", 'kind: the kind of care\'s code, like "NUR".')
    hospital_id = _holding_for(body.get("hospital_id"))
    longest = int(current_app.config["HOLD_MAX"].total_seconds() // 3600)
    if hours is not None and (not _whole(hours) or not 1 <= hours <= longest):
        raise Problem(
            400, "Bad Request", f"hours: a whole number from 1 to {longest}, or leave it out for the default."
        )
    until = utcnow() + timedelta(hours=hours) if hours is not None else None
    row = _record(home.id, Change(hold=HoldRequest(kind[:8], hospital_id, until)))
    return hold_json(session.get(Hold, row.hold_id), seq=row.seq), 201


@bp.post("/holds/<int:hold_id>/release")
def release(hold_id: int):
    query_args()
    return _end(hold_id, "release_hold")


@bp.post("/holds/<int:hold_id>/admit")
def admit(hold_id: int):
    query_args()
    if caller().home_id is not None:
        raise Problem(403, "Forbidden", "A care home's token may release its holds; the hospital admits.")
    return _end(hold_id, "admit_hold")


def _end(hold_id: int, how: str):
    token = caller()
    if token.home_id is None:
        _needs_a_hospital()
    hold = session.get(Hold, hold_id) if hold_id <= openapi.MAX_INT else None
    if token.home_id is None:
        allowed = hold is not None and auth.acts_for(token.role, token.hospital_id, hold.hospital_id)
    else:
        allowed = hold is not None and hold.home_id == token.home_id
    if not allowed:
        # Another home's or hospital's hold is answered as one that does not exist, as the board answers.
        raise Problem(404, "Not Found", f"There is no hold {hold_id}.")
    row = _record(hold.home_id, Change(**{how: hold_id}))
    return hold_json(session.get(Hold, hold_id), seq=row.seq), 200


def _needs_a_hospital() -> None:
    token = caller()
    if token.role is not Role.ADMIN and token.hospital_id is None:
        raise Problem(
            403,
            "Forbidden",
            "This token belongs to no hospital, so it cannot hold beds or end holds: an administrator creates "
            "one for your hospital with `flask --app tracker tokens create --role coordinator --hospital ...`.",
        )


def _holding_for(requested: object) -> int:
    """The hospital a bed is held for: an admin token names it; a hospital's token holds for its own."""
    token = caller()
    if requested is not None and (not _whole(requested) or not 1 <= requested <= openapi.MAX_INT):
        raise Problem(400, "Bad Request", "hospital_id: the id of the hospital the bed is held for.")
    if token.role is Role.ADMIN:
        if requested is None:
            raise Problem(400, "Bad Request", "hospital_id: the id of the hospital the bed is held for.")
        return requested
    if requested not in (None, token.hospital_id):
        raise Problem(
            403,
            "Forbidden",
            f"This token holds beds for {token.hospital.name} only (hospital_id {token.hospital_id}): "
            "leave hospital_id out, or send its own.",
        )
    return token.hospital_id


def _record(home_id: int, change: Change):
    token = caller()
    try:
        return record_update(home_id, change, channel=Channel.API, actor=f"API token {token.name!r}"[:120],
                             token_id=token.id)  # fmt: skip
    except UpdateRejected as rejected:
        raise Problem(409, "Conflict", " ".join(rejected.errors.values()), errors=rejected.errors) from None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def hold_json(hold: Hold, **extra) -> dict:
    """A hold as the API shows it: the home state's hold (vacancies.hold_json, the same keys as boards get), and
    what only the API adds: the home, when it was placed, how it ended, and after a change its update's seq."""
    return {
        **vacancies.hold_json(hold.id, hold.kind_code, hold.hospital.name, hold.until, hold.hospital_id),
        "home_id": hold.home_id,
        "created_at": hold.created_at.isoformat(),
        "ended_at": hold.ended_at.isoformat() if hold.ended_at else None,
        "ended_how": str(hold.ended_how) if hold.ended_how else None,
        **extra,
    }
