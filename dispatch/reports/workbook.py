"""Workbooks as people file them: one sheet per view, Chinese headers, the header row frozen,
an autofilter, rates as percentages; written row by row and streamed from a temporary file.

XlsxWriter's constant_memory mode flushes each row as it is written, so a sheet of any length
keeps memory flat; the file is read back in chunks and removed once sent (or abandoned).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import xlsxwriter

from dispatch.core.clock import CHINA_TZ, as_utc

CHUNK = 64 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Kind(StrEnum):
    """How a column's cells are written and formatted."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    RATE = "rate"
    TIME = "time"  # a UTC datetime, written as Beijing time


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its Chinese header, its kind and its width in characters."""

    header: str
    kind: Kind = Kind.TEXT
    width: float = 12


@dataclass(frozen=True, slots=True)
class Sheet:
    """One sheet: its name (≤ 31 characters), its columns and its rows, read once."""

    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[object]]


def write_workbook(path: str, sheets: Iterable[Sheet]) -> None:
    """Write the sheets into an XLSX file at path, row by row."""
    book = xlsxwriter.Workbook(
        path, {"constant_memory": True, "remove_timezone": True, "strings_to_numbers": False}
    )
    try:
        header = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        formats = {
            Kind.RATE: book.add_format({"num_format": "0.0%"}),
            Kind.NUMBER: book.add_format({"num_format": "0.0"}),
            Kind.INTEGER: book.add_format({"num_format": "0"}),
            Kind.TIME: book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        }
        for sheet in sheets:
            _write_sheet(book, sheet, header, formats)
    finally:
        book.close()


def _write_sheet(
    book: xlsxwriter.Workbook, sheet: Sheet, header: object, formats: dict[Kind, object]
) -> None:
    ws = book.add_worksheet(sheet.name[:31])
    for i, column in enumerate(sheet.columns):
        ws.set_column(i, i, column.width, formats.get(column.kind))
        ws.write_string(0, i, column.header, header)
    ws.freeze_panes(1, 0)
    last_row = 0
    for r, row in enumerate(sheet.rows, start=1):
        for c, (column, value) in enumerate(zip(sheet.columns, row, strict=True)):
            _write_cell(ws, r, c, column.kind, value, formats)
        last_row = r
    if sheet.columns:
        ws.autofilter(0, 0, max(last_row, 1), len(sheet.columns) - 1)


def _write_cell(
    ws: object, r: int, c: int, kind: Kind, value: object, formats: dict[Kind, object]
) -> None:
    sheet = ws  # xlsxwriter's Worksheet has no type stubs
    if value is None:
        sheet.write_blank(r, c, None)  # type: ignore[attr-defined]
    elif kind is Kind.TIME and isinstance(value, datetime):
        local = as_utc(value).astimezone(CHINA_TZ).replace(tzinfo=None)
        sheet.write_datetime(r, c, local, formats[Kind.TIME])  # type: ignore[attr-defined]
    elif isinstance(value, bool):
        sheet.write_string(r, c, "是" if value else "否")  # type: ignore[attr-defined]
    elif isinstance(value, int | float) and kind is not Kind.TEXT:
        sheet.write_number(r, c, value, formats.get(kind))  # type: ignore[attr-defined]
    else:
        sheet.write_string(r, c, str(value))  # type: ignore[attr-defined]


def stream_workbook(sheets: Iterable[Sheet]) -> Iterator[bytes]:
    """Write the workbook to a temporary file, then yield it in chunks and remove it."""
    handle, path = tempfile.mkstemp(prefix="sipingtai-", suffix=".xlsx")
    os.close(handle)
    try:
        write_workbook(path, sheets)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)
