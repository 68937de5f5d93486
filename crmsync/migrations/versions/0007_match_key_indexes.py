"""match-key indexes: the default match fields (clients.domain, contacts.email) folded, and
their non-ASCII rows

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from crmsync.models import MATCH_KEY_INDEXES

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for index in MATCH_KEY_INDEXES:
        index.create(op.get_bind())


def downgrade() -> None:
    for index in MATCH_KEY_INDEXES:
        index.drop(op.get_bind())
