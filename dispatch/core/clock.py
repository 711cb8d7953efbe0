"""Time: now in UTC, and the one China time zone (UTC+8) that people read and forms mean.

Every time is stored in UTC. China has kept UTC+8 without daylight saving since 1991, so a
fixed offset is exact and needs no tz database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

# A past moment that "now" reads as while a history is written (`sipingtai demo history`):
# the same domain rules run, each step stamped with the simulated time.
_simulated_now: ContextVar[datetime | None] = ContextVar("simulated_now", default=None)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC (or the simulated one, if set)."""
    simulated = _simulated_now.get()
    return simulated if simulated is not None else datetime.now(UTC)


@contextmanager
def simulated_now(moment: datetime) -> Iterator[None]:
    """Let utcnow() return this moment inside the block (for writing a realistic past)."""
    token = _simulated_now.set(as_utc(moment).astimezone(UTC))
    try:
        yield
    finally:
        _simulated_now.reset(token)


def as_aware(moment: datetime) -> datetime:
    """Read a naive time as China time (what a county's phones and forms mean)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TZ)


def as_utc(moment: datetime) -> datetime:
    """Read a naive database time as UTC (how every time is stored)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_date(at: datetime | date) -> date:
    """Return the China calendar date of a moment; naive datetimes are China time already."""
    if isinstance(at, datetime):
        return at.astimezone(CHINA_TZ).date() if at.tzinfo is not None else at.date()
    return at


def day_start(now: datetime) -> datetime:
    """Return midnight of today in China time, as an aware datetime."""
    local = now.astimezone(CHINA_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def beijing_text(moment: datetime) -> str:
    """Write a moment as a person reads it: Beijing time, "2026/11/20 09:30" as the pages do.

    A naive time is read as UTC, the way every time is stored.
    """
    return as_utc(moment).astimezone(CHINA_TZ).strftime("%Y/%m/%d %H:%M")
