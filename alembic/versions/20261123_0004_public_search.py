"""Public search: whether a home shows exact counts to families, and imported postcode centres

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_counts", sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table(
        "postcode",
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("district", sa.String(length=4), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("postcode", name=op.f("pk_postcode")),
    )
    with op.batch_alter_table("postcode", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postcode_district"), ["district"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("postcode", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postcode_district"))
    op.drop_table("postcode")

    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.drop_column("public_counts")
