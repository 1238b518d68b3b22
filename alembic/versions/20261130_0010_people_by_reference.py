"""People by reference: the history and the audit log stop copying names and phone numbers

The history's `actor` and the audit log's `actor` and changes held managers' names and numbers as text,
so nobody could ever be erased from them (UK GDPR). From here they hold words that name no one, and
who it was is a reference (contact_id, user_id, token_id) shown by name while the person exists.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:30:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied, not imported: a migration must mean the same thing whatever the code says later.
SMS_ACTOR = "text message from a contact"
VOICE_ACTOR = "phone call from a contact"
USER_ACTOR = "signed-in user"
INVITE_ACTOR = "the user, by their invitation link"
PHONE = re.compile(r"\+\d{7,15}|\b0\d{9,10}\b")

history = sa.table(
    "vacancy_update",
    sa.column("seq", sa.Integer),
    sa.column("home_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("actor", sa.String),
    sa.column("contact_id", sa.Integer),
    sa.column("token_id", sa.Integer),
)
home = sa.table("care_home", sa.column("id", sa.Integer), sa.column("confirmed_by", sa.String), sa.column("last_seq"))
contact = sa.table("contact", sa.column("id", sa.Integer), sa.column("home_id", sa.Integer), sa.column("phone"))
token = sa.table("api_token", sa.column("id", sa.Integer), sa.column("name", sa.String))
audit = sa.table(
    "audit_event",
    sa.column("id", sa.Integer),
    sa.column("user_id", sa.Integer),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target_id", sa.Integer),
    sa.column("changes", sa.JSON),
)


def upgrade() -> None:
    # Not batch mode: SQLite would copy the table and lose its append-only triggers.
    for name in ("contact_id", "user_id", "token_id"):
        op.add_column("vacancy_update", sa.Column(name, sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # AUTOINCREMENT, so an erased contact's id is never given to someone else (the history refers
        # to it). Nothing has a foreign key to contact, so copying the table loses nothing.
        with op.batch_alter_table("contact", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass

    # The one time rows of these append-only tables are rewritten: their personal text must go, and
    # nothing else can take it out. Their guards are lifted for this migration's transaction only and
    # put back before it commits, so no other writer ever sees the tables unguarded.
    _unguard("vacancy_update")
    _unguard("audit_event")
    bind = op.get_bind()
    contacts = {(h, p): i for i, h, p in bind.execute(sa.select(contact.c.id, contact.c.home_id, contact.c.phone))}
    token_ids: dict[str, list[int]] = {}
    for token_id, name in bind.execute(sa.select(token.c.id, token.c.name)):
        token_ids.setdefault(name, []).append(token_id)

    for seq, home_id, channel, actor in bind.execute(
        sa.select(history.c.seq, history.c.home_id, history.c.channel, history.c.actor)
    ).all():
        values = _history_values(home_id, channel, actor, contacts, token_ids)
        if values:
            bind.execute(sa.update(history).where(history.c.seq == seq).values(**values))
    # The home's "confirmed by" copied the history's actor: it takes the cleaned words of its last update.
    last_actor = sa.select(history.c.actor).where(history.c.seq == home.c.last_seq).scalar_subquery()
    bind.execute(sa.update(home).where(home.c.last_seq.is_not(None)).values(confirmed_by=last_actor))

    for event_id, user_id, actor, action, target_id, changes in bind.execute(
        sa.select(audit.c.id, audit.c.user_id, audit.c.actor, audit.c.action, audit.c.target_id, audit.c.changes)
    ).all():
        values = {}
        if action == "user.accept_invite":
            values["actor"] = INVITE_ACTOR
        elif user_id is not None or "@" in actor:
            values["actor"] = USER_ACTOR
        if action in ("contact.add", "contact.remove") and "contact" in (changes or {}):
            before, after = changes["contact"]
            found = PHONE.search(before or after or "")
            contact_id = contacts.get((target_id, found.group())) if found else None
            pair = [contact_id, None] if action == "contact.remove" else [None, contact_id]
            values["changes"] = {"contact_id": pair}
        if values:
            bind.execute(sa.update(audit).where(audit.c.id == event_id).values(**values))
    _guard("vacancy_update")
    _guard("audit_event")


def _history_values(home_id, channel, actor, contacts, token_ids) -> dict:
    found = PHONE.search(actor)
    if channel in ("sms", "voice") and found:
        contact_id = contacts.get((home_id, found.group()))
        return {"actor": SMS_ACTOR if channel == "sms" else VOICE_ACTOR, "contact_id": contact_id}
    if channel == "api" and actor.endswith(" (API)"):
        name = actor[: -len(" (API)")]
        matches = token_ids.get(name, [])
        return {"actor": f"API token {name!r}"[:120], "token_id": matches[0] if len(matches) == 1 else None}
    if found:  # a number in any other actor (none were written, but none may stay)
        return {"actor": PHONE.sub("(number removed)", actor)}
    return {}


def _unguard(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER {table}_no_update")
    else:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")


def _guard(table: str) -> None:
    """The triggers of revisions 0001 and 0005, as they were."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )


def downgrade() -> None:
    # The names and numbers taken out are not put back: they are gone, as they were meant to be.
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("contact", recreate="always"):
            pass
    for name in ("token_id", "user_id", "contact_id"):
        op.drop_column("vacancy_update", name)
