"""REST API v1 for other systems: read homes with availability and freshness, record an update
through the one write path, read a home's history, and poll the update stream.

JSON in and out; token auth (`Authorization: Bearer trk_...`); errors as RFC 9457
`application/problem+json`. The contract is tracker/api/openapi.py, served at /api/v1/openapi.json
and checked against the running app by schemathesis in the tests.
"""

from __future__ import annotations

import json as stdlib_json
import re
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, json, render_template, request
from flask_limiter.util import get_remote_address
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from tracker import auth, availability
from tracker.api import openapi
from tracker.chasing import ladder
from tracker.coordinators import board
from tracker.db import session
from tracker.extensions import csrf, limiter
from tracker.models import (
    CHANNEL_WORDS,
    ApiToken,
    CareHome,
    CareKind,
    Channel,
    Locality,
    Offer,
    Role,
    Update,
    utcnow,
)
from tracker.vacancies import Change, KeyReused, UpdateRejected, record_update

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies: every request carries its token

PROBLEM = "application/problem+json"
MAX_LIMIT = 1000
MAX_PARAM_CHARS = 100  # no parameter needs more; a longer one is refused before it is parsed or repeated


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, **extra: Any):
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_response(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tracker"'
    return response


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    return problem_response(exc.status, exc.title, exc.detail, **exc.extra)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """Under /api/ every error is problem+json, routing errors included; elsewhere, Flask's own."""
    if not request.path.startswith(bp.url_prefix + "/"):
        return exc
    response = problem_response(exc.code or 500, exc.name, exc.description or exc.name)
    if exc.code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if exc.code == 429 and (retry := getattr(exc, "retry_after", None)):
        response.headers["Retry-After"] = str(retry)
    return response


def _bearer() -> ApiToken | None:
    """The request's valid token, looked up once (the rate limit keys on it before authentication).
    Kept in the request's environ, not `g`: an app context can outlive one request."""
    if "tracker.api_token" not in request.environ:
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        token = auth.token_from(raw.strip()) if scheme.lower() == "bearer" else None
        request.environ["tracker.api_token"] = token
    return request.environ["tracker.api_token"]


def _client() -> str:
    # A token's budget is its own; requests without a valid one share their address's, so inventing
    # tokens buys nothing.
    token = _bearer()
    return f"token:{token.id}" if token else f"address:{get_remote_address()}"


limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_client, scope="api")(bp)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in ("api.spec", "api.docs"):
        return
    if _bearer() is None:
        raise Problem(401, "Unauthorized", "Send a valid API token: Authorization: Bearer trk_...")


def caller() -> ApiToken:
    return _bearer()


def _visible(home_id: int) -> CareHome:
    home = session.get(CareHome, home_id) if home_id <= openapi.MAX_INT else None
    if home is None:
        raise Problem(404, "Not Found", f"There is no care home {home_id}.")
    token = caller()
    if token.home_id is not None and token.home_id != home_id:
        raise Problem(403, "Forbidden", "This token belongs to another care home.")
    return home


# ---- reading ---------------------------------------------------------------------------------


@bp.get("/homes")
def homes():
    args = query_args(
        region=int, locality=int, kind=str, with_vacancies=_boolean, hide_unverified=_boolean, limit=int, offset=int
    )
    limit, offset = _paging(args)
    statement = select(CareHome).join(CareHome.locality).order_by(CareHome.id)
    if caller().home_id is not None:
        statement = statement.where(CareHome.id == caller().home_id)
    if "region" in args:
        statement = statement.where(Locality.region_id == args["region"])
    if "locality" in args:
        statement = statement.where(CareHome.locality_id == args["locality"])
    now, kinds = utcnow(), kinds_of_care()
    if "kind" in args and args["kind"] not in kinds:
        known = ", ".join(kinds)
        raise Problem(400, "Bad Request", f"kind: there is no kind of care {args['kind']!r}; use one of {known}.")
    # Filtered, counted and paged in the database: a page of 100 must not cost building 15,000 homes.
    verified = availability.verified_clause(now)
    offered = Offer.home_id == CareHome.id
    if "kind" in args:
        offered &= Offer.kind_code == args["kind"]
        statement = statement.where(select(Offer.home_id).where(offered).exists())
    if args.get("hide_unverified"):
        statement = statement.where(verified)
    if args.get("with_vacancies"):
        # As the board counts: open, verified, and a bed free (of `kind` when given).
        free = select(Offer.home_id).where(offered, availability.bed_free_clause(now)).exists()
        statement = statement.where(availability.countable_clause(now), free)
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    page = session.scalars(statement.limit(limit).offset(offset)).all()
    holds = availability.standing_holds(h.id for h in page)  # one query for the page, not one per home
    rows = [_home_json(h, now, kinds, holds.get(h.id, [])) for h in page]
    return {
        "homes": rows,
        "total": total,
        "limit": limit,
        "offset": offset,
        "seq": board.latest_seq(None),
        "server_time": now.isoformat(),
    }


