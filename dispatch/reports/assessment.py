"""The assessment (考核): every measure of docs/METRICS.md for a period, by one dimension.

The facts of the period's parts (reports/facts.py) come from the daily roll-ups where they
are current and are built live for the rest (reports/rollup.py); each row's measures are
computed from them once (facts.measures), so the API, the pages and the workbook agree and
every rate shows what it is made of. The county's total row has facts of its own: distinct
events and durations of the whole are not the sum of the rows'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.reference.county_rules import county_settings
from dispatch.reference.models import Department, JurisdictionRow, Matter, Platform
from dispatch.reports.facts import (
    EVENT_DIMENSIONS,
    TOTAL,
    WHOLE,
    Dimension,
    RowFacts,
    measures,
)
from dispatch.reports.measures import composite_score
from dispatch.reports.periods import Period
from dispatch.reports.rollup import facts_of
from dispatch.reports.scope import ReportScope

__all__ = ["DIMENSION_LABELS", "Assessment", "Dimension", "Row", "assess", "row_values"]

DIMENSION_LABELS: dict[Dimension, str] = {
    Dimension.DEPARTMENT: "部门",
    Dimension.UNIT: "单位（含派驻机构）",
    Dimension.TOWNSHIP: "乡镇",
    Dimension.MATTER: "事项",
    Dimension.PLATFORM: "平台",
}


@dataclass(slots=True)
class Row:
    """One row of the assessment: its key, its name and every measure's value."""

    key: str | None
    name: str
    values: dict[str, float | None] = field(default_factory=dict)
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """The assessment of a period by one dimension, with the county's (the scope's) total."""

    by: Dimension
    period: Period
    as_of: datetime
    rows: list[Row]
    total: Row
    weights: Mapping[str, float]


def assess(
    session: Session,
    scope: ReportScope,
    period: Period,
    by: Dimension,
    *,
    county_code: str | None = None,
    now: datetime | None = None,
) -> Assessment:
    """Return every measure for the period, one row per key of the dimension, and the total."""
    as_of = now or utcnow()
    weights = dict(county_settings(session, county_code).ranking_weights)
    facts = facts_of(session, scope, period, (by.value, WHOLE), now=as_of)
    grouped = {
        key: row_values(row, by, scope, as_of) for key, row in facts[by.value].rows().items()
    }
    names = _names(session, by, [k for k in grouped if k is not None])
    rows = [
        Row(key, names.get(key, _unnamed(by)) if key else _unnamed(by), v)
        for key, v in grouped.items()
    ]
    total = Row(None, "合计", row_values(facts[WHOLE].rows().get(TOTAL), by, scope, as_of))
    if by is Dimension.TOWNSHIP:
        _per_10k(session, rows, total)
    for row in [*rows, total]:
        row.values["score"] = composite_score(row.values, weights)
    _rank(rows)
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.name))
    return Assessment(by, period, as_of, rows, total, weights)


def row_values(
    row: RowFacts | None, by: Dimension, scope: ReportScope, as_of: datetime
) -> dict[str, float | None]:
    """Return a row's measures; reported events only for places and kinds of events (and
    without a value when the reader sees only its own departments' parts)."""
    counts_reported = by in EVENT_DIMENSIONS
    values = measures(row, as_of, reported=counts_reported and scope.department_ids is None)
    if not counts_reported:
        del values["reported"]
    return values


# ---- Names, the per-10,000 volume and the ranking ---------------------------------


def _fetch(session: Session, query: Any) -> list[Any]:
    """Run a Core select and return its rows (sqlmodel's exec types only ORM selects well)."""
    return list(session.exec(query))


def _names(session: Session, by: Dimension, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    if by in (Dimension.DEPARTMENT, Dimension.UNIT):
        found = _fetch(
            session,
            select(col(Department.id), col(Department.name)).where(
                col(Department.id).in_([int(k) for k in keys])
            ),
        )
        return {str(i): n for i, n in found}
    if by is Dimension.TOWNSHIP:
        found = _fetch(
            session,
            select(col(JurisdictionRow.code), col(JurisdictionRow.name)).where(
                col(JurisdictionRow.code).in_(keys)
            ),
        )
        return dict(found)
    if by is Dimension.PLATFORM:
        found = _fetch(
            session,
            select(col(Platform.code), col(Platform.name)).where(col(Platform.code).in_(keys)),
        )
        return dict(found)
    # A matter's name from the newest list that has it.
    newest = (
        select(col(Matter.code), col(Matter.name))
        .where(col(Matter.code).in_(keys))
        .order_by(col(Matter.list_id))
    )
    return dict(_fetch(session, newest))


def _unnamed(by: Dimension) -> str:
    return {
        Dimension.TOWNSHIP: "未定位乡镇",
        Dimension.MATTER: "未归类事项",
        Dimension.PLATFORM: "未分平台",
    }.get(by, "未知单位")


def _per_10k(session: Session, rows: list[Row], total: Row) -> None:
    """Add each township's population and its reported events per 10,000 residents."""
    codes = [r.key for r in rows if r.key]
    populations = dict(
        _fetch(
            session,
            select(col(JurisdictionRow.code), col(JurisdictionRow.population)).where(
                col(JurisdictionRow.code).in_(codes)
            ),
        )
    )
    total_population = 0
    for row in rows:
        population = populations.get(row.key or "")
        row.values["population"] = population
        reported = row.values.get("reported")
        row.values["events_per_10k"] = (
            round(float(reported) * 10000 / population, 2)
            if population and reported is not None
            else None
        )
        total_population += population or 0
    total.values["population"] = total_population or None
    reported = total.values.get("reported")
    total.values["events_per_10k"] = (
        round(float(reported) * 10000 / total_population, 2)
        if total_population and reported is not None
        else None
    )


def _rank(rows: list[Row]) -> None:
    """Rank the rows by score, best first; equal scores share a rank (1, 2, 2, 4)."""
    scored = sorted(
        (r for r in rows if r.values.get("score") is not None),
        key=lambda r: -(r.values["score"] or 0),
    )
    previous: float | None = None
    for place, row in enumerate(scored, start=1):
        score = row.values["score"]
        row.rank = place if score != previous else scored[place - 2].rank
        previous = score
