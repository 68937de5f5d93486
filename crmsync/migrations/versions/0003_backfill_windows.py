"""backfill windows

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 19:15:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import crmsync.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backfill_windows',
    sa.Column('integration', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cs_object', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('start', crmsync.models.UTCDateTime(), nullable=False),
    sa.Column('end', crmsync.models.UTCDateTime(), nullable=False),
    sa.Column('completed_at', crmsync.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['integration'], ['integrations.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('integration', 'cs_object', 'start', 'end')
    )


def downgrade() -> None:
    op.drop_table('backfill_windows')
