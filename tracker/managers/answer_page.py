"""The one-tap answer page a home's text links to (/r/<token>): who asks for what, and Yes, No or a question."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from tracker import bed_requests
from tracker.db import session
from tracker.managers.form_page import MANAGER_ACTOR
from tracker.models import CHANNEL_WORDS, AskedHome, Channel, Hold, RequestMessage, RequestState, utcnow
from tracker.vacancies import ANSWER_MAX_CHARS, UpdateRejected

bp = Blueprint("answers", __name__, url_prefix="/r")

_SUBMISSION = re.compile(r"^[0-9a-f]{32}$")
VERDICTS = ("yes", "no", "question")


def _asked_or_404(token: str) -> AskedHome:
    asked = bed_requests.read_answer_token(token)
    if asked is None:
        abort(_bad_link())
    return asked


def _bad_link():
    # The manager's form says it in the same plain words: a link cut short or changed, nothing recorded.
    return make_response(render_template("managers/bad_link.html", replaced=False), 404)


@bp.get("/<token>")
def show(token: str):
    asked = _asked_or_404(token)
    answered = request.args.get("answered", "")
    recorded = None
    if answered.isascii() and answered.isdecimal() and len(answered) < 10:
        recorded = session.scalars(
            select(RequestMessage).where(RequestMessage.asked_id == asked.id, RequestMessage.seq == int(answered))
        ).one_or_none()
    return _render(asked, token, recorded=recorded)


@bp.post("/<token>")
def answer(token: str):
    asked = _asked_or_404(token)
    verdict = request.form.get("verdict", "")
    if verdict not in VERDICTS:
        return _render(asked, token, errors={"form": "Choose Yes, No or Ask a question."}), 422
    text = request.form.get(verdict, "") if verdict != "yes" else ""
    submission = request.form.get("submission", "")
    key = f"web:{submission}" if _SUBMISSION.match(submission) else None
    try:
        row = bed_requests.answer(asked.id, verdict, text, channel=Channel.WEB, actor=MANAGER_ACTOR,
                                  idempotency_key=key)  # fmt: skip
    except UpdateRejected as rejected:
        session.rollback()
        errors = {verdict: " ".join(rejected.errors.values())}
        return _render(asked, token, errors=errors, typed={verdict: text}), 409 if _closed(asked) else 422
    return redirect(url_for("answers.show", token=token, answered=row.seq, _anchor="recorded"), code=303)


@bp.errorhandler(CSRFError)
def expired(error: CSRFError):
    """A page left open past its session: keep what was typed and ask for one more tap."""
    token = (request.view_args or {}).get("token", "")
    asked = bed_requests.read_answer_token(token)
    if asked is None:  # no abort() here: an error handler that raises is answered with a 500
        return _bad_link()
    verdict = request.form.get("verdict", "")
    typed = {verdict: request.form.get(verdict, "")} if verdict in VERDICTS else {}
    message = "This page had expired, so nothing was recorded. Press your answer again."
    return _render(asked, token, errors={verdict if typed else "form": message}, typed=typed), 400


def _closed(asked: AskedHome) -> bool:
    session.refresh(asked.request)
    return asked.request.state is not RequestState.OPEN


def _render(asked: AskedHome, token: str, *, recorded=None, errors=None, typed=None):
    now = utcnow()
    req = asked.request
    home = asked.home
    hold = session.get(Hold, req.hold_id) if req.hold_id else None
    return render_template(
        "managers/answer.html",
        asked=asked,
        req=req,
        home=home,
        offer=home.offer(req.kind_code),
        kind=req.kind.name.lower(),
        from_day=bed_requests.day(req.from_date),
        is_open=req.state is RequestState.OPEN,
        held=hold if hold is not None and hold.home_id == home.id and hold.ended_at is None else None,
        messages=asked.messages,
        recorded=recorded,
        errors=errors or {},
        typed=typed or {},
        token=token,
        submission=uuid.uuid4().hex,
        answer_max=ANSWER_MAX_CHARS,
        channel_words=CHANNEL_WORDS,
        now=now,
    )
