"""When each periodic job last finished a pass (readiness and metrics)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    job_run = op.create_table(
        "job_run",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_run")),
    )
    # The row exists from the start, so a pass only ever updates it (two clocks never race to insert).
    op.bulk_insert(job_run, [{"name": "chase", "finished_at": None}])


def downgrade() -> None:
    op.drop_table("job_run")
