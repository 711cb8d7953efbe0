"""The assessment workbook for a period: one sheet per dimension and the 红黑榜, as filed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from dispatch.reports.assessment import DIMENSION_LABELS, Assessment, Dimension, assess
from dispatch.reports.measures import BY_KEY, Unit
from dispatch.reports.periods import Period
from dispatch.reports.scope import ReportScope
from dispatch.reports.workbook import Column, Kind, Sheet

# The columns each sheet shows, in the order a reader scans them.
SHEET_MEASURES: tuple[str, ...] = (
    "score",
    "parts",
    "events",
    "on_time_sign_rate",
    "signed_on_time",
    "due_for_signing",
    "on_time_completion_rate",
    "completed_on_time",
    "due_for_completion",
    "completion_rate",
    "completed",
    "return_rate",
    "returned",
    "rework_rate",
    "reworked",
    "satisfaction_rate",
    "satisfied",
    "rated",
    "mean_rating",
    "notices_normal",
    "notices_yellow",
    "notices_red",
    "extensions_asked",
    "extensions_granted",
    "escalations",
    "escalations_answered_on_time",
    "escalation_response_median",
    "disputes",
    "disputes_ruled_responsible",
    "disputes_ruled_not_responsible",
    "sign_minutes_median",
    "sign_minutes_p90",
    "feedback_minutes_median",
    "feedback_minutes_p90",
)
EVENT_MEASURES = ("reported", "population", "events_per_10k")
KINDS = {
    Unit.COUNT: Kind.INTEGER,
    Unit.RATE: Kind.RATE,
    Unit.MINUTES: Kind.NUMBER,
    Unit.RATING: Kind.NUMBER,
    Unit.PER_10K: Kind.NUMBER,
    Unit.SCORE: Kind.NUMBER,
}
SHEETS = (
    Dimension.DEPARTMENT,
    Dimension.UNIT,
    Dimension.TOWNSHIP,
    Dimension.MATTER,
    Dimension.PLATFORM,
)


def measure_keys(by: Dimension) -> tuple[str, ...]:
    """Return the measures a sheet (or a page's table) of this dimension shows."""
    extra: tuple[str, ...] = ()
    if by is Dimension.TOWNSHIP:
        extra = EVENT_MEASURES
    elif by in (Dimension.MATTER, Dimension.PLATFORM):
        extra = ("reported",)
    return (*SHEET_MEASURES[:3], *extra, *SHEET_MEASURES[3:])


def assessment_sheets(
    session: Session,
    scope: ReportScope,
    period: Period,
    *,
    county_code: str | None,
    now: datetime,
) -> list[Sheet]:
    """Return the 红黑榜 and one sheet per dimension, read now (the file is written later)."""
    found = {
        by: assess(session, scope, period, by, county_code=county_code, now=now) for by in SHEETS
    }
    sheets = [_sheet(found[by], f"按{DIMENSION_LABELS[by][:2]}") for by in SHEETS]
    return [_ranking(found[Dimension.DEPARTMENT]), *sheets]


def _columns(keys: Sequence[str]) -> list[Column]:
    return [
        Column(BY_KEY[k].label, KINDS[BY_KEY[k].unit], max(10, len(BY_KEY[k].label) * 2.2))
        for k in keys
    ]


def _sheet(found: Assessment, name: str) -> Sheet:
    keys = measure_keys(found.by)
    columns = [Column("名次", Kind.INTEGER, 6), Column(DIMENSION_LABELS[found.by], width=28)]
    rows = [
        [row.rank, row.name, *(row.values.get(k) for k in keys)]
        for row in [*found.rows, found.total]
    ]
    return Sheet(name, [*columns, *_columns(keys)], rows)


def _ranking(found: Assessment) -> Sheet:
    """The 红黑榜: departments by score, with the weighed rates beside it."""
    weighed = [k for k, w in found.weights.items() if w > 0]
    ranked = [r for r in found.rows if r.rank is not None]
    last = max((r.rank or 0 for r in ranked), default=0)
    columns = [
        Column("名次", Kind.INTEGER, 6),
        Column("部门", width=28),
        Column("榜单", width=8),
        *_columns(["score", *weighed]),
    ]
    rows = [
        [
            r.rank,
            r.name,
            "红榜" if r.rank == 1 else ("黑榜" if r.rank == last and last > 1 else ""),
            r.values.get("score"),
            *(r.values.get(k) for k in weighed),
        ]
        for r in ranked
    ]
    return Sheet("红黑榜", columns, rows)
