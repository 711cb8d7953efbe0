"""The staffing office's evidence over HTTP: workload, its workbook, the disputes report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from dispatch.reports.agenda import disputes_report
from dispatch.reports.periods import period
from dispatch.reports.workbook import XLSX_TYPE
from dispatch.reports.workload import workload_report
from dispatch.reports.workload_book import stream_workload_book
from dispatch.reports.workload_schemas import DisputesReport, WorkloadReport
from service.deps import CurrentActor, SessionDep

router = APIRouter(prefix="/reports", tags=["reports"])

From = Annotated[
    date | None, Query(alias="from", description="起始日期（含，北京时间），默认本月1日")
]
To = Annotated[date | None, Query(alias="to", description="截止日期（含，北京时间），默认今天")]


@router.get("/workload", response_model=WorkloadReport)
def read_workload(
    session: SessionDep, actor: CurrentActor, first: From = None, last: To = None
) -> WorkloadReport:
    """Return each department's workload against its posts, duties against work, the agenda."""
    return workload_report(session, actor, period(first, last))


@router.get(
    "/workload.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_TYPE: {}}, "description": "编制评估工作簿"}},
)
def read_workload_book(
    session: SessionDep, actor: CurrentActor, first: From = None, last: To = None
) -> StreamingResponse:
    """Return the staffing office's workbook for the period: one sheet per view."""
    asked = period(first, last)
    report = workload_report(session, actor, asked)
    disputes = disputes_report(session, actor, asked)
    name = f"workload-{asked.first.isoformat()}-{asked.last.isoformat()}.xlsx"
    return StreamingResponse(
        stream_workload_book(report, disputes),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/disputes", response_model=DisputesReport)
def read_disputes_report(
    session: SessionDep, actor: CurrentActor, first: From = None, last: To = None
) -> DisputesReport:
    """Return the period's disputes by matter, by pair of departments and by ruling."""
    return disputes_report(session, actor, period(first, last))
