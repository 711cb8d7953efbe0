"""The routing decision: hand-built snapshots per rule, then every demo matter in every township."""

from __future__ import annotations

import json
from datetime import date

from shapely.geometry import box
from sqlmodel import Session, select

from dispatch.reference.departments import (
    DepartmentDirectory,
    DepartmentInfo,
    ensure_township_platforms,
    import_departments,
    load_directory,
)
from dispatch.reference.lists.classify import Classifier
from dispatch.reference.lists.importer import import_matter_list
from dispatch.reference.lists.rules import MatterRule, MatterRules
from dispatch.reference.lists.versions import load_rules
from dispatch.reference.models import DepartmentKind, HandlingMode, JurisdictionRow
from dispatch.routing.decide import Place, PlannedPart, RoutingDecision, decide
from geo.index import Location, Neighbour
from geo.jurisdiction import Jurisdiction
from geo.levels import Level
from tests.dispatch.fixtures import demo_file, seed_demo_territory

C, U, P = (
    DepartmentKind.COUNTY_DEPARTMENT,
    DepartmentKind.STATIONED_UNIT,
    DepartmentKind.TOWNSHIP_PLATFORM,
)
PLATFORMS = {
    "zongzhi": "综治工作",
    "shichang": "市场监管",
    "zhifa": "综合执法",
    "bianmin": "便民服务",
}
TOWNSHIPS = {"T1": "新市镇", "T2": "东岭镇", "T4": "南湖乡"}

COUNTY = Jurisdiction("331100", "清河县", Level.COUNTY, None, box(0, 0, 4, 1))
XINSHI = Jurisdiction("T1", "新市镇", Level.TOWNSHIP, "331100", box(0, 0, 1, 1))
NANHU = Jurisdiction("T4", "南湖乡", Level.TOWNSHIP, "331100", box(3, 0, 4, 1))
DONGCUN = Jurisdiction("V1", "东村", Level.VILLAGE, "T1", box(0, 0, 0.5, 1))
GRID3 = Jurisdiction("G3", "第3网格", Level.GRID, "V1", box(0, 0, 0.5, 0.5))


def directory() -> DepartmentDirectory:
    departments = [
        DepartmentInfo(1, "县综合行政执法局", "县执法局", C, None, None, None),
        DepartmentInfo(2, "第一执法中队", None, U, 1, None, None, frozenset({"T1", "T2"})),
        DepartmentInfo(3, "县住房和城乡建设局", "县住建局", C, None, None, None),
        DepartmentInfo(4, "县市场监督管理局", None, C, None, None, None),
        DepartmentInfo(5, "新市市场监管所", None, U, 4, None, None, frozenset({"T1"})),
        DepartmentInfo(6, "县公安局", None, C, None, None, None),
        DepartmentInfo(7, "新市派出所", None, U, 6, None, None, frozenset({"T1"})),
        DepartmentInfo(8, "东岭派出所", None, U, 6, None, None, frozenset({"T2"})),
    ]
    next_id = 100
    for township_code, township_name in TOWNSHIPS.items():
        for platform_code, platform_name in PLATFORMS.items():
            # 南湖乡 has no 市场监管 platform department, to test that triage.
            if (township_code, platform_code) == ("T4", "shichang"):
                continue
            departments.append(
                DepartmentInfo(
                    next_id,
                    f"{township_name}{platform_name}平台",
                    None,
                    P,
                    None,
                    township_code,
                    platform_code,
                )
            )
            next_id += 1
    return DepartmentDirectory.of(departments, PLATFORMS, TOWNSHIPS)


def matter(code: str, name: str, **overrides: object) -> MatterRule:
    values: dict[str, object] = {
        "code": code,
        "name": name,
        "row_number": int(code[-3:]),
        "platform_code": "zhifa",
        "keywords": (),
        "lead_department_id": 1,
        "co_department_ids": (),
        "department_duties": None,
        "township_duties": ("巡查发现", "劝阻制止", "报告移送"),
        "township_duties_text": "负责日常巡查发现，及时劝阻制止并报告移送",
        "mode": HandlingMode.DEPARTMENT,
        "sign_hours": 24.0,
        "handle_days": 5.0,
    }
    values.update(overrides)
    return MatterRule(**values)  # type: ignore[arg-type]


