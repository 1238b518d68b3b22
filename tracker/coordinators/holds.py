"""Holding beds from the board: place, release, admit (POST, CSRF, JSON answers for board.js).

Each one is a call to the write path (vacancies.record_update); boards hear of it as of any update.
A coordinator holds for their own hospital and acts on its holds; an admin on any (docs/holds.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, jsonify, request
from flask_login import current_user, login_required

from tracker import auth
from tracker.coordinators.board import bp
from tracker.db import session
from tracker.models import Channel, Hold, Role, utcnow
from tracker.vacancies import Change, HoldRequest, UpdateRejected, record_update

ACTOR = "signed-in user"


class Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


@bp.post("/board/holds")
@login_required
def place():
    """Hold one bed of a kind at a home for the coordinator's hospital (an admin names the hospital)."""
    form = request.form
    try:
        hospital_id = _acting_hospital(form.get("hospital_id", ""))
        home_id = _whole(form.get("home_id", ""), "Choose the care home.")
        until = _until(form.get("hours", ""))
        change = Change(hold=HoldRequest(form.get("kind", "").strip()[:8], hospital_id, until))
        row = record_update(home_id, change, channel=Channel.WEB, actor=ACTOR, user_id=current_user.id)
    except Refused as refused:
        return jsonify(error=refused.message), refused.status
    except UpdateRejected as rejected:
        return jsonify(error=" ".join(rejected.errors.values())), 409
    return jsonify(hold=next(h for h in row.state["holds"] if h["id"] == row.hold_id), seq=row.seq), 201


@bp.post("/board/holds/<int:hold_id>/release")
@login_required
def release(hold_id: int):
    return _end(hold_id, "release_hold")


@bp.post("/board/holds/<int:hold_id>/admit")
@login_required
def admit(hold_id: int):
    return _end(hold_id, "admit_hold")


def _end(hold_id: int, how: str):
    hold = session.get(Hold, hold_id)
    if hold is None or not auth.acts_for(current_user.role, current_user.hospital_id, hold.hospital_id):
        # A hold of another hospital is answered as one that does not exist: its existence is not theirs.
        return jsonify(error="There is no such hold for your hospital."), 404
    try:
        row = record_update(hold.home_id, Change(**{how: hold_id}), channel=Channel.WEB, actor=ACTOR,
                            user_id=current_user.id)  # fmt: skip
    except UpdateRejected as rejected:
        return jsonify(error=" ".join(rejected.errors.values())), 409
    return jsonify(seq=row.seq), 200


def _acting_hospital(raw: str) -> int:
    if current_user.role is Role.ADMIN:
        return _whole(raw, "Choose the hospital the bed is held for.")
    if current_user.hospital_id is None:
        raise Refused(403, "Your account has no hospital, so it cannot hold beds: ask an administrator.")
    return current_user.hospital_id


def _until(raw: str) -> datetime | None:
    """'' for HOLD_DEFAULT, or a whole number of hours up to HOLD_MAX."""
    if not raw.strip():
        return None
    hours = _whole(raw, "Hold for a whole number of hours, like 4.")
    longest = current_app.config["HOLD_MAX"]
    if not 1 <= hours <= longest.total_seconds() // 3600:
        raise Refused(400, f"Hold for 1 to {int(longest.total_seconds() // 3600)} hours.")
    return utcnow() + timedelta(hours=hours)


def _whole(raw: str, message: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise Refused(400, message)
    return int(text)
