"""The work calendar: shipped State Council schedules, working-time deadlines, the table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from dispatch.core.errors import ImportRejected, InvalidInput
from dispatch.reference.calendar import (
    CALENDARS_DIR,
    CHINA_TZ,
    WorkCalendar,
    deadline,
    ensure_default_calendars,
    import_calendar,
    load_calendar,
    load_calendar_file,
    shipped_calendar_files,
    uses_wall_clock,
)
from dispatch.reference.models import CalendarDay

CN_2025 = CALENDARS_DIR / "cn-2025.json"
CN_2026 = CALENDARS_DIR / "cn-2026.json"
CALENDAR = WorkCalendar.from_days([*load_calendar_file(CN_2025), *load_calendar_file(CN_2026)])


def cn(text: str) -> datetime:
    """Return a China-time moment from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CHINA_TZ)


def d(text: str) -> date:
    return date.fromisoformat(text)


# ---- The shipped schedules, against the notices ------------------------------------------

# (file, document number, days off, make-up workdays), as stated in the notice's text.
NOTICES = [
    (
        CN_2025,
        "国办发明电〔2024〕12号",
        [
            ("2025-01-01", "2025-01-01"),
            ("2025-01-28", "2025-02-04"),
            ("2025-04-04", "2025-04-06"),
            ("2025-05-01", "2025-05-05"),
            ("2025-05-31", "2025-06-02"),
            ("2025-10-01", "2025-10-08"),
        ],
        ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    ),
    (
        CN_2026,
        "国办发明电〔2025〕7号",
        [
            ("2026-01-01", "2026-01-03"),
            ("2026-02-15", "2026-02-23"),
            ("2026-04-04", "2026-04-06"),
            ("2026-05-01", "2026-05-05"),
            ("2026-06-19", "2026-06-21"),
            ("2026-09-25", "2026-09-27"),
            ("2026-10-01", "2026-10-07"),
        ],
        ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
    ),
]


@pytest.mark.parametrize(("path", "source", "off_ranges", "makeup"), NOTICES)
def test_shipped_file_matches_the_notice(
    path: Path, source: str, off_ranges: list[tuple[str, str]], makeup: list[str]
) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["source"] == source
    assert "unverified" not in document
    off = {
        d(first) + timedelta(days=i)
        for first, last in off_ranges
        for i in range((d(last) - d(first)).days + 1)
    }
    days = load_calendar_file(path)
    assert {day for day, workday, _ in days if not workday} == off
    assert {day for day, workday, _ in days if workday} == {d(x) for x in makeup}
    assert all(name for _, _, name in days)


def test_shipped_files_are_the_package_data() -> None:
    assert [p.name for p in shipped_calendar_files()] == ["cn-2025.json", "cn-2026.json"]
    assert not (CALENDARS_DIR / "__init__.py").exists()
    assert CALENDAR.years == {2025, 2026}


@pytest.mark.parametrize(
    ("day", "workday", "why"),
    [
        ("2026-03-10", True, "ordinary Tuesday"),
        ("2026-03-14", False, "ordinary Saturday"),
        ("2026-02-14", True, "春节 make-up Saturday"),
        ("2026-02-15", False, "春节, a Sunday"),
        ("2026-02-16", False, "春节, a Monday"),
        ("2026-02-23", False, "last day of 春节, a Monday"),
        ("2026-02-24", True, "first workday after 春节"),
        ("2026-02-28", True, "春节 make-up Saturday"),
        ("2026-03-01", False, "the Sunday after it"),
        ("2026-09-20", True, "国庆 make-up Sunday"),
        ("2026-10-07", False, "last day of 国庆, a Wednesday"),
        ("2026-10-10", True, "国庆 make-up Saturday"),
        ("2025-01-26", True, "2025 春节 make-up Sunday"),
        ("2025-10-08", False, "2025 国庆·中秋, a Wednesday"),
        ("2027-01-01", True, "a Friday of a year without data: the weekly rhythm"),
    ],
)
def test_is_workday(day: str, workday: bool, why: str) -> None:
    assert CALENDAR.is_workday(d(day)) is workday, why


def test_names_come_from_the_schedule() -> None:
    assert CALENDAR.name(d("2026-02-17")) == "春节"
    assert CALENDAR.name(d("2026-02-28")) == "春节调休上班"
    assert CALENDAR.name(d("2026-03-10")) is None


