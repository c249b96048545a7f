"""events by kind: the QD snapshot history and the best-score history read one kind of event

Revision ID: 0005
Revises: 0004

Without it, reading a campaign's `qd` snapshots (or `new_best` events) scans every event of the
campaign (one per failure, duplicate, cut...); with it, only the rows of that kind.
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_campaign_kind', ['campaign_id', 'kind', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_campaign_kind')
