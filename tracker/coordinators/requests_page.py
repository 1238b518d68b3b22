"""The coordinators' bed requests: the list, the need form and its matching homes, one request's page
(answers, replies, taking a YES as a hold, cancelling) and its JSON (docs/requests.md).

Every rule is bed_requests'; these views read the form, call it, and say what it said. A coordinator
sees and acts on their own hospital's requests only (another's is a 404, as holds are); admins on all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import case, select
from sqlalchemy.orm import selectinload
from werkzeug.routing import IntegerConverter

from tracker import auth, availability, bed_requests
from tracker.bed_requests import RequestRefused
from tracker.db import session
from tracker.models import (
    AskedHome,
    BedRequest,
    CareHome,
    CareKind,
    Hold,
    Hospital,
    Locality,
    RequestState,
    Role,
    Update,
    Verdict,
    utcnow,
)
from tracker.timefmt import LONDON, ago, duration
from tracker.vacancies import UpdateRejected

bp = Blueprint("requests", __name__)


class IdConverter(IntegerConverter):
    """A row id in a path: one the database's integer cannot hold is a 404, not PostgreSQL's out-of-range error."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=2**31 - 1)


@bp.record_once
def _ids(state) -> None:
    state.app.url_map.converters.setdefault("id", IdConverter)


DEFAULT_KM = 20
LIST_LENGTH = 100
# How far back a home's history is read to say since when it has been closed to admissions.
CLOSED_SINCE_ROWS = 50


def _admin() -> bool:
    return current_user.role is Role.ADMIN


@bp.get("/requests")
@login_required
def index():
    now = utcnow()
    query = (
        select(BedRequest)
        .options(selectinload(BedRequest.asked).selectinload(AskedHome.messages))
        .order_by(case((BedRequest.state == RequestState.OPEN, 0), else_=1), BedRequest.created_at.desc())
        .limit(LIST_LENGTH)
    )
    if not _admin():
        query = query.where(BedRequest.hospital_id == current_user.hospital_id)
    rows = [(found, _tally(found)) for found in session.scalars(query)]
    return render_template("coordinators/requests.html", rows=rows, now=now, admin=_admin(), left=_left, clock=clock)


def _tally(found: BedRequest) -> dict:
    verdicts = [asked.verdict for asked in found.asked]
    return {
        "asked": len(found.asked),
        "yes": verdicts.count(Verdict.YES),
        "no": verdicts.count(Verdict.NO),
        "questions": sum(any(m.verdict is Verdict.QUESTION for m in asked.messages) for asked in found.asked),
    }


# ---- asking --------------------------------------------------------------------------------------


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required
def new():
    if not _admin() and current_user.hospital_id is None:
        message = "Your account has no hospital, so it cannot ask homes for a bed: ask an administrator."
        return render_template("error.html", message=message), 403
    now = utcnow()
    values = _values(request.form if request.method == "POST" else None, now)
    action = request.form.get("action", "")
    if request.method == "GET" or action == "change":
        return _need_form(values)
    try:
        need = _read(values, now)
    except RequestRefused as refused:
        errors = dict(refused.errors)
        if values["where"] == "localities" and "max_km" in errors:
            errors["locality_ids"] = errors.pop("max_km")  # said where the person chose to answer it
        return _need_form(values, errors), 400
    matches = bed_requests.matching_homes(need, now)
    chosen = {m.home.id for m in matches if m.textable}
    if action == "send":
        home_ids = [int(raw) for raw in request.form.getlist("home")[:500] if _whole(raw)]
        try:
            made, skipped = bed_requests.open_request(need, home_ids, user_id=current_user.id, now=now)
        except RequestRefused as refused:
            return _matches_page(values, need, matches, set(home_ids), refused.errors, now), 400
        count = len(made.asked)
        flash(f"Request {made.code} sent: {count} home{'' if count == 1 else 's'} asked.", "success")
        if skipped:
            flash(
                "Not asked, because their beds have gone or they have no mobile to text: " + ", ".join(skipped) + ".",
                "warning",
            )
        return redirect(url_for("requests.show", request_id=made.id), 303)
    return _matches_page(values, need, matches, chosen, {}, now)


