"""The work calendar: which days are workdays, and deadlines counted in working time.

Monday to Friday are workdays and Saturday and Sunday are not, except on dated
exceptions: public holidays and the days off around them (法定节假日, 放假调休) are not
workdays, make-up workdays (调休上班, some Saturdays and Sundays) are. The exceptions
come from the State Council's yearly notice, shipped as JSON in ``dispatch/calendars/``
and imported into the ``calendar_day`` table; a county may edit them. Years without
data fall back to the weekly rhythm; ``WorkCalendar.years`` tells which years have any.

How time is counted, the way a county office counts it:

- **China time.** Days are China days (UTC+8; China has had no daylight saving since
  1991). Every function takes timezone-aware datetimes, in any zone, and returns
  aware datetimes in the zone of its ``start``; a naive datetime raises ValueError.
- **Working time runs all day on a workday and stands still on other days.** A workday
  counts 00:00-24:00, not office hours: office hours differ by county and season, and
  grid work and urgent handling do not stop at 17:30. So "handle within N working days"
  from 15:00 on a workday ends at 15:00 on the Nth following workday, skipping
  non-workdays, and a make-up Saturday counts like any workday.
- **A report on a non-workday starts counting at 00:00 of the next workday**, so N
  working days end at 24:00 of the Nth workday, returned as 00:00 of the next calendar
  day. 24:00 is the cut-off Chinese law uses for a period's last day (民法典 第203条),
  it is the same clock for everyone, and it gives the whole Nth workday, whereas
  "office opening" would tie deadlines to opening hours that are not ours to know.
- **Fractional days are fractions of 24 working hours**: 0.5 working day from 09:00
  ends at 21:00; from 18:00 on a Friday it ends at 06:00 on Monday.
- **Limits in hours up to 24 count wall-clock hours** (``WALL_CLOCK_MAX_HOURS``): "sign
  within 2 h" or "handle within 24 h" is for urgent matters and emergencies, which do not
  wait for Monday. Longer limits in hours count working hours (48 h = 2 working days),
  and limits in working days always count working days, so "sign within 1 working day"
  is written as ``working_days=1``, not ``hours=24``.
- **Extensions add working days to the current deadline** (``add_working_days(due, n)``):
  nothing is ever paused. A deadline at 24:00 of a workday plus one working day is 24:00
  of the next workday.
- **The yellow warning** compares time used with the whole limit on the same clock the
  limit was set on (``fraction_used``); the fraction is 1.0 at the deadline and grows
  past 1 while working time keeps running after it. Overdue (red) is ``now > deadline``:
  over a weekend after a Friday deadline the fraction stays at 1.0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType

from sqlmodel import Session, col, select

from dispatch.core.clock import CHINA_TZ
from dispatch.core.errors import ImportRejected, InvalidInput, RowProblem
from dispatch.reference.generation import bump_generation
from dispatch.reference.models import CalendarDay

WALL_CLOCK_MAX_HOURS = 24.0
# The longest limit counted, about 14 years: walking the calendar a day at a time, a limit of
# millions of days took seconds and then overflowed the year 9999.
MAX_LIMIT_WORKING_DAYS = 3650
CALENDARS_DIR = Path(__file__).resolve().parent / "calendars"
NAME_MAX_LENGTH = 100  # CalendarDay.name

DayEntry = tuple[date, bool, str | None]

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ENTRY_KEYS = frozenset({"date", "workday", "name"})


def _empty_exceptions() -> Mapping[date, bool]:
    return MappingProxyType({})


def _empty_names() -> Mapping[date, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class WorkCalendar:
    """The weekly rhythm plus dated exceptions; pure and immutable, built once and shared.

    Every computation walks the calendar one day at a time, so its cost grows with the
    span in calendar days: about 30 µs for a 5-working-day deadline across 春节, about
    0.6 ms for the working time of an event open for most of a year.
    """

    exceptions: Mapping[date, bool] = field(default_factory=_empty_exceptions)
    names: Mapping[date, str] = field(default_factory=_empty_names)

    @classmethod
    def from_days(cls, days: Iterable[DayEntry]) -> WorkCalendar:
        """Build a calendar from (day, workday, name) exceptions; a later entry for a day wins."""
        exceptions: dict[date, bool] = {}
        names: dict[date, str] = {}
        for day, workday, name in days:
            exceptions[day] = workday
            if name:
                names[day] = name
            else:
                names.pop(day, None)
        return cls(MappingProxyType(exceptions), MappingProxyType(names))

    @property
    def years(self) -> frozenset[int]:
        """Return the years that have at least one exception (a schedule was loaded)."""
        return frozenset(day.year for day in self.exceptions)

    def is_workday(self, day: date) -> bool:
        """Return whether a China calendar day is a workday."""
        return self.exceptions.get(day, day.weekday() < 5)

    def name(self, day: date) -> str | None:
        """Return the holiday or make-up workday name of a day, if it has one."""
        return self.names.get(day)

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """Return the moment when the given number of working days have run from start."""
        amount = _amount(days, "working_days", MAX_LIMIT_WORKING_DAYS)
        return _back(self._advance(_local(start, "start"), timedelta(days=amount)), start)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """Return the moment when the given number of working hours have run from start."""
        amount = _amount(hours, "hours", MAX_LIMIT_WORKING_DAYS * 24)
        return _back(self._advance(_local(start, "start"), timedelta(hours=amount)), start)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time from start to end; negative when end is before start."""
        a, b = _local(start, "start"), _local(end, "end")
        return self._between(a, b) if a <= b else -self._between(b, a)

    def fraction_used(
        self, start: datetime, deadline: datetime, now: datetime, *, wall_clock: bool = False
    ) -> float:
        """Return the share of the limit used at now: 0 at start, 1 at the deadline.

        Pass ``wall_clock=True`` for limits that count wall-clock hours (see
        ``uses_wall_clock``); otherwise working time is compared. Never negative.
        """
        if wall_clock:
            a, b, c = _local(start, "start"), _local(deadline, "deadline"), _local(now, "now")
            total, used = b - a, c - a
        else:
            total = self.working_time_between(start, deadline)
            used = self.working_time_between(start, now)
        if total <= _ZERO:
            return 1.0 if now >= deadline else 0.0
        return max(used / total, 0.0)

    def _advance(self, cursor: datetime, remaining: timedelta) -> datetime:
        # cursor is naive China wall time; the loop walks one calendar day at a time.
        if remaining <= _ZERO:
            return cursor
        while True:
            day = cursor.date()
            day_end = datetime.combine(day + _DAY, time())
            if self.is_workday(day):
                available = day_end - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
            cursor = day_end

    def _between(self, cursor: datetime, end: datetime) -> timedelta:
        total = _ZERO
        while cursor < end:
            day = cursor.date()
            stop = min(datetime.combine(day + _DAY, time()), end)
            if self.is_workday(day):
                total += stop - cursor
            cursor = stop
        return total


