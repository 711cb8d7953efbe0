"""reference generation: one counter that moves on with every change to reference data

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00
"""
from collections.abc import Sequence

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        'reference_generation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('changed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('what', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(table, [{'id': 1, 'generation': 0, 'changed_at': datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table('reference_generation')
