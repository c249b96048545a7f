"""evaluation role: which evaluation placed a program (train) and which only report on it

Revision ID: 0003
Revises: 0002

Before this revision the training evaluation was whichever evaluation of a program came first
(lowest id); that is exactly how existing rows are labelled.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=10), nullable=False, server_default='report'))
    op.execute("UPDATE evaluations SET role = 'train' WHERE id IN "
               "(SELECT MIN(id) FROM evaluations GROUP BY program_id)")
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index('ix_evaluations_program_role', ['program_id', 'role'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluations_program_role')
        batch_op.drop_column('role')
