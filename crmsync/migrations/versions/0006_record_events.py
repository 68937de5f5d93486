"""record events: the per-record history of runs

Revision ID: 0006
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import crmsync.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("cs_object", sa.String(length=32), nullable=False),
        sa.Column("cs_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("at", crmsync.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["integration"], ["integrations.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_record_events_at", "record_events", ["at"])
    op.create_index("ix_record_events_cs", "record_events", ["integration", "cs_object", "cs_id"])
    op.create_index("ix_record_events_external", "record_events", ["integration", "cs_object", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_record_events_external", table_name="record_events")
    op.drop_index("ix_record_events_cs", table_name="record_events")
    op.drop_index("ix_record_events_at", table_name="record_events")
    op.drop_table("record_events")
