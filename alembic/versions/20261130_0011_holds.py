"""Holds: a bed of one kind at one home, held for a hospital until a time

`bed_hold` holds them; each history row that placed or ended one names it (`vacancy_update.hold_id`),
so a hold is never mistaken for the home confirming its numbers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bed_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=False),
        sa.Column("kind_code", sa.String(length=8), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("held_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column(
            "ended_how",
            sa.Enum("admitted", "released", "expired", name="holdend", native_enum=False, length=10),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["home_id"], ["care_home.id"], name=op.f("fk_bed_hold_home_id_care_home"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["kind_code"], ["care_kind.code"], name=op.f("fk_bed_hold_kind_code_care_kind")),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"], name=op.f("fk_bed_hold_hospital_id_hospital")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bed_hold")),
    )
    op.create_index(op.f("ix_bed_hold_home_id"), "bed_hold", ["home_id"], unique=False)
    op.create_index("ix_bed_hold_standing", "bed_hold", ["ended_at", "until"], unique=False)
    # Not batch mode: SQLite would copy the table and lose its append-only triggers.
    op.add_column("vacancy_update", sa.Column("hold_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("vacancy_update", "hold_id")
    op.drop_index("ix_bed_hold_standing", table_name="bed_hold")
    op.drop_index(op.f("ix_bed_hold_home_id"), table_name="bed_hold")
    op.drop_table("bed_hold")
