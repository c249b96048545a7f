"""llm calls: what a replay matches and answers with (request digest, sampling, stop kind, retry class)

Revision ID: 0007
Revises: 0006

Rows logged before this revision have NULLs here: their campaigns cannot be replayed, and
`evolve run --replay` says so.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompt_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sampling', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('stop', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('retryable', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('permanent', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        for column in ('permanent', 'retryable', 'stop', 'sampling', 'prompt_digest'):
            batch_op.drop_column(column)
