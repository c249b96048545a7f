"""campaign heartbeat: which process runs a campaign, and when it was last seen, across hosts

Revision ID: 0009
Revises: 0008

A running campaign's controller writes `heartbeat_at` (the database server's clock, UTC) every
few seconds under its `claim_id`; a campaign whose heartbeat is older than its stale limit may be
claimed (resumed) from any machine. Existing rows have neither: a campaign marked running without
a heartbeat is judged by its PID, on its own host only, as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claim_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('claim_id')
        batch_op.drop_column('heartbeat_at')
