"""Workbooks as people file them: one sheet per view, Chinese headers, the header row frozen,
an autofilter, rates as percentages; written row by row and streamed from a temporary file.

XlsxWriter's constant_memory mode flushes each row as it is written, so a sheet of any length
keeps memory flat; the file is read back in chunks and removed once sent (or abandoned).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format

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


def open_book(path: str) -> tuple[xlsxwriter.Workbook, Format, dict[Kind, Format]]:
    """Open a constant-memory workbook at path: it, the header's format and each kind's."""
    book = xlsxwriter.Workbook(
        path, {"constant_memory": True, "remove_timezone": True, "strings_to_numbers": False}
    )
    header = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
    formats = {
        Kind.RATE: book.add_format({"num_format": "0.0%"}),
        Kind.NUMBER: book.add_format({"num_format": "0.0"}),
        Kind.INTEGER: book.add_format({"num_format": "0"}),
        Kind.TIME: book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
    }
    return book, header, formats


def write_workbook(path: str, sheets: Iterable[Sheet]) -> None:
    """Write the sheets into an XLSX file at path, row by row."""
    book, header, formats = open_book(path)
    try:
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
    # One writer per column, chosen once: a ledger sheet writes millions of cells.
    writers = [
        (c, _cell_writer(ws, column.kind, formats)) for c, column in enumerate(sheet.columns)
    ]
    last_row = 0
    for r, row in enumerate(sheet.rows, start=1):
        for (c, write), value in zip(writers, row, strict=True):
            if value is not None:  # a blank cell without a format is nothing to write
                write(r, c, value)
        last_row = r
    if sheet.columns:
        ws.autofilter(0, 0, max(last_row, 1), len(sheet.columns) - 1)


def _cell_writer(
    ws: Any, kind: Kind, formats: dict[Kind, object]
) -> Callable[[int, int, object], None]:
    """Return how a column's non-blank cells are written (xlsxwriter has no type stubs)."""
    fmt = formats.get(kind)

    def write(r: int, c: int, value: object) -> None:
        if kind is Kind.TIME and isinstance(value, datetime):
            ws.write_number(r, c, excel_time(value), fmt)
        elif isinstance(value, bool):
            ws.write_string(r, c, "是" if value else "否")
        elif isinstance(value, int | float) and kind is not Kind.TEXT:
            ws.write_number(r, c, value, fmt)
        else:
            ws.write_string(r, c, str(value))

    def write_text(r: int, c: int, value: object) -> None:
        if value.__class__ is str:
            ws.write_string(r, c, value)
        else:
            write(r, c, value)

    return write_text if kind is Kind.TEXT else write


# Excel's day 0 for the serial numbers of dates after 1900-03-01 (its 1900 leap-year bug).
_EXCEL_EPOCH = datetime(1899, 12, 30)


def excel_time(moment: datetime) -> float:
    """Return a moment as Excel's serial day number in Beijing time (a date cell's value).

    What write_datetime stores, computed directly: it costs a ledger's sheet several seconds.
    """
    delta = as_utc(moment).astimezone(CHINA_TZ).replace(tzinfo=None) - _EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400


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
