"""Pages for administrators: chasing and compliance, what texts came in and what they did, what
went out, and contacts that cannot be texted; and `paged`, how every long list is shown a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import Select, func, select

from . import chasing, compliance
from .db import session
from .models import CareHome, Contact, InboundMessage, OutboundMessage, OutboundState, Role, utcnow

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 200  # rows a list shows at a time


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.ADMIN:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@dataclass
class Page:
    """One page of a long list: which page, of how many, and the links to the others."""

    rows: list
    number: int
    pages: int
    total: int
    size: int

    def url(self, number: int) -> str:
        """This list, with its search and filters, at page `number`."""
        return url_for(request.endpoint, **{**(request.view_args or {}), **request.args.to_dict(), "page": number})

    @property
    def first_row(self) -> int:
        return (self.number - 1) * self.size + 1 if self.total else 0

    @property
    def last_row(self) -> int:
        return min(self.number * self.size, self.total)


def paged(statement: Select, size: int = PAGE) -> Page:
    """The page of `statement` that ?page=N asks for (the last when N is past it, the first when N is not a number)."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    pages = max(1, -(-total // size))
    raw = request.args.get("page", "")
    number = min(int(raw), pages) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 and int(raw) else 1
    rows = session.scalars(statement.limit(size).offset((number - 1) * size)).all()
    return Page(list(rows), number, pages, total, size)


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
