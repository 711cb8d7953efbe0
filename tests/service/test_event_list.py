"""The command centre's list of events: every filter of GET /api/events, and who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.events.models import Assignment, AssignmentStatus, Event
from dispatch.reference.models import Department
from tests.helpers import demo_grid_point
from tests.loop_fixtures import Loop
from tests.service.test_loop import XINSHI, act, assignment, event, report_body

SHAHE = "320999006"  # 沙河镇


def mark() -> str:
    """Return a word no other test's event holds, to find this test's events by."""
    return f"标记{uuid4().hex[:8]}"


def post(loop: Loop, word: str, township: str = XINSHI, **body: Any) -> int:
    """Report an event whose description holds word, in a township; return its id."""
    lon, lat = demo_grid_point(township, nth=1)
    fields = {"description": f"{word} 路边有人占道经营", "lon": lon, "lat": lat, **body}
    response = loop.client.post(
        "/api/events", json=report_body(**fields), headers=loop.token("grid")
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def listed(loop: Loop, user: str = "centre", **params: Any) -> list[int]:
    """Return the ids GET /api/events answers a user with these filters."""
    response = loop.client.get(
        "/api/events", params={"limit": 200, **params}, headers=loop.token(user)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if "limit" not in params and "offset" not in params:
        assert body["count"] == len(body["data"]), body["count"]
    return [e["id"] for e in body["data"]]


def test_filters_by_several_statuses_at_once(loop: Loop) -> None:
    word = mark()
    routed = post(loop, word)
    other = post(loop, word, matter_code=None, description=f"{word} 这里有点情况，请来看一下")
    loop.run_worker()
    detail = event(loop, routed)
    act(loop, "zhifa", f"assignments/{assignment(detail, 'lead')['id']}/sign")
    assert event(loop, other)["status"] == "needs_triage"
    assert listed(loop, q=word, status="in_progress") == [routed]
    assert listed(loop, q=word, status=["in_progress", "needs_triage"]) == [other, routed]
    assert listed(loop, q=word, status="closed") == []
    refused = loop.client.get("/api/events?status=nope", headers=loop.token("centre"))
    assert refused.status_code == 422


def test_filters_by_township_matter_and_platform(loop: Loop) -> None:
    word = mark()
    here = post(loop, word, matter_code="C-004")
    there = post(loop, word, SHAHE, matter_code="B-004", description=f"{word} 无照经营的小店")
    loop.run_worker()
    assert listed(loop, q=word, township=XINSHI) == [here]
    assert listed(loop, q=word, township=SHAHE) == [there]
    assert listed(loop, q=word, matter="B-004") == [there]
    assert listed(loop, q=word, platform="zhifa") == [here]
    assert listed(loop, q=word, platform="shichang") == [there]
    assert listed(loop, q=word, platform="zhifa", township=SHAHE) == []


def test_filters_by_the_department_holding_a_part_with_its_units(loop: Loop) -> None:
    word = mark()
    zhifa = post(loop, word, matter_code="C-005", description=f"{word} 路边乱堆建材")
    market = post(loop, word, matter_code="B-004", description=f"{word} 无照经营的小店")
    loop.run_worker()
    with Session(loop.engine) as session:
        law = session.exec(select(Department).where(Department.name == "县综合行政执法局")).one()
        sm = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    # The part is held by 执法中队, the stationed unit: its county department finds it.
    assert "执法中队" in assignment(event(loop, zhifa), "lead")["department_name"]
    assert listed(loop, q=word, department=law.id) == [zhifa]
    assert market in listed(loop, q=word, department=sm.id)
    # Once the part is re-dispatched away, the unit no longer holds it.
    lead = assignment(event(loop, zhifa), "lead")
    act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "不属本局", "clause_code": "B-004"},
    )
    act(
        loop,
        "centre",
        f"assignments/{lead['id']}/redispatch",
        {"department_id": sm.id, "reason": "改由市场监管"},
    )
    assert listed(loop, q=word, department=law.id) == []
    assert listed(loop, q=word, department=sm.id) == [market, zhifa]


def test_overdue_is_a_live_part_past_its_deadline_or_the_event_past_handle_by(
    loop: Loop,
) -> None:
    word = mark()
    late_sign, late_handle, late_event, on_time, finished = (post(loop, word) for _ in range(5))
    loop.run_worker()
    past = utcnow() - timedelta(hours=1)
    lead_handle = assignment(event(loop, late_handle), "lead")
    act(loop, "zhifa", f"assignments/{lead_handle['id']}/sign")
    with Session(loop.engine) as session:
        session.exec(
            update(Assignment)
            .where(col(Assignment.event_id) == late_sign, col(Assignment.role) == "lead")
            .values(sign_by=past)
        )
        session.exec(
            update(Assignment)
            .where(col(Assignment.id) == lead_handle["id"])
            .values(handle_by=past, sign_by=past)  # signed: only handle_by runs
        )
        session.exec(update(Event).where(col(Event.id) == late_event).values(handle_by=past))
        # A fed-back part past its deadline, or a finished event, is not overdue.
        session.exec(
            update(Assignment)
            .where(col(Assignment.event_id) == on_time, col(Assignment.role) == "co")
            .values(status=AssignmentStatus.FED_BACK, handle_by=past, sign_by=past)
        )
        session.exec(
            update(Event).where(col(Event.id) == finished).values(status="closed", handle_by=past)
        )
        session.commit()
    assert listed(loop, q=word, overdue=True) == [late_event, late_handle, late_sign]
    assert listed(loop, q=word, overdue=False) == [finished, on_time]
    # A signed part whose sign_by passed but handle_by did not is on time.
    with Session(loop.engine) as session:
        session.exec(
            update(Assignment)
            .where(col(Assignment.id) == lead_handle["id"])
            .values(handle_by=utcnow() + timedelta(days=1))
        )
        session.commit()
    assert late_handle not in listed(loop, q=word, overdue=True)


def test_filters_by_the_period_of_receipt(loop: Loop) -> None:
    word = mark()
    old, new = post(loop, word), post(loop, word)
    with Session(loop.engine) as session:
        session.exec(
            update(Event)
            .where(col(Event.id) == old)
            .values(received_at=datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
        )
        session.commit()
    assert listed(
        loop, q=word, since="2026-03-01T00:00:00+08:00", until="2026-03-02T00:00:00+08:00"
    ) == [old]
    # 10:00 in Beijing is 02:00 UTC: a Beijing-time bound past it leaves it out.
    assert (
        listed(loop, q=word, since="2026-03-01T10:30:00+08:00", until="2026-03-02T00:00:00+08:00")
        == []
    )
    assert listed(loop, q=word, since="2026-03-02T00:00:00+08:00") == [new]
    assert listed(loop, q=word, until="2026-03-02T00:00:00Z") == [old]


def test_free_text_searches_description_and_address_literally(loop: Loop) -> None:
    word = mark()
    percent = post(loop, word, description=f"{word} 合格率100%_以上 Shop ABC")
    plain = post(
        loop, word, description=f"{word} 合格率100x以上 另一家", address="东大街 8 号 Lane"
    )
    assert listed(loop, q=f"{word} 合格率100%_") == [percent]
    assert listed(loop, q="100%_以上") == [percent]
    assert set(listed(loop, q="合格率100")) >= {percent, plain}
    assert listed(loop, q="以上 shop abc") == [percent]  # case-insensitive
    assert listed(loop, q="东大街 8 号 lane") == [plain]  # the address too
    assert listed(loop, q=f"{word}\\") == []
    assert listed(loop, q=f"   {word}   ", limit=1) == [plain]  # trimmed; paging holds
    assert listed(loop, q=word, offset=1) == [percent]
    page = loop.client.get(
        "/api/events", params={"q": word, "limit": 1}, headers=loop.token("centre")
    )
    assert page.json()["count"] == 2


def test_filters_keep_visibility(loop: Loop) -> None:
    word = mark()
    here = post(loop, word)
    there = post(loop, word, SHAHE)
    loop.run_worker()
    assert listed(loop, "township", q=word) == [here]
    assert listed(loop, "township", q=word, township=SHAHE) == []
    assert listed(loop, "grid", q=word) == [there, here]  # what they reported, wherever
    with Session(loop.engine) as session:
        sm = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    # 市场监管局 co-handles 占道经营: shichang sees them; zhifa filtering by it sees its own.
    assert listed(loop, "shichang", q=word) == [there, here]
    assert listed(loop, "zhifa", q=word, department=sm.id) == [there, here]
    assert listed(loop, "shichang", q=word, overdue=True) == []
