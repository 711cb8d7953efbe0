"""64-bit ids: every integer primary key and the foreign keys naming one become BIGINT

On PostgreSQL the columns were int4, so an id past 2,147,483,647 could not be stored or even
compared; their sequences become bigint too. SQLite's INTEGER is already 64-bit (and a
primary key's INTEGER is its rowid), so nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, has a sequence): every integer id column and every foreign key to one.
ID_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ('matter_list', 'id', True),
    ('department', 'id', True),
    ('department', 'parent_id', False),
    ('department_coverage', 'department_id', False),
    ('matter', 'id', True),
    ('matter', 'list_id', False),
    ('matter', 'lead_department_id', False),
    ('matter_cooperator', 'matter_id', False),
    ('matter_cooperator', 'department_id', False),
    ('reference_generation', 'id', True),
    ('app_user', 'id', True),
    ('app_user', 'department_id', False),
    ('event', 'id', True),
    ('event', 'reporter_id', False),
    ('event', 'matter_list_id', False),
    ('event', 'merged_into_id', False),
    ('assignment', 'id', True),
    ('assignment', 'event_id', False),
    ('assignment', 'department_id', False),
    ('assignment', 'on_behalf_of_id', False),
    ('step', 'id', True),
    ('step', 'event_id', False),
    ('step', 'assignment_id', False),
    ('step', 'actor_id', False),
    ('attachment', 'id', True),
    ('attachment', 'event_id', False),
    ('attachment', 'assignment_id', False),
    ('attachment', 'uploaded_by', False),
    ('webhook_delivery', 'id', True),
    ('webhook_delivery', 'assignment_id', False),
)


def _retype(type_name: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    for table, column, sequenced in ID_COLUMNS:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {type_name}')
        if sequenced:
            sequence = bind.execute(
                sa.text('SELECT pg_get_serial_sequence(:table, :column)'),
                {'table': table, 'column': column},
            ).scalar()
            if sequence:
                op.execute(f'ALTER SEQUENCE {sequence} AS {type_name}')


def upgrade() -> None:
    _retype('bigint')


def downgrade() -> None:
    _retype('integer')
