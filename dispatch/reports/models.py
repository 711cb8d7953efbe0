"""The assessment's daily roll-ups: each past day's facts per dimension, and the days to redo."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import JSON, Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId


class ReportDay(SQLModel, table=True):
    """One China day's facts of one dimension (reports/facts.py), as the scheduler built them.

    `header` names the layout and the row keys; `body` holds the counts, the lengths of the kept
    values and the values themselves (reports/rollup.encode). A change of layout makes the
    stored days unreadable (built live): its migration should empty this table.
    """

    __tablename__ = "report_day"

    day: date = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=16)
    built_at: datetime = Field(default_factory=utcnow)
    header: dict[str, object] = Field(sa_column=Column(JSON, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ReportDirtyDay(SQLModel, table=True):
    """A past day whose facts changed after its roll-up was built (written by triggers).

    Append-only, so that writers never wait on each other; the scheduler rebuilds the days
    and deletes the marks it has seen.
    """

    __tablename__ = "report_dirty_day"
    __table_args__ = (Index("ix_report_dirty_day_day", "day"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    day: date
