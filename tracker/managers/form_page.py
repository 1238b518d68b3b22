"""The care home manager's one-page form, reached from a signed link with no password."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from tracker import availability
from tracker.db import session
from tracker.managers import links
from tracker.models import CHANNEL_WORDS, CareHome, Channel, Update, utcnow
from tracker.vacancies import Change, UpdateRejected, record_update

bp = Blueprint("homes", __name__, url_prefix="/h")

_SUBMISSION = re.compile(r"^[0-9a-f]{32}$")
_STEP = re.compile(r"^([A-Z0-9]{1,8}):([+-]1)$")
MANAGER_ACTOR = "manager (web form)"


def _refuse(status: int, replaced_home: CareHome | None = None):
    page = render_template("managers/bad_link.html", replaced=replaced_home is not None, home=replaced_home)
    abort(make_response(page, status))


def _home_or_explain(token: str) -> CareHome:
    signed = links.read_token(token)
    if signed is None:
        _refuse(404)
    home_id, version = signed
    home = session.get(CareHome, home_id)
    if home is None:
        _refuse(404)
    if version != home.link_version:
        _refuse(410, home)
    return home


@bp.get("/<token>")
def form(token: str):
    home = _home_or_explain(token)
    return _render_form(home, token, values=_recorded_values(home))


@bp.post("/<token>")
def submit(token: str):
    home = _home_or_explain(token)
    values = _typed_values(home)
    step = _STEP.match(request.form.get("step", ""))
    if step:  # a +/- button pressed with JavaScript off: adjust the number, record nothing yet
        _apply_step(home, values, step.group(1), int(step.group(2)))
        return _render_form(home, token, values=values)

    action = request.form.get("action")
    reopens_on, date_problem = _reopening_date(values)
    if not any(part in request.form for part in _DATE_PARTS):  # a page loaded before the date boxes
        reopens_on = request.form.get("reopens_on")  # its ISO date, or None: leave the date as is
    # Every action sends the numbers on screen: "confirm" is refused unless they are the recorded
    # ones, and "clear_note" saves them with the note emptied.
    change = Change(
        counts={o.kind_code: values[o.kind_code] for o in home.offers},
        admissions=values["admissions"],
        closed_reason=values["closed_reason"],
        reopens_on=reopens_on,
        note="" if action == "clear_note" else values["note"],
        confirm=action == "confirm",
    )
    submission = request.form.get("submission", "")
    key = f"web:{submission}" if _SUBMISSION.match(submission) else None
    try:
        row = record_update(home.id, change, channel=Channel.WEB, actor=MANAGER_ACTOR, idempotency_key=key)
    except UpdateRejected as rejected:
        errors = rejected.errors
        if date_problem and "reopens_on" in errors:  # the boxes' own words, not the API's
            errors["reopens_on"] = date_problem
        return _render_form(home, token, values=values, errors=errors), 422
    return redirect(url_for("homes.recorded", token=token, seq=row.seq), code=303)


@bp.post("/<token>/holds/<int:hold_id>/release")
def release_hold(token: str, hold_id: int):
    """The home gives back a bed a hospital held (docs/holds.md): it is free again at once."""
    home = _home_or_explain(token)
    try:
        # The write path checks, under the home's lock, that the hold is this home's and still stands.
        record_update(home.id, Change(release_hold=hold_id), channel=Channel.WEB, actor=MANAGER_ACTOR)
    except UpdateRejected as rejected:
        errors = {"holds": " ".join(rejected.errors.values())}
        return _render_form(home, token, values=_recorded_values(home), errors=errors), 409
    return redirect(url_for("homes.form", token=token, released=hold_id), code=303)


@bp.get("/<token>/recorded/<int:seq>")
def recorded(token: str, seq: int):
    home = _home_or_explain(token)
    row = session.get(Update, seq)
    if row is None or row.home_id != home.id:
        abort(404)
    names = {o.kind_code: o.kind.name for o in home.offers}
    return render_template("managers/recorded.html", home=home, row=row, names=names, token=token)


@bp.app_errorhandler(CSRFError)
def expired_form(error: CSRFError):
    """A form left open past its session: keep what was typed and ask for one more tap."""
    token = (request.view_args or {}).get("token")
    if request.blueprint != "homes" or not token:
        return render_template("error.html", message="This page had expired. Go back, reload it and try again."), 400
    home = _home_or_explain(token)
    if request.endpoint == "homes.release_hold":  # its form carries no numbers to keep
        message = "This page had expired, so the hold was not released. Press Release again."
        return _render_form(home, token, values=_recorded_values(home), errors={"holds": message}), 400
    message = "This page had expired, so nothing was saved. Check the numbers below and press Save again."
    return _render_form(home, token, values=_typed_values(home), errors={"form": message}), 400


def _recorded_values(home: CareHome) -> dict:
    values = {o.kind_code: "" if o.available is None else str(o.available) for o in home.offers}
    reopens = home.reopens_on
    values.update(
        admissions="open" if home.admissions_open else "closed",
        closed_reason=home.closed_reason or "",
        reopens_day=str(reopens.day) if reopens else "",
        reopens_month=str(reopens.month) if reopens else "",
        reopens_year=str(reopens.year) if reopens else "",
        note=home.note,
    )
    return values


def _typed_values(home: CareHome) -> dict:
    form = request.form
    values = {o.kind_code: form.get(f"kind-{o.kind_code}", "").strip() for o in home.offers}
    values.update(
        admissions=form.get("admissions") or None,
        closed_reason=form.get("closed_reason", ""),
        note=form.get("note", ""),
        **{part: form.get(part, "").strip() for part in _DATE_PARTS},
    )
    return values


_DATE_PARTS = ("reopens_day", "reopens_month", "reopens_year")


def _reopening_date(values: dict) -> tuple[date | str, str | None]:
    """The day / month / year boxes as a date ("" when all are blank), or what to tell the manager.

    A date that cannot be read is passed on as text, so the write path refuses it only when it
    matters (while closed) and together with any other problem on the form.
    """
    day, month, year = (values[part] for part in _DATE_PARTS)
    if not (day or month or year):
        return "", None
    unreadable = f"{year}-{month}-{day}"
    missing = [name for name, part in (("day", day), ("month", month), ("year", year)) if not part]
    if missing:
        return unreadable, f"The expected reopening date must include a {' and a '.join(missing)}."
    if not all(part.isdecimal() and part.isascii() and len(part) <= 4 for part in (day, month, year)):
        return unreadable, "The expected reopening date must be in numbers, like 27 3 2027."
    if len(year) != 4:
        return unreadable, "Enter the year of the expected reopening date in full, like 2027."
    try:
        return date(int(year), int(month), int(day)), None
    except ValueError:
        return unreadable, "The expected reopening date must be a real date, like 27 3 2027."


def _differs_from_recorded(home: CareHome, values: dict) -> bool:
    """Whether the form shows anything other than what is recorded (then it must not offer "no change")."""
    recorded = _recorded_values(home)
    fields = [o.kind_code for o in home.offers] + ["admissions", "note"]
    if values["admissions"] == "closed":
        fields += ["closed_reason", *_DATE_PARTS]
    return any((values[f] or "").strip() != (recorded[f] or "").strip() for f in fields)


def _apply_step(home: CareHome, values: dict, code: str, delta: int) -> None:
    offer = home.offer(code)
    if offer is None:
        return
    current = values.get(code, "")
    number = int(current) if re.fullmatch(r"[0-9]{1,6}", current) else (offer.available or 0)
    values[code] = str(min(offer.capacity, max(0, number + delta)))


def _render_form(home: CareHome, token: str, *, values: dict, errors: dict | None = None):
    now = utcnow()
    unsaved = _differs_from_recorded(home, values)
    numbers_known = all(o.available is not None for o in home.offers)
    return render_template(
        "managers/form.html",
        home=home,
        token=token,
        values=values,
        recorded=_recorded_values(home),
        errors=errors or {},
        unsaved=unsaved,
        offer_confirm=home.confirmed_at is not None and numbers_known and not unsaved,
        note_is_old=note_is_old(home.note_at, now),
        submission=uuid.uuid4().hex,
        now=now,
        channel_words=CHANNEL_WORDS,
        note_max=current_app.config["NOTE_MAX_CHARS"],
        holds=availability.standing(availability.standing_holds([home.id]).get(home.id, []), now),
        released=request.args.get("released", "") if request.method == "GET" else "",
    )


def note_is_old(written_at: datetime | None, now: datetime) -> bool:
    """A note is current only for as long as numbers are (until they would be unverified); one of
    unknown age is old."""
    return written_at is None or now >= availability.unverified_at(written_at)
