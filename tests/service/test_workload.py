"""The staffing office's evidence over HTTP: every figure against a hand count of a small past.

The rows are written directly (times chosen to the minute) into October 2026 of the demo
county, with one event, one part and one dispute just outside the period on either side.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from dispatch.core.db import make_engine
from dispatch.disputes.models import (
    Dispute,
    DisputeParty,
    DisputeStatus,
    DisputeTrigger,
    ListChange,
    ListChangeKind,
    ListChangeSource,
)
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Escalation,
    Event,
    EventStatus,
    Step,
)
from dispatch.reference.models import CountyRules, Department, Matter
from tests.loop_fixtures import Loop

COUNTY, XINSHI = "320999", "320999004"
BUREAU, MARKET, UNIT2, MARKET_UNIT = 1, 2, 23, 27  # 执法局, 市场监管局, 第二执法中队, 新市监管所
PERIOD = {"from": "2026-10-01", "to": "2026-10-31"}


def at(text: str) -> datetime:
    """Read a UTC time written as 2026-10-01T03:00."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Seeded:
    """The ids of what the module wrote."""

    e1: int
    e2: int
    e3: int
    e5: int
    d1: int
    d2: int
    ruling_change: int
    written_change: int
    list_id: int


def _event(session: Session, matter: str | None, received: str, **extra: Any) -> Event:
    event = Event(
        client_id=str(uuid4()),
        source="grid",
        reported_at=at(received),
        received_at=at(received),
        raw_lon=119.0,
        raw_lat=33.0,
        crs="wgs84",
        lon=119.0,
        lat=33.0,
        description="编制评估测试事件",
        county_code=COUNTY,
        township_code=XINSHI,
        matter_code=matter,
        matter_list_id=2,
        status=extra.pop("status", EventStatus.IN_PROGRESS),
        **extra,
    )
    session.add(event)
    session.flush()
    return event


def _part(
    session: Session,
    event: Event,
    department_id: int,
    role: AssignmentRole,
    created: str,
    status: AssignmentStatus,
    **times: Any,
) -> Assignment:
    part = Assignment(
        event_id=event.id or 0,
        department_id=department_id,
        role=role,
        round=times.pop("round", 1),
        status=status,
        created_at=at(created),
        on_behalf_of_id=times.pop("on_behalf_of_id", None),
        returns=times.pop("returns", 0),
    )
    for name, value in times.items():
        setattr(part, name, at(value))
    session.add(part)
    session.flush()
    return part


