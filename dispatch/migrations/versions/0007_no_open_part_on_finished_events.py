"""finished events hold no open part: close what the old rule left open

Before this revision an event was resolved once its lead and cooperating parts were fed
back, so verified, closed and rated events could still hold a pending or signed territorial
part (with a countdown and deadline warnings). Those parts are closed here, each with a
step saying why; events still awaiting verification keep theirs, for the township to feed
back or the verifier to close.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:00:00
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAST_HANDLING = ('verified', 'closed', 'rated', 'invalid', 'merged')
OPEN_PARTS = ('pending', 'signed', 'returned')
WHY = '事件已核查或办结，遗留的未完成任务随之关闭（数据修复）'

event = sa.table('event', sa.column('id', sa.BigInteger()), sa.column('status', sa.String()))
assignment = sa.table(
    'assignment',
    sa.column('id', sa.BigInteger()),
    sa.column('event_id', sa.BigInteger()),
    sa.column('status', sa.String()),
)
step = sa.table(
    'step',
    sa.column('event_id', sa.BigInteger()),
    sa.column('assignment_id', sa.BigInteger()),
    sa.column('at', sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column('action', sa.String()),
    sa.column('actor', sa.String()),
    sa.column('from_status', sa.String()),
    sa.column('to_status', sa.String()),
    sa.column('reason', sa.String()),
)


def upgrade() -> None:
    bind = op.get_bind()
    left_open = bind.execute(
        sa.select(assignment.c.id, assignment.c.event_id, assignment.c.status)
        .join(event, event.c.id == assignment.c.event_id)
        .where(event.c.status.in_(PAST_HANDLING), assignment.c.status.in_(OPEN_PARTS))
    ).all()
    if not left_open:
        return
    now = datetime.now(UTC)
    bind.execute(
        step.insert(),
        [
            {
                'event_id': event_id,
                'assignment_id': part_id,
                'at': now,
                'action': 'close_part',
                'actor': '系统',
                'from_status': status,
                'to_status': 'cancelled',
                'reason': WHY,
            }
            for part_id, event_id, status in left_open
        ],
    )
    bind.execute(
        assignment.update()
        .where(assignment.c.id.in_([part_id for part_id, _, _ in left_open]))
        .values(status='cancelled')
    )


def downgrade() -> None:
    # The parts stay closed: which of them were open before cannot be told from a step alone
    # without guessing, and reopening work on a finished event is what this revision ends.
    pass
