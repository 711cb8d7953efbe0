"""Read the spreadsheets counties hand us (.xlsx and .csv) into plain rows of text.

Every way a file can be broken ends in InvalidInput with a message in Chinese that a
clerk can act on; a traceback never reaches the person who uploaded the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dispatch.core.errors import InvalidInput, RowProblem

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# An .xlsx is a zip: refuse one that would inflate past this, whatever its own size.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
# Published lists often carry a title line or two above the header.
HEADER_SEARCH_ROWS = 10

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SPACE = re.compile(r"\s+")
_EDGE_JUNK = "\ufeff\u200b\u200c\u200d\u2060"
_LIST_SEPARATORS = re.compile(r"[、，,;；/／\n]+")


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its spreadsheet row number (the header is row 1) and its cells as text."""

    number: int
    values: dict[str, str]
    # Non-empty cells beyond the last named column, e.g. from an unquoted comma in a CSV.
    overflow: tuple[str, ...] = ()

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")

    def get(self, column: str, default: str = "") -> str:
        """Return the cell of column, or default when the column is absent."""
        return self.values.get(column, default)


@dataclass(frozen=True, slots=True)
class Table:
    """The header and data rows of one sheet or CSV file; blank rows are left out."""

    source: str
    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    header_row: int = 1
    sheet: str | None = None

    def has(self, column: str) -> bool:
        """Tell whether the file has this column (under its name or an alias)."""
        return column in self.headers