def _seed(session: Session) -> Seeded:
    platform = session.exec(select(Department).where(Department.name == "新市镇综合执法平台")).one()
    assert platform.id is not None
    session.add(CountyRules(county_code=COUNTY, matter_weights={"C-004": 2.0}))
    lead, co, ter = AssignmentRole.LEAD, AssignmentRole.CO, AssignmentRole.TERRITORIAL
    fed, signed, cancelled = (
        AssignmentStatus.FED_BACK,
        AssignmentStatus.SIGNED,
        AssignmentStatus.CANCELLED,
    )
    # E1 占道经营 (weight 2): parts dispatched at the period's first instant (1 Oct 00:00 China).
    e1 = _event(session, "C-004", "2026-09-30T16:00")
    _part(
        session,
        e1,
        UNIT2,
        lead,
        "2026-09-30T16:00",
        fed,
        on_behalf_of_id=BUREAU,
        signed_at="2026-09-30T17:00",
        fed_back_at="2026-09-30T21:00",
        handle_by="2026-10-03T00:00",
    )  # 4 h, on time
    _part(
        session,
        e1,
        MARKET_UNIT,
        co,
        "2026-09-30T16:00",
        fed,
        on_behalf_of_id=MARKET,
        signed_at="2026-09-30T18:00",
        fed_back_at="2026-09-30T19:00",
        handle_by="2026-09-30T18:30",
    )  # 1 h, fed back late
    territorial = _part(
        session,
        e1,
        platform.id,
        ter,
        "2026-09-30T16:00",
        fed,
        signed_at="2026-09-30T17:00",
        fed_back_at="2026-10-01T03:00",
    )
    session.add(Step(event_id=e1.id or 0, action="verify_fail", at=at("2026-10-02T02:00")))
    session.add(
        Escalation(
            event_id=e1.id or 0,
            assignment_id=territorial.id or 0,
            township_code=XINSHI,
            reason="乡镇无力处置",
            called_at=at("2026-10-05T01:00"),
        )
    )
    # E2 乱堆乱放: returned twice by the market bureau, now with the unit, live past its deadline.
    e2 = _event(session, "C-005", "2026-10-10T23:00")
    _part(session, e2, MARKET, lead, "2026-10-11T00:00", cancelled, returns=2)
    _part(
        session,
        e2,
        UNIT2,
        lead,
        "2026-10-11T00:30",
        signed,
        round=2,
        on_behalf_of_id=BUREAU,
        signed_at="2026-10-11T01:00",
        handle_by="2026-10-12T00:00",
    )
    # E3 无证无照经营 (the list: 市场监管局 leads) returned by it, ruled to the 执法中队.
    e3 = _event(session, "B-004", "2026-10-14T23:00")
    returned = _part(session, e3, MARKET, lead, "2026-10-15T00:00", cancelled, returns=1)
    _part(
        session,
        e3,
        UNIT2,
        lead,
        "2026-10-16T00:30",
        fed,
        round=2,
        on_behalf_of_id=BUREAU,
        signed_at="2026-10-16T01:00",
        fed_back_at="2026-10-16T03:00",
    )  # 2 h, no deadline
    # E5 handled on the spot; E6 weeded out; E4 reported (and dispatched) in September.
    e5 = _event(
        session, "A-001", "2026-10-20T02:00", handled_on_site=True, status=EventStatus.CLOSED
    )
    _event(session, "C-013", "2026-10-21T02:00", status=EventStatus.INVALID)
    e4 = _event(session, "C-004", "2026-09-20T02:00")
    _part(
        session,
        e4,
        UNIT2,
        lead,
        "2026-09-20T03:00",
        fed,
        on_behalf_of_id=BUREAU,
        signed_at="2026-09-20T04:00",
        fed_back_at="2026-09-20T05:00",
    )
    _part(
        session,
        e4,
        MARKET,
        lead,
        "2026-10-31T16:00",
        fed,  # the period's end: excluded
        signed_at="2026-10-31T17:00",
        fed_back_at="2026-10-31T18:00",
    )

    d1 = Dispute(
        event_id=e3.id or 0,
        status=DisputeStatus.RULED,
        trigger=DisputeTrigger.SECOND_RETURN,
        matter_code="B-004",
        matter_list_id=2,
        opened_at=at("2026-10-15T00:30"),
        ruled_at=at("2026-10-16T00:30"),
        minutes_ref="纪要〔2026〕9号",
        lead_department_id=UNIT2,
    )
    d2 = Dispute(
        event_id=e2.id or 0,
        trigger=DisputeTrigger.SECOND_RETURN,
        matter_code="C-005",
        matter_list_id=2,
        opened_at=at("2026-10-20T00:00"),
    )
    d3 = Dispute(
        event_id=e4.id or 0,
        trigger=DisputeTrigger.MANUAL,
        matter_code="C-004",
        matter_list_id=2,
        opened_at=at("2026-09-20T06:00"),
        status=DisputeStatus.RULED,
        ruled_at=at("2026-09-21T06:00"),
        lead_department_id=MARKET,
    )
    session.add_all([d1, d2, d3])
    session.flush()
    session.add(
        DisputeParty(
            dispute_id=d1.id or 0,
            assignment_id=returned.id or 0,
            department_id=MARKET,
            role="lead",
            returned_at=at("2026-10-15T00:10"),
        )
    )
    changes = [
        ListChange(
            county_code=COUNTY,
            kind=ListChangeKind.MOVE_LEAD,
            matter_code="B-004",
            reasons="裁定建议",
            source=ListChangeSource.RULING,
            dispute_id=d1.id,
            submitted_at=at("2026-10-16T00:30"),
        ),
        ListChange(
            county_code=COUNTY,
            kind=ListChangeKind.ADD_CO,
            matter_code="C-005",
            reasons="书面申请",
            source=ListChangeSource.WRITTEN,
            submitted_at=at("2026-10-25T00:00"),
        ),
        ListChange(
            county_code=COUNTY,
            kind=ListChangeKind.ADD_CO,
            matter_code="C-005",
            reasons="期后申请",
            source=ListChangeSource.WRITTEN,
            submitted_at=at("2026-11-05T00:00"),
        ),
    ]
    session.add_all(changes)
    session.flush()
    return Seeded(
        e1=e1.id or 0,
        e2=e2.id or 0,
        e3=e3.id or 0,
        e5=e5.id or 0,
        d1=d1.id or 0,
        d2=d2.id or 0,
        ruling_change=changes[0].id or 0,
        written_change=changes[1].id or 0,
        list_id=2,
    )


@pytest.fixture(scope="module")
def seeded(loop_database_url: str) -> Iterator[Seeded]:
    """Write the module's past into the loop database, committed, once."""
    engine = make_engine(loop_database_url)
    with Session(engine, expire_on_commit=False) as session:
        found = _seed(session)
        session.commit()
    engine.dispose()
    yield found


