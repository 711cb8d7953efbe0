"""cheaper report marks: the event and part triggers skip an event received today

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration 0010's triggers on event and assignment ran a UNION and an INSERT … SELECT for
# every row written, about 20 µs of PostgreSQL's time per row: more than the INSERT itself,
# on every report and every part routing writes. A part is never created before its event
# was received, nor moved to another event, so when the event was received today (a China
# day) every day it touches is today, which is never marked: the triggers now look up the
# event's received day first and stop there (PostgreSQL), or fire only when it is earlier
# (SQLite's WHEN). An event being inserted has no parts yet: its own day decides.
EVENT_DAYS = (
    "SELECT {day_a} AS d FROM assignment a WHERE a.event_id = {row}.{event}"
    " UNION SELECT {day_e} AS d FROM event e WHERE e.id = {row}.{event}"
)
TRIGGERS = (  # name, table, event, row, the event id's column in the row
    ("assignment_insert", "assignment", "INSERT", "NEW", "event_id"),
    (
        "assignment_update",
        "assignment",
        "UPDATE OF status, answered_at, fed_back_at, sign_by, handle_by, returns, reworks,"
        " department_id, event_id, created_at",
        "NEW",
        "event_id",
    ),
    ("assignment_delete", "assignment", "DELETE", "OLD", "event_id"),
    ("event_insert", "event", "INSERT", "NEW", "id"),
    (
        "event_update",
        "event",
        "UPDATE OF rating, status, township_code, matter_code, platform_code, received_at",
        "NEW",
        "id",
    ),
)


def _words(postgres: bool) -> dict[str, str]:
    if postgres:
        day = "(({0} AT TIME ZONE 'UTC') + interval '8 hours')::date"
        return {
            "day_a": day.format("a.created_at"),
            "day_e": day.format("e.received_at"),
            "day_of": day,
            "today": day.format("now()"),
        }
    return {
        "day_a": "date(a.created_at, '+8 hours')",
        "day_e": "date(e.received_at, '+8 hours')",
        "day_of": "date({0}, '+8 hours')",
        "today": "date('now', '+8 hours')",
    }


def _mark(row: str, event: str, words: dict[str, str]) -> str:
    days = EVENT_DAYS.format(row=row, event=event, **words)
    return (
        "INSERT INTO report_dirty_day (day) SELECT days.d FROM (" + days + ") AS days"
        " WHERE days.d IS NOT NULL AND days.d < " + words["today"] + ";"
    )


def _received_day(row: str, event: str, words: dict[str, str]) -> str:
    return f"(SELECT {words['day_e']} FROM event e WHERE e.id = {row}.{event})"


def _create(guarded: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    words = _words(postgres)
    for name, table, event, row, column in TRIGGERS:
        body = _mark(row, column, words)
        own_day = words["day_of"].format(f"{row}.received_at") if table == "event" else None
        if postgres:
            when = ""
            if guarded and own_day is not None:
                when = f" WHEN ({own_day} < {words['today']})"
            elif guarded:
                # A missing event (a delete's) reads as NULL: IF NULL is false, so it marks.
                body = (
                    f"IF {_received_day(row, column, words)} >= {words['today']} THEN"
                    f" RETURN NULL; END IF; {body}"
                )
            op.execute(
                f"CREATE OR REPLACE FUNCTION report_dirty_{name}() RETURNS trigger"
                f" LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(f"DROP TRIGGER IF EXISTS report_dirty_{name} ON {table}")
            op.execute(
                f"CREATE TRIGGER report_dirty_{name} AFTER {event} ON {table}"
                f" FOR EACH ROW{when} EXECUTE FUNCTION report_dirty_{name}()"
            )
        else:
            when = ""
            if guarded:
                day = own_day or f"coalesce({_received_day(row, column, words)}, '0000-00-00')"
                when = f" WHEN {day} < {words['today']}"
            op.execute(f"DROP TRIGGER IF EXISTS report_dirty_{name}")
            op.execute(
                f"CREATE TRIGGER report_dirty_{name} AFTER {event} ON {table}"
                f" FOR EACH ROW{when} BEGIN {body} END"
            )


def upgrade() -> None:
    _create(guarded=True)


def downgrade() -> None:
    _create(guarded=False)
