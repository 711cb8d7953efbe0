"""assessment: the county's ranking and matter weights, indexes the reports read by

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('county_rules') as batch_op:
        batch_op.add_column(sa.Column('ranking_weights', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('matter_weights', sa.JSON(), nullable=True))
    # The reports select parts by when they were dispatched, and steps by their part.
    op.create_index('ix_assignment_created_at', 'assignment', ['created_at'])
    op.create_index('ix_step_assignment_id', 'step', ['assignment_id'])


def downgrade() -> None:
    op.drop_index('ix_step_assignment_id', 'step')
    op.drop_index('ix_assignment_created_at', 'assignment')
    with op.batch_alter_table('county_rules') as batch_op:
        batch_op.drop_column('matter_weights')
        batch_op.drop_column('ranking_weights')
