"""The assessment over HTTP: a closed event and a returned one counted by department, unit and
township; each reader sees their own rows; bad periods are refused naming the field."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from dispatch.reference.models import Department
from dispatch.reports.periods import period
from tests.loop_fixtures import Loop
from tests.reports_recompute import differences, recompute
from tests.service.test_loop import XINSHI, act, assignment, event, report

ZHIFA = "县综合行政执法局"


# The story, told once per test module: each module has a fresh database of its own, whose URL
# may repeat (on PostgreSQL the scratch database's name is the same for every module).
_TOLD: dict[str, dict[str, int]] = {}


@pytest.fixture
def story(loop: Loop, request: pytest.FixtureRequest) -> dict[str, int]:
    """Close and rate one event after a failed verification; return and redispatch another."""
    module = request.node.module.__name__
    if module not in _TOLD:
        _TOLD[module] = tell(loop)
    return _TOLD[module]


def tell(loop: Loop) -> dict[str, int]:
    """Tell the story through the API; return the two events' ids."""
    closed = report(loop)
    detail = event(loop, closed)
    lead, co, own = (assignment(detail, r) for r in ("lead", "co", "territorial"))
    for user, part in (("zhifa", lead), ("shichang", co), ("township", own)):
        act(loop, user, f"assignments/{part['id']}/sign")
        act(loop, user, f"assignments/{part['id']}/feedback", {"note": "已处理"})
    act(loop, "township", f"events/{closed}/verify", {"passed": False, "note": "没有处理好"})
    for user, part in (("zhifa", lead), ("shichang", co), ("township", own)):
        act(loop, user, f"assignments/{part['id']}/feedback", {"note": "已重新处理"})
    act(loop, "township", f"events/{closed}/verify", {"passed": True})
    act(loop, "township", f"events/{closed}/close")
    act(loop, "centre", f"events/{closed}/rate", {"rating": 5})

    returned = report(loop, matter_code="C-005", description="路边堆了一大堆建材和杂物")
    first = assignment(event(loop, returned), "lead")
    act(
        loop,
        "zhifa",
        f"assignments/{first['id']}/return",
        {"reason": "不是我们的", "clause_code": "C-005"},
    )
    with Session(loop.engine) as session:
        market = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    moved = act(
        loop,
        "centre",
        f"assignments/{first['id']}/redispatch",
        {"department_id": market.id, "reason": "经研判属市场监管"},
    )
    act(loop, "shichang", f"assignments/{assignment(moved, 'lead')['id']}/sign")
    return {"closed": closed, "returned": returned}


def assessment(loop: Loop, user: str = "centre", **params: Any) -> dict[str, Any]:
    """GET the assessment as a user and expect 200."""
    response = loop.client.get("/api/reports/assessment", params=params, headers=loop.token(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the values of the row of that name."""
    found = [r for r in body["rows"] if r["name"] == name]
    assert len(found) == 1, [r["name"] for r in body["rows"]]
    values: dict[str, Any] = found[0]["values"]
    return values


def test_a_department_row_counts_its_units_parts_and_what_became_of_them(
    loop: Loop, story: dict[str, int]
) -> None:
    zhifa = row(assessment(loop, by="department"), ZHIFA)
    # Its unit led the closed event, and returned the other (redispatched away: still counted).
    assert (zhifa["parts"], zhifa["events"], zhifa["completed"], zhifa["returned"]) == (2, 2, 1, 1)
    assert zhifa["return_rate"] == 0.5 and zhifa["completion_rate"] == 0.5
    assert (zhifa["due_for_signing"], zhifa["signed_on_time"]) == (2, 2)  # signed, returned
    assert (zhifa["due_for_completion"], zhifa["completed_on_time"]) == (1, 1)
    assert (zhifa["fed_back_once"], zhifa["reworked"], zhifa["rework_rate"]) == (1, 1, 1.0)
    assert (zhifa["rated"], zhifa["satisfied"], zhifa["mean_rating"]) == (1, 1, 5.0)
    assert zhifa["satisfaction_rate"] == 1.0
    assert zhifa["sign_minutes_median"] is not None and zhifa["sign_minutes_median"] >= 0
    assert zhifa["score"] is not None


def test_by_unit_the_stationed_unit_has_its_own_row_and_the_total_adds_up(
    loop: Loop, story: dict[str, int]
) -> None:
    by_unit = assessment(loop, by="unit")
    names = [r["name"] for r in by_unit["rows"]]
    assert ZHIFA not in names and any("执法中队" in n for n in names)
    total = by_unit["total"]["values"]
    assert total["parts"] == sum(r["values"]["parts"] for r in by_unit["rows"])
    assert total["returned"] == 1 and total["rated"] >= 1
    ranks = [r["rank"] for r in by_unit["rows"] if r["rank"] is not None]
    assert ranks == sorted(ranks) and ranks[0] == 1


def test_by_township_it_counts_the_reports_per_10000_residents(
    loop: Loop, story: dict[str, int]
) -> None:
    body = assessment(loop, by="township")
    (xinshi,) = [r for r in body["rows"] if r["key"] == XINSHI]
    values = xinshi["values"]
    assert values["reported"] >= 2 and values["population"] > 0
    assert values["events_per_10k"] == round(values["reported"] * 10000 / values["population"], 2)


def test_each_reader_sees_their_own_rows(loop: Loop, story: dict[str, int]) -> None:
    mine = assessment(loop, "zhifa", by="department")
    assert [r["name"] for r in mine["rows"]] == [ZHIFA]
    township = assessment(loop, "township", by="township")
    assert [r["key"] for r in township["rows"]] == [XINSHI]
    refused = loop.client.get("/api/reports/assessment", headers=loop.token("grid"))
    assert refused.status_code == 403 and "考核" in refused.json()["detail"]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"from": "1900-01-01"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"by": "village"}, "by"),
        ({"from": "2026-13-01"}, "from"),
    ],
)
def test_a_bad_period_or_dimension_is_refused_naming_it(
    loop: Loop, params: dict[str, str], field: str
) -> None:
    response = loop.client.get(
        "/api/reports/assessment", params=params, headers=loop.token("centre")
    )
    assert response.status_code == 422, response.text
    assert field in response.text


def test_the_workbook_has_the_ranking_and_a_sheet_per_dimension(
    loop: Loop, story: dict[str, int]
) -> None:
    response = loop.client.get("/api/reports/assessment.xlsx", headers=loop.token("bianban"))
    assert response.status_code == 200, response.text
    assert "filename*=UTF-8''%E8%80%83%E6%A0%B8_" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["红黑榜", "按部门", "按单位", "按乡镇", "按事项", "按平台"]
    sheet = book["按部门"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["名次", "部门", "综合得分", "派单数"]
    rate_column = header.index("退回率") + 1
    zhifa = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == ZHIFA)
    assert zhifa[rate_column - 1].value == 0.5
    assert zhifa[rate_column - 1].number_format == "0.0%"


@pytest.mark.parametrize("by", ["department", "unit", "township", "matter", "platform"])
def test_every_measure_recomputed_from_the_steps_is_what_the_api_says(
    loop: Loop, story: dict[str, int], by: str
) -> None:
    body = assessment(loop, by=by)
    as_of = datetime.fromisoformat(body["as_of"])
    span = period(date.fromisoformat(body["first"]), date.fromisoformat(body["last"]))
    with Session(loop.engine) as session:
        expected = recompute(session, span, by, as_of)
    assert differences(body["rows"], expected) == []