RULES = MatterRules(
    list_id=42,
    county_code="331100",
    version=3,
    effective_from=date(2025, 1, 1),
    matters=(
        matter(
            "C-012",
            "违法建设",
            keywords=("违建", "违章搭建", "私搭乱建"),
            co_department_ids=(3,),
            department_duties="负责违法建设的认定、立案查处和强制拆除",
            urgent_sign_hours=2.0,
            urgent_handle_hours=24.0,
        ),
        matter(
            "B-004",
            "食品安全",
            platform_code="shichang",
            lead_department_id=4,
            keywords=("食品", "过期", "变质"),
        ),
        matter(
            "A-001",
            "邻里纠纷",
            platform_code="zongzhi",
            lead_department_id=None,
            co_department_ids=(6,),
            mode=HandlingMode.TOWNSHIP,
            keywords=("纠纷", "吵架", "邻居"),
            township_duties=("巡查发现", "报告移送"),
            township_duties_text="负责矛盾纠纷排查调解，必要时报告",
        ),
        matter(
            "A-009",
            "安全生产隐患",
            platform_code="zongzhi",
            lead_department_id=3,
            co_department_ids=(1, 3),
            mode=HandlingMode.JOINT,
            keywords=("安全隐患", "动火"),
        ),
        matter("C-020", "无人牵头的事项", lead_department_id=None, keywords=("无人",)),
        matter("A-030", "治安隐患", platform_code="zongzhi", lead_department_id=7),
        matter("D-031", "未指定平台的事项", platform_code=None, lead_department_id=3),
    ),
)
CLASSIFIER = Classifier.build(RULES)


def located(*chain: Jurisdiction, near: Neighbour | None = None) -> Location:
    return Location(chain=tuple(chain), near_boundary=near)


def route(
    location: Location | None = None,
    *,
    code: str | None = None,
    text: str | None = None,
    rules: MatterRules | None = RULES,
    urgent: bool = False,
    departments: DepartmentDirectory | None = None,
) -> RoutingDecision:
    return decide(
        location or located(COUNTY, XINSHI, DONGCUN, GRID3),
        matter_code=code,
        description=text,
        rules=rules,
        directory=departments or directory(),
        classifier=CLASSIFIER,
        threshold=0.35,
        urgent=urgent,
    )


def test_lead_goes_to_the_stationed_unit_covering_the_township() -> None:
    decision = route(code="C-012")
    assert decision.outcome == "routed" and decision.routed
    assert decision.triage_reasons == ()
    assert decision.lead == PlannedPart(2, "第一执法中队", "lead", 1, "县综合行政执法局")
    assert decision.cooperators == (PlannedPart(3, "县住房和城乡建设局", "co"),)
    assert decision.territorial is not None
    assert decision.territorial.department_name == "新市镇综合执法平台"
    assert decision.territorial.role == "territorial"
    assert decision.territorial.duties == ("巡查发现", "劝阻制止", "报告移送")
    assert (decision.township, decision.village, decision.grid) == (
        Place("T1", "新市镇"),
        Place("V1", "东村"),
        Place("G3", "第3网格"),
    )
    assert decision.platform is not None and decision.platform.name == "综合执法"
    assert decision.matter is not None
    assert (decision.matter.list_id, decision.matter.list_version) == (42, 3)
    assert decision.limits is not None
    assert (decision.limits.sign_hours, decision.limits.handle_days) == (24.0, 5.0)
    assert decision.reasons == (
        "定位: 清河县 / 新市镇 / 东村 / 第3网格",
        "事项 C-012 违法建设 (清单 v3 第12行): 牵头 县综合行政执法局 → 第一执法中队 (覆盖 新市镇)",
        "协同: 县住房和城乡建设局",
        "属地: 新市镇综合执法平台 — 巡查发现、劝阻制止、报告移送",
        "时限: 签收 24 小时，办结 5 个工作日",
    )
    assert decision.suggestions == () and not decision.classified
    assert [a.role for a in decision.assignments] == ["lead", "co", "territorial"]


def test_without_a_covering_unit_the_department_itself_leads() -> None:
    decision = route(located(COUNTY, NANHU), code="C-012")
    assert decision.routed
    assert decision.lead == PlannedPart(1, "县综合行政执法局", "lead")
    assert decision.reasons[1].endswith("牵头 县综合行政执法局")
    assert decision.territorial is not None
    assert decision.territorial.department_name == "南湖乡综合执法平台"


def test_cooperators_follow_the_stationed_unit_rule_and_skip_the_lead() -> None:
    decision = route(code="A-009")
    assert decision.lead == PlannedPart(3, "县住房和城乡建设局", "lead")
    # 县住建局 is listed as cooperator too, but it already leads.
    assert decision.cooperators == (PlannedPart(2, "第一执法中队", "co", 1, "县综合行政执法局"),)
    assert "协同: 县综合行政执法局 → 第一执法中队 (覆盖 新市镇)" in decision.reasons
    assert "属地（联合处置）: 新市镇综治工作平台 — 巡查发现、劝阻制止、报告移送" in decision.reasons


