"""Core schema: homes, kinds of care, availability, the append-only history and its cursor.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:56:35.372069
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_cursor")),
    )
    op.create_table(
        "care_kind",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_care_kind")),
    )
    op.create_table(
        "region",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region")),
        sa.UniqueConstraint("name", name=op.f("uq_region_name")),
    )
    op.create_table(
        "hospital",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=10), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"], name=op.f("fk_hospital_region_id_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospital")),
        sa.UniqueConstraint("name", name=op.f("uq_hospital_name")),
    )
    op.create_table(
        "locality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"], name=op.f("fk_locality_region_id_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locality")),
        sa.UniqueConstraint("name", name=op.f("uq_locality_name")),
    )
    op.create_table(
        "care_home",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("postcode", sa.String(length=10), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("locality_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=30), nullable=False),
        sa.Column("cqc_location_id", sa.String(length=20), nullable=True),
        sa.Column("listed_publicly", sa.Boolean(), nullable=False),
        sa.Column("link_version", sa.Integer(), nullable=False),
        sa.Column("admissions_open", sa.Boolean(), nullable=False),
        sa.Column("closed_reason", sa.String(length=120), nullable=True),
        sa.Column("reopens_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=280), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=120), nullable=True),
        sa.Column(
            "confirmed_via",
            sa.Enum(
                "web", "sms", "voice", "api", "admin", "import", "demo", name="channel", native_enum=False, length=10
            ),
            nullable=True,
        ),
        sa.Column("last_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["locality_id"], ["locality.id"], name=op.f("fk_care_home_locality_id_locality")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_home")),
        sa.UniqueConstraint("cqc_location_id", name=op.f("uq_care_home_cqc_location_id")),
    )
    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_home_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_care_home_locality_id"), ["locality_id"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.Enum("admin", "coordinator", name="role", native_enum=False, length=20), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"], name=op.f("fk_user_account_hospital_id_hospital")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.Enum("admin", "coordinator", name="role", native_enum=False, length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["home_id"], ["care_home.id"], name=op.f("fk_api_token_home_id_care_home")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["home_id"], ["care_home.id"], name=op.f("fk_contact_home_id_care_home"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint("home_id", "phone", name="contact_once_per_home"),
    )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_home_id"), ["home_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_phone"), ["phone"], unique=False)

    op.create_table(
        "offer",
        sa.Column("home_id", sa.Integer(), nullable=False),
        sa.Column("kind_code", sa.String(length=8), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "available IS NULL OR (available >= 0 AND available <= capacity)", name=op.f("ck_offer_available_in_range")
        ),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_offer_capacity_not_negative")),
        sa.ForeignKeyConstraint(
            ["home_id"], ["care_home.id"], name=op.f("fk_offer_home_id_care_home"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["kind_code"], ["care_kind.code"], name=op.f("fk_offer_kind_code_care_kind")),
        sa.PrimaryKeyConstraint("home_id", "kind_code", name=op.f("pk_offer")),
    )
    op.create_table(
        "vacancy_update",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("region_prev_seq", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "web", "sms", "voice", "api", "admin", "import", "demo", name="channel", native_enum=False, length=10
            ),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["home_id"], ["care_home.id"], name=op.f("fk_vacancy_update_home_id_care_home")),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"], name=op.f("fk_vacancy_update_region_id_region")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vacancy_update")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_vacancy_update_idempotency_key")),
    )
    with op.batch_alter_table("vacancy_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vacancy_update_home_id"), ["home_id"], unique=False)
        batch_op.create_index("ix_vacancy_update_region_seq", ["region_id", "seq"], unique=False)

    kinds = sa.table("care_kind", sa.column("code"), sa.column("name"), sa.column("position"))
    op.bulk_insert(
        kinds,
        [{"code": code, "name": name, "position": position} for position, (code, name) in enumerate(KINDS_OF_CARE)],
    )
    op.bulk_insert(sa.table("board_cursor", sa.column("id"), sa.column("seq")), [{"id": 1, "seq": 0}])
    _forbid_history_rewrites()


KINDS_OF_CARE = [
    ("RES", "Residential"),
    ("NUR", "Nursing"),
    ("DRES", "Dementia residential"),
    ("DNUR", "Dementia nursing"),
    ("MH", "Mental health"),
    ("LD", "Learning disability"),
    ("D2A", "Short stay / discharge to assess"),
]


def _forbid_history_rewrites() -> None:
    """History is evidence of what was reported when: the database itself refuses to change it."""
    if op.get_context().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER vacancy_update_no_{verb.lower()} BEFORE {verb} ON vacancy_update "
                "BEGIN SELECT RAISE(ABORT, 'vacancy_update is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION vacancy_update_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'vacancy_update is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER vacancy_update_append_only BEFORE UPDATE OR DELETE ON vacancy_update "
            "FOR EACH ROW EXECUTE FUNCTION vacancy_update_append_only()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER vacancy_update_no_update")
        op.execute("DROP TRIGGER vacancy_update_no_delete")
    else:
        op.execute("DROP TRIGGER vacancy_update_append_only ON vacancy_update")
        op.execute("DROP FUNCTION vacancy_update_append_only()")
    with op.batch_alter_table("vacancy_update", schema=None) as batch_op:
        batch_op.drop_index("ix_vacancy_update_region_seq")
        batch_op.drop_index(batch_op.f("ix_vacancy_update_home_id"))

    op.drop_table("vacancy_update")
    op.drop_table("offer")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_phone"))
        batch_op.drop_index(batch_op.f("ix_contact_home_id"))

    op.drop_table("contact")
    op.drop_table("api_token")
    op.drop_table("user_account")
    with op.batch_alter_table("care_home", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_home_locality_id"))
        batch_op.drop_index(batch_op.f("ix_care_home_confirmed_at"))

    op.drop_table("care_home")
    op.drop_table("locality")
    op.drop_table("hospital")
    op.drop_table("region")
    op.drop_table("care_kind")
    op.drop_table("board_cursor")
