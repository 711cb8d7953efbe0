"""The assessment's trend (趋势): the county's (the scope's) totals week by week over a period.

A week runs Monday to Sunday (China dates), clipped to the period, so the weeks' parts add up
to the period's; at most the last 26 weeks. One grouped pass over the period's parts (the
same measures as the assessment's 合计 row) with the week as the key, not one assessment a week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case
from sqlmodel import Session, col

from dispatch.core.clock import utcnow
from dispatch.events.models import Assignment
from dispatch.reference.county_rules import county_settings
from dispatch.reports.assessment import measure_by, no_parts
from dispatch.reports.measures import composite_score
from dispatch.reports.periods import Period
from dispatch.reports.scope import ReportScope

MOST_WEEKS = 26


@dataclass(frozen=True, slots=True)
class Week:
    """One week of the trend: its days (clipped to the period) and the measures' totals."""

    period: Period
    values: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class Trend:
    """The weeks of a period, oldest first; `truncated` when the period had more than 26."""

    period: Period
    as_of: datetime
    weeks: list[Week]
    truncated: bool


def weeks_of(span: Period) -> list[Period]:
    """Return the period's Monday-to-Sunday weeks, clipped to it, oldest first (the last 26)."""
    monday = span.first - timedelta(days=span.first.weekday())
    weeks: list[Period] = []
    while monday <= span.last:
        sunday = monday + timedelta(days=6)
        weeks.append(Period(max(monday, span.first), min(sunday, span.last)))
        monday += timedelta(days=7)
    return weeks[-MOST_WEEKS:]


def trend(
    session: Session,
    scope: ReportScope,
    span: Period,
    *,
    county_code: str | None = None,
    now: datetime | None = None,
) -> Trend:
    """Return the period's totals week by week (parts by dispatch time, as the assessment)."""
    as_of = now or utcnow()
    weeks = weeks_of(span)
    counted = Period(weeks[0].first, span.last)
    created = col(Assignment.created_at)
    # The week's index by dispatch time; every part of `counted` falls in one of them.
    key = case(*[(created < w.end, i) for i, w in enumerate(weeks)], else_=len(weeks) - 1)
    found = measure_by(session, scope, counted, key, as_of)
    weights = dict(county_settings(session, county_code).ranking_weights)
    out: list[Week] = []
    for i, week in enumerate(weeks):
        values = found.get(str(i)) or no_parts()
        values = {**values, "score": composite_score(values, weights)}
        out.append(Week(week, values))
    return Trend(span, as_of, out, truncated=counted.first > span.first)
