"""Properties of deadlines on the work calendar, checked on generated calendars and starts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.core.errors import InvalidInput
from dispatch.reference.calendar import (
    CALENDARS_DIR,
    CHINA_TZ,
    MAX_LIMIT_WORKING_DAYS,
    WorkCalendar,
    deadline,
    load_calendar_file,
)
from tests.properties import REPEATABLE

SHIPPED = [
    entry for path in sorted(CALENDARS_DIR.glob("*.json")) for entry in load_calendar_file(path)
]
TICK = timedelta(microseconds=1)


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    """Return the shipped schedules, or those with random holidays and make-up days on top."""
    extra = draw(
        st.lists(
            st.tuples(st.dates(date(2024, 12, 1), date(2027, 2, 28)), st.booleans(), st.none()),
            max_size=60,
        )
    )
    return WorkCalendar.from_days([*SHIPPED, *extra])


# Starts in 2024-2026 in any whole-quarter-hour zone, so the results straddle the shipped
# schedules (春节, 国庆) and the years without one.
zones = st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q)))
starts = st.builds(
    lambda moment, zone: moment.replace(tzinfo=CHINA_TZ).astimezone(zone),
    st.datetimes(datetime(2024, 12, 1), datetime(2026, 12, 31)),
    zones,
)


def china(moment: datetime) -> datetime:
    return moment.astimezone(CHINA_TZ)


def on_workday_up_to(calendar: WorkCalendar, moment: datetime) -> bool:
    """Return whether the working time just before a moment runs on a workday."""
    return calendar.is_workday(china(moment - TICK).date())


@REPEATABLE
@given(calendar=calendars(), start=starts, days=st.integers(1, 40))
def test_a_deadline_in_working_days_never_falls_on_a_non_working_day(
    calendar: WorkCalendar, start: datetime, days: int
) -> None:
    due = calendar.add_working_days(start, days)
    # 24:00 of a workday is written as 00:00 of the next day, which may be a holiday: the
    # deadline's working time ends on a workday, and a deadline that is not a midnight lies
    # on one.
    assert on_workday_up_to(calendar, due)
    local = china(due)
    if local.time() != datetime.min.time():
        assert calendar.is_workday(local.date())
    assert due.tzinfo == start.tzinfo


@REPEATABLE
@given(
    calendar=calendars(),
    start=starts,
    amount=st.one_of(
        st.integers(0, 60).map(float),
        st.floats(0.0, 60.0).map(lambda d: round(d * 48) / 48),  # half hours
    ),
)
def test_adding_working_days_then_counting_back_gives_the_same_number(
    calendar: WorkCalendar, start: datetime, amount: float
) -> None:
    due = calendar.add_working_days(start, amount)
    assert calendar.working_time_between(start, due) == timedelta(days=amount)
    assert calendar.working_time_between(due, start) == -timedelta(days=amount)
    if amount > 0:
        assert calendar.fraction_used(start, due, due) == 1.0
        assert on_workday_up_to(calendar, due)


@REPEATABLE
@given(calendar=calendars(), start=starts, a=st.integers(0, 30), b=st.integers(0, 30))
def test_deadlines_grow_with_the_limit_and_extensions_add_up(
    calendar: WorkCalendar, start: datetime, a: int, b: int
) -> None:
    first = calendar.add_working_days(start, a)
    both = calendar.add_working_days(start, a + b)
    assert first <= both
    # An extension of b working days from the deadline is the deadline of a + b.
    assert calendar.add_working_days(first, b) == both


@REPEATABLE
@given(calendar=calendars(), start=starts, hours=st.integers(25, 24 * 40))
def test_a_limit_in_working_hours_ends_on_a_workday_and_counts_back(
    calendar: WorkCalendar, start: datetime, hours: int
) -> None:
    due = deadline(calendar, start, hours=hours)
    assert due is not None
    assert on_workday_up_to(calendar, due)
    assert calendar.working_time_between(start, due) == timedelta(hours=hours)


@REPEATABLE
@given(start=starts, days=st.floats(MAX_LIMIT_WORKING_DAYS, 1e300, exclude_min=True))
def test_a_limit_beyond_the_bound_is_refused_not_looped_on(start: datetime, days: float) -> None:
    calendar = WorkCalendar.from_days(SHIPPED)
    with pytest.raises(InvalidInput) as refused:
        calendar.add_working_days(start, days)
    assert refused.value.field == "working_days"
    with pytest.raises(InvalidInput):
        calendar.add_working_hours(start, days * 24)


def test_the_longest_limit_allowed_is_answered() -> None:
    calendar = WorkCalendar.from_days(SHIPPED)
    start = datetime(2026, 1, 5, 9, tzinfo=CHINA_TZ)
    due = calendar.add_working_days(start, MAX_LIMIT_WORKING_DAYS)
    assert calendar.working_time_between(start, due) == timedelta(days=MAX_LIMIT_WORKING_DAYS)
