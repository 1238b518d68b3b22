"""Text messages: inbound log, outbound messages, home short codes, contact flags

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:36:25.783156
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "outbox",
                "accepted",
                "queued",
                "sending",
                "sent",
                "delivered",
                "undelivered",
                "failed",
                "uncertain",
                name="outboundstate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("twilio_sid", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["home_id"], ["care_home.id"], name=op.f("fk_outbound_message_home_id_care_home")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_message")),
        sa.UniqueConstraint("twilio_sid", name=op.f("uq_outbound_message_twilio_sid")),
    )
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_message_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_message_to"), ["to"], unique=False)

    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("idempotency_token", sa.String(length=120), nullable=True),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("update_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["home_id"], ["care_home.id"], name=op.f("fk_inbound_message_home_id_care_home")),
        sa.ForeignKeyConstraint(
            ["update_seq"], ["vacancy_update.seq"], name=op.f("fk_inbound_message_update_seq_vacancy_update")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_message")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_message_message_sid")),
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_message_received_at"), ["received_at"], unique=False)

    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.add_column(sa.Column("short_code", sa.String(length=8), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_care_home_short_code"), ["short_code"])

    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("failure", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("failure")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("opted_out_at")

    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_care_home_short_code"), type_="unique")
        batch_op.drop_column("short_code")

    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_message_received_at"))

    op.drop_table("inbound_message")
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_message_to"))
        batch_op.drop_index(batch_op.f("ix_outbound_message_created_at"))

    op.drop_table("outbound_message")