def normalise_header(name: str) -> str:
    """Fold full-width forms (（）→()) and drop all whitespace, for tolerant header matching."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", name)).strip(_EDGE_JUNK).lower()


def clean_cell(value: str) -> str:
    """Strip surrounding whitespace (full-width too) and stray BOM/zero-width characters."""
    return value.strip().strip(_EDGE_JUNK).strip()


def split_list(value: str) -> list[str]:
    """Split a cell listing several items by 、，,;；/ or new lines; drop blanks and repeats."""
    seen: dict[str, None] = {}
    for part in _LIST_SEPARATORS.split(value):
        item = clean_cell(part)
        if item:
            seen.setdefault(item, None)
    return list(seen)


def overflow_problems(table: Table) -> list[RowProblem]:
    """Report rows that have more cells than the header has columns."""
    return [
        RowProblem(
            row.number,
            None,
            f"第{row.number}行 有 {len(row.overflow)} 个单元格超出表头范围"
            f"（「{row.overflow[0]}」…），可能是内容里有未加引号的逗号",
        )
        for row in table.rows
        if row.overflow
    ]


def read_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
    aliases: Mapping[str, Sequence[str]] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    source: str | None = None,
) -> Table:
    """Read the first (or the named) sheet of an .xlsx, or a .csv, into a Table.

    Columns named in required or optional (or one of their aliases) are keyed by that
    name whatever their spacing or parenthesis width in the file; other columns keep
    their header text. A missing required column, or any unreadable file, raises
    InvalidInput.
    """
    path = Path(path)
    label = source or path.name
    data = _read_bytes(path, label, max_bytes)
    if data.startswith(_ZIP_MAGIC):
        raw_rows, sheet_name = _xlsx_rows(data, label, sheet)
        is_csv = False
    elif data.startswith(_OLE2_MAGIC):
        raise InvalidInput(
            f"{label}: 这是旧版 Excel (.xls) 文件，暂不支持；"
            "请在 Excel 中另存为 .xlsx 或 CSV 后再导入"
        )
    elif path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise InvalidInput(
            f"{label}: 不是有效的 .xlsx 文件（内容不是 Excel 工作簿，可能已损坏或改了扩展名）"
        )
    else:
        if sheet is not None:
            raise InvalidInput(f"{label}: CSV 文件没有工作表，不能指定工作表「{sheet}」")
        raw_rows, sheet_name = _csv_rows(data, label), None
        is_csv = True
    return _build_table(
        raw_rows, label, sheet_name, required, optional, aliases or {}, check_overflow=is_csv
    )


def _read_bytes(path: Path, label: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInput(
                f"{label}: 文件过大（{size / 1048576:.1f} MiB），"
                f"上限为 {max_bytes / 1048576:.0f} MiB"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{label}: 文件不存在") from None
    except IsADirectoryError:
        raise InvalidInput(f"{label}: 这是一个目录，不是文件") from None
    except PermissionError:
        raise InvalidInput(f"{label}: 没有读取该文件的权限") from None
    if not data.strip():
        raise InvalidInput(f"{label}: 文件为空")
    return data


# ---- CSV ---------------------------------------------------------------------------------


def _csv_rows(data: bytes, label: str) -> list[list[str]]:
    text = _decode(data, label)
    if re.match(r"\s*<(!doctype|html|table|\?xml)", text[:200], re.IGNORECASE):
        raise InvalidInput(
            f"{label}: 这是网页/XML 格式，不是表格文件；请在 Excel 中打开后另存为 .xlsx 或 CSV"
        )
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _sniff_delimiter(first_line)
    try:
        return [
            list(record)
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as exc:
        raise InvalidInput(f"{label}: CSV 格式错误（{exc}）") from None


def _sniff_delimiter(header_line: str) -> str:
    """Pick tab or comma by counting them in the header line (semicolon only if neither)."""
    counts = {sep: header_line.count(sep) for sep in (",", "\t")}
    if not any(counts.values()) and ";" in header_line:
        return ";"
    return "\t" if counts["\t"] > counts[","] else ","


def _decode(data: bytes, label: str) -> str:
    """Decode UTF-8 (BOM or not), UTF-16 with BOM, or GB18030; refuse anything doubtful."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode_utf8(data[len(codecs.BOM_UTF8) :], label)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
            if _plausible_text(text):
                return text
        except UnicodeDecodeError:
            pass
        raise InvalidInput(f"{label}: 文件标明为 UTF-16 编码，但内容无法按 UTF-16 读取")
    if b"\x00" in data:
        raise InvalidInput(f"{label}: 不是文本表格文件（含二进制内容）；请上传 .xlsx 或 .csv")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # A few bad bytes in an otherwise UTF-8 file are damage, not another encoding: decoding
    # it as GB18030 would "succeed" and import garbage, so say where the damage is instead.
    if _mostly_utf8(data):
        return _decode_utf8(data, label, utf8_error)
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{label}: 无法识别文件编码（既不是 UTF-8 也不是 GB18030/GBK）；"
            "请在 Excel 中另存为「CSV UTF-8」或 .xlsx"
        ) from None
    if not _plausible_text(text):
        raise InvalidInput(
            f"{label}: 不是文本表格文件（按 GB18030 解码后是乱码）；请上传 .xlsx 或 .csv"
        )
    return text


def _decode_utf8(data: bytes, label: str, error: UnicodeDecodeError | None = None) -> str:
    if error is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = exc
    line = data[: error.start].count(b"\n") + 1
    raise InvalidInput(
        f"{label}: 文件是 UTF-8 编码，但第 {line} 行有无效字节（文件可能已损坏）"
    ) from None