@bp.get("/homes/<int:home_id>")
def home(home_id: int):
    query_args()
    found = _visible(home_id)
    return _home_json(found, utcnow(), kinds_of_care(), availability.standing_holds([found.id]).get(found.id, []))


@bp.get("/homes/<int:home_id>/history")
def history(home_id: int):
    args = query_args(since=int, limit=int)
    home = _visible(home_id)
    limit, _ = _paging(args)
    statement = select(Update).where(Update.home_id == home.id, Update.seq > args.get("since", 0))
    rows = session.scalars(statement.order_by(Update.seq).limit(limit)).all()
    return {"home_id": home.id, "updates": [_update_json(r) for r in rows]}


@bp.get("/updates")
def updates():
    """The stream for systems that poll instead of holding a socket: every update after `since`."""
    args = query_args(since=int, region=int, limit=int)
    limit, _ = _paging(args)
    since = args.get("since", 0)
    statement = select(Update).where(Update.seq > since)
    if "region" in args:
        statement = statement.where(Update.region_id == args["region"])
    if caller().home_id is not None:
        statement = statement.where(Update.home_id == caller().home_id)
    rows = session.scalars(statement.order_by(Update.seq).limit(limit)).all()
    latest = board.latest_seq(None)
    return {
        "updates": [_update_json(r) for r in rows],
        "next_since": rows[-1].seq if rows else max(since, 0),
        "latest_seq": latest,
        "more": bool(rows) and rows[-1].seq < latest and len(rows) == limit,
    }


# ---- writing ---------------------------------------------------------------------------------


@bp.post("/homes/<int:home_id>/updates")
def record(home_id: int):
    query_args()
    token = caller()
    home = _visible(home_id)
    if token.role not in (Role.ADMIN, Role.COORDINATOR) and token.home_id is None:
        raise Problem(403, "Forbidden", "This token may not record updates.")
    change = _change(_json_object())
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 64:
        raise Problem(400, "Bad Request", "Idempotency-Key: at most 64 characters.")
    try:
        # The token's name says which system; [:120] because a name of 120 would overflow the column.
        row = record_update(
            home.id, change, channel=Channel.API, actor=f"API token {token.name!r}"[:120], token_id=token.id,
            idempotency_key=f"api:{token.id}:{key}" if key else None,
        )  # fmt: skip
    except KeyReused:
        reason = (
            "this key was first sent with another home or another body. A retry must repeat its request "
            "exactly; a new update needs a new key."
        )
        raise Problem(
            422, "Unprocessable Content", f"Nothing was recorded: Idempotency-Key {key!r}: {reason}",
            errors={"Idempotency-Key": reason[0].upper() + reason[1:]},
        ) from None  # fmt: skip
    except UpdateRejected as rejected:
        raise Problem(
            422, "Unprocessable Content", "Nothing was recorded: " + " ".join(rejected.errors.values()),
            errors=rejected.errors,
        ) from None  # fmt: skip
    return _update_json(row), 201


_FIELDS = {"counts", "admissions", "closed_reason", "reopens_on", "note"}


def _json_object() -> dict:
    """The body, which must be a JSON object. Read here rather than by Flask, whose parser lets a deeply
    nested body (RecursionError) through as a 500."""
    if not request.is_json:
        raise Problem(400, "Bad Request", "Send a JSON object, with Content-Type: application/json.")
    try:
        body = stdlib_json.loads(request.get_data(cache=False))
    except RecursionError:
        raise Problem(400, "Bad Request", "The body is nested too deeply: send a flat JSON object.") from None
    except ValueError as exc:  # not JSON, not UTF-8, or a number of more than 4,300 digits
        where = (
            f" ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, stdlib_json.JSONDecodeError)
            else ""
        )
        raise Problem(400, "Bad Request", f"The body is not valid JSON{where}: send a JSON object.") from None
    if not isinstance(body, dict):
        raise Problem(400, "Bad Request", "Send a JSON object, with Content-Type: application/json.")
    return body