def _local(moment: datetime, label: str) -> datetime:
    """Return a moment as naive China wall time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{label} must be timezone-aware (China time is UTC+8), got {moment!r}")
    return moment.astimezone(CHINA_TZ).replace(tzinfo=None)


def _back(local: datetime, like: datetime) -> datetime:
    """Return naive China wall time as an aware moment in the zone of like."""
    return local.replace(tzinfo=CHINA_TZ).astimezone(like.tzinfo)


def _amount(value: float, label: str, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"时限 {label}={value!r} 无效：应为不小于 0 的数", field=label)
    if value > maximum:
        raise InvalidInput(f"时限 {label}={value!r} 过长：最多 {maximum:g}", field=label)
    return float(value)


def uses_wall_clock(*, hours: float | None = None, working_days: float | None = None) -> bool:
    """Return whether a limit counts wall-clock time: given in hours, at most a day."""
    return working_days is None and hours is not None and hours <= WALL_CLOCK_MAX_HOURS


def deadline(
    calendar: WorkCalendar,
    start: datetime,
    *,
    hours: float | None = None,
    working_days: float | None = None,
) -> datetime | None:
    """Return when a limit given in hours or in working days runs out; None without a limit."""
    if hours is not None and working_days is not None:
        raise ValueError("give a limit in hours or in working days, not both")
    if working_days is not None:
        return calendar.add_working_days(start, working_days)
    if hours is None:
        return None
    if uses_wall_clock(hours=hours):
        amount = timedelta(hours=_amount(hours, "hours"))
        _local(start, "start")
        # Absolute time: add in UTC so a zone with daylight saving cannot shift the result.
        return (start.astimezone(UTC) + amount).astimezone(start.tzinfo)
    return calendar.add_working_hours(start, hours)


# ---- Calendar files and the calendar_day table -------------------------------------------


def load_calendar_file(path: str | Path) -> list[DayEntry]:
    """Read and check one year's calendar file; return its days in date order.

    The file is ``{"year": 2026, "source": "…", "days": [{"date": "2026-01-01",
    "workday": false, "name": "元旦"}, …]}``; other top-level keys are notes for people.
    Every problem is reported at once, each naming its entry.
    """
    path = Path(path)
    label = path.name
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"找不到日历文件 {path}", field="path") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{label}: 不是有效的 UTF-8 JSON 文件（{exc}）", field="path") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{label}: 顶层应是对象，含 year 和 days", field="path")
    year = document.get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        raise InvalidInput(f"{label}: year 应是整数年份，实际是 {year!r}", field="year")
    entries = document.get("days")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{label}: days 应是非空列表", field="days")

    problems: list[RowProblem] = []
    seen: dict[date, int] = {}
    days: list[DayEntry] = []
    for n, entry in enumerate(entries, start=1):
        found = _check_entry(n, entry, year, seen, problems)
        if found is not None:
            days.append(found)
    if problems:
        raise ImportRejected(problems, source=label)
    return sorted(days)


def _check_entry(
    n: int, entry: object, year: int, seen: dict[date, int], problems: list[RowProblem]
) -> DayEntry | None:
    """Check one entry of days; record its problems and return it when it is sound."""
    if not isinstance(entry, dict):
        message = f"days 第{n}项: 应是含 date、workday、name 的对象，实际是 {entry!r}"
        problems.append(RowProblem(n, None, message))
        return None
    raw_date = entry.get("date")
    # Name the entry by position and by the date it gives, so the writer can find it.
    shown = f"（{raw_date}）" if isinstance(raw_date, str) else ""

    def problem(column: str | None, message: str) -> None:
        problems.append(RowProblem(n, column, f"days 第{n}项{shown}: {message}"))

    count = len(problems)
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        problem(None, f"未知字段 {', '.join(unknown)}；只允许 date、workday、name")
    day: date | None = None
    if not isinstance(raw_date, str) or not _ISO_DATE.fullmatch(raw_date):
        problem("date", f"date「{raw_date}」应是 YYYY-MM-DD 格式的日期")
    else:
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            problem("date", f"date「{raw_date}」不是真实存在的日期")
    workday = entry.get("workday")
    if not isinstance(workday, bool):
        problem("workday", f"workday 应是 true（上班）或 false（放假），实际是 {workday!r}")
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        problem("name", f"name 应是文字，实际是 {name!r}")
    elif isinstance(name, str) and len(name.strip()) > NAME_MAX_LENGTH:
        problem("name", f"name 超过 {NAME_MAX_LENGTH} 个字")
    if day is not None:
        if day.year != year:
            problem("date", f"日期不在文件所述的 {year} 年内")
        elif day in seen:
            problem("date", f"日期与第{seen[day]}项重复")
        else:
            seen[day] = n
        # A weekday is a workday already: a make-up workday on one is a mistyped date.
        if workday is True and day.weekday() < 5:
            problem("workday", "调休上班日应是周六或周日；周一至周五本来就上班")
    if len(problems) > count or day is None or not isinstance(workday, bool):
        return None
    clean_name = name.strip() if isinstance(name, str) and name.strip() else None
    return day, workday, clean_name


def import_calendar(session: Session, path: str | Path) -> int:
    """Upsert the days of one calendar file; return how many rows were created or changed.

    Days in the table that the file does not mention are left alone.
    """
    return _upsert(session, load_calendar_file(path))


def _upsert(session: Session, days: list[DayEntry]) -> int:
    existing = {
        row.day: row
        for row in session.exec(
            select(CalendarDay).where(col(CalendarDay.day).in_([day for day, _, _ in days]))
        )
    }
    written = 0
    for day, workday, name in days:
        row = existing.get(day)
        if row is None:
            session.add(CalendarDay(day=day, workday=workday, name=name))
        elif row.workday != workday or row.name != name:
            row.workday, row.name = workday, name
            session.add(row)
        else:
            continue
        written += 1
    session.flush()
    if written:
        bump_generation(session, "工作日历")
    return written


def load_calendar(session: Session) -> WorkCalendar:
    """Build the work calendar from the calendar_day table."""
    rows = session.exec(select(CalendarDay).order_by(col(CalendarDay.day)))
    return WorkCalendar.from_days((row.day, row.workday, row.name) for row in rows)


def shipped_calendar_files() -> list[Path]:
    """Return the calendar files shipped with the package, oldest year first."""
    return sorted(CALENDARS_DIR.glob("*.json"))


def ensure_default_calendars(session: Session) -> int:
    """Import each shipped calendar file none of whose days is in the table yet.

    A file with any of its days already present is skipped whole, so local edits survive
    restarts; use import_calendar to re-apply a file. Returns the number of rows created.
    """
    written = 0
    for path in shipped_calendar_files():
        days = load_calendar_file(path)
        present = session.exec(
            select(col(CalendarDay.day))
            .where(col(CalendarDay.day).in_([day for day, _, _ in days]))
            .limit(1)
        ).first()
        if present is None:
            written += _upsert(session, days)
    return written
