"""Chasing: each home's reminder ladder, locality escalation contacts, once-only outbound delivery

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("locality", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_name", sa.String(length=120), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("escalation_phone", sa.String(length=20), nullable=True))

    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chase_policy", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("chase_due_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("reminders_sent", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("first_reminded_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_reminded_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_care_home_chase_due_at"), ["chase_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_care_home_escalated_at"), ["escalated_at"], unique=False)

    # Existing homes fall due a day after their last confirmation (the default STALE_AFTER), or now
    # when they never reported: the chaser then treats them as any other home.
    care_home = sa.table("care_home", sa.column("id"), sa.column("confirmed_at"), sa.column("chase_due_at"))
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    for home_id, confirmed_at in bind.execute(sa.select(care_home.c.id, care_home.c.confirmed_at)).all():
        due = now if confirmed_at is None else confirmed_at + timedelta(hours=24)
        bind.execute(sa.update(care_home).where(care_home.c.id == home_id).values(chase_due_at=due))

    op.create_index("ix_vacancy_update_recorded_at", "vacancy_update", ["recorded_at"], unique=False)

    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempted_at", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_outbound_message_dedupe_key"), ["dedupe_key"])
        batch_op.create_index(batch_op.f("ix_outbound_message_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_message_next_attempt_at"))
        batch_op.drop_constraint(batch_op.f("uq_outbound_message_dedupe_key"), type_="unique")
        batch_op.drop_column("attempted_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("dedupe_key")

    op.drop_index("ix_vacancy_update_recorded_at", table_name="vacancy_update")

    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_home_escalated_at"))
        batch_op.drop_index(batch_op.f("ix_care_home_chase_due_at"))
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("last_reminded_at")
        batch_op.drop_column("first_reminded_at")
        batch_op.drop_column("reminders_sent")
        batch_op.drop_column("chase_due_at")
        batch_op.drop_column("chase_policy")

    with op.batch_alter_table("locality", schema=None) as batch_op:
        batch_op.drop_column("escalation_phone")
        batch_op.drop_column("escalation_name")
