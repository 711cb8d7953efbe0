"""deadline scan indexes: the live parts' due keys for signing and handling, partial

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# dispatch/events/deadlines.py explains the due key; these are its SQL as of this revision.
# Only live parts are indexed (pending for signing, pending or signed for handling), so a part
# fed back, returned or cancelled leaves the index and intake writes one entry per deadline.
LIVE = {
    'sign': "status = 'pending' AND sign_by IS NOT NULL",
    'handle': "status IN ('pending', 'signed') AND handle_by IS NOT NULL",
}
KEY = {
    'postgresql': (
        "CASE WHEN (({k}_alert = 0) AND ({k}_by > created_at)) THEN"
        " (timezone('UTC', created_at) + ((timezone('UTC', {k}_by)"
        " - timezone('UTC', created_at)) * (0.7)))"
        " ELSE timezone('UTC', {k}_by) END"
    ),
    'sqlite': (
        "CASE WHEN {k}_alert = 0 AND {k}_by > created_at THEN"
        " julianday(created_at) + (julianday({k}_by) - julianday(created_at))"
        " * 0.7 ELSE julianday({k}_by) END"
    ),
}


def upgrade() -> None:
    dialect = 'postgresql' if op.get_bind().dialect.name == 'postgresql' else 'sqlite'
    for deadline, where in LIVE.items():
        key = KEY[dialect].format(k=deadline)
        op.execute(
            f'CREATE INDEX ix_assignment_{deadline}_due ON assignment'
            f' (({key}), {deadline}_alert) WHERE {where}'
        )


def downgrade() -> None:
    for deadline in LIVE:
        op.drop_index(f'ix_assignment_{deadline}_due', table_name='assignment')
