"""Importing the department directory, township platforms, and the in-memory directory."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from shapely.geometry import box
from sqlmodel import Session, func, select

from dispatch.core.errors import ImportRejected
from dispatch.reference.departments import (
    ensure_township_platforms,
    import_departments,
    load_directory,
    parse_count,
)
from dispatch.reference.models import (
    Department,
    DepartmentCoverage,
    DepartmentKind,
    JurisdictionRow,
)
from tests.dispatch.fixtures import (
    FIXTURES,
    TOWNSHIP_CODES,
    demo_file,
    seed_demo_territory,
    seed_territory,
)

DEPARTMENTS = FIXTURES / "departments.csv"
HEADER = "部门名称,简称,类型,上级部门,覆盖乡镇,编制数,实有人数"
GOOD_ROWS = [
    "县综合行政执法局,县执法局,县级部门,,,120,110",
    "第一执法中队,,派驻机构,县综合行政执法局,新市镇、东岭镇,12,10",
    "县市场监督管理局,县市监局,县级部门,,,80,75",
]


@pytest.fixture
def territory(session: Session) -> Session:
    seed_territory(session)
    return session


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def csv_file(tmp_path: Path, rows: list[str], name: str = "departments.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def as_xlsx(source: Path, target: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for record in csv.reader(io.StringIO(source.read_text(encoding="utf-8"))):
        sheet.append([int(cell) if cell.isdigit() else cell for cell in record])
    workbook.save(target)
    return target


def test_import_creates_departments_with_parents_and_coverage(territory: Session) -> None:
    report = import_departments(territory, DEPARTMENTS)
    assert (report.created, report.updated, report.unchanged) == (14, 0, 0)
    assert report.coverage_links == 7
    squad = territory.exec(select(Department).where(Department.name == "第二执法中队")).one()
    bureau = territory.exec(select(Department).where(Department.name == "县综合行政执法局")).one()
    # 第二执法中队 names its parent by short name (县执法局).
    assert squad.parent_id == bureau.id
    assert squad.kind == DepartmentKind.STATIONED_UNIT
    assert bureau.short_name == "县执法局"
    assert (bureau.authorised_staff, bureau.actual_staff) == (120, 110)
    covered = territory.exec(
        select(DepartmentCoverage.township_code)
        .join(Department)
        .where(Department.name == "城关市场监管所")
    ).all()
    assert sorted(covered) == sorted([TOWNSHIP_CODES["城关街道"], TOWNSHIP_CODES["东岭镇"]])


def test_xlsx_and_gb18030_csv_import_the_same_directory(territory: Session, tmp_path: Path) -> None:
    gb = tmp_path / "gb.csv"
    gb.write_bytes(DEPARTMENTS.read_text(encoding="utf-8").encode("gb18030"))
    assert import_departments(territory, gb).created == 14
    xlsx = as_xlsx(DEPARTMENTS, tmp_path / "departments.xlsx")
    report = import_departments(territory, xlsx)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 14)


def test_reimport_is_idempotent(territory: Session) -> None:
    import_departments(territory, DEPARTMENTS)
    before = (count(territory, Department), count(territory, DepartmentCoverage))
    report = import_departments(territory, DEPARTMENTS)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 14)
    assert (count(territory, Department), count(territory, DepartmentCoverage)) == before


def test_reimport_updates_fields_and_replaces_coverage(territory: Session, tmp_path: Path) -> None:
    import_departments(territory, csv_file(tmp_path, GOOD_ROWS))
    changed = [
        "县综合行政执法局,县执法局,县级部门,,,125,110",
        "第一执法中队,,派驻机构,县综合行政执法局,南湖乡,12,10",
        GOOD_ROWS[2],
    ]
    report = import_departments(territory, csv_file(tmp_path, changed))
    assert (report.created, report.updated, report.unchanged) == (0, 2, 1)
    squad = territory.exec(select(Department).where(Department.name == "第一执法中队")).one()
    covered = territory.exec(
        select(DepartmentCoverage.township_code).where(DepartmentCoverage.department_id == squad.id)
    ).all()
    assert covered == [TOWNSHIP_CODES["南湖乡"]]


def test_type_synonyms_and_township_codes_are_accepted(territory: Session, tmp_path: Path) -> None:
    rows = [
        "县公安局,,县直部门,,,,",
        f"新市派出所,,派出机构,县公安局,{TOWNSHIP_CODES['新市镇']}，城关街道,,",
    ]
    import_departments(territory, csv_file(tmp_path, rows))
    station = territory.exec(select(Department).where(Department.name == "新市派出所")).one()
    assert station.kind == DepartmentKind.STATIONED_UNIT
    assert station.authorised_staff is None


BAD_ROWS = [
    pytest.param(
        "新市市场监管所,,派驻机构,县市监局X,新市镇,8,8",
        "上级部门",
        "第5行 上级部门「县市监局X」不在部门名录中",
        id="unknown parent",
    ),
    pytest.param(
        "新市市场监管所,,派驻机构,县市场监督管理局,新民镇,8,8",
        "覆盖乡镇",
        "第5行 覆盖乡镇「新民镇」不是已导入的乡镇",
        id="unknown township",
    ),
    pytest.param(
        "新市市场监管所,,事业单位,县市场监督管理局,新市镇,8,8",
        "类型",
        "第5行 类型「事业单位」无法识别，应为 县级部门 或 派驻机构",
        id="unknown type",
    ),
    pytest.param(
        "新市市场监管所,,派驻机构,县市场监督管理局,新市镇,-1,8",
        "编制数",
        "第5行 编制数「-1」应为不小于 0 的整数，或留空",
        id="negative staff",
    ),
    pytest.param(
        "新市市场监管所,,派驻机构,县市场监督管理局,新市镇,8,八人",
        "实有人数",
        "第5行 实有人数「八人」应为不小于 0 的整数，或留空",
        id="non-numeric staff",
    ),
    pytest.param(
        ",,派驻机构,县市场监督管理局,新市镇,8,8", "部门名称", "第5行 部门名称为空", id="no name"
    ),
    pytest.param(
        "县综合行政执法局,,县级部门,,,8,8",
        "部门名称",
        "第5行 部门名称「县综合行政执法局」与第2行重复",
        id="duplicate name",
    ),
    pytest.param(
        "新市市场监管所,,派驻机构,,新市镇,8,8",
        "上级部门",
        "第5行 派驻机构必须填写上级部门",
        id="unit without parent",
    ),
    pytest.param(
        "县水利局,,县级部门,,新市镇,8,8",
        "覆盖乡镇",
        "第5行 县级部门覆盖全县，不填覆盖乡镇；派驻机构请把类型填为「派驻机构」",
        id="county department with coverage",
    ),
    pytest.param(
        "新市市场监管所,,派驻机构,县市场监督管理局,,8,8",
        "覆盖乡镇",
        "第5行 派驻机构必须填写覆盖乡镇",
        id="unit without coverage",
    ),
    pytest.param(
        "第三执法中队,,派驻机构,县综合行政执法局,东岭镇,8,8",
        "覆盖乡镇",
        "第5行 覆盖乡镇「东岭镇」已由第3行「第一执法中队」覆盖，"
        "同一上级部门在一个乡镇只能有一个派驻机构",
        id="two units of one parent on one township",
    ),
    pytest.param(
        "第一执法中队分队,,派驻机构,第一执法中队,南湖乡,8,8",
        "上级部门",
        "第5行 上级部门「第一执法中队」不是县级部门",
        id="parent is a stationed unit",
    ),
    pytest.param(
        "县水利局,县执法局,县级部门,,,8,8",
        "简称",
        "第5行 简称「县执法局」与第2行「县综合行政执法局」重复",
        id="duplicate short name",
    ),
]


@pytest.mark.parametrize(("row", "column", "message"), BAD_ROWS)
def test_each_bad_row_is_refused_and_nothing_written(
    territory: Session, tmp_path: Path, row: str, column: str, message: str
) -> None:
    with pytest.raises(ImportRejected) as caught:
        import_departments(territory, csv_file(tmp_path, [*GOOD_ROWS, row]))
    problems = caught.value.problems
    assert [(p.row, p.column, p.message) for p in problems] == [(5, column, message)]
    assert message in caught.value.message
    assert count(territory, Department) == 0
    assert count(territory, DepartmentCoverage) == 0


def test_every_problem_is_collected(territory: Session, tmp_path: Path) -> None:
    rows = [
        *GOOD_ROWS,
        "甲,,派驻机构,县市监局X,新市镇,8,8",
        "乙,,派驻机构,县市场监督管理局,新民镇,-3,8",
    ]
    with pytest.raises(ImportRejected) as caught:
        import_departments(territory, csv_file(tmp_path, rows))
    assert [(p.row, p.column) for p in caught.value.problems] == [
        (5, "上级部门"),
        (6, "编制数"),
        (6, "覆盖乡镇"),
    ]


def test_a_failed_reimport_leaves_the_directory_as_it_was(
    territory: Session, tmp_path: Path
) -> None:
    import_departments(territory, csv_file(tmp_path, GOOD_ROWS))
    bad = ["县综合行政执法局,县执法局,县级部门,,,999,110", "坏,,派驻机构,,,,"]
    with pytest.raises(ImportRejected):
        import_departments(territory, csv_file(tmp_path, [*GOOD_ROWS[1:], *bad]))
    bureau = territory.exec(select(Department).where(Department.name == "县综合行政执法局")).one()
    assert bureau.authorised_staff == 120
    assert count(territory, Department) == 3


def test_parent_already_in_the_database_is_accepted(territory: Session, tmp_path: Path) -> None:
    import_departments(territory, csv_file(tmp_path, GOOD_ROWS[:1]))
    report = import_departments(
        territory, csv_file(tmp_path, ["第二执法中队,,派驻机构,县执法局,城关街道,,"])
    )
    assert report.created == 1


def test_an_existing_unit_of_the_same_parent_blocks_overlap(
    territory: Session, tmp_path: Path
) -> None:
    import_departments(territory, csv_file(tmp_path, GOOD_ROWS))
    with pytest.raises(ImportRejected) as caught:
        import_departments(
            territory, csv_file(tmp_path, ["第二执法中队,,派驻机构,县执法局,新市镇,,"])
        )
    assert caught.value.problems[0].message == (
        "第2行 覆盖乡镇「新市镇」已由名录中已有的「第一执法中队」覆盖，"
        "同一上级部门在一个乡镇只能有一个派驻机构"
    )


def test_township_platforms_are_created_once(territory: Session) -> None:
    assert ensure_township_platforms(territory) == 16
    assert ensure_township_platforms(territory) == 0
    names = territory.exec(
        select(Department.name).where(
            Department.township_code == TOWNSHIP_CODES["新市镇"],
            Department.kind == DepartmentKind.TOWNSHIP_PLATFORM,
        )
    ).all()
    assert sorted(names) == sorted(
        ["新市镇综治工作平台", "新市镇市场监管平台", "新市镇综合执法平台", "新市镇便民服务平台"]
    )


def test_township_platform_names_are_qualified_when_townships_share_a_name(
    territory: Session,
) -> None:
    territory.add(
        JurisdictionRow(
            code="331200",
            name="邻县",
            level="county",
            geometry_wkb=box(121.0, 30.0, 121.1, 30.1).wkb,
        )
    )
    territory.flush()
    territory.add(
        JurisdictionRow(
            code="331200001",
            name="新市镇",
            level="township",
            parent_code="331200",
            geometry_wkb=box(121.0, 30.0, 121.1, 30.1).wkb,
        )
    )
    territory.flush()
    assert ensure_township_platforms(territory) == 20
    names = set(territory.exec(select(Department.name)).all())
    assert "新市镇(331200001)综合执法平台" in names
    assert "新市镇(331100001)综合执法平台" in names


def test_township_names_shared_by_two_townships_must_be_given_as_codes(
    territory: Session, tmp_path: Path
) -> None:
    territory.add(
        JurisdictionRow(
            code="331100099",
            name="新市镇",
            level="township",
            parent_code="331100",
            geometry_wkb=box(120.5, 30.0, 120.6, 30.1).wkb,
        )
    )
    territory.flush()
    with pytest.raises(ImportRejected) as caught:
        import_departments(territory, csv_file(tmp_path, GOOD_ROWS))
    assert caught.value.problems[0].message == (
        "第3行 覆盖乡镇「新市镇」有重名（331100001、331100099），请改填乡镇代码"
    )


def test_directory_answers_the_lookups_routing_needs(territory: Session) -> None:
    import_departments(territory, DEPARTMENTS)
    ensure_township_platforms(territory)
    directory = load_directory(territory)
    bureau = directory.by_name("县综合行政执法局")
    assert bureau is not None
    assert directory.by_name("县执法局") == bureau
    assert directory.by_name(" 县综合行政 执法局") == bureau
    assert directory.by_name("县教育局") is None
    first = directory.stationed_unit(bureau.id, TOWNSHIP_CODES["东岭镇"])
    second = directory.stationed_unit(bureau.id, TOWNSHIP_CODES["城关街道"])
    assert first is not None and first.name == "第一执法中队"
    assert second is not None and second.name == "第二执法中队"
    assert directory.stationed_unit(bureau.id, TOWNSHIP_CODES["南湖乡"]) is None
    water = directory.by_name("县水利局")
    assert water is not None
    assert directory.stationed_unit(water.id, TOWNSHIP_CODES["新市镇"]) is None
    platform = directory.township_platform(TOWNSHIP_CODES["南湖乡"], "zhifa")
    assert platform is not None and platform.name == "南湖乡综合执法平台"
    assert directory.get(platform.id) == platform
    assert directory.platform_name("zhifa") == "综合执法"
    assert directory.township_names[TOWNSHIP_CODES["南湖乡"]] == "南湖乡"
    with pytest.raises(TypeError):
        directory.departments[0] = bureau  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("12.0", 12), ("１２", 12), ("0", 0), ("", None), ("-1", None), ("1.5", None)],
)
def test_parse_count(text: str, value: int | None) -> None:
    assert parse_count(text) == value


def test_demo_directory_imports_from_csv_and_xlsx_alike(session: Session) -> None:
    csv_path = demo_file("departments.csv")
    xlsx_path = demo_file("departments.xlsx")
    seed_demo_territory(session)
    first = import_departments(session, csv_path)
    assert first.created == 34 and first.updated == 0
    again = import_departments(session, xlsx_path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 34)
    directory = load_directory(session)
    police = directory.by_name("县公安局")
    assert police is not None
    # Every township has exactly one unit of each department that has units.
    parents = {d.parent_id for d in directory.departments.values() if d.parent_id is not None}
    for township in directory.township_names:
        for parent in parents:
            assert directory.stationed_unit(parent, township) is not None
