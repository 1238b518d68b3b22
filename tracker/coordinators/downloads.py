"""Downloads for signed-in coordinators and admins: the board as filtered, and the history for a
date range, as CSV (tracker/coordinators/csv_export.py holds the rules; docs/exports.md the columns)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from flask import Response, current_app, render_template, request, stream_with_context
from flask_login import current_user, login_required
from sqlalchemy import func, select

from tracker.coordinators import csv_export
from tracker.coordinators.board import bp, snapshot_homes
from tracker.coordinators.csv_export import BadRequest, BoardFilters
from tracker.db import session
from tracker.models import CareHome, CareKind, Hospital, Locality, Region, Update, utcnow
from tracker.timefmt import LONDON

HISTORY_CHUNK = 1000
# Above this many homes the history form asks for a home's id rather than listing every home.
HOME_CHOICES = 1000


@bp.get("/board/export.csv")
@login_required
def export_board():
    try:
        filters = _board_filters(request.args)
    except BadRequest as error:
        return _plain_400(str(error))
    now = utcnow()
    config = current_app.config
    rows = csv_export.board_rows(
        snapshot_homes(filters.region_id), filters, now, config["AGEING_AFTER"], config["UNVERIFIED_AFTER"]
    )
    header, table = csv_export.board_table(rows, _kinds())
    name = f"care-home-beds-{now.astimezone(LONDON):%Y-%m-%d-%H%M}.csv"
    return _csv("".join(csv_export.csv_lines(header, table)), name)


def _board_filters(args) -> BoardFilters:
    """The board's URL parameters, with the board's defaults: the user's own region and hospital."""
    own = current_user.hospital
    raw_region = args.get("region", str(own.region_id) if own and own.region_id else "all")
    region_id = None if raw_region == "all" else _known_id(Region, raw_region, "Region")
    kind = args.get("kind", "")
    if kind and session.get(CareKind, kind) is None:
        raise BadRequest(f"Kind of care: there is no kind {kind!r}.")
    locality = args.get("locality", "")
    if locality and session.scalar(select(Locality.id).where(Locality.name == locality)) is None:
        raise BadRequest(f"Locality: there is no locality called {locality!r}.")
    raw_from = args.get("from", str(own.id) if own else "")
    origin = None
    if raw_from:
        hospital = session.get(Hospital, _known_id(Hospital, raw_from, "Distance from"))
        origin = (hospital.latitude, hospital.longitude)
    sort = args.get("sort", "distance") or "distance"
    if sort not in csv_export.SORTS:
        raise BadRequest(f"Sort by: choose one of {', '.join(csv_export.SORTS)}.")
    return BoardFilters(
        region_id=region_id, kind=kind, locality=locality, origin=origin,
        max_km=csv_export.parse_max_km(args.get("max_km", "")), only_free=args.get("vacancies") == "1",
        # hide_stale: the filter's old name, in links saved before it was renamed
        hide_unverified="1" in (args.get("hide_unverified"), args.get("hide_stale")), sort=sort,
    )  # fmt: skip


def _known_id(model, raw: str, label: str) -> int:
    thing = session.get(model, int(raw)) if raw.isdecimal() and len(raw) < 10 else None
    if thing is None:
        raise BadRequest(f"{label}: there is none with the id {raw!r}.")
    return thing.id


# ---- history -------------------------------------------------------------------------------


@bp.get("/board/history")
@login_required
def history_form():
    return _history_page()


@bp.get("/board/history.csv")
@login_required
def export_history():
    args = request.args
    try:
        first, last = csv_export.date_range(args.get("from", ""), args.get("to", ""))
        home_id = _known_id(CareHome, args["home"], "Care home") if args.get("home") else None
        locality_id = _known_id(Locality, args["locality"], "Locality") if args.get("locality") else None
        region_id = _known_id(Region, args["region"], "Region") if args.get("region") else None
    except BadRequest as error:
        return _history_page(str(error)), 400
    start, end = csv_export.day_bounds(first, last)
    query = (
        select(Update.seq, Update.recorded_at, CareHome.name, CareHome.id, Locality.name, Region.name,
               Update.channel, Update.actor, Update.changed, Update.state, Update.hold_id, Update.answer_id)
        .join(CareHome, Update.home_id == CareHome.id)
        .join(Locality, CareHome.locality_id == Locality.id)
        .join(Region, Update.region_id == Region.id)
        .where(Update.recorded_at >= start, Update.recorded_at < end)
    )  # fmt: skip
    if home_id is not None:
        query = query.where(Update.home_id == home_id)
    if locality_id is not None:
        query = query.where(CareHome.locality_id == locality_id)
    if region_id is not None:
        query = query.where(Update.region_id == region_id)
    kinds = _kinds()
    rows = (csv_export.history_row(row, kinds) for row in _in_chunks(query))
    body = stream_with_context(csv_export.csv_lines(csv_export.history_header(kinds), rows))
    return _csv(body, f"bed-history-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv")


def _in_chunks(query) -> Iterator:
    """The rows in seq order, each chunk in its own short transaction: on SQLite every transaction
    holds the write lock (db.py), and a slow download must not keep managers' updates waiting."""
    after = 0
    while True:
        chunk = session.execute(query.where(Update.seq > after).order_by(Update.seq).limit(HISTORY_CHUNK)).all()
        session.rollback()  # ends the read: nothing was written
        yield from chunk
        if len(chunk) < HISTORY_CHUNK:
            return
        after = chunk[-1][0]


def _history_page(error: str | None = None) -> str:
    home_count = session.scalar(select(func.count(CareHome.id)))
    homes = (
        session.execute(select(CareHome.id, CareHome.name).order_by(CareHome.name)).all()
        if home_count <= HOME_CHOICES
        else None
    )
    today = datetime.now(LONDON).date()
    return render_template(
        "coordinators/history.html",
        error=error,
        args=request.args,
        homes=homes,
        localities=session.scalars(select(Locality).order_by(Locality.name)).all(),
        regions=session.scalars(select(Region).order_by(Region.name)).all(),
        today=today,
        max_days=csv_export.MAX_HISTORY_DAYS,
    )


# ---- shared ---------------------------------------------------------------------------------


def _kinds() -> list[tuple[str, str]]:
    return [(k.code, k.name) for k in session.scalars(select(CareKind).order_by(CareKind.position))]


def _csv(body, filename: str) -> Response:
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"  # live data, and not for shared caches
    return response


def _plain_400(message: str) -> Response:
    return Response(message + "\n", status=400, mimetype="text/plain")
