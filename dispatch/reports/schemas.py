"""The assessment as the API answers it: rows of measures, the total, the weights, the period."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from dispatch.reports.assessment import DIMENSION_LABELS, Assessment, Dimension, Row
from dispatch.reports.measures import Unit
from dispatch.reports.trend import Trend


class AssessmentRowPublic(SQLModel):
    """One row: a department, unit, township, matter or platform, and every measure's value."""

    key: str | None = Field(description="部门编号、乡镇编码、事项编码或平台编码；合计行为空")
    name: str
    rank: int | None = Field(description="红黑榜名次（按综合得分，1 为最好）")
    values: dict[str, float | None] = Field(
        description="各指标的值，键见 GET /api/reports/measures；比率为 0–1"
    )


class AssessmentPublic(SQLModel):
    """The assessment of a period by one dimension, with the total and the ranking's weights."""

    by: Dimension
    by_label: str
    first: date
    last: date
    period_label: str
    as_of: datetime = Field(description="时限是否已过按此时刻判断")
    weights: dict[str, float]
    rows: list[AssessmentRowPublic]
    total: AssessmentRowPublic


def _row(row: Row) -> AssessmentRowPublic:
    return AssessmentRowPublic(key=row.key, name=row.name, rank=row.rank, values=row.values)


def assessment_public(found: Assessment) -> AssessmentPublic:
    """Return the assessment as the API shows it."""
    return AssessmentPublic(
        by=found.by,
        by_label=DIMENSION_LABELS[found.by],
        first=found.period.first,
        last=found.period.last,
        period_label=found.period.label,
        as_of=found.as_of,
        weights=dict(found.weights),
        rows=[_row(r) for r in found.rows],
        total=_row(found.total),
    )


class MeasurePublic(SQLModel):
    """A measure: its key, its Chinese name, its unit and which way is better (None: neither)."""

    key: str
    label: str
    unit: Unit
    higher_is_better: bool | None


class TrendWeekPublic(SQLModel):
    """One week of the trend: its days (clipped to the period) and the total of every measure."""

    first: date
    last: date
    values: dict[str, float | None] = Field(description="与考核合计行相同的指标；比率为 0–1")


class TrendPublic(SQLModel):
    """The period's totals week by week (Monday to Sunday), oldest first, at most 26 weeks."""

    first: date
    last: date
    period_label: str
    as_of: datetime
    truncated: bool = Field(description="统计区间超过 26 周时只给出最后 26 周")
    weeks: list[TrendWeekPublic]


def trend_public(found: Trend) -> TrendPublic:
    """Return the trend as the API shows it."""
    return TrendPublic(
        first=found.period.first,
        last=found.period.last,
        period_label=found.period.label,
        as_of=found.as_of,
        truncated=found.truncated,
        weeks=[
            TrendWeekPublic(first=w.period.first, last=w.period.last, values=w.values)
            for w in found.weeks
        ],
    )
