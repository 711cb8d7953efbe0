"""The ledger's workbook: laid out as reports.workbook lays out every workbook, its rows written
as sheet XML straight into XlsxWriter's constant-memory row file.

Through write_string and write_number each cell costs XlsxWriter a dozen Python calls (checks,
a cell tuple, regular expressions, one file write per cell): 2.8 million cells for 100,000
events took half a minute. Here one string is built per row, the cells exactly as XlsxWriter
writes them (a test holds the two files equal, strings that need escaping included); the
workbook around them (styles, column widths, the frozen header, the autofilter, the zip) is
still XlsxWriter's. This leans on XlsxWriter's constant-memory internals (the row file, the
row it flushed last, the sheet's dimensions), checked by that test against the pinned version.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from xlsxwriter.utility import (
    _preserve_whitespace,
    _utf16_len,
    _utf16_truncate,
    xl_col_to_name,
)
from xlsxwriter.worksheet import Worksheet

from dispatch.core.clock import CHINA_TZ
from dispatch.reports.workbook import CHUNK, Column, Kind, open_book

# Rows gathered before one write to the row file.
ROWS_PER_WRITE = 500

# A string XlsxWriter writes as it is: no XML escape, no _xHHHH_ escape, no whitespace to
# preserve at either end, short of the length limit checked separately. Anything else takes
# the exact path (_inline_string), which repeats what XlsxWriter does.
_NOT_PLAIN = re.compile(r"^\s|\s$|[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_XML_ESCAPES = re.compile('["&<>\n]')
_STRING_MAX = 32767  # UTF-16 units (Worksheet.xls_strmax)
# Strings a column keeps written (short ones, so that a column's cache stays well under 1 MB).
_STRINGS_KEPT = 2000
_STRING_KEPT_LENGTH = 64
_ROW_MAX = 1048576  # Worksheet.xls_rowmax: cells below it are dropped, as XlsxWriter drops them
# Excel's day 0 in Beijing time: an aware moment minus it is the local time minus day 0.
_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=CHINA_TZ)

Cell = Callable[[Any], str]  # a value to its cell's XML after the cell reference


def stream_ledger_workbook(
    name: str, columns: Sequence[Column], rows: Iterable[Any]
) -> Iterator[bytes]:
    """Write the workbook to a temporary file, then yield it in chunks and remove it."""
    handle, path = tempfile.mkstemp(prefix="sipingtai-", suffix=".xlsx")
    os.close(handle)
    try:
        write_ledger_workbook(path, name, columns, rows)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)


def write_ledger_workbook(
    path: str, name: str, columns: Sequence[Column], rows: Iterable[Any]
) -> None:
    """Write one sheet into an XLSX file at path, as reports.workbook.write_workbook would."""
    book, header, formats = open_book(path)
    try:
        ws = book.add_worksheet(name[:31])
        for i, column in enumerate(columns):
            ws.set_column(i, i, column.width, formats.get(column.kind))
            ws.write_string(0, i, column.header, header)
        ws.freeze_panes(1, 0)
        last_row = _write_rows(ws, [formats.get(c.kind) for c in columns], columns, rows)
        if columns:
            ws.autofilter(0, 0, max(last_row, 1), len(columns) - 1)
    finally:
        book.close()


def _write_rows(
    ws: Worksheet, column_formats: list[Any], columns: Sequence[Column], rows: Iterable[Any]
) -> int:
    """Write the rows below the header as XML; return the last row's number (0: none)."""
    names = [xl_col_to_name(c) for c in range(len(columns))]
    # A format's style index is given the first time a cell uses it, as XlsxWriter gives it;
    # until each column's has one, every row claims those its cells use, in cell order.
    unclaimed = {id(f) for f in column_formats if f is not None}
    cells = _cells(columns, column_formats)
    pending: list[str] = []
    last_row = 0
    header_written = False
    for r, row in enumerate(rows, start=1):
        last_row = r
        if r >= _ROW_MAX:
            continue
        if not header_written:
            if all(value is None for value in row):
                continue  # a row without cells is no row at all
            ws._write_single_row(r)  # the header, as XlsxWriter writes it once row 1 begins
            header_written = True
        if unclaimed:
            for value, fmt in zip(row, column_formats, strict=True):
                if value is not None and fmt is not None and id(fmt) in unclaimed:
                    fmt._get_xf_index()
                    unclaimed.discard(id(fmt))
                    cells = _cells(columns, column_formats)
        number = str(r + 1)
        xml = "".join(
            [
                f'<c r="{ref}{number}"{cell(value)}'
                for ref, cell, value in zip(names, cells, row, strict=True)
                if value is not None
            ]
        )
        if not xml:
            continue
        pending.append(f'<row r="{number}">{xml}</row>')
        ws.previous_row = ws.dim_rowmax = r
        if len(pending) >= ROWS_PER_WRITE:
            ws.fh.write("".join(pending))
            pending.clear()
    if pending:
        ws.fh.write("".join(pending))
    return last_row


