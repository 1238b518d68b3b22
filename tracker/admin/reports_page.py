"""Reports for commissioners (admins), at /admin/reports: beds free by kind of care over time (a
chart drawn on the server, with its table), compliance by locality, and how long vacancies take to
fill. Each table downloads as CSV. The numbers come from tracker/admin/reports.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Response, current_app, render_template, request
from sqlalchemy import select

from tracker.admin import admin_required, bp, reports
from tracker.chasing import compliance
from tracker.coordinators import csv_export
from tracker.coordinators.csv_export import BadRequest
from tracker.db import session
from tracker.models import CareKind, utcnow
from tracker.timefmt import LONDON

DEFAULT_DAYS = 30
# Lines are told apart by dash pattern as well as colour, so the chart reads without colour vision.
_LINE_STYLES = [
    ("#005eb8", ""), ("#007f3b", "8 4"), ("#d5281b", "2 4"), ("#8a5300", "12 4 2 4"),
    ("#330072", "4 2"), ("#00a499", "14 4"), ("#ae2573", "2 2 8 2"), ("#425563", "1 6"),
]  # fmt: skip


@bp.get("/reports")
@admin_required
def reports_page():
    try:
        first, last = _range(request.args)
    except BadRequest as error:
        today = datetime.now(LONDON).date()
        return render_template("admin/reports.html", error=str(error), args=request.args, first=today, last=today), 400
    now = utcnow()
    moments, kinds, totals = _beds(first, last, now)
    by_kind, by_locality = _fill_times(first, last, now)
    return render_template(
        "admin/reports.html",
        error=None,
        args=request.args,
        first=first,
        last=last,
        now=now,
        moments=moments,
        kinds=kinds,
        totals=totals,
        chart=chart(moments, totals, kinds),
        sample_time=reports.SAMPLE_TIME,
        compliance=compliance.by_locality(now),
        window_hours=int(current_app.config["AGEING_AFTER"].total_seconds() // 3600),
        by_kind=by_kind,
        by_locality=by_locality,
        expire_hours=int(current_app.config["UNVERIFIED_AFTER"].total_seconds() // 3600),
    )


@bp.get("/reports/beds-by-kind.csv")
@admin_required
def beds_by_kind_csv():
    try:
        first, last = _range(request.args)
    except BadRequest as error:
        return Response(str(error) + "\n", status=400, mimetype="text/plain")
    moments, kinds, totals = _beds(first, last, utcnow())
    header = ["Day", "Counted at (UK time)", *(f"{name}: beds free" for _, name in kinds)]
    rows = [
        [moment.strftime("%d/%m/%Y"), csv_export.uk_time(moment), *(day.get(code, 0) for code, _ in kinds)]
        for moment, day in zip(moments, totals, strict=True)
    ]
    return _csv(header, rows, f"beds-by-kind-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv")


@bp.get("/reports/time-to-fill.csv")
@admin_required
def time_to_fill_csv():
    try:
        first, last = _range(request.args)
    except BadRequest as error:
        return Response(str(error) + "\n", status=400, mimetype="text/plain")
    by_kind, by_locality = _fill_times(first, last, utcnow())
    header = ["By", "Group", "Vacancies filled", "Median hours to fill", "90th percentile hours to fill",
              "Still free", "Closed or lapsed before filled"]  # fmt: skip
    rows = [
        [by, t.label, t.filled, _hours(t.median_hours), _hours(t.p90_hours), t.still_free, t.withdrawn]
        for by, table in (("Kind of care", by_kind), ("Locality", by_locality))
        for t in table
    ]
    return _csv(header, rows, f"time-to-fill-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv")


def _range(args) -> tuple[date, date]:
    """The days asked for (UK dates), or the last DEFAULT_DAYS up to today."""
    if not args.get("from") and not args.get("to"):
        today = datetime.now(LONDON).date()
        return today - timedelta(days=DEFAULT_DAYS - 1), today
    return csv_export.date_range(args.get("from", ""), args.get("to", ""))


def _beds(first: date, last: date, now: datetime):
    moments = reports.sample_moments(first, last, now)
    totals = reports.beds_by_kind(moments, current_app.config["UNVERIFIED_AFTER"])
    seen = {code for day in totals for code in day}
    kinds = [(k.code, k.name) for k in session.scalars(select(CareKind).order_by(CareKind.position)) if k.code in seen]
    return moments, kinds, totals


def _fill_times(first: date, last: date, now: datetime):
    start, end = csv_export.day_bounds(first, last)
    found = reports.vacancies(start, end, now, current_app.config["UNVERIFIED_AFTER"])
    names = {k.code: k.name for k in session.scalars(select(CareKind).order_by(CareKind.position))}
    localities = reports.home_localities()
    by_kind = reports.fill_times(found, lambda v: names.get(v.kind, v.kind), order=list(names.values()))
    by_locality = reports.fill_times(found, lambda v: localities.get(v.home_id, "(removed home)"))
    return by_kind, by_locality


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _csv(header, rows, filename: str) -> Response:
    response = Response("".join(csv_export.csv_lines(header, rows)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def chart(moments, totals, kinds, width: int = 720, height: int = 260) -> dict:
    """An SVG line chart's geometry: a line per kind, y from 0 to a round maximum."""
    left, right, top, bottom = 44, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((day.get(code, 0) for day in totals for code, _ in kinds), default=0)
    step = _nice_step(peak)
    y_max = max(step * 4, step * -(-peak // step))
    count = len(moments)

    def x(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / y_max

    lines = []
    for (code, name), (colour, dash) in zip(kinds, _LINE_STYLES * (len(kinds) // len(_LINE_STYLES) + 1), strict=False):
        points = " ".join(f"{x(i):.1f},{y(day.get(code, 0)):.1f}" for i, day in enumerate(totals))
        lines.append({"name": name, "points": points, "colour": colour, "dash": dash})
    labels = sorted({0, count // 2, count - 1}) if count else []
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": top + plot_h,
        "lines": lines,
        "y_ticks": [(value, y(value)) for value in range(0, y_max + 1, step)],
        "x_labels": [(moments[i].strftime("%d/%m"), x(i), _anchor(i, count)) for i in labels],
    }


def _anchor(index: int, count: int) -> str:
    """The first and last day's labels are anchored inwards, so neither is cut off at the edge."""
    if count > 1 and index == 0:
        return "start"
    return "end" if count > 1 and index == count - 1 else "middle"


def _nice_step(peak: int) -> int:
    """A gridline step of 1, 2 or 5 times a power of ten giving about four gridlines."""
    rough = max(peak / 4, 1)
    power = 10 ** int(f"{rough:e}".split("e")[1])
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
