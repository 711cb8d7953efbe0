"""assessment: the county's ranking and matter weights, indexes the reports read by

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('county_rules') as batch_op:
        batch_op.add_column(sa.Column('ranking_weights', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('matter_weights', sa.JSON(), nullable=True))
    # Plain ADD/DROP COLUMN (SQLite has both since 3.35): a batch copy of assignment would
    # trip the foreign keys that name it.
    op.add_column('assignment', sa.Column('answered_at', TIME(), nullable=True))
    op.add_column('assignment', sa.Column('returns', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('assignment', sa.Column('reworks', sa.Integer(), nullable=False, server_default='0'))
    # Parts moved before this revision: the same figures, from their steps.
    op.execute(
        "UPDATE assignment SET"
        " answered_at = (SELECT min(s.at) FROM step s WHERE s.assignment_id = assignment.id"
        "   AND s.action IN ('sign', 'return')),"
        " returns = (SELECT count(*) FROM step s WHERE s.assignment_id = assignment.id"
        "   AND s.action = 'return'),"
        " reworks = (SELECT count(*) FROM step s WHERE s.assignment_id = assignment.id"
        "   AND s.action = 'rework')"
    )
    # The reports select parts by when they were dispatched, and steps by their part.
    op.create_index('ix_assignment_created_at', 'assignment', ['created_at'])
    op.create_index('ix_step_assignment_id', 'step', ['assignment_id'])


def downgrade() -> None:
    op.drop_index('ix_step_assignment_id', 'step')
    for column in ('reworks', 'returns', 'answered_at'):
        op.drop_column('assignment', column)
    op.drop_index('ix_assignment_created_at', 'assignment')
    with op.batch_alter_table('county_rules') as batch_op:
        batch_op.drop_column('matter_weights')
        batch_op.drop_column('ranking_weights')