def _mostly_utf8(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return good >= 3 and good >= 9 * bad


def _plausible_text(text: str) -> bool:
    for ch in text:
        category = unicodedata.category(ch)
        if (category == "Cc" and ch not in "\t\r\n") or category in {"Co", "Cn"}:
            return False
    return True


# ---- XLSX --------------------------------------------------------------------------------


def _xlsx_rows(data: bytes, label: str, sheet: str | None) -> tuple[list[list[str]], str]:
    # openpyxl raises a zoo of exception types on damaged workbooks (BadZipFile, KeyError,
    # XML parse errors, ValueError...); at this boundary any of them means "broken file".
    from openpyxl import load_workbook

    broken = f"{label}: 不是有效的 .xlsx 文件（文件已损坏或不是 Excel 工作簿）"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidInput(broken) from None
    if inflated > MAX_UNZIPPED_BYTES:
        raise InvalidInput(f"{label}: 工作簿解压后过大（{inflated / 1048576:.0f} MiB），拒绝读取")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise InvalidInput(broken) from None
    try:
        names = list(workbook.sheetnames)
        if not names:
            raise InvalidInput(f"{label}: 工作簿中没有工作表")
        if sheet is None:
            name = names[0]
        elif sheet in names:
            name = sheet
        else:
            raise InvalidInput(
                f"{label}: 没有名为「{sheet}」的工作表；工作簿中的工作表: {'、'.join(names)}"
            )
        try:
            rows = [
                [_cell_text(v) for v in values]
                for values in workbook[name].iter_rows(values_only=True)
            ]
        except InvalidInput:
            raise
        except Exception:
            raise InvalidInput(f"{label}: 工作表「{name}」内容已损坏，无法读取") from None
        return rows, name
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """Render a cell as a person would read it: 12 not 12.0, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        # Excel keeps 15 significant digits; more would show binary noise (0.30000000000000004).
        return f"{value:.15g}"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


# ---- Header and rows ---------------------------------------------------------------------


def _build_table(
    raw_rows: list[list[str]],
    label: str,
    sheet: str | None,
    required: Sequence[str],
    optional: Sequence[str],
    aliases: Mapping[str, Sequence[str]],
    *,
    check_overflow: bool,
) -> Table:
    rows = [[clean_cell(cell) for cell in row] for row in raw_rows]
    non_blank = [i for i, row in enumerate(rows) if any(row)]
    if not non_blank:
        raise InvalidInput(f"{label}: 文件为空（没有表头行）")
    wanted = {normalise_header(name): name for name in (*required, *optional)}
    for name, others in aliases.items():
        for other in others:
            wanted.setdefault(normalise_header(other), name)

    header_index = _find_header(rows, non_blank, required, wanted)
    header = rows[header_index]
    columns: dict[int, str] = {}
    seen: dict[str, int] = {}
    for position, text in enumerate(header):
        if not text:
            continue
        key = wanted.get(normalise_header(text), text)
        if key in seen:
            if key in wanted.values():
                raise InvalidInput(
                    f"{label}: 列「{key}」在表头中出现了两次"
                    f"（第{seen[key] + 1}列和第{position + 1}列）"
                )
            continue
        seen[key] = position
        columns[position] = key

    missing = [name for name in required if name not in seen]
    if missing:
        raise InvalidInput(
            f"{label}: 缺少必需的列: {'、'.join(missing)}; "
            f"文件中的列: {'、'.join(text for text in header if text) or '（无）'}"
        )

    last_named = max(columns) if columns else -1
    table_rows: list[Row] = []
    for index in range(header_index + 1, len(rows)):
        cells = rows[index]
        if not any(cells):
            continue
        values = {key: (cells[pos] if pos < len(cells) else "") for pos, key in columns.items()}
        # Only a CSV can shift cells right (an unquoted comma); a workbook's unheaded
        # columns to the right are notes, not damage.
        overflow = tuple(cells[last_named + 1 :]) if check_overflow else ()
        overflow = tuple(cell for cell in overflow if cell)
        table_rows.append(Row(number=index + 1, values=values, overflow=overflow))
    return Table(
        source=label,
        headers=tuple(columns.values()),
        rows=tuple(table_rows),
        header_row=header_index + 1,
        sheet=sheet,
    )


def _find_header(
    rows: list[list[str]], non_blank: list[int], required: Sequence[str], wanted: Mapping[str, str]
) -> int:
    """Return the first row that has every required column, else the one with the most.

    The fallback row is the one whose columns a "missing column" message should list.
    """
    if not required:
        return non_blank[0]
    best, best_count = non_blank[0], -1
    for index in non_blank[:HEADER_SEARCH_ROWS]:
        present = {wanted.get(normalise_header(text)) for text in rows[index] if text}
        if all(name in present for name in required):
            return index
        count = len(present - {None})
        if count > best_count:
            best, best_count = index, count
    return best
