"""Reading .csv and .xlsx files into rows, and refusing broken files with a clear message."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from dispatch.core.errors import InvalidInput
from dispatch.reference.tabular import normalise_header, overflow_problems, read_table, split_list

HEADER = "序号,牵头部门,事项名称,乡镇（街道）职责"
BODY = "1,县综合行政执法局,违法建设,巡查发现、劝阻制止\n2,县市场监督管理局,食品安全,报告移送\n"
TEXT = f"{HEADER}\n{BODY}"
WANT = ("序号", "牵头部门", "事项名称", "乡镇(街道)职责")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def write_xlsx(tmp_path: Path, rows: list[list[object]], *, name: str = "t.xlsx") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "清单"
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return path


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("utf-8", TEXT.encode("utf-8")),
        ("utf-8 with BOM", TEXT.encode("utf-8-sig")),
        ("gb18030", TEXT.encode("gb18030")),
        ("utf-16 with BOM, tab-separated", TEXT.replace(",", "\t").encode("utf-16")),
        ("crlf", TEXT.replace("\n", "\r\n").encode("utf-8")),
    ],
)
def test_csv_encodings_read_the_same_rows(tmp_path: Path, label: str, data: bytes) -> None:
    table = read_table(write(tmp_path, "list.csv", data), required=WANT)
    assert table.headers == WANT, label
    assert [row.number for row in table.rows] == [2, 3]
    assert table.rows[0]["牵头部门"] == "县综合行政执法局"
    assert table.rows[1]["乡镇(街道)职责"] == "报告移送"


def test_tab_separated_csv_is_sniffed(tmp_path: Path) -> None:
    data = "部门名称\t简称\n县水利局\t水利\n".encode()
    table = read_table(write(tmp_path, "d.csv", data), required=("部门名称", "简称"))
    assert table.rows[0].values == {"部门名称": "县水利局", "简称": "水利"}


def test_header_match_tolerates_spaces_and_parenthesis_width(tmp_path: Path) -> None:
    data = " 序号 ,牵头部门,事项名称 ,乡镇 (街道) 职责,签收时限（小时）\n1,a,b,c,24\n".encode()
    table = read_table(write(tmp_path, "x.csv", data), required=WANT, optional=("签收时限(小时)",))
    assert table.rows[0]["签收时限(小时)"] == "24"
    assert table.rows[0]["乡镇(街道)职责"] == "c"


def test_aliases_map_to_the_canonical_column(tmp_path: Path) -> None:
    data = "序号,牵头单位,事项,乡镇职责\n1,a,b,c\n".encode()
    table = read_table(
        write(tmp_path, "x.csv", data),
        required=WANT,
        aliases={"牵头部门": ["牵头单位"], "事项名称": ["事项"], "乡镇(街道)职责": ["乡镇职责"]},
    )
    assert table.rows[0].values == {
        "序号": "1",
        "牵头部门": "a",
        "事项名称": "b",
        "乡镇(街道)职责": "c",
    }


def test_blank_rows_are_skipped_but_row_numbers_stay_spreadsheet_rows(tmp_path: Path) -> None:
    data = f'{HEADER}\n\n,,,\n1,a,"b, with comma","two\nlines"\n'.encode()
    table = read_table(write(tmp_path, "x.csv", data), required=WANT)
    assert len(table.rows) == 1
    assert table.rows[0].number == 4
    assert table.rows[0]["事项名称"] == "b, with comma"
    assert table.rows[0]["乡镇(街道)职责"] == "two\nlines"


def test_cells_are_stripped_of_full_width_spaces_and_bom(tmp_path: Path) -> None:
    data = f"{HEADER}\n\u30001\u3000, 县水利局 ,\ufeff河道,x\n".encode()
    row = read_table(write(tmp_path, "x.csv", data), required=WANT).rows[0]
    assert (row["序号"], row["牵头部门"], row["事项名称"]) == ("1", "县水利局", "河道")


def test_title_rows_above_the_header_are_skipped(tmp_path: Path) -> None:
    data = f"清河县乡镇(街道)属地管理事项责任清单,,,\n{TEXT}".encode()
    table = read_table(write(tmp_path, "x.csv", data), required=WANT)
    assert table.header_row == 2
    assert [row.number for row in table.rows] == [3, 4]


def test_overflow_cells_are_reported_with_their_row(tmp_path: Path) -> None:
    data = f"{HEADER}\n1,a,b,c,stray\n".encode()
    table = read_table(write(tmp_path, "x.csv", data), required=WANT)
    problems = overflow_problems(table)
    assert [(p.row, p.message) for p in problems] == [
        (2, "第2行 有 1 个单元格超出表头范围（「stray」…），可能是内容里有未加引号的逗号")
    ]


def test_xlsx_numbers_and_dates_read_as_a_person_would(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["序号", "数", "日期", "时刻", "文字"],
            [12.0, 2.5, date(2025, 3, 1), datetime(2025, 3, 1, 8, 30), " 违法建设 "],
            [13, 0.1 + 0.2, datetime(2025, 3, 2), None, True],
        ],
    )
    table = read_table(path, required=("序号", "日期"))
    assert table.sheet == "清单"
    assert table.rows[0].values == {
        "序号": "12",
        "数": "2.5",
        "日期": "2025-03-01",
        "时刻": "2025-03-01 08:30:00",
        "文字": "违法建设",
    }
    assert table.rows[1].values == {
        "序号": "13",
        "数": "0.3",
        "日期": "2025-03-02",
        "时刻": "",
        "文字": "是",
    }


def test_xlsx_named_sheet_and_unknown_sheet(tmp_path: Path) -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.append(["说明"])
    second = workbook.create_sheet("部门")
    second.append(["部门名称"])
    second.append(["县水利局"])
    path = tmp_path / "two.xlsx"
    workbook.save(path)
    assert read_table(path, sheet="部门").rows[0]["部门名称"] == "县水利局"
    with pytest.raises(
        InvalidInput, match="没有名为「人员」的工作表；工作簿中的工作表: Sheet、部门"
    ):
        read_table(path, sheet="人员")


def test_xlsx_is_recognised_by_content_whatever_its_name(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [["部门名称"], ["县水利局"]], name="really-an-xlsx.csv")
    assert read_table(path).rows[0]["部门名称"] == "县水利局"


def test_missing_required_columns_names_them_and_lists_the_file_columns(tmp_path: Path) -> None:
    data = "序号,事项名称\n1,违法建设\n".encode()
    with pytest.raises(InvalidInput) as caught:
        read_table(write(tmp_path, "list.csv", data), required=("序号", "牵头部门", "事项名称"))
    assert caught.value.message == "list.csv: 缺少必需的列: 牵头部门; 文件中的列: 序号、事项名称"


def test_missing_column_message_lists_the_header_row_not_the_title(tmp_path: Path) -> None:
    data = "清河县责任清单,,\n序号,事项名称,协同部门\n1,违法建设,\n".encode()
    with pytest.raises(InvalidInput) as caught:
        read_table(
            write(tmp_path, "list.csv", data),
            required=("序号", "牵头部门", "事项名称"),
            optional=("协同部门",),
        )
    assert caught.value.message.endswith("文件中的列: 序号、事项名称、协同部门")


def test_a_required_column_twice_is_refused(tmp_path: Path) -> None:
    data = "序号,牵头部门,牵头部门\n1,a,b\n".encode()
    with pytest.raises(InvalidInput, match="列「牵头部门」在表头中出现了两次（第2列和第3列）"):
        read_table(write(tmp_path, "x.csv", data), required=("序号", "牵头部门"))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "文件为空"),
        ("blank.csv", b" \r\n\r\n", "文件为空"),
        ("commas.csv", b",,,\n,,\n", "文件为空（没有表头行）"),
        ("garbage.xlsx", b"\x13\x37garbage, not a workbook" * 20, "不是有效的 .xlsx 文件"),
        ("binary.csv", b"\x00\x01\x02\x03" * 50, "不是文本表格文件（含二进制内容）"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "旧版 Excel (.xls)"),
        ("page.csv", b"<html><body><table></table></body></html>", "网页/XML 格式"),
        (
            "damaged-utf8.csv",
            "序号,事项名称\n1,违法建设\n2,占道经营\n".encode() + b"3,\xe8\xbf\n",
            "文件是 UTF-8 编码，但第 4 行有无效字节",
        ),
        ("undecodable.csv", b"\x80abc,\xff\n" * 3, "无法识别文件编码"),
    ],
)
def test_broken_files_raise_invalid_input(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_table(write(tmp_path, name, data), required=("序号",))
    assert message in caught.value.message
    assert caught.value.message.startswith(f"{name}: ")


def test_corrupt_zip_named_xlsx_is_refused(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path, [["部门名称"], ["县水利局"]])
    truncated = write(tmp_path, "cut.xlsx", good.read_bytes()[:300])
    with pytest.raises(InvalidInput, match=re.escape("cut.xlsx: 不是有效的 .xlsx 文件")):
        read_table(truncated)


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(InvalidInput, match=re.escape("不是有效的 .xlsx 文件")):
        read_table(path)


def test_files_over_the_size_limit_are_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", TEXT.encode() + b"x" * 2048)
    with pytest.raises(InvalidInput, match=re.escape("文件过大（0.0 MiB），上限为 0 MiB")):
        read_table(path, max_bytes=1024)
    assert read_table(path, max_bytes=4096).rows


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=re.escape("nothing.csv: 文件不存在")):
        read_table(tmp_path / "nothing.csv")


def test_split_list_accepts_every_separator_and_drops_repeats() -> None:
    assert split_list("县住建局、县水利局，县公安局,县民政局;县应急局；县住建局/ 县林业局 ") == [
        "县住建局",
        "县水利局",
        "县公安局",
        "县民政局",
        "县应急局",
        "县林业局",
    ]
    assert split_list("") == []


def test_normalise_header_folds_width_and_space() -> None:
    assert normalise_header(" 乡镇（街道）\n职责 ") == normalise_header("乡镇(街道)职责")
