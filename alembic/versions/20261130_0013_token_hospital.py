"""API tokens tied to a hospital: `api_token.hospital_id`

A token made for a hospital holds beds for that hospital only and ends only its holds; tokens made
before have none (an admin's acts for every hospital; a coordinator's may no longer hold).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hospital_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_token_hospital_id_hospital"), "hospital", ["hospital_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_token_hospital_id_hospital"), type_="foreignkey")
        batch_op.drop_column("hospital_id")
