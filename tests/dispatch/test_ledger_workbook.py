"""The ledger's workbook writes the very file reports.workbook writes, byte for byte."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.core.clock import CHINA_TZ
from dispatch.ledger.columns import COLUMNS
from dispatch.ledger.workbook import excel_time, write_ledger_workbook
from dispatch.reports import workbook as reports_workbook
from dispatch.reports.workbook import Column, Kind, Sheet, write_workbook

# Strings XlsxWriter escapes or marks: XML characters, control characters and its own
# _xHHHH_ escape, whitespace at either end (ideographic space too), a rich-string lookalike,
# non-characters, astral characters, a string past the 32,767-unit limit, the empty string.
AWKWARD = [
    '占道经营 & <摊贩> "引号"',
    "line\nbreak",
    "tab\tinside",
    "carriage\rreturn",
    "nul\x00bell\x07",
    "_x0041_ literal",
    " leading",
    "trailing ",
    "\u3000全角空格",
    "换行结尾\n",
    "<r>not rich</r>",
    "non\ufffechar\uffff",
    "😀 emoji",
    '=HYPERLINK("x")',
    "长" * 20000,
    "😀" * 17000,
    "",
]


def _moments() -> list[datetime]:
    return [
        datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 5, tzinfo=CHINA_TZ),
        datetime(2026, 6, 30, 15, 59, 59, 123456),  # naive: read as UTC
        datetime(1900, 3, 1, tzinfo=UTC),
    ]


def _rows(count: int) -> list[tuple[object, ...]]:
    """Rows of the ledger's shape: every kind of value in every kind of column, some blank."""
    moments = _moments()
    rows = []
    for i in range(count):
        row: list[object] = []
        for c, column in enumerate(COLUMNS):
            pick = (i + c) % 7
            if pick == 0:
                row.append(None)
            elif column.kind is Kind.TIME:
                row.append(moments[(i + c) % len(moments)] + timedelta(minutes=i) if pick < 5 else
                           ("是" if pick == 5 else True))  # fmt: skip
            elif column.kind is Kind.INTEGER:
                row.append([i, 10**17 + i, 2.5, False, "七"][pick % 5])
            else:
                row.append(AWKWARD[(i * 3 + c) % len(AWKWARD)] if pick < 4 else
                           [True, False, 42][pick % 3])  # fmt: skip
        rows.append(tuple(row))
    # A row whose first cells are blank, and one with no cells at all.
    rows.insert(1, (None,) * 5 + rows[0][5:])
    rows.insert(3, (None,) * len(COLUMNS))
    return rows


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}  # its date


@pytest.mark.parametrize(
    "rows",
    [
        _rows(40),
        [],
        [(None,) * len(COLUMNS)],  # the header alone, then a row without cells
        # The first rows leave the formatted columns blank: styles are numbered by first use.
        [(None, None, None, "x") + (None,) * (len(COLUMNS) - 4), *_rows(3)],
    ],
)
def test_the_ledger_workbook_is_the_reports_workbook(
    tmp_path: Path, rows: list[tuple[object, ...]]
) -> None:
    columns = [c.column for c in COLUMNS]
    ours, theirs = tmp_path / "ours.xlsx", tmp_path / "theirs.xlsx"
    write_ledger_workbook(str(ours), "台账", columns, iter(rows))
    write_workbook(str(theirs), [Sheet("台账", columns, iter(rows))])
    mine, reference = _parts(ours), _parts(theirs)
    assert mine.keys() == reference.keys()
    for name in reference:
        assert mine[name] == reference[name], name


def test_the_ledger_workbook_batches_rows_as_it_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch.ledger import workbook

    monkeypatch.setattr(workbook, "ROWS_PER_WRITE", 3)
    columns = [Column("编号", Kind.INTEGER), Column("时间", Kind.TIME), Column("描述")]
    rows = [
        (i, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i), f"第{i}条") for i in range(10)
    ]
    ours, theirs = tmp_path / "ours.xlsx", tmp_path / "theirs.xlsx"
    write_ledger_workbook(str(ours), "台账", columns, rows)
    write_workbook(str(theirs), [Sheet("台账", columns, rows)])
    assert _parts(ours) == _parts(theirs)


def test_a_number_excel_cannot_store_is_refused_as_xlsxwriter_refuses_it(tmp_path: Path) -> None:
    columns = [Column("数", Kind.NUMBER)]
    for path, write in (
        (tmp_path / "ours.xlsx", lambda p, r: write_ledger_workbook(p, "台账", columns, r)),
        (tmp_path / "theirs.xlsx", lambda p, r: write_workbook(p, [Sheet("台账", columns, r)])),
    ):
        with pytest.raises(TypeError):
            write(str(path), [(float("nan"),)])


@pytest.mark.parametrize("moment", _moments())
def test_times_are_the_serial_days_reports_store(moment: datetime) -> None:
    assert excel_time(moment) == reports_workbook.excel_time(moment)