def test_township_handled_matter_is_led_by_the_platform() -> None:
    decision = route(code="A-001")
    assert decision.routed
    assert decision.lead is not None
    assert decision.lead.department_name == "新市镇综治工作平台"
    assert decision.lead.duties == ("巡查发现", "报告移送")
    assert decision.territorial is None
    assert decision.matter is not None and decision.matter.mode is HandlingMode.TOWNSHIP
    assert "事项 A-001 邻里纠纷 (清单 v3 第1行): 乡镇自办，由 新市镇综治工作平台 牵头处置" in (
        decision.reasons
    )
    assert decision.cooperators == (PlannedPart(7, "新市派出所", "co", 6, "县公安局"),)


def test_a_unit_named_in_the_list_gives_way_to_its_sibling_on_the_spot() -> None:
    at_home = route(code="A-030")
    assert at_home.lead == PlannedPart(7, "新市派出所", "lead")
    dongling = Jurisdiction("T2", "东岭镇", Level.TOWNSHIP, "331100", box(1, 0, 2, 1))
    elsewhere = route(located(COUNTY, dongling), code="A-030")
    assert elsewhere.lead == PlannedPart(8, "东岭派出所", "lead", 6, "县公安局")
    nowhere = route(located(COUNTY, NANHU), code="A-030")
    assert nowhere.lead == PlannedPart(6, "县公安局", "lead")


def test_matter_without_platform_is_routed_without_territorial_part() -> None:
    decision = route(code="D-031")
    assert decision.routed
    assert decision.territorial is None and decision.platform is None
    assert "清单未指定平台，本事项不派属地任务" in decision.reasons


def test_urgent_limits_are_used_when_defined() -> None:
    decision = route(code="C-012", urgent=True)
    assert decision.limits is not None
    assert decision.limits.urgent
    assert (decision.limits.sign_hours, decision.limits.handle_hours) == (2.0, 24.0)
    assert decision.limits.handle_days is None
    assert "紧急时限: 签收 2 小时，办结 24 小时" in decision.reasons


def test_urgent_without_urgent_limits_falls_back_and_says_so() -> None:
    decision = route(code="B-004", urgent=True)
    assert decision.limits is not None
    assert (decision.limits.sign_hours, decision.limits.handle_days) == (24.0, 5.0)
    assert "事项 B-004 未设紧急时限，按一般时限" in decision.reasons


def test_classification_routes_a_confident_description() -> None:
    decision = route(text="东村有人在院子里违章搭建了一间铁皮房")
    assert decision.routed and decision.classified
    assert decision.matter is not None and decision.matter.code == "C-012"
    assert decision.suggestions[0].code == "C-012"
    line = next(r for r in decision.reasons if r.startswith("按描述分类"))
    assert line.startswith("按描述分类: C-012 违法建设 (置信度 ")
    assert "违章搭建" in line


def test_low_confidence_needs_triage_with_the_top_suggestions() -> None:
    decision = route(text="隐患")
    assert decision.outcome == "needs_triage"
    assert decision.classified and decision.suggestions
    assert decision.lead is None
    (reason,) = decision.triage_reasons
    assert reason.startswith("按描述分类的置信度不足（最高 ")
    assert "低于阈值 0.35" in reason
    for suggestion in decision.suggestions:
        assert f"{suggestion.code} {suggestion.name}" in reason


def test_garbage_description_needs_triage_and_never_raises() -> None:
    for text in ("", "   ", "asdf!!!", "？？？", "x" * 10_000):
        decision = route(text=text)
        assert decision.outcome == "needs_triage"
        assert decision.triage_reasons


def test_no_code_and_no_description_needs_triage() -> None:
    decision = route()
    assert decision.triage_reasons == ("未提供事项编码，也没有可供分类的描述",)


def test_unknown_matter_code_is_named_and_suggestions_offered() -> None:
    decision = route(code="Z-999", text="有人违章搭建")
    assert decision.outcome == "needs_triage"
    assert decision.triage_reasons[0] == "事项编码「Z-999」不在清单 v3 中"
    assert decision.triage_reasons[1].startswith("按描述的候选事项: C-012 违法建设")
    assert decision.suggestions[0].code == "C-012"
    assert decision.matter is None


def test_outside_every_jurisdiction_uses_the_location_reason() -> None:
    outside = Location(chain=(), reason="坐标不在任何辖区内")
    decision = route(outside, code="C-012")
    assert decision.outcome == "needs_triage"
    assert decision.triage_reasons == ("坐标不在任何辖区内",)
    assert decision.township is None and decision.lead is None


def test_located_without_a_township_needs_triage() -> None:
    decision = route(located(COUNTY), code="C-012")
    assert decision.triage_reasons == (
        "定位到县(区)「清河县」，但未落入任何乡镇(街道)，无法确定属地",
    )
    assert decision.matter is not None and decision.lead is None


def test_no_list_in_force_needs_triage() -> None:
    decision = route(code="C-012", rules=None)
    assert decision.triage_reasons == ("清河县没有生效的责任清单，无法按清单派单",)
    other_county = MatterRules(99, "999999", 1, date(2025, 1, 1), RULES.matters)
    decision = route(code="C-012", rules=other_county)
    assert decision.triage_reasons == ("清河县没有生效的责任清单，无法按清单派单",)


