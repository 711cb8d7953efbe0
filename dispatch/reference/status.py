"""What reference data is loaded: jurisdiction layers, departments, list versions, calendars.

The administrator's status page reads this; it counts and dates, and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select

from dispatch.core.clock import local_date, utcnow
from dispatch.reference.lists.versions import list_in_force
from dispatch.reference.models import (
    CalendarDay,
    Department,
    DepartmentKind,
    JurisdictionRow,
    ListStatus,
    Matter,
    MatterList,
)
from geo.levels import LEVELS_TOP_DOWN

# From this month on, the calendar of the coming year is due: the State Council publishes
# the next year's holidays and make-up workdays in November or December.
NEXT_YEAR_DUE_MONTH = 11


class LayerStatus(SQLModel):
    """One level of jurisdictions: how many, and when the latest of them was imported."""

    level: str
    count: int
    imported_at: datetime | None


class DepartmentKindCount(SQLModel):
    """How many departments of one kind."""

    kind: DepartmentKind
    count: int


class ListVersionStatus(SQLModel):
    """One version of a county's responsibility list."""

    id: int
    county_code: str
    version: int
    effective_from: date
    status: ListStatus
    matter_count: int
    in_force: bool
    imported_at: datetime
    published_at: datetime | None


class CalendarYearStatus(SQLModel):
    """One calendar year with dated exceptions loaded: holidays and make-up workdays."""

    year: int
    holidays: int
    makeup_workdays: int


class CalendarStatus(SQLModel):
    """The calendar years loaded, and whether this year's or the next one's is missing."""

    years: list[CalendarYearStatus]
    current_year: int
    current_year_missing: bool
    next_year: int
    next_year_missing: bool
    next_year_due: bool


class ReferenceStatus(SQLModel):
    """Everything the status page shows."""

    layers: list[LayerStatus]
    departments_total: int
    departments: list[DepartmentKindCount]
    lists: list[ListVersionStatus]
    calendar: CalendarStatus


def reference_status(session: Session, now: datetime | None = None) -> ReferenceStatus:
    """Count and date the reference data loaded now."""
    now = now or utcnow()
    kinds = _department_kinds(session)
    return ReferenceStatus(
        layers=_layers(session),
        departments_total=sum(k.count for k in kinds),
        departments=kinds,
        lists=_lists(session, now),
        calendar=_calendar(session, local_date(now)),
    )


def _layers(session: Session) -> list[LayerStatus]:
    rows = session.exec(
        select(
            JurisdictionRow.level,
            func.count(),
            func.max(JurisdictionRow.updated_at),
        ).group_by(JurisdictionRow.level)
    ).all()
    found = {level: (count, at) for level, count, at in rows}
    return [
        LayerStatus(level=level.value, count=found[level][0], imported_at=found[level][1])
        for level in LEVELS_TOP_DOWN
        if level.value in found
    ]


def _department_kinds(session: Session) -> list[DepartmentKindCount]:
    rows = session.exec(select(Department.kind, func.count()).group_by(Department.kind)).all()
    found = {DepartmentKind(kind): count for kind, count in rows}
    return [DepartmentKindCount(kind=kind, count=found.get(kind, 0)) for kind in DepartmentKind]


def _lists(session: Session, now: datetime) -> list[ListVersionStatus]:
    counts = dict(
        session.exec(select(col(Matter.list_id), func.count()).group_by(col(Matter.list_id))).all()
    )
    versions = session.exec(
        select(MatterList).order_by(col(MatterList.county_code), col(MatterList.version))
    ).all()
    in_force: set[int] = set()
    for county in {v.county_code for v in versions}:
        current = list_in_force(session, county, now)
        if current is not None and current.id is not None:
            in_force.add(current.id)
    result = []
    for version in versions:
        assert version.id is not None
        result.append(
            ListVersionStatus(
                id=version.id,
                county_code=version.county_code,
                version=version.version,
                effective_from=version.effective_from,
                status=version.status,
                matter_count=counts.get(version.id, 0),
                in_force=version.id in in_force,
                imported_at=version.imported_at,
                published_at=version.published_at,
            )
        )
    return result


def _calendar(session: Session, today: date) -> CalendarStatus:
    tally: dict[int, list[int]] = {}
    for day, workday in session.exec(select(col(CalendarDay.day), col(CalendarDay.workday))).all():
        counts = tally.setdefault(day.year, [0, 0])
        counts[1 if workday else 0] += 1
    years = [
        CalendarYearStatus(year=year, holidays=h, makeup_workdays=w)
        for year, (h, w) in sorted(tally.items())
    ]
    return CalendarStatus(
        years=years,
        current_year=today.year,
        current_year_missing=today.year not in tally,
        next_year=today.year + 1,
        next_year_missing=today.year + 1 not in tally,
        next_year_due=today.month >= NEXT_YEAR_DUE_MONTH,
    )
