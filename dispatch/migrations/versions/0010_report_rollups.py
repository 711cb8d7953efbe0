"""report roll-ups: each settled day's assessment facts, and triggers that mark changed days

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sqlmodel.sql.sqltypes.UTCDateTime
BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Every change a day's facts are made of, and the days it touches (the parts' dispatch days
# and the reports' received days, China dates). Each is (name, table, event, days), the days
# a SELECT of one column `d` over NEW or OLD. A trigger marks only days before today: today
# is always built live, and marks of settled days are all the scheduler has to redo.
EVENT_DAYS = (
    "SELECT {day_a} AS d FROM assignment a WHERE a.event_id = {row}.{event}"
    " UNION SELECT {day_e} AS d FROM event e WHERE e.id = {row}.{event}"
)
PART_DAY = "SELECT {day_a} AS d FROM assignment a WHERE a.id = {row}.{part}"
TRIGGERS = (
    ("assignment_insert", "assignment", "INSERT", EVENT_DAYS, "NEW", {"event": "event_id"}),
    (
        "assignment_update",
        "assignment",
        "UPDATE OF status, answered_at, fed_back_at, sign_by, handle_by, returns, reworks,"
        " department_id, event_id, created_at",
        EVENT_DAYS,
        "NEW",
        {"event": "event_id"},
    ),
    ("assignment_delete", "assignment", "DELETE", EVENT_DAYS, "OLD", {"event": "event_id"}),
    ("event_insert", "event", "INSERT", EVENT_DAYS, "NEW", {"event": "id"}),
    (
        "event_update",
        "event",
        "UPDATE OF rating, status, township_code, matter_code, platform_code, received_at",
        EVENT_DAYS,
        "NEW",
        {"event": "id"},
    ),
    ("notice_insert", "supervision_notice", "INSERT", PART_DAY, "NEW", {"part": "assignment_id"}),
    ("notice_delete", "supervision_notice", "DELETE", PART_DAY, "OLD", {"part": "assignment_id"}),
    ("extension_insert", "extension_request", "INSERT", PART_DAY, "NEW", {"part": "assignment_id"}),
    (
        "extension_update",
        "extension_request",
        "UPDATE OF status",
        PART_DAY,
        "NEW",
        {"part": "assignment_id"},
    ),
    (
        "escalation_insert",
        "escalation",
        "INSERT",
        PART_DAY,
        "NEW",
        {"part": "response_assignment_id"},
    ),
    (
        "escalation_update",
        "escalation",
        "UPDATE OF response_assignment_id, called_at, responded_at, respond_by",
        PART_DAY,
        "NEW",
        {"part": "response_assignment_id"},
    ),
    ("party_insert", "dispute_party", "INSERT", PART_DAY, "NEW", {"part": "assignment_id"}),
    ("party_delete", "dispute_party", "DELETE", PART_DAY, "OLD", {"part": "assignment_id"}),
    (
        "dispute_update",
        "dispute",
        "UPDATE OF status, lead_department_id",
        "SELECT {day_a} AS d FROM assignment a JOIN dispute_party p ON p.assignment_id = a.id"
        " WHERE p.dispute_id = {row}.id",
        "NEW",
        {},
    ),
    (
        "department_update",
        "department",
        "UPDATE OF parent_id",
        "SELECT DISTINCT {day_a} AS d FROM assignment a WHERE a.department_id = {row}.id",
        "NEW",
        {},
    ),
)


def _dialect() -> dict[str, str]:
    if op.get_bind().dialect.name == 'postgresql':
        day = "(({0} AT TIME ZONE 'UTC') + interval '8 hours')::date"
        return {
            'day_a': day.format('a.created_at'),
            'day_e': day.format('e.received_at'),
            'today': day.format('now()'),
        }
    return {
        'day_a': "date(a.created_at, '+8 hours')",
        'day_e': "date(e.received_at, '+8 hours')",
        'today': "date('now', '+8 hours')",
    }


def _mark(days: str, row: str, columns: dict[str, str], words: dict[str, str]) -> str:
    select = days.format(row=row, **columns, **words)
    return (
        "INSERT INTO report_dirty_day (day) SELECT days.d FROM (" + select + ") AS days"
        " WHERE days.d IS NOT NULL AND days.d < " + words['today'] + ";"
    )


def upgrade() -> None:
    op.create_table(
        'report_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('built_at', TIME(), nullable=False),
        sa.Column('header', sa.JSON(), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'kind'),
    )
    op.create_table(
        'report_dirty_day',
        sa.Column('id', BIG, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_report_dirty_day_day', 'report_dirty_day', ['day'])
    # The facts' builder finds a part's escalations and dispute parties by the part.
    op.create_index(
        'ix_escalation_response_assignment_id', 'escalation', ['response_assignment_id']
    )
    op.create_index('ix_dispute_party_assignment_id', 'dispute_party', ['assignment_id'])
    words = _dialect()
    postgres = op.get_bind().dialect.name == 'postgresql'
    for name, table, event, days, row, columns in TRIGGERS:
        body = _mark(days, row, columns, words)
        if postgres:
            op.execute(
                f"CREATE FUNCTION report_dirty_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER report_dirty_{name} AFTER {event} ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION report_dirty_{name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER report_dirty_{name} AFTER {event} ON {table}"
                f" FOR EACH ROW BEGIN {body} END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for name, table, *_ in TRIGGERS:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS report_dirty_{name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS report_dirty_{name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS report_dirty_{name}")
    op.drop_index('ix_dispute_party_assignment_id', 'dispute_party')
    op.drop_index('ix_escalation_response_assignment_id', 'escalation')
    op.drop_index('ix_report_dirty_day_day', 'report_dirty_day')
    op.drop_table('report_dirty_day')
    op.drop_table('report_day')