def test_no_department_for_the_matter_needs_triage() -> None:
    decision = route(code="C-020")
    assert decision.triage_reasons == (
        "事项 C-020 无人牵头的事项 (清单 v3 第20行) "
        "没有可派单的牵头部门（清单未填或部门已不在名录中）",
    )


def test_missing_township_platform_needs_triage() -> None:
    decision = route(located(COUNTY, NANHU), code="B-004")
    assert decision.outcome == "needs_triage"
    assert decision.triage_reasons == ("南湖乡 没有「市场监管」平台部门，无法派给属地",)
    # The rest of the plan is still worked out for whoever triages it.
    assert decision.lead == PlannedPart(4, "县市场监督管理局", "lead")


def test_near_a_township_boundary_still_routes_and_names_the_neighbour() -> None:
    neighbour = Neighbour("T2", "东岭镇", Level.TOWNSHIP, 12.4, Level.TOWNSHIP)
    decision = route(located(COUNTY, XINSHI, near=neighbour), code="C-012")
    assert decision.routed
    assert "靠近边界: 距乡镇(街道)「东岭镇」约 12 米，属地可能是「东岭镇」，请核实定位" in (
        decision.reasons
    )
    grid_neighbour = Neighbour("G4", "第4网格", Level.GRID, 3.0, Level.GRID)
    decision = route(located(COUNTY, XINSHI, DONGCUN, GRID3, near=grid_neighbour), code="C-012")
    assert "靠近边界: 距网格「第4网格」约 3 米（网格不同）" in decision.reasons


def test_to_dict_is_json_ready() -> None:
    decision = route(text="东村有人违章搭建", urgent=True)
    data = decision.to_dict()
    again = json.loads(json.dumps(data, ensure_ascii=False))
    assert again == data
    assert data["outcome"] == "routed"
    assert data["lead"]["department_name"] == "第一执法中队"
    assert data["matter"]["mode"] == "department"
    assert data["suggestions"][0]["code"] == "C-012"
    assert data["limits"] == {
        "urgent": True,
        "sign_hours": 2.0,
        "handle_days": None,
        "handle_hours": 24.0,
    }
    assert data["near_boundary"] is None


# ---- Every demo matter in every demo township ---------------------------------------------


def test_every_demo_matter_routes_in_every_demo_township(session: Session) -> None:
    departments_file = demo_file("departments.csv", "departments.xlsx")
    list_file = demo_file("matter_list.csv", "matter_list.xlsx")
    county_code = seed_demo_territory(session)
    import_departments(session, departments_file)
    ensure_township_platforms(session)
    report = import_matter_list(
        session,
        list_file,
        county_code=county_code,
        effective_from=date(2025, 1, 1),
        source_document="demo",
        publish=True,
    )
    rules = load_rules(session, report.list_id)
    departments = load_directory(session)
    classifier = Classifier.build(rules)
    county = Jurisdiction(county_code, "示例县", Level.COUNTY, None, box(0, 0, 1, 1))
    townships = session.exec(
        select(JurisdictionRow).where(JurisdictionRow.level == "township")
    ).all()
    assert rules.matters and townships

    for row in townships:
        township = Jurisdiction(row.code, row.name, Level.TOWNSHIP, county_code, box(0, 0, 1, 1))
        for rule in rules.matters:
            decision = decide(
                Location(chain=(county, township)),
                matter_code=rule.code,
                description=None,
                rules=rules,
                directory=departments,
                classifier=classifier,
                threshold=0.35,
            )
            where = f"{rule.code} in {row.name}: {decision.triage_reasons}"
            assert decision.outcome == "routed", where
            assert decision.reasons, where
            assert decision.lead is not None, where
            if rule.mode is HandlingMode.TOWNSHIP:
                platform = departments.township_platform(row.code, rule.platform_code or "")
                assert platform is not None and decision.lead.department_id == platform.id, where
                assert decision.territorial is None, where
                continue
            assert decision.territorial is not None, where
            platform = departments.township_platform(row.code, rule.platform_code or "")
            assert platform is not None and decision.territorial.department_id == platform.id
            lead_department = departments.get(rule.lead_department_id)
            assert lead_department is not None, where
            unit = departments.stationed_unit(lead_department.id, row.code)
            if lead_department.kind is DepartmentKind.COUNTY_DEPARTMENT:
                expected = unit.id if unit is not None else lead_department.id
                assert decision.lead.department_id == expected, where
            for co in decision.cooperators:
                department = departments.get(co.department_id)
                assert department is not None
                if department.kind is DepartmentKind.STATIONED_UNIT:
                    assert row.code in department.covers, where
