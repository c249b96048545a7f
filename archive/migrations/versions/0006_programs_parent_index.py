"""programs by parent: the offline search reads a parent's earlier children every iteration

Revision ID: 0006
Revises: 0005

Without it, `children_by_operator` and `operator_states` scan every program of the campaign to find
one parent's children (bench/bench_child_queries.py times both ways).
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.create_index('ix_programs_campaign_parent', ['campaign_id', 'parent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_index('ix_programs_campaign_parent')
