"""The assessment (考核): by department, unit, township, matter or platform, and its workbook."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from dispatch.core.clock import utcnow
from dispatch.reports.assessment import Dimension, assess
from dispatch.reports.assessment_book import assessment_sheets
from dispatch.reports.measures import MEASURES
from dispatch.reports.periods import Period, period
from dispatch.reports.schemas import (
    AssessmentPublic,
    MeasurePublic,
    TrendPublic,
    assessment_public,
    trend_public,
)
from dispatch.reports.scope import report_scope
from dispatch.reports.trend import trend
from dispatch.reports.workbook import XLSX_TYPE, stream_workbook
from service.deps import CurrentActor, SessionDep
from service.routes.reference import RequestCounty

router = APIRouter(prefix="/reports", tags=["reports"])

First = Annotated[date | None, Query(alias="from", description="起始日期（含），默认本月 1 日")]
Last = Annotated[date | None, Query(alias="to", description="截止日期（含），默认今天")]
By = Annotated[Dimension, Query(description="按部门、单位、乡镇、事项或平台统计")]


@router.get("/measures")
def measures(actor: CurrentActor) -> list[MeasurePublic]:
    """Return every measure's key, Chinese name, unit and which way is better."""
    report_scope(actor)
    return [MeasurePublic.model_validate(m, from_attributes=True) for m in MEASURES]


@router.get("/assessment")
def assessment(
    session: SessionDep,
    actor: CurrentActor,
    county: RequestCounty,
    first: First = None,
    last: Last = None,
    by: By = Dimension.DEPARTMENT,
) -> AssessmentPublic:
    """Return the period's assessment, one row per department (or unit, township, matter,
    platform) with every measure, the ranking, and the total; each reader sees their rows."""
    scope = report_scope(actor)
    found = assess(session, scope, period(first, last), by, county_code=county)
    return assessment_public(found)


@router.get("/trend")
def assessment_trend(
    session: SessionDep,
    actor: CurrentActor,
    county: RequestCounty,
    first: First = None,
    last: Last = None,
) -> TrendPublic:
    """Return the period's totals week by week (Monday to Sunday, the last 26 at most), over
    the reader's own rows: the assessment's 合计 row for each week."""
    scope = report_scope(actor)
    return trend_public(trend(session, scope, period(first, last), county_code=county))


@router.get(
    "/assessment.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_TYPE: {}}, "description": "考核工作簿"}},
)
def assessment_workbook(
    session: SessionDep,
    actor: CurrentActor,
    county: RequestCounty,
    first: First = None,
    last: Last = None,
) -> StreamingResponse:
    """Download the period's assessment workbook: the 红黑榜 and one sheet per dimension."""
    scope = report_scope(actor)
    span = period(first, last)
    sheets = assessment_sheets(session, scope, span, county_code=county, now=utcnow())
    return StreamingResponse(
        stream_workbook(sheets),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": attachment(f"考核_{_dates(span)}.xlsx")},
    )


def _dates(span: Period) -> str:
    return f"{span.first.isoformat()}_{span.last.isoformat()}"


def attachment(file_name: str) -> str:
    """Return a Content-Disposition naming a download in Chinese (RFC 5987) and in ASCII."""
    ascii_name = file_name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"
