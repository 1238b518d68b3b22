"""The audit log: every administrative change, who made it and when, in the change's transaction.

Vacancies have their own history (vacancy_update); this records the rest: homes, their kinds and
contacts, users, hospitals, localities, imports. The caller commits, so a change and its audit row
are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from flask import has_request_context
from flask_login import current_user

from tracker.db import session
from tracker.models import AuditEvent, User, utcnow


def apply(obj: object, values: Mapping[str, Any], fields: Iterable[str] | None = None) -> dict[str, list]:
    """Set `values` on `obj` and return {field: [before, after]} for those that changed."""
    changed = {}
    for name in fields or values:
        before, after = getattr(obj, name), values[name]
        if before != after:
            changed[name] = [_plain(before), _plain(after)]
            setattr(obj, name, after)
    return changed


def record(
    action: str,
    target: object,
    *,
    changes: Mapping[str, Any] | None = None,
    summary: str = "",
    actor: str | None = None,
) -> AuditEvent:
    """Add an audit row for `target` (a model instance, flushed so it has its id). The caller commits."""
    user = current_user if has_request_context() and current_user.is_authenticated else None
    if actor is None:
        # Named by user_id, not copied here: the log is append-only, and a name copied in could never go.
        actor = "signed-in user" if isinstance(user, User) else "command line"
    session.flush()
    event = AuditEvent(
        at=utcnow(),
        user_id=user.id if isinstance(user, User) else None,
        actor=actor,
        action=action,
        target_type=type(target).__name__,
        target_id=getattr(target, "id", None),
        target_name=_name(target)[:200],
        changes=dict(changes or {}),
        summary=summary,
    )
    session.add(event)
    return event


def _name(target: object) -> str:
    for attribute in ("name", "email"):
        if isinstance(getattr(target, attribute, None), str):
            return getattr(target, attribute)
    return ""


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, enums as their value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value