# ---- Working days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "due", "why"),
    [
        ("2026-03-10 15:00", 3, "2026-03-13 15:00", "ordinary week: same clock time"),
        ("2026-03-12 15:00", 3, "2026-03-17 15:00", "across a weekend"),
        ("2026-03-13 15:00", 1, "2026-03-16 15:00", "Friday to Monday"),
        ("2026-02-13 15:00", 1, "2026-02-14 15:00", "into the 春节 make-up Saturday"),
        ("2026-02-13 15:00", 2, "2026-02-24 15:00", "across 春节 2026"),
        ("2026-02-12 10:00", 7, "2026-02-28 10:00", "across 春节, ending on a make-up Saturday"),
        ("2026-09-18 15:00", 1, "2026-09-20 15:00", "into the 国庆 make-up Sunday"),
        ("2026-09-30 15:00", 1, "2026-10-08 15:00", "across 国庆 2026"),
        ("2026-09-30 15:00", 3, "2026-10-10 15:00", "across 国庆, ending on a make-up Saturday"),
        ("2026-02-17 10:00", 1, "2026-02-25 00:00", "on a holiday: to 24:00 of 2-24"),
        ("2026-03-14 10:00", 3, "2026-03-19 00:00", "on a Saturday: to 24:00 of Wednesday"),
        ("2026-02-28 15:00", 1, "2026-03-02 15:00", "on a make-up Saturday: it counts"),
        ("2026-09-20 09:00", 1, "2026-09-21 09:00", "on a make-up Sunday: it counts"),
        ("2025-01-27 15:00", 1, "2025-02-05 15:00", "across 春节 2025"),
        ("2025-01-24 15:00", 1, "2025-01-26 15:00", "into the 2025 make-up Sunday"),
        ("2026-03-10 09:00", 0.5, "2026-03-10 21:00", "half a day is 12 working hours"),
        ("2026-03-13 18:00", 0.5, "2026-03-16 06:00", "half a day across a weekend"),
        ("2026-03-14 11:00", 0.5, "2026-03-16 12:00", "half a day from a Saturday"),
        ("2026-03-12 00:00", 1.25, "2026-03-13 06:00", "a day and a quarter"),
        ("2026-03-10 15:00", 0, "2026-03-10 15:00", "nothing to add"),
    ],
)
def test_add_working_days(start: str, days: float, due: str, why: str) -> None:
    assert CALENDAR.add_working_days(cn(start), days) == cn(due), why


def test_extension_adds_working_days_to_the_current_deadline() -> None:
    first = CALENDAR.add_working_days(cn("2026-03-14 10:00"), 1)  # Saturday → 24:00 Monday
    assert first == cn("2026-03-17 00:00")
    assert CALENDAR.add_working_days(first, 2) == cn("2026-03-19 00:00")
    # A deadline on the make-up Saturday before 春节, extended by two working days.
    assert CALENDAR.add_working_days(cn("2026-02-14 15:00"), 2) == cn("2026-02-25 15:00")


def test_other_time_zones_count_china_days_and_come_back_in_their_zone() -> None:
    # 16:30 UTC on Friday is 00:30 on Saturday in China: counting waits for Monday.
    due = CALENDAR.add_working_days(datetime(2026, 3, 13, 16, 30, tzinfo=UTC), 1)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 16, 16, 0, tzinfo=UTC)  # 24:00 Monday in China


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.add_working_days(datetime(2026, 3, 10, 15, 0), 1)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_limits_are_refused_naming_the_field(bad: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        CALENDAR.add_working_days(cn("2026-03-10 15:00"), bad)
    assert caught.value.field == "working_days"


# ---- Hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "due", "why"),
    [
        ("2026-03-10 20:00", 6, "2026-03-11 02:00", "across midnight"),
        ("2026-03-13 20:00", 6, "2026-03-16 02:00", "across midnight into a weekend"),
        ("2026-02-14 22:00", 4, "2026-02-24 02:00", "from the make-up Saturday across 春节"),
    ],
)
def test_add_working_hours(start: str, hours: float, due: str, why: str) -> None:
    assert CALENDAR.add_working_hours(cn(start), hours) == cn(due), why


@pytest.mark.parametrize(
    ("start", "limit", "due", "why"),
    [
        ("2026-03-14 10:00", {"hours": 2}, "2026-03-14 12:00", "urgent on a Saturday"),
        ("2026-03-13 22:00", {"hours": 6}, "2026-03-14 04:00", "urgent across midnight"),
        ("2026-02-16 09:00", {"hours": 24}, "2026-02-17 09:00", "24 h through 春节"),
        ("2026-03-13 15:00", {"hours": 48}, "2026-03-17 15:00", "over a day: working hours"),
        ("2026-03-13 15:00", {"working_days": 1}, "2026-03-16 15:00", "1 working day"),
        ("2026-02-13 15:00", {"working_days": 3}, "2026-02-25 15:00", "3 working days"),
    ],
)
def test_deadline(start: str, limit: dict[str, float], due: str, why: str) -> None:
    assert deadline(CALENDAR, cn(start), **limit) == cn(due), why


