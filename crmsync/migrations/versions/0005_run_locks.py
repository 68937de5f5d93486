"""run locks (one writer per integration × object) and the quarantine's replay time

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crmsync.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_locks",
        sa.Column("lock_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("acquired_at", crmsync.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("lock_key"),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", crmsync.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_column("due_at")
    op.drop_table("run_locks")
