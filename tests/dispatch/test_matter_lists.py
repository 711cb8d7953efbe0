"""Importing, versioning and publishing responsibility lists."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import Session, func, select

from dispatch.core.errors import Conflict, ImportRejected, InvalidInput, NotFound
from dispatch.reference.departments import (
    ensure_township_platforms,
    import_departments,
    load_directory,
)
from dispatch.reference.lists.importer import (
    MatterListImportReport,
    import_matter_list,
    rules_from_file,
)
from dispatch.reference.lists.rules import township_duty_tags
from dispatch.reference.lists.versions import (
    get_list,
    list_in_force,
    list_versions,
    load_rules,
    publish_list,
    rules_in_force,
)
from dispatch.reference.models import HandlingMode, ListStatus, Matter, MatterCooperator, MatterList
from tests.dispatch.fixtures import (
    COUNTY,
    FIXTURES,
    demo_file,
    seed_demo_territory,
    seed_territory,
)

MATTERS = FIXTURES / "matter_list.csv"
COUNTY_CODE = COUNTY[0]
HEADER = (
    "序号,事项编码,牵头部门,事项名称,实施依据,县级部门职责,乡镇(街道)职责,协同部门,平台,关键词,"
    "签收时限(小时),办结时限(工作日),紧急签收时限(小时),紧急办结时限(小时),处置方式"
)
GOOD_ROWS = [
    "1,C-001,县综合行政执法局,违法建设,规划法,查处,巡查发现、劝阻制止,县住建局,综合执法,违建,24,5,2,24,部门处置",
    "2,C-002,县市场监督管理局,食品安全,食品安全法,查处,报告,,市场监管,食品,24,5,,,部门处置",
    "3,C-003,县应急管理局,安全生产隐患,安全生产法,监管,督促整改,,综治工作,隐患,12,3,1,12,联合处置",
]


@pytest.fixture
def directory_session(session: Session) -> Session:
    seed_territory(session)
    import_departments(session, FIXTURES / "departments.csv")
    ensure_township_platforms(session)
    return session


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def csv_file(tmp_path: Path, rows: list[str], name: str = "list.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def as_xlsx(source: Path, target: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for record in csv.reader(io.StringIO(source.read_text(encoding="utf-8"))):
        sheet.append(
            [float(cell) if cell.replace(".", "", 1).isdigit() else cell for cell in record]
        )
    workbook.save(target)
    return target


def do_import(
    session: Session, path: Path, effective: date = date(2025, 1, 1), *, publish: bool = False
) -> MatterListImportReport:
    return import_matter_list(
        session,
        path,
        county_code=COUNTY_CODE,
        effective_from=effective,
        source_document="清委编〔2025〕1号",
        publish=publish,
    )


def test_import_creates_a_draft_version_with_every_matter(directory_session: Session) -> None:
    report = do_import(directory_session, MATTERS)
    assert (report.version, report.matters, report.created) == (1, 15, True)
    assert report.status is ListStatus.DRAFT
    stored = get_list(directory_session, report.list_id)
    assert (stored.source_document, stored.source_file) == ("清委编〔2025〕1号", "matter_list.csv")
    assert count(directory_session, Matter) == 15


def test_rules_snapshot_carries_what_routing_needs(directory_session: Session) -> None:
    report = do_import(directory_session, MATTERS)
    rules = load_rules(directory_session, report.list_id)
    directory = load_directory(directory_session)
    assert (rules.list_id, rules.version, rules.county_code) == (report.list_id, 1, COUNTY_CODE)
    assert [m.code for m in rules.matters][:3] == ["C-001", "C-002", "C-003"]

    building = rules.get("c-001")
    assert building is not None and rules.get("Ｃ－００１") == building
    bureau = directory.by_name("县综合行政执法局")
    assert bureau is not None and building.lead_department_id == bureau.id
    co_names = {directory.departments[i].name for i in building.co_department_ids}
    assert co_names == {"县自然资源和规划局", "县住房和城乡建设局"}
    assert building.township_duties == ("巡查发现", "劝阻制止", "报告移送")
    assert building.township_duties_text == "负责日常巡查发现，及时劝阻制止并报告移送"
    assert building.platform_code == "zhifa"
    assert building.keywords[:3] == ("违建", "违章搭建", "私搭乱建")
    assert (building.sign_hours, building.handle_days) == (24, 5)
    assert (building.urgent_sign_hours, building.urgent_handle_hours) == (2, 24)
    assert building.legal_basis == "《中华人民共和国城乡规划法》第六十四条"
    assert building.mode is HandlingMode.DEPARTMENT

    # 占道经营 names its lead by short name.
    stalls = rules.get("C-002")
    assert stalls is not None and stalls.lead_department_id == bureau.id
    # 牵头部门 "乡镇（街道）" with no 处置方式 means the township handles it itself.
    dispute = rules.get("C-008")
    assert dispute is not None
    assert (dispute.mode, dispute.lead_department_id) == (HandlingMode.TOWNSHIP, None)
    roads = rules.get("C-014")
    assert roads is not None and roads.mode is HandlingMode.TOWNSHIP
    safety = rules.get("C-005")
    assert safety is not None and safety.mode is HandlingMode.JOINT
    river = rules.get("C-007")
    assert river is not None and river.urgent_sign_hours is None
    police = rules.get("C-010")
    assert police is not None and police.urgent_sign_hours == 0.5


def test_xlsx_and_gb18030_files_of_the_same_list_are_the_same_content(
    directory_session: Session, tmp_path: Path
) -> None:
    first = do_import(directory_session, as_xlsx(MATTERS, tmp_path / "list.xlsx"))
    assert first.created and first.matters == 15
    gb = tmp_path / "gb.csv"
    gb.write_bytes(MATTERS.read_text(encoding="utf-8").encode("gb18030"))
    again = do_import(directory_session, gb)
    assert not again.created
    assert (again.list_id, again.version, again.digest) == (first.list_id, 1, first.digest)
    assert again.notes[0] == "内容与现有最新版本 v1 完全相同，未创建新版本"
    assert count(directory_session, MatterList) == 1


def test_codes_are_derived_from_the_sequence_number_when_absent(
    directory_session: Session, tmp_path: Path
) -> None:
    header = "序号,牵头部门,事项名称,实施依据,县级部门职责,乡镇（街道）职责,协同部门"
    rows = [
        "7,县水利局,河道违法行为,河道管理条例,查处,巡查发现并报告,县生态环境分局",
        "12,县综合行政执法局,违法建设,规划法,查处,巡查、制止、报告,",
    ]
    report = do_import(directory_session, csv_file(tmp_path, rows, header=header))
    rules = load_rules(directory_session, report.list_id)
    assert [(m.code, m.row_number) for m in rules.matters] == [("M-007", 7), ("M-012", 12)]
    building = rules.get("M-012")
    assert building is not None
    assert building.township_duties == ("巡查发现", "劝阻制止", "报告移送")
    assert building.platform_code is None
    assert building.mode is HandlingMode.DEPARTMENT


def bad(row: str) -> list[str]:
    return [*GOOD_ROWS, row]


BAD_ROWS = [
    pytest.param(
        "4,C-004,县综合执法局,违法建设,,,,,综合执法,,24,5,,,部门处置",
        "牵头部门",
        "第5行 牵头部门「县综合执法局」不在部门名录中",
        id="unknown lead",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,县林业局、县住建局,综合执法,,24,5,,,",
        "协同部门",
        "第5行 协同部门「县林业局」不在部门名录中",
        id="unknown cooperator",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,水利平台,,24,5,,,",
        "平台",
        "第5行 平台「水利平台」不是已配置的平台（已配置: 综治工作、市场监管、综合执法、便民服务）",
        id="unknown platform",
    ),
    pytest.param(
        "3,C-004,县水利局,河道,,,,,综合执法,,24,5,,,",
        "序号",
        "第5行 序号「3」与第4行重复",
        id="duplicate sequence number",
    ),
    pytest.param(
        "4,C-003,县水利局,河道,,,,,综合执法,,24,5,,,",
        "事项编码",
        "第5行 事项编码「C-003」与第4行重复",
        id="duplicate code",
    ),
    pytest.param(
        "4,C-004,县水利局,,,,,,综合执法,,24,5,,,",
        "事项名称",
        "第5行 事项名称为空",
        id="empty name",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,综合执法,,一天,5,,,",
        "签收时限(小时)",
        "第5行 签收时限(小时)「一天」应为大于 0 的数字，或留空",
        id="non-numeric limit",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,综合执法,,24,0,,,",
        "办结时限(工作日)",
        "第5行 办结时限(工作日)「0」应为大于 0 的数字，或留空",
        id="zero limit",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,综合执法,,24,3000000,,,",
        "办结时限(工作日)",
        "第5行 办结时限(工作日)「3000000」过长：最多 3650 个工作日",
        id="limit of millions of days",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,综合执法,,90000,5,,,",
        "签收时限(小时)",
        "第5行 签收时限(小时)「90000」过长：最多 87600 小时",
        id="limit of ten years in hours",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,综合执法,,24,5,-2,,",
        "紧急签收时限(小时)",
        "第5行 紧急签收时限(小时)「-2」应为大于 0 的数字，或留空",
        id="negative limit",
    ),
    pytest.param(
        "4,C-004,县水利局,河道,,,,,综合执法,,24,5,,,转办",
        "处置方式",
        "第5行 处置方式「转办」无法识别，应为 部门处置、乡镇自办 或 联合处置",
        id="unknown mode",
    ),
    pytest.param(
        "4,C-004,,河道,,,,,综合执法,,24,5,,,联合处置",
        "牵头部门",
        "第5行 牵头部门为空（处置方式为联合处置时必须填写）",
        id="no lead for joint handling",
    ),
    pytest.param(
        "4,C-004,,河道,,,,,综合执法,,24,5,,,",
        "牵头部门",
        "第5行 牵头部门为空（处置方式为部门处置时必须填写）",
        id="no lead for department handling",
    ),
    pytest.param(
        "4,C-004,县水利局、县住建局,河道,,,,,综合执法,,24,5,,,",
        "牵头部门",
        "第5行 牵头部门「县水利局、县住建局」只能填一个部门；其他部门请填入 协同部门",
        id="two leads",
    ),
    pytest.param(
        "x,C-004,县水利局,河道,,,,,综合执法,,24,5,,,",
        "序号",
        "第5行 序号「x」应为正整数",
        id="bad sequence number",
    ),
]


@pytest.mark.parametrize(("row", "column", "message"), BAD_ROWS)
def test_each_bad_row_is_refused_and_nothing_written(
    directory_session: Session, tmp_path: Path, row: str, column: str, message: str
) -> None:
    with pytest.raises(ImportRejected) as caught:
        do_import(directory_session, csv_file(tmp_path, bad(row)))
    assert [(p.row, p.column, p.message) for p in caught.value.problems] == [(5, column, message)]
    assert message in caught.value.message
    assert count(directory_session, MatterList) == 0
    assert count(directory_session, Matter) == 0
    assert count(directory_session, MatterCooperator) == 0


def test_every_problem_of_every_row_is_collected(
    directory_session: Session, tmp_path: Path
) -> None:
    rows = [
        *GOOD_ROWS,
        "4,C-004,县综合执法局,违法建设,,,,县林业局,综合执法,,0,5,,,部门处置",
        "5,C-005,县水利局,,,,,,水利平台,,24,5,,,",
    ]
    with pytest.raises(ImportRejected) as caught:
        do_import(directory_session, csv_file(tmp_path, rows))
    assert [(p.row, p.column) for p in caught.value.problems] == [
        (5, "协同部门"),
        (5, "牵头部门"),
        (5, "签收时限(小时)"),
        (6, "事项名称"),
        (6, "平台"),
    ]


def test_a_file_without_rows_is_refused(directory_session: Session, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match="文件中没有事项数据行"):
        do_import(directory_session, csv_file(tmp_path, []))


def test_missing_columns_are_refused(directory_session: Session, tmp_path: Path) -> None:
    path = csv_file(tmp_path, ["1,违法建设"], header="序号,事项名称")
    with pytest.raises(InvalidInput, match="缺少必需的列: 牵头部门; 文件中的列: 序号、事项名称"):
        do_import(directory_session, path)
    assert count(directory_session, MatterList) == 0


def test_garbage_file_is_refused(directory_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"this is not a workbook" * 10)
    with pytest.raises(InvalidInput, match=re.escape("不是有效的 .xlsx 文件")):
        do_import(directory_session, path)


def test_unknown_county_is_refused(directory_session: Session) -> None:
    with pytest.raises(InvalidInput, match="县级辖区「999999」不存在"):
        import_matter_list(
            directory_session,
            MATTERS,
            county_code="999999",
            effective_from=date(2025, 1, 1),
            source_document=None,
            publish=False,
        )


def revision(tmp_path: Path) -> Path:
    """Return the fixture list with 占道经营 moved to the market regulator."""
    text = MATTERS.read_text(encoding="utf-8").replace(
        "2,C-002,县执法局,占道经营", "2,C-002,县市场监督管理局,占道经营"
    )
    path = tmp_path / "matter_list_v2.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_versions_take_effect_on_their_dates(directory_session: Session, tmp_path: Path) -> None:
    s = directory_session
    v1 = do_import(s, MATTERS, date(2025, 1, 1), publish=True)
    v2 = do_import(s, revision(tmp_path), date(2025, 7, 1), publish=True)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.created and v2.status is ListStatus.PUBLISHED

    assert list_in_force(s, COUNTY_CODE, date(2024, 12, 31)) is None
    assert list_in_force(s, COUNTY_CODE, date(2025, 1, 1)).id == v1.list_id  # type: ignore[union-attr]
    assert list_in_force(s, COUNTY_CODE, date(2025, 6, 30)).id == v1.list_id  # type: ignore[union-attr]
    assert list_in_force(s, COUNTY_CODE, date(2025, 7, 1)).id == v2.list_id  # type: ignore[union-attr]
    # 2025-06-30 16:30 UTC is already 1 July in China.
    at = datetime(2025, 6, 30, 16, 30, tzinfo=UTC)
    assert list_in_force(s, COUNTY_CODE, at).id == v2.list_id  # type: ignore[union-attr]
    at = datetime(2025, 6, 30, 15, 59, tzinfo=UTC)
    assert list_in_force(s, COUNTY_CODE, at).id == v1.list_id  # type: ignore[union-attr]

    old = get_list(s, v1.list_id)
    assert old.status == ListStatus.SUPERSEDED and old.superseded_at is not None
    assert get_list(s, v2.list_id).status == ListStatus.PUBLISHED
    assert [m.version for m in list_versions(s, COUNTY_CODE)] == [1, 2]

    rules = rules_in_force(s, COUNTY_CODE, date(2025, 8, 1))
    directory = load_directory(s)
    stalls = rules.get("C-002") if rules else None
    assert stalls is not None
    assert directory.departments[stalls.lead_department_id].name == "县市场监督管理局"  # type: ignore[index]


def test_a_future_version_does_not_take_over_before_its_date(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    v1 = do_import(s, MATTERS, date(2020, 1, 1), publish=True)
    v2 = do_import(s, revision(tmp_path), date(2999, 1, 1), publish=True)
    now = datetime.now(UTC)
    assert list_in_force(s, COUNTY_CODE, now).id == v1.list_id  # type: ignore[union-attr]
    assert list_in_force(s, COUNTY_CODE, date(2999, 1, 1)).id == v2.list_id  # type: ignore[union-attr]


def test_a_draft_is_never_in_force_until_published(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    draft = do_import(s, MATTERS, date(2025, 1, 1))
    assert list_in_force(s, COUNTY_CODE, date(2026, 1, 1)) is None
    published = publish_list(s, draft.list_id, effective_from=date(2025, 2, 1))
    assert published.status == ListStatus.PUBLISHED and published.published_at is not None
    assert published.effective_from == date(2025, 2, 1)
    assert list_in_force(s, COUNTY_CODE, date(2025, 1, 31)) is None
    assert list_in_force(s, COUNTY_CODE, date(2025, 2, 1)).id == draft.list_id  # type: ignore[union-attr]


def test_identical_reimport_returns_the_newest_version(directory_session: Session) -> None:
    s = directory_session
    first = do_import(s, MATTERS, date(2025, 1, 1))
    again = do_import(s, MATTERS, date(2025, 1, 1), publish=True)
    assert not again.created and again.list_id == first.list_id
    assert again.status is ListStatus.PUBLISHED
    assert again.notes == (
        "内容与现有最新版本 v1 完全相同，未创建新版本",
        "已发布 v1，生效日期 2025-01-01",
    )
    third = do_import(s, MATTERS, date(2025, 3, 1))
    assert not third.created
    assert "v1 的生效日期仍为 2025-01-01（本次指定的 2025-03-01 未采用）" in third.notes
    assert count(s, MatterList) == 1
    assert count(s, Matter) == 15


def test_content_equal_to_an_older_version_makes_a_new_one(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    do_import(s, MATTERS, date(2025, 1, 1), publish=True)
    do_import(s, revision(tmp_path), date(2025, 2, 1), publish=True)
    back = do_import(s, MATTERS, date(2025, 3, 1), publish=True)
    assert back.created and back.version == 3
    assert list_in_force(s, COUNTY_CODE, date(2025, 3, 1)).version == 3  # type: ignore[union-attr]


def test_publishing_refuses_to_move_the_timeline_back(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    do_import(s, MATTERS, date(2025, 6, 1), publish=True)
    draft = do_import(s, revision(tmp_path), date(2025, 5, 1))
    with pytest.raises(
        Conflict, match="生效日期 2025-05-01 早于已发布的清单 v1 的生效日期 2025-06-01"
    ):
        publish_list(s, draft.list_id)
    assert get_list(s, draft.list_id).status == ListStatus.DRAFT
    # The same day is allowed: a correction replaces the version from that day on.
    publish_list(s, draft.list_id, effective_from=date(2025, 6, 1))
    assert list_in_force(s, COUNTY_CODE, date(2025, 6, 1)).version == 2  # type: ignore[union-attr]


def test_an_import_that_cannot_be_published_writes_nothing(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    do_import(s, MATTERS, date(2025, 6, 1), publish=True)
    with pytest.raises(Conflict, match="早于已发布的清单 v1"):
        do_import(s, revision(tmp_path), date(2025, 5, 1), publish=True)
    assert count(s, MatterList) == 1
    assert count(s, Matter) == 15


def test_an_older_draft_cannot_be_published_after_a_newer_version(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    old_draft = do_import(s, MATTERS, date(2025, 1, 1))
    newer = do_import(s, revision(tmp_path), date(2025, 1, 1), publish=True)
    assert newer.version == 2
    with pytest.raises(Conflict, match="已发布更新的清单 v2，不能再发布较早的草稿 v1"):
        publish_list(s, old_draft.list_id, effective_from=date(2025, 3, 1))


def test_publish_is_idempotent_and_superseded_lists_stay_superseded(
    directory_session: Session, tmp_path: Path
) -> None:
    s = directory_session
    v1 = do_import(s, MATTERS, date(2025, 1, 1), publish=True)
    assert publish_list(s, v1.list_id).status == ListStatus.PUBLISHED
    with pytest.raises(Conflict, match="已发布，生效日期 2025-01-01 不能再修改"):
        publish_list(s, v1.list_id, effective_from=date(2025, 2, 1))
    do_import(s, revision(tmp_path), date(2025, 2, 1), publish=True)
    with pytest.raises(Conflict, match="已被新版本取代"):
        publish_list(s, v1.list_id)
    with pytest.raises(NotFound):
        publish_list(s, 999_999)


def test_rules_from_file_needs_no_database() -> None:
    rules = rules_from_file(MATTERS)
    assert len(rules.matters) == 15
    building = rules.get("C-001")
    assert building is not None
    assert building.lead_department_id is None
    assert building.platform_code == "综合执法"


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("负责日常巡查发现，及时劝阻制止并报告移送", ("巡查发现", "劝阻制止", "报告移送")),
        ("发现后及时上报，协助调查", ("巡查发现", "报告移送", "配合")),
        ("配合做好宣传", ("配合",)),
        ("督促整改", ("督促整改",)),
        ("做好宣传教育", ()),
        ("", ()),
    ],
)
def test_township_duty_tags(text: str, tags: tuple[str, ...]) -> None:
    assert township_duty_tags(text) == tags


def test_demo_list_versions(session: Session) -> None:
    v1_csv = demo_file("matter_list.csv")
    v1_xlsx = demo_file("matter_list.xlsx")
    v2_csv = demo_file("matter_list_v2.csv")
    county = seed_demo_territory(session)
    import_departments(session, demo_file("departments.csv"))
    ensure_township_platforms(session)

    def demo_import(path: Path, effective: date):
        return import_matter_list(
            session,
            path,
            county_code=county,
            effective_from=effective,
            source_document="demo",
            publish=True,
        )

    v1 = demo_import(v1_csv, date(2025, 1, 1))
    assert (v1.version, v1.matters) == (1, 60)
    assert not demo_import(v1_xlsx, date(2025, 1, 1)).created
    v2 = demo_import(v2_csv, date(2025, 7, 1))
    assert (v2.version, v2.matters) == (2, 61)

    directory = load_directory(session)
    before = rules_in_force(session, county, date(2025, 6, 30))
    after = rules_in_force(session, county, date(2025, 7, 1))
    assert before is not None and after is not None
    assert (before.version, after.version) == (1, 2)
    dogs_before, dogs_after = before.get("C-015"), after.get("C-015")
    assert dogs_before is not None and dogs_after is not None
    assert directory.departments[dogs_before.lead_department_id].name == "县公安局"  # type: ignore[index]
    assert directory.departments[dogs_after.lead_department_id].name == "县综合行政执法局"  # type: ignore[index]
    assert before.get("A-016") is None and after.get("A-016") is not None
    modes = {m.mode for m in after.matters}
    assert modes == {HandlingMode.DEPARTMENT, HandlingMode.TOWNSHIP, HandlingMode.JOINT}
