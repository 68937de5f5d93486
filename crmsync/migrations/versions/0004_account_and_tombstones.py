"""integration account identity, tombstones of deleted integrations

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 19:20:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crmsync.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.create_table(
        "deleted_integrations",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("deleted_at", crmsync.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("deleted_integrations")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_column("account")
