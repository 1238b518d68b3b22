"""Pages for administrators: chasing and compliance, what texts came in and what they did, what
went out, and contacts that cannot be texted. (Onboarding pages arrive with the admin issue.)"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import func, select

from . import chasing, compliance
from .db import session
from .models import CareHome, Contact, InboundMessage, OutboundMessage, OutboundState, Role, utcnow

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 200


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.ADMIN:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.get("/")
@admin_required
def index():
    return render_template("admin/index.html")


@bp.get("/messages")
@admin_required
def messages():
    rows = session.scalars(select(InboundMessage).order_by(InboundMessage.received_at.desc()).limit(PAGE)).all()
    return render_template("admin/messages.html", rows=rows, page=PAGE)


@bp.get("/outbox")
@admin_required
def outbox():
    rows = session.scalars(select(OutboundMessage).order_by(OutboundMessage.created_at.desc()).limit(PAGE)).all()
    return render_template("admin/outbox.html", rows=rows, page=PAGE)


@bp.get("/contacts")
@admin_required
def contacts():
    rows = session.scalars(select(Contact).join(Contact.home).order_by(CareHome.name, Contact.phone)).all()
    return render_template("admin/contacts.html", rows=rows)


@bp.get("/chasing")
@admin_required
def chasing_page():
    now = utcnow()

    # Only the homes on the ladder, each list its own query: the country's homes are not loaded.
    def homes(*where, order=CareHome.name):
        return session.scalars(select(CareHome).where(*where).order_by(order)).all()

    escalated = homes(CareHome.escalated_at.is_not(None), order=CareHome.escalated_at.desc())
    reminded = homes(
        CareHome.reminders_sent > 0, CareHome.escalated_at.is_(None), order=CareHome.last_reminded_at.desc()
    )
    due = homes(CareHome.reminders_sent == 0, CareHome.chase_due_at <= now)
    not_chased = homes(CareHome.chase_due_at.is_(None), CareHome.escalated_at.is_(None))
    troubled = session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(
            OutboundMessage.purpose.in_(("reminder", "escalation")),
            OutboundMessage.state.in_((OutboundState.UNCERTAIN, OutboundState.FAILED, OutboundState.UNDELIVERED)),
        )
    )
    history = compliance.daily(now)
    today = compliance.by_locality(now)
    return render_template(
        "admin/chasing.html",
        now=now,
        escalated=escalated,
        reminded=reminded,
        due=due,
        not_chased=not_chased,
        troubled=troubled,
        policy=chasing.default_policy(),
        policy_for=chasing.policy_for,
        not_answering_since=chasing.not_answering_since,
        today=today,
        history=history,
        localities=list(today),
        window_hours=int(compliance.WINDOW.total_seconds() // 3600),
    )