def _get(loop: Loop, path: str, user: str = "bianban", **params: str) -> Any:
    response = loop.client.get(path, params=params or PERIOD, headers=loop.token(user))
    assert response.status_code == 200, response.text
    return response.json()


def _row(report: dict[str, Any], department_id: int) -> dict[str, Any]:
    return next(r for r in report["rows"] if r["department_id"] == department_id)


def test_each_workload_figure_matches_the_hand_count(loop: Loop, seeded: Seeded) -> None:
    report = _get(loop, "/api/reports/workload")
    assert report["period"] == {
        "first": "2026-10-01",
        "last": "2026-10-31",
        "label": "2026-10-01 至 2026-10-31",
    }
    assert report["matter_weights"] == {"C-004": 2.0}
    unit = _row(report, UNIT2)  # E1 lead (×2), E2 lead (live, overdue), E3 lead (×1)
    assert unit["name"] == "第二执法中队" and unit["parent_name"] == "县综合行政执法局"
    assert (unit["parts"], unit["held"], unit["handled"]) == (3, 3, 2)
    assert (unit["handled_lead"], unit["handled_co"], unit["handled_territorial"]) == (2, 0, 0)
    assert unit["weighted_work"] == 3.0
    assert (unit["authorised_staff"], unit["actual_staff"], unit["staff_gap"]) == (14, 12, 2)
    assert unit["work_per_post"] == pytest.approx(3 / 14)
    assert unit["work_per_person"] == pytest.approx(3 / 12)
    assert (unit["timed"], unit["handling_hours_total"]) == (2, pytest.approx(6.0))
    assert unit["handling_hours_median"] == pytest.approx(3.0)
    assert (unit["overdue"], unit["overdue_rate"]) == (1, pytest.approx(1 / 3))

    market_unit = _row(report, MARKET_UNIT)  # E1 co (×2), fed back half an hour late
    assert (market_unit["parts"], market_unit["held"], market_unit["handled_co"]) == (1, 1, 1)
    assert market_unit["weighted_work"] == 2.0
    assert market_unit["handling_hours_median"] == pytest.approx(1.0)
    assert (market_unit["overdue"], market_unit["overdue_rate"]) == (1, 1.0)

    market = _row(report, MARKET)  # two returned parts; the part at the period's end is out
    assert (market["parts"], market["held"], market["handled"]) == (2, 0, 0)
    assert market["overdue_rate"] is None and market["handling_hours_median"] is None
    assert market["work_per_person"] == 0.0 and market["saturation"] == 0.0

    median = (3 / 12 + 2 / 9) / 2  # the two units with work; idle departments are left out
    assert report["median_basis"] == 2
    assert report["median_work_per_person"] == pytest.approx(median)
    assert unit["saturation"] == pytest.approx((3 / 12) / median)
    assert market_unit["saturation"] == pytest.approx((2 / 9) / median)
    assert all(r["kind"] != "township_platform" for r in report["rows"])


def test_duties_against_work(loop: Loop, seeded: Seeded) -> None:
    report = _get(loop, "/api/reports/workload")
    elsewhere = report["handled_elsewhere"]
    assert [
        (e["department_id"], e["matter"]["code"], e["listed_lead_id"], e["parts"], e["event_ids"])
        for e in elsewhere
    ] == [(UNIT2, "B-004", MARKET, 1, [seeded.e3])]
    with Session(loop.engine) as session:
        led = session.exec(
            select(Matter.code).where(
                Matter.list_id == seeded.list_id, Matter.lead_department_id == BUREAU
            )
        ).all()
    unused = {u["matter"]["code"] for u in report["unused_duties"] if u["department_id"] == BUREAU}
    assert unused == set(led) - {"C-004", "C-005"}  # C-013 only in an invalid report
    assert "C-013" in unused


def test_the_revision_agenda_ranks_disputes_then_returns(loop: Loop, seeded: Seeded) -> None:
    agenda = _get(loop, "/api/reports/workload")["agenda"]
    assert [
        (a["rank"], a["matter"]["code"], a["disputes"], a["returns"], a["returned_parts"])
        for a in agenda
    ] == [(1, "C-005", 1, 2, 1), (2, "B-004", 1, 1, 1)]
    c005, b004 = agenda
    assert c005["event_ids"] == [seeded.e2] and c005["dispute_ids"] == [seeded.d2]
    assert c005["pairs"] == []  # one department returned it: nobody to pair with yet
    assert [c["id"] for c in c005["changes"]] == [seeded.written_change]  # not the later one
    assert b004["listed_lead_name"] == "县市场监督管理局"
    assert [
        (p["first_id"], p["second_id"], p["disputes"], p["event_ids"]) for p in b004["pairs"]
    ] == [(BUREAU, MARKET, 1, [seeded.e3])]
    assert b004["changes"] == [{"id": seeded.ruling_change, "status": "pending"}]


