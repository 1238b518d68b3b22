"""Administration: onboarding a region, invitations, the CQC import, reports, data protection, audit.

Here: the blueprint every admin page is on, `admin_required`, and `paged`, how every long list is
shown a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import Blueprint, abort, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import Select, func, select

from tracker.db import session
from tracker.models import Role

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