def _change(body: dict) -> Change:
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise Problem(400, "Bad Request", f"Unknown field(s): {', '.join(unknown)}. Send only {sorted(_FIELDS)}.")
    counts = body.get("counts", {})
    if not isinstance(counts, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
        raise Problem(400, "Bad Request", 'counts: an object of whole numbers by kind of care, like {"NUR": 2}.')
    for name in ("admissions", "closed_reason", "reopens_on", "note"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Problem(400, "Bad Request", f"{name}: expected a string.")
    return Change(
        counts=counts, admissions=body.get("admissions"), closed_reason=body.get("closed_reason"),
        reopens_on=body.get("reopens_on"), note=body.get("note"),
    )  # fmt: skip


# ---- the contract ----------------------------------------------------------------------------


@bp.get("/openapi.json")
def spec():
    return openapi.document(current_app.config["PUBLIC_BASE_URL"], list(kinds_of_care()))


@bp.get("/docs")
def docs():
    spec = openapi.document(current_app.config["PUBLIC_BASE_URL"], list(kinds_of_care()))
    return render_template("api_docs.html", spec=spec)


# ---- shapes ----------------------------------------------------------------------------------


def kinds_of_care() -> dict[str, str]:
    return {k.code: k.name for k in session.scalars(select(CareKind).order_by(CareKind.position))}


def _home_json(home: CareHome, now: datetime, kinds: dict[str, str], holds: list[dict]) -> dict:
    """`holds`: the home's standing holds, read by the caller for every home it lists at once."""
    fresh = availability.freshness(home.confirmed_at, now)
    since = ladder.not_answering_since(home)
    return {
        "id": home.id,
        "name": home.name,
        "locality": {"id": home.locality.id, "name": home.locality.name},
        "region_id": home.locality.region_id,
        "cqc_location_id": home.cqc_location_id,
        "address": home.address,
        "postcode": home.postcode,
        "phone": home.phone,
        "latitude": home.latitude,
        "longitude": home.longitude,
        "admissions": "open" if home.admissions_open else "closed",
        "closed_reason": home.closed_reason,
        "reopens_on": home.reopens_on.isoformat() if home.reopens_on else None,
        "note": home.note,
        "kinds": [
            {
                "code": o.kind_code,
                "name": kinds.get(o.kind_code, o.kind_code),
                "capacity": o.capacity,
                "available": o.available,
                # Beds a coordinator can count on: verified, open, less the beds held (availability.py).
                "held": availability.held(holds, o.kind_code, now),
                "countable": availability.countable(
                    o.available, home.admissions_open, fresh.verified, availability.held(holds, o.kind_code, now)
                ),
            }
            for o in home.offers
        ],  # fmt: skip
        "confirmed_at": home.confirmed_at.isoformat() if home.confirmed_at else None,
        "confirmed_via": str(home.confirmed_via) if home.confirmed_via else None,
        "confirmed_via_words": CHANNEL_WORDS.get(home.confirmed_via) if home.confirmed_via else None,
        "age_seconds": int((now - home.confirmed_at).total_seconds()) if home.confirmed_at else None,
        "freshness": str(fresh),
        "not_answering_since": since.isoformat() if since else None,
        "seq": home.last_seq,
    }


def _update_json(row: Update) -> dict:
    return {
        "seq": row.seq,
        "home_id": row.home_id,
        "region_id": row.region_id,
        "recorded_at": row.recorded_at.isoformat(),
        "channel": str(row.channel),
        "actor": row.actor,
        "changed": row.changed,
        # A hold or an answer to a bed request is in the history too, but is not the home confirming.
        "what": row.what,
        "hold_id": row.hold_id,
        "answer_id": row.answer_id,
        "state": row.state,
    }


# ---- query parameters: unknown or malformed ones are refused, never ignored --------------------


# Checked before int(), which takes "1_000", " 7" and Arabic-Indic digits, and refuses past 4,300 digits.
_WHOLE = re.compile(r"-?[0-9]{1,100}")


def _whole(raw: str) -> int:
    if not _WHOLE.fullmatch(raw):
        raise ValueError("expected a whole number")
    value = int(raw)
    if abs(value) > openapi.MAX_INT:
        raise ValueError(f"expected a whole number up to {openapi.MAX_INT}")
    return value


def _boolean(raw: str) -> bool:
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise ValueError("expected true or false")


def query_args(**types) -> dict[str, Any]:
    values = {}
    for name in request.args:
        if name not in types:
            allowed = ", ".join(sorted(types)) or "none"
            raise Problem(400, "Bad Request", f"Unknown query parameter {name!r} (this operation takes: {allowed}).")
        raw = request.args[name]
        if len(raw) > MAX_PARAM_CHARS:
            raise Problem(400, "Bad Request", f"{name}: at most {MAX_PARAM_CHARS} characters.")
        try:
            values[name] = (_whole if types[name] is int else types[name])(raw)
        except ValueError as exc:
            raise Problem(400, "Bad Request", f"{name}={raw!r}: {exc}.") from None
    return values


def _paging(args: dict) -> tuple[int, int]:
    limit, offset = args.get("limit", 100), args.get("offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(400, "Bad Request", f"limit: from 1 to {MAX_LIMIT}.")
    if offset < 0 or args.get("since", 0) < 0:
        raise Problem(400, "Bad Request", "offset and since cannot be negative.")
    return limit, offset