def test_townships(loop: Loop, seeded: Seeded) -> None:
    townships = _get(loop, "/api/reports/workload")["townships"]
    xinshi = next(t for t in townships if t["township_code"] == XINSHI)
    assert (xinshi["events"], xinshi["self_handled"]) == (4, 1)  # E1 E2 E3 E5; E5 on the spot
    assert xinshi["events_per_10k"] == pytest.approx(4 * 10000 / xinshi["population"])
    assert xinshi["self_handled_rate"] == 0.25
    assert (xinshi["escalations"], xinshi["verification_failures"]) == (1, 1)


def test_the_disputes_report(loop: Loop, seeded: Seeded) -> None:
    report = _get(loop, "/api/reports/disputes")
    assert (report["disputes"], report["ruled"], report["open"]) == (2, 1, 1)
    assert report["hours_to_ruling_median"] == pytest.approx(24.0)
    assert [line["id"] for line in report["lines"]] == [seeded.d2, seeded.d1]  # newest first
    ruled = report["lines"][1]
    assert ruled["party_names"] == ["县市场监督管理局"]
    assert ruled["listed_lead_name"] == "县市场监督管理局"
    assert ruled["ruled_lead_name"] == "第二执法中队" and ruled["kept_list"] is False
    assert ruled["change_ids"] == [seeded.ruling_change]
    by_matter = {m["matter"]["code"]: m for m in report["by_matter"]}
    assert set(by_matter) == {"B-004", "C-005"}
    assert (by_matter["B-004"]["ruled"], by_matter["B-004"]["moved_lead"]) == (1, 1)
    assert by_matter["C-005"]["hours_to_ruling_median"] is None
    assert [(p["first_id"], p["second_id"]) for p in report["by_pair"]] == [(BUREAU, MARKET)]
    assert [(r["department_id"], r["disputes"]) for r in report["by_ruled_lead"]] == [(UNIT2, 1)]


def test_only_the_staffing_office_and_the_centre_read_it(loop: Loop, seeded: Seeded) -> None:
    for path in ("/api/reports/workload", "/api/reports/disputes", "/api/reports/workload.xlsx"):
        refused = loop.client.get(path, params=PERIOD, headers=loop.token("zhifa"))
        assert refused.status_code == 403, path
        assert "查看编制评估" in refused.json()["detail"]["message"]
        assert loop.client.get(path, params=PERIOD).status_code == 401
    assert _get(loop, "/api/reports/workload", "centre")["median_basis"] == 2


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"from": "2026-13-01"}, "from", "起始日期"),
        ({"to": "昨天"}, "to", "截止日期"),
        ({"from": "2026-11-01", "to": "2026-10-01"}, "from", "起始日期不能晚于截止日期"),
        ({"to": "0001-01-01"}, "to", "日期应在 2000-01-01 至 2099-12-31 之间"),
    ],
)
def test_bad_dates_are_refused_naming_the_field(
    loop: Loop, params: dict[str, str], field: str, words: str
) -> None:
    response = loop.client.get(
        "/api/reports/workload", params=params, headers=loop.token("bianban")
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["field"].split(".")[-1] == field and words in detail["message"], detail


def test_the_workbook_has_a_sheet_per_view(loop: Loop, seeded: Seeded) -> None:
    response = loop.client.get(
        "/api/reports/workload.xlsx", params=PERIOD, headers=loop.token("bianban")
    )
    assert response.status_code == 200
    assert "workload-2026-10-01-2026-10-31.xlsx" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    views = ["编制评估", "牵头事项未发生", "办理清单外事项", "修订议程", "争议部门对"]
    assert book.sheetnames == [*views, "争议裁定", "乡镇"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref, sheet.title
    work = book["编制评估"]
    headers = [c.value for c in work[1]]
    assert headers[:4] == ["单位", "类型", "所属部门", "派单数"]
    assert "工作饱和度" in headers and "超期率" in headers
    at_row = next(r[0].row for r in work.iter_rows(min_row=2) if r[0].value == "第二执法中队")
    row = [c.value for c in work[at_row]]
    assert row[3:10] == [3, 3, 2, 2, 0, 0, 3]
    rate = work.cell(row=at_row, column=headers.index("超期率") + 1)
    assert rate.value == pytest.approx(1 / 3) and rate.number_format == "0.0%"
    agenda = list(book["修订议程"].iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in agenda] == ["C-005", "B-004"]
