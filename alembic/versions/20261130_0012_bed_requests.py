"""Bed requests: a coordinator asks homes at once for one bed, homes answer by text or one tap

`bed_request` is the need (never the person), `bed_request_home` each home asked and its answer,
`bed_request_message` the answers and replies. Each answer is a history row too
(`vacancy_update.answer_id`), in the one sequence boards replay.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("web", "sms", "voice", "api", "admin", "import", "demo", "clock")


def upgrade() -> None:
    op.create_table(
        "bed_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("kind_code", sa.String(length=8), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=False),
        sa.Column("max_km", sa.Float(), nullable=True),
        sa.Column("locality_ids", sa.JSON(), nullable=True),
        sa.Column("needs", sa.String(length=200), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("open", "chosen", "expired", "cancelled", name="requeststate", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("hold_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"], name=op.f("fk_bed_request_hospital_id_hospital")),
        sa.ForeignKeyConstraint(["kind_code"], ["care_kind.code"], name=op.f("fk_bed_request_kind_code_care_kind")),
        sa.ForeignKeyConstraint(["hold_id"], ["bed_hold.id"], name=op.f("fk_bed_request_hold_id_bed_hold")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bed_request")),
    )
    op.create_index(op.f("ix_bed_request_hospital_id"), "bed_request", ["hospital_id"], unique=False)
    op.create_index("ix_bed_request_state_expires_at", "bed_request", ["state", "expires_at"], unique=False)
    op.create_index(
        "uq_bed_request_open_code",
        "bed_request",
        ["code"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "bed_request_home",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=False),
        sa.Column("km", sa.Float(), nullable=True),
        sa.Column("verdict", sa.Enum("yes", "no", "question", name="verdict", native_enum=False, length=10)),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("thanked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["bed_request.id"],
            name=op.f("fk_bed_request_home_request_id_bed_request"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["home_id"], ["care_home.id"], name=op.f("fk_bed_request_home_home_id_care_home"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bed_request_home")),
        sa.UniqueConstraint("request_id", "home_id", name="asked_once_per_request"),
    )
    op.create_index(op.f("ix_bed_request_home_request_id"), "bed_request_home", ["request_id"], unique=False)
    op.create_index(op.f("ix_bed_request_home_home_id"), "bed_request_home", ["home_id"], unique=False)
    op.create_table(
        "bed_request_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asked_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("from_home", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.Enum("yes", "no", "question", name="verdict", native_enum=False, length=10)),
        sa.Column("text", sa.String(length=320), nullable=False),
        sa.Column("channel", sa.Enum(*CHANNELS, name="channel", native_enum=False, length=10), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["asked_id"],
            ["bed_request_home.id"],
            name=op.f("fk_bed_request_message_asked_id_bed_request_home"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bed_request_message")),
    )
    op.create_index(op.f("ix_bed_request_message_asked_id"), "bed_request_message", ["asked_id"], unique=False)
    # Not batch mode: SQLite would copy the table and lose its append-only triggers.
    op.add_column("vacancy_update", sa.Column("answer_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("vacancy_update", "answer_id")
    op.drop_index(op.f("ix_bed_request_message_asked_id"), table_name="bed_request_message")
    op.drop_table("bed_request_message")
    op.drop_index(op.f("ix_bed_request_home_home_id"), table_name="bed_request_home")
    op.drop_index(op.f("ix_bed_request_home_request_id"), table_name="bed_request_home")
    op.drop_table("bed_request_home")
    op.drop_index("uq_bed_request_open_code", table_name="bed_request")
    op.drop_index("ix_bed_request_state_expires_at", table_name="bed_request")
    op.drop_index(op.f("ix_bed_request_hospital_id"), table_name="bed_request")
    op.drop_table("bed_request")
