"""campaigns.applied_through: the last iteration whose verdict the MAP-Elites cells include

Revision ID: 0006
Revises: 0005

The loop records a verdict as soon as its evaluation ends, but lets verdicts compete for cells
only in iteration order (evolve/loop/schedule.py); this column is where that order stands, so a
resumed campaign applies the rest at the same points of the run as an uninterrupted one.
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applied_through', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('applied_through')
