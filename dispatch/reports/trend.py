"""The assessment's trend (趋势): the county's (the scope's) totals week by week over a period.

A week runs Monday to Sunday (China dates), clipped to the period, so the weeks' parts add up
to the period's; at most the last 26 weeks. Each week's measures are the assessment's 合计 row
(by department) over the week, from the same facts: the daily roll-ups and the days built live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.reference.county_rules import county_settings
from dispatch.reports.assessment import row_values
from dispatch.reports.facts import TOTAL, WHOLE, Dimension
from dispatch.reports.measures import composite_score
from dispatch.reports.periods import Period
from dispatch.reports.rollup import facts_of
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
    weights = dict(county_settings(session, county_code).ranking_weights)
    out: list[Week] = []
    for week in weeks:
        facts = facts_of(session, scope, week, (WHOLE,), now=as_of)
        values = row_values(facts[WHOLE].rows().get(TOTAL), Dimension.DEPARTMENT, scope, as_of)
        values["score"] = composite_score(values, weights)
        out.append(Week(week, values))
    return Trend(span, as_of, out, truncated=weeks[0].first > span.first)