def _values(form, now: datetime) -> dict:
    """What the need form shows: what was typed, or the defaults (today, within DEFAULT_KM)."""
    own = "" if current_user.hospital_id is None else str(current_user.hospital_id)
    if form is None:
        today = now.astimezone(LONDON).date().isoformat()
        return dict(hospital_id=own, kind="", from_date=today, where="km", max_km=str(DEFAULT_KM), locality_ids=[],
                    needs="")  # fmt: skip
    return {
        # A coordinator asks for their own hospital whatever the form says; an admin names one.
        "hospital_id": form.get("hospital_id", "") if _admin() else own,
        "kind": form.get("kind", ""),
        "from_date": form.get("from_date", ""),
        "where": "localities" if form.get("where") == "localities" else "km",
        "max_km": form.get("max_km", ""),
        "locality_ids": form.getlist("locality_ids")[:200],
        "needs": form.get("needs", ""),
    }


def _read(values: dict, now: datetime) -> bed_requests.Need:
    by_distance = values["where"] == "km"
    return bed_requests.read_need(
        hospital_id=values["hospital_id"], kind=values["kind"], from_date=values["from_date"], needs=values["needs"],
        max_km=values["max_km"] if by_distance else "", locality_ids=() if by_distance else values["locality_ids"],
        now=now,
    )  # fmt: skip


def _need_form(values: dict, errors: dict | None = None):
    hospital = session.get(Hospital, int(values["hospital_id"])) if _whole(values["hospital_id"]) else None
    localities = select(Locality).order_by(Locality.name)
    if hospital is not None and hospital.region_id is not None:
        localities = localities.where(Locality.region_id == hospital.region_id)
    return render_template(
        "coordinators/request_new.html",
        values=values,
        errors=errors or {},
        kinds=session.scalars(select(CareKind).order_by(CareKind.position)).all(),
        hospitals=session.scalars(select(Hospital).order_by(Hospital.name)).all() if _admin() else [],
        localities=session.scalars(localities).all(),
        needs_max=bed_requests.NEEDS_MAX_CHARS,
    )


def _matches_page(values: dict, need, matches, chosen: set[int], errors: dict, now: datetime):
    return render_template(
        "coordinators/request_homes.html",
        values=values,
        need=need,
        hospital=session.get(Hospital, need.hospital_id),
        kind=session.get(CareKind, need.kind),
        localities=session.scalars(select(Locality.name).where(Locality.id.in_(need.locality_ids))).all(),
        matches=matches,
        chosen=chosen,
        errors=errors,
        freshness=lambda m: str(availability.freshness(m.home.confirmed_at, now)),
        updated=lambda m: ago(m.home.confirmed_at, now),
        day=bed_requests.day,
    )


# ---- one request ---------------------------------------------------------------------------------


def _visible(request_id: int) -> BedRequest:
    found = session.get(BedRequest, request_id)
    # Another hospital's request is answered as one that does not exist: its existence is not theirs.
    if found is None or not auth.acts_for(current_user.role, current_user.hospital_id, found.hospital_id):
        abort(404)
    return found


@bp.get("/requests/<id:request_id>")
@login_required
def show(request_id: int):
    return _request_page(_visible(request_id))


def _request_page(found: BedRequest, reply_errors: dict | None = None, replies: dict | None = None, status=200):
    now = utcnow()
    data = bed_requests.request_json(found, now)
    hold = session.get(Hold, found.hold_id) if found.hold_id else None
    closed_since = {h["asked_id"]: _closed_since(h["home"]["id"]) for h in data["homes"] if h["admissions"] == "closed"}
    page = render_template(
        "coordinators/request.html",
        found=found,
        data=data,
        hold=hold,
        hold_home=session.get(CareHome, hold.home_id).name if hold else None,
        closed_since=closed_since,
        hours=_hour_choices(),
        reply_errors=reply_errors or {},
        replies=replies or {},
        reply_max=bed_requests.REPLY_MAX_CHARS,
        now=now,
        left=_left,
        clock=clock,
        day=bed_requests.day,
        admin=_admin(),
    )
    return page, status


@bp.get("/requests/<id:request_id>.json")
@login_required
def show_json(request_id: int):
    response = jsonify(bed_requests.request_json(_visible(request_id), utcnow()))
    response.headers["Cache-Control"] = "no-store"  # the page's script must see what is, not what was
    return response


