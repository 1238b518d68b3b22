"""When each home's note was written (care_home.note_at), so an old note is never shown as current

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

care_home = sa.table("care_home", sa.column("id", sa.Integer), sa.column("note", sa.String), sa.column("note_at"))
history = sa.table(
    "vacancy_update",
    sa.column("seq", sa.Integer),
    sa.column("home_id", sa.Integer),
    sa.column("recorded_at", sa.DateTime),
    sa.column("state", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note_at", sa.DateTime(), nullable=True))
    # A note's age comes from the history: the oldest update of the latest run that already carried
    # it. A note with no such history keeps no date and is shown as old rather than as current.
    bind = op.get_bind()
    noted = bind.execute(sa.select(care_home.c.id, care_home.c.note).where(care_home.c.note != "")).all()
    for home_id, note in noted:
        written = None
        rows = bind.execute(
            sa.select(history.c.recorded_at, history.c.state)
            .where(history.c.home_id == home_id)
            .order_by(history.c.seq.desc())
        )
        for recorded_at, state in rows:
            if (state or {}).get("note") != note:
                break
            written = recorded_at
        rows.close()
        if written is not None:
            bind.execute(sa.update(care_home).where(care_home.c.id == home_id).values(note_at=written))


def downgrade() -> None:
    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.drop_column("note_at")