def test_deadline_without_a_limit_is_none_and_with_two_is_refused() -> None:
    assert deadline(CALENDAR, cn("2026-03-10 15:00")) is None
    with pytest.raises(ValueError, match="not both"):
        deadline(CALENDAR, cn("2026-03-10 15:00"), hours=2, working_days=1)


def test_wall_clock_deadline_keeps_the_zone() -> None:
    start = datetime(2026, 3, 14, 2, 0, tzinfo=UTC)
    assert deadline(CALENDAR, start, hours=2) == datetime(2026, 3, 14, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("limit", "wall"),
    [
        ({"hours": 2}, True),
        ({"hours": 24}, True),
        ({"hours": 48}, False),
        ({"working_days": 1}, False),
        ({"working_days": 0.5}, False),
    ],
)
def test_uses_wall_clock(limit: dict[str, float], wall: bool) -> None:
    assert uses_wall_clock(**limit) is wall


# ---- Time used ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-03-13 15:00", "2026-03-16 15:00", 24),
        ("2026-03-10 20:00", "2026-03-11 02:00", 6),
        ("2026-02-15 00:00", "2026-02-24 00:00", 0),
        ("2026-02-13 12:00", "2026-02-24 12:00", 48),
        ("2026-03-16 15:00", "2026-03-13 15:00", -24),
    ],
)
def test_working_time_between(start: str, end: str, hours: float) -> None:
    assert CALENDAR.working_time_between(cn(start), cn(end)) == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("start", "due", "now", "fraction"),
    [
        ("2026-03-10 09:00", "2026-03-13 09:00", "2026-03-12 11:24", 0.7),
        # Across a weekend the weekend does not count: wall-clock would say 0.9.
        ("2026-03-13 09:00", "2026-03-16 09:00", "2026-03-16 01:48", 0.7),
        ("2026-03-10 09:00", "2026-03-13 09:00", "2026-03-10 09:00", 0.0),
        ("2026-03-10 09:00", "2026-03-13 09:00", "2026-03-09 09:00", 0.0),
        ("2026-03-10 09:00", "2026-03-13 09:00", "2026-03-13 09:00", 1.0),
        # Over the weekend after a Friday deadline no working time passes.
        ("2026-03-10 00:00", "2026-03-14 00:00", "2026-03-15 12:00", 1.0),
        ("2026-03-13 09:00", "2026-03-16 09:00", "2026-03-17 09:00", 2.0),
    ],
)
def test_fraction_used(start: str, due: str, now: str, fraction: float) -> None:
    used = CALENDAR.fraction_used(cn(start), cn(due), cn(now))
    assert used == pytest.approx(fraction)


def test_fraction_used_on_the_wall_clock_for_urgent_limits() -> None:
    start = cn("2026-03-14 10:00")
    due = deadline(CALENDAR, start, hours=2)
    assert due is not None
    assert CALENDAR.fraction_used(start, due, cn("2026-03-14 11:24"), wall_clock=True) == (
        pytest.approx(0.7)
    )
    assert CALENDAR.fraction_used(start, due, cn("2026-03-14 13:00"), wall_clock=True) > 1


# ---- Calendar files -----------------------------------------------------------------------


