"""deadline alerts: how far each assignment's sign and handle warnings have gone

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_alert', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('handle_alert', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_column('handle_alert')
        batch_op.drop_column('sign_alert')