@bp.post("/requests/<id:request_id>/homes/<id:asked_id>/reply")
@login_required
def reply(request_id: int, asked_id: int):
    found = _visible(request_id)
    asked = _asked(found, asked_id)
    text = request.form.get("reply", "")
    try:
        bed_requests.reply(asked.id, text, user_id=current_user.id)
    except RequestRefused as refused:
        return _request_page(found, {asked.id: " ".join(refused.errors.values())}, {asked.id: text}, 400)
    flash(f"Reply sent to {asked.home.name}.", "success")
    return redirect(url_for("requests.show", request_id=found.id, _anchor=f"home-{asked.id}"), 303)


@bp.post("/requests/<id:request_id>/homes/<id:asked_id>/hold")
@login_required
def hold(request_id: int, asked_id: int):
    found = _visible(request_id)
    asked = _asked(found, asked_id)
    until, problem = _until(request.form.get("hours", ""))
    if problem:
        flash(problem, "error")
        return redirect(url_for("requests.show", request_id=found.id), 303)
    try:
        bed_requests.choose(found.id, asked.home_id, user_id=current_user.id, until=until)
    except UpdateRejected as rejected:
        flash(" ".join(rejected.errors.values()), "error")
        return redirect(url_for("requests.show", request_id=found.id), 303)
    # The page's banner says where and until when; this says what else happened.
    flash("Bed held. The other homes that answered are told it is no longer needed.", "success")
    return redirect(url_for("requests.show", request_id=found.id), 303)


@bp.post("/requests/<id:request_id>/cancel")
@login_required
def cancel(request_id: int):
    found = _visible(request_id)
    try:
        bed_requests.cancel(found.id, user_id=current_user.id)
    except RequestRefused as refused:
        flash(" ".join(refused.errors.values()), "error")
    else:
        flash(f"Request {found.code} cancelled: the homes that answered are told it is no longer needed.", "success")
    return redirect(url_for("requests.show", request_id=found.id), 303)


def _whole(raw: str) -> bool:
    """A row id as typed: ASCII digits that fit the database's integer."""
    return raw.isascii() and raw.isdigit() and len(raw) < 10


def _asked(found: BedRequest, asked_id: int) -> AskedHome:
    asked = session.get(AskedHome, asked_id)
    if asked is None or asked.request_id != found.id:
        abort(404)
    return asked


def _hour_choices() -> dict:
    """The hold's length: HOLD_DEFAULT unless another whole number of hours up to HOLD_MAX is chosen."""
    config = current_app.config
    return {
        "default": duration(config["HOLD_DEFAULT"]),
        "max": int(config["HOLD_MAX"].total_seconds() // 3600),
    }


def _until(raw: str) -> tuple[datetime | None, str | None]:
    """(until, None) for '' (HOLD_DEFAULT) or a whole number of hours up to HOLD_MAX; else (None, why)."""
    text = raw.strip()
    if not text:
        return None, None
    longest = _hour_choices()["max"]
    if not (text.isascii() and text.isdigit() and len(text) < 3 and 1 <= int(text) <= longest):
        return None, f"Hold for 1 to {longest} hours. Nothing was held."
    return utcnow() + timedelta(hours=int(text)), None


def _closed_since(home_id: int) -> datetime | None:
    """When the home's latest run of closed-to-admissions history rows began (within CLOSED_SINCE_ROWS)."""
    rows = session.execute(
        select(Update.recorded_at, Update.state)
        .where(Update.home_id == home_id)
        .order_by(Update.seq.desc())
        .limit(CLOSED_SINCE_ROWS)
    ).all()
    since = None
    for recorded_at, state in rows:
        if state.get("admissions") != "closed":
            break
        since = recorded_at
    return since


def clock(moment: datetime | str | None) -> str:
    """'14:05' today, 'Mon 23 Nov 14:05' another day, in UK time."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = moment.astimezone(LONDON)
    if local.date() == utcnow().astimezone(LONDON).date():
        return f"{local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def _left(until: datetime, now: datetime) -> str:
    """'3 h 20 min' to go."""
    minutes = max(0, int((until - now).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
