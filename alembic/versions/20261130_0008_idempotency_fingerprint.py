"""Bind an update's idempotency key to what it recorded: a fingerprint of the home and the change

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows keep None: a repeat of their keys is still checked for the home.
    op.add_column("vacancy_update", sa.Column("idempotency_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Not batch mode: SQLite would copy the table and lose its append-only triggers (SQLite 3.35+ drops
    # a column in place).
    op.drop_column("vacancy_update", "idempotency_fingerprint")
