"""The admin pages that watch the service run: the index, chasing and compliance, what texts came in
and what they did, what went out, and contacts that cannot be texted."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import func, select

from tracker.admin import admin_required, bp, paged
from tracker.chasing import compliance, ladder
from tracker.db import session
from tracker.models import CareHome, Contact, InboundMessage, OutboundMessage, OutboundState, utcnow


@bp.get("/")
@admin_required
def index():
    return render_template("admin/index.html")


@bp.get("/messages")
@admin_required
def messages():
    page = paged(select(InboundMessage).order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()))
    return render_template("admin/messages.html", rows=page.rows, page=page)


@bp.get("/outbox")
@admin_required
def outbox():
    page = paged(select(OutboundMessage).order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc()))
    return render_template("admin/outbox.html", rows=page.rows, page=page)


@bp.get("/contacts")
@admin_required
def contacts():
    page = paged(select(Contact).join(Contact.home).order_by(CareHome.name, Contact.phone, Contact.id))
    return render_template("admin/contacts.html", rows=page.rows, page=page)


@bp.get("/chasing")
@admin_required
def chasing_page():
    now = utcnow()

    # Only the homes on the ladder, each list its own query: the country's homes are not loaded.
    def homes(*where, order=CareHome.name):
        return session.scalars(select(CareHome).where(*where).order_by(order)).all()

    escalated = homes(ladder.ESCALATED, order=CareHome.escalated_at.desc())
    reminded = homes(ladder.REMINDED, order=CareHome.last_reminded_at.desc())
    due = homes(ladder.due_first_reminder(now))
    not_chased = homes(ladder.NOT_CHASED)
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
        policy=ladder.default_policy(),
        policy_for=ladder.policy_for,
        not_answering_since=ladder.not_answering_since,
        today=today,
        history=history,
        localities=list(today),
        window_hours=int(current_app.config["AGEING_AFTER"].total_seconds() // 3600),
    )