def write_calendar(tmp_path: Path, days: list[Any], year: Any = 2026) -> Path:
    path = tmp_path / "calendar.json"
    path.write_text(
        json.dumps({"year": year, "source": "测试", "days": days}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


GOOD = {"date": "2026-01-01", "workday": False, "name": "元旦"}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"date": "2026-02-30", "workday": False}, ["第2项", "2026-02-30", "不是真实存在"]),
        ({"date": "2026/02/01", "workday": False}, ["第2项", "2026/02/01", "YYYY-MM-DD"]),
        ({"date": "20260201", "workday": False}, ["第2项", "20260201", "YYYY-MM-DD"]),
        ({"date": "2025-12-31", "workday": False}, ["第2项", "2025-12-31", "2026 年"]),
        ({"date": "2026-01-01", "workday": False}, ["第2项", "2026-01-01", "第1项重复"]),
        ({"date": "2026-02-03", "workday": True}, ["第2项", "2026-02-03", "周六或周日"]),
        ({"date": "2026-02-07", "workday": "yes"}, ["第2项", "2026-02-07", "workday"]),
        ({"date": "2026-02-07"}, ["第2项", "2026-02-07", "workday"]),
        ({"date": "2026-02-07", "workday": True, "nmae": "x"}, ["第2项", "未知字段 nmae"]),
        ({"date": "2026-02-07", "workday": True, "name": 3}, ["第2项", "name"]),
        ("2026-02-07", ["第2项", "对象"]),
    ],
)
def test_calendar_file_errors_name_the_entry(tmp_path: Path, entry: Any, words: list[str]) -> None:
    path = write_calendar(tmp_path, [GOOD, entry])
    with pytest.raises(ImportRejected) as caught:
        load_calendar_file(path)
    assert [p.row for p in caught.value.problems] == [2]
    for word in words:
        assert word in caught.value.message
    assert "calendar.json" in caught.value.message


def test_calendar_file_reports_every_problem_at_once(tmp_path: Path) -> None:
    days = [GOOD, {"date": "2026-13-01", "workday": False}, GOOD]
    with pytest.raises(ImportRejected) as caught:
        load_calendar_file(write_calendar(tmp_path, days))
    assert [p.row for p in caught.value.problems] == [2, 3]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "JSON"),
        ("[]", "顶层"),
        (json.dumps({"year": "2026", "days": [GOOD]}), "year"),
        (json.dumps({"year": 2026, "days": []}), "days"),
    ],
)
def test_calendar_file_shape_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput, match=words):
        load_calendar_file(path)


def test_missing_calendar_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="找不到"):
        load_calendar_file(tmp_path / "cn-2030.json")


def test_calendar_file_days_come_back_sorted_with_blank_names_dropped(tmp_path: Path) -> None:
    days = [
        {"date": "2026-02-14", "workday": True, "name": " "},
        {"date": "2026-01-01", "workday": False, "name": " 元旦 "},
    ]
    assert load_calendar_file(write_calendar(tmp_path, days)) == [
        (d("2026-01-01"), False, "元旦"),
        (d("2026-02-14"), True, None),
    ]


# ---- The table ----------------------------------------------------------------------------


def rows(session: Session) -> list[tuple[date, bool, str | None]]:
    found = session.exec(select(CalendarDay).order_by(col(CalendarDay.day))).all()
    return [(r.day, r.workday, r.name) for r in found]


def test_import_is_idempotent(session: Session) -> None:
    assert import_calendar(session, CN_2026) == 39
    first = rows(session)
    assert import_calendar(session, CN_2026) == 0
    assert rows(session) == first == load_calendar_file(CN_2026)


def test_import_restores_an_edited_day_and_leaves_others_alone(session: Session) -> None:
    session.add(CalendarDay(day=d("2026-07-01"), workday=False, name="本地假日"))
    import_calendar(session, CN_2026)
    row = session.get(CalendarDay, d("2026-02-14"))
    assert row is not None
    row.workday = False
    session.add(row)
    session.flush()
    assert import_calendar(session, CN_2026) == 1
    assert load_calendar(session).is_workday(d("2026-02-14"))
    assert session.get(CalendarDay, d("2026-07-01")) is not None


def test_load_calendar_reads_the_table(session: Session) -> None:
    import_calendar(session, CN_2026)
    calendar = load_calendar(session)
    assert calendar.years == {2026}
    assert calendar.add_working_days(cn("2026-02-13 15:00"), 2) == cn("2026-02-24 15:00")
    assert calendar.name(d("2026-10-10")) == "国庆节调休上班"


def test_ensure_default_calendars_loads_the_shipped_files(session: Session) -> None:
    assert session.exec(select(func.count()).select_from(CalendarDay)).one() == 0
    assert ensure_default_calendars(session) == 33 + 39
    assert ensure_default_calendars(session) == 0
    loaded = load_calendar(session)
    assert loaded.exceptions == CALENDAR.exceptions
    assert loaded.names == CALENDAR.names


def test_ensure_default_calendars_keeps_local_edits(session: Session) -> None:
    session.add(CalendarDay(day=d("2026-02-14"), workday=False, name="本县不调休"))
    session.flush()
    assert ensure_default_calendars(session) == 33  # 2025 only: 2026 already has a day
    calendar = load_calendar(session)
    assert not calendar.is_workday(d("2026-02-14"))
    assert calendar.is_workday(d("2025-01-26"))
