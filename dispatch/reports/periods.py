"""A report's period: whole China calendar days, from the first to the last, both included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dispatch.core.clock import CHINA_TZ, local_date, utcnow
from dispatch.core.errors import InvalidInput

# Longer periods are for the ledger and the workbooks of several years; a guard against typos.
LONGEST_DAYS = 3660
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


@dataclass(frozen=True, slots=True)
class Period:
    """From one China date to another, inclusive: [start, end) in UTC."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """Return midnight (China time) of the first day, in UTC."""
        return datetime.combine(self.first, datetime.min.time(), CHINA_TZ).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Return midnight (China time) after the last day, in UTC: the end, excluded."""
        following = self.last + timedelta(days=1)
        return datetime.combine(following, datetime.min.time(), CHINA_TZ).astimezone(UTC)

    @property
    def label(self) -> str:
        """Name the period as a heading reads it: 2026-11-01 至 2026-11-30."""
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"


def period(first: date | None, last: date | None, *, now: datetime | None = None) -> Period:
    """Return the period asked for: by default the current month up to today (China time)."""
    today = local_date(now or utcnow())
    last = last or today
    first = first or last.replace(day=1)
    for name, day in (("to", last), ("from", first)):
        if not EARLIEST <= day <= LATEST:
            raise InvalidInput(
                f"日期应在 {EARLIEST.isoformat()} 至 {LATEST.isoformat()} 之间", field=name
            )
    if first > last:
        raise InvalidInput("起始日期不能晚于截止日期", field="from")
    if (last - first).days >= LONGEST_DAYS:
        raise InvalidInput(f"统计区间最长 {LONGEST_DAYS} 天", field="to")
    return Period(first, last)
