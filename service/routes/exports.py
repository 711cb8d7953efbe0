"""Exports over HTTP: the 台账 ledger as CSV and XLSX, filtered like GET /api/events, streamed."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from dispatch.ledger.columns import COLUMNS
from dispatch.ledger.export import CSV_TYPE, LedgerExport, csv_chunks, prepare_export, xlsx_chunks
from dispatch.reports.periods import EARLIEST, LATEST
from dispatch.reports.workbook import XLSX_TYPE
from service.deps import CurrentActor, SessionDep
from service.routes.events import EventFilterDep
from service.routes.reports import attachment

router = APIRouter()

# Whole China calendar days, within the era every period keeps to.
Day = Annotated[date, Ge(EARLIEST), Le(LATEST)]
From = Annotated[Day | None, Query(alias="from", description="受理日期起（含，北京时间）")]
To = Annotated[Day | None, Query(alias="to", description="受理日期止（含，北京时间）")]

_COLUMNS_TEXT = "\n".join(f"- {c.header}：{c.meaning}" for c in COLUMNS)
_ABOUT = (
    "与 GET /api/events 相同的筛选（及 from/to 日期），每个事件一行，按事件编号排序。"
    "网格员不能导出；其他用户只导出其在事件列表中能看到的事件。\n\n列：\n" + _COLUMNS_TEXT
)


def _file(description: str, media_type: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "Content-Disposition": {
                    "description": "附件的中文文件名（RFC 5987 filename*）",
                    "schema": {"type": "string"},
                }
            },
        }
    }


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _stream(export: LedgerExport, chunks: Any, media_type: str, suffix: str) -> StreamingResponse:
    headers = {"Content-Disposition": attachment(export.file_name(suffix))}
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


@router.get(
    "/exports/ledger.csv",
    response_class=StreamingResponse,
    responses=_file("台账 CSV（UTF-8，带 BOM）", "text/csv"),
    description=_ABOUT,
)
def export_ledger_csv(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    where: EventFilterDep,
    first: From = None,
    last: To = None,
) -> StreamingResponse:
    """Export the 台账 ledger as CSV, streamed a batch of events at a time."""
    export = prepare_export(session, actor, where, first=first, last=last)
    return _stream(export, csv_chunks(_engine(request), export), CSV_TYPE, "csv")


@router.get(
    "/exports/ledger.xlsx",
    response_class=StreamingResponse,
    responses=_file("台账 XLSX（一个工作表「台账」）", XLSX_TYPE),
    description=_ABOUT,
)
def export_ledger_xlsx(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    where: EventFilterDep,
    first: From = None,
    last: To = None,
) -> StreamingResponse:
    """Export the 台账 ledger as an XLSX workbook, written row by row and streamed."""
    export = prepare_export(session, actor, where, first=first, last=last)
    return _stream(export, xlsx_chunks(_engine(request), export), XLSX_TYPE, "xlsx")
