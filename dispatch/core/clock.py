"""Time: now in UTC, and the one China time zone (UTC+8) that people read and forms mean.

Every time is stored in UTC. China has kept UTC+8 without daylight saving since 1991, so a
fixed offset is exact and needs no tz database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


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