def _cells(columns: Sequence[Column], column_formats: list[Any]) -> list[Cell]:
    """Choose each column's cell writer once, with its style index as it now stands."""
    return [
        _cell_writer(column.kind, "" if fmt is None else _style(fmt))
        for column, fmt in zip(columns, column_formats, strict=True)
    ]


def _style(fmt: Any) -> str:
    return "" if fmt.xf_index is None else f' s="{fmt.xf_index}"'


def _cell_writer(kind: Kind, style: str) -> Cell:
    """Return a column's cell XML, as reports.workbook's writer and XlsxWriter would write it."""
    number_open = f"{style}><v>"

    def number(value: float) -> str:
        if value.__class__ is float and (math.isnan(value) or math.isinf(value)):
            raise TypeError("NAN/INF not supported in write_number()")
        return f"{number_open}{value:.16G}</v></c>"

    # A column's names (departments, places, matters, statuses) repeat: each written once.
    seen: dict[str, str] = {}

    def string(value: str) -> str:
        xml = seen.get(value)
        if xml is None:
            if len(value) <= _STRING_MAX // 2 and _NOT_PLAIN.search(value) is None:
                xml = f'{style} t="inlineStr"><is><t>{value}</t></is></c>'
            else:
                xml = style + _inline_string(value)
            if len(seen) < _STRINGS_KEPT and len(value) <= _STRING_KEPT_LENGTH:
                seen[value] = xml
        return xml

    yes, no = string("是"), string("否")

    def write(value: Any) -> str:
        if kind is Kind.TIME and isinstance(value, datetime):
            return number(excel_time(value))
        if isinstance(value, bool):
            return yes if value else no
        if isinstance(value, int | float) and kind is not Kind.TEXT:
            return number(value)
        return string(str(value))

    def write_text(value: Any) -> str:
        return string(value) if value.__class__ is str else write(value)

    def write_time(value: Any) -> str:
        if value.__class__ is datetime:
            return f"{number_open}{excel_time(value):.16G}</v></c>"
        return write(value)

    if kind is Kind.TEXT:
        return write_text
    return write_time if kind is Kind.TIME else write


def _inline_string(string: str) -> str:
    """Write a string cell's XML as XlsxWriter's constant-memory mode does, escapes and all."""
    if len(string) > _STRING_MAX // 2 and _utf16_len(string) > _STRING_MAX:
        string = _utf16_truncate(string, _STRING_MAX)
    string = Worksheet._escape_control_characters(string)
    if string.startswith("<r>") and string.endswith("</r>"):
        return f' t="inlineStr"><is>{string}</is></c>'
    preserve = ' xml:space="preserve"' if _preserve_whitespace(string) else ""
    if _XML_ESCAPES.search(string):
        string = string.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f' t="inlineStr"><is><t{preserve}>{string}</t></is></c>'


def excel_time(moment: datetime) -> float:
    """Return a moment as Excel's serial day in Beijing time, as reports.workbook.excel_time."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    delta = aware - _EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
