"""The due moments the scheduler's deadline scans select on, as SQL their indexes share.

A live part's "due key" for a deadline (sign or handle) is when its next warning falls due:
while none was raised, the 70% mark of its time (the deadline itself when that time is
empty or negative); once one was, the deadline. The key is never later than the deadline, so
one partial index per deadline serves both scans: the warnings (`supervision.alerts`: key
passed, level below red) and the county rules (`supervision.rules`: deadline passed, which
implies key passed; their query states both so that the index is used).

PostgreSQL computes the key as a UTC timestamp (`timezone('UTC', …)` and timestamp arithmetic
are immutable, so it can be indexed); SQLite as a Julian day (julianday of a stored time is
deterministic). Both keep the index's condition on the part's status as literals in the query,
so that a prepared statement's generic plan still proves it. Julian days lose a fraction of a
millisecond, so the scans ask for keys up to a second past the moment and decide each part
exactly in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import DateTime, Float, bindparam, literal_column, text
from sqlalchemy.sql.elements import BindParameter, ColumnElement, TextClause

Deadline = Literal["sign", "handle"]
WARNING_SHARE = 0.7  # the yellow warning: this share of the part's time used
KEY_MARGIN = timedelta(seconds=1)
_JULIAN_EPOCH = 2440587.5  # the Julian day of 1970-01-01 00:00 UTC

# Which parts each deadline's index holds: pending ones for signing, live ones for handling.
_LIVE: dict[Deadline, str] = {
    "sign": "{t}status = 'pending' AND {t}sign_by IS NOT NULL",
    "handle": "{t}status IN ('pending', 'signed') AND {t}handle_by IS NOT NULL",
}
# PostgreSQL's as it prints it back (pg_get_indexdef, line breaks included), so that the
# migrations-against-models comparison (Alembic) finds the declared index equal.
_KEY: dict[str, str] = {
    "postgresql": (
        "\nCASE\n    WHEN {t}{k}_alert = 0 AND {t}{k}_by > {t}created_at THEN"
        " timezone('UTC', {t}created_at) + (timezone('UTC', {t}{k}_by)"
        " - timezone('UTC', {t}created_at)) * {share}"
        "\n    ELSE timezone('UTC', {t}{k}_by)\nEND"
    ),
    "sqlite": (
        "CASE WHEN {t}{k}_alert = 0 AND {t}{k}_by > {t}created_at THEN"
        " julianday({t}created_at) + (julianday({t}{k}_by) - julianday({t}created_at))"
        " * {share} ELSE julianday({t}{k}_by) END"
    ),
}
INDEX_NAMES: dict[Deadline, str] = {
    "sign": "ix_assignment_sign_due",
    "handle": "ix_assignment_handle_due",
}


def live_condition(deadline: Deadline, *, table: str = "") -> str:
    """Return the SQL condition of a deadline's index (and of its scans)."""
    return _LIVE[deadline].format(t=f"{table}." if table else "")


def key_sql(deadline: Deadline, dialect: str, *, table: str = "") -> str:
    """Return the SQL of a deadline's due key on a dialect (PostgreSQL or SQLite)."""
    template = _KEY["postgresql" if dialect == "postgresql" else "sqlite"]
    return template.format(t=f"{table}." if table else "", k=deadline, share=WARNING_SHARE)


def live(deadline: Deadline) -> TextClause:
    """Select the parts a deadline's index holds (the assignment table named)."""
    return text(live_condition(deadline, table="assignment"))


def key_reached(deadline: Deadline, dialect: str, moment: datetime) -> ColumnElement[bool]:
    """Select the parts whose due key is at most a second past the moment."""
    key: ColumnElement[object] = literal_column(
        f"({key_sql(deadline, dialect, table='assignment')})"
    )
    return key <= _bound(dialect, moment + KEY_MARGIN)


def _bound(dialect: str, moment: datetime) -> BindParameter[object]:
    utc = moment.astimezone(UTC)
    if dialect == "postgresql":
        return bindparam(None, utc.replace(tzinfo=None), type_=DateTime())
    return bindparam(None, utc.timestamp() / 86400 + _JULIAN_EPOCH, type_=Float())
