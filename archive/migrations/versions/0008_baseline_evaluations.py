"""baseline evaluations: the task baselines' points on a campaign's front, cached per campaign

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'baseline_evaluations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('baseline', sa.String(length=200), nullable=False),
        sa.Column('split', sa.String(length=50), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('metrics', sa.JSON(), nullable=False),
        sa.Column('wall_time', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'baseline', 'split', 'code_hash', name='uq_baseline_evaluation'),
    )


def downgrade() -> None:
    op.drop_table('baseline_evaluations')
