"""Pages for administrators: what texts came in and what they did, what went out, and contacts
that cannot be texted. (Onboarding pages arrive with the admin issue.)"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from .db import session
from .models import CareHome, Contact, InboundMessage, OutboundMessage, Role

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
