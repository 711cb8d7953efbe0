"""A department clerk's day over HTTP: why a part came back, and the department's history.

Also the township's verifiers: its grid workers may check on site the events of their own
township (they walk its grids every day), never another township's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlmodel import Session, col, select

from dispatch.boards.cards import cards
from dispatch.events.models import Event
from dispatch.reference.models import Department
from tests.helpers import demo_grid_point
from tests.loop_fixtures import Loop
from tests.service.test_loop import act, assignment, event, report, report_body

HEKOU = "320999005"  # 河口镇: a township beside the demo users' 新市镇


def resolve(loop: Loop, event_id: int) -> dict[str, Any]:
    """Sign and feed back every part (the township's first), so the event awaits its check."""
    detail = event(loop, event_id)
    territorial = assignment(detail, "territorial")
    act(loop, "township", f"assignments/{territorial['id']}/sign")
    act(loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "已现场劝阻"})
    for role, user in (("lead", "zhifa"), ("co", "shichang")):
        part = assignment(detail, role)
        act(loop, user, f"assignments/{part['id']}/sign")
        act(loop, user, f"assignments/{part['id']}/feedback", {"note": "已处置"})
    resolved = event(loop, event_id)
    assert resolved["status"] == "resolved", resolved["status"]
    return resolved


def card_of(loop: Loop, event_id: int) -> dict[str, Any]:
    """Return the event's board card as the boards would send it."""
    with Session(loop.engine) as session:
        row = session.get(Event, event_id)
        assert row is not None
        (card,) = cards(session, [row])
    return card


def test_a_failed_check_tells_each_part_the_verifiers_note(loop: Loop) -> None:
    event_id = report(loop)
    resolve(loop, event_id)
    note = "复查时摊贩又回来了，占道依旧"
    act(loop, "township", f"events/{event_id}/verify", {"passed": False, "note": note})

    lead = assignment(event(loop, event_id, "zhifa"), "lead")
    assert lead["status"] == "signed"
    assert lead["came_back"]["kind"] == "verify_failed"
    assert lead["came_back"]["note"] == note
    assert lead["came_back"]["at"].endswith("Z")
    on_card = next(a for a in card_of(loop, event_id)["assignments"] if a["id"] == lead["id"])
    assert on_card["came_back"]["kind"] == "verify_failed" and on_card["came_back"]["note"] == note
    assert on_card["came_back"]["at"].endswith("+00:00")  # cards spell times as isoformat


def test_a_part_never_sent_back_says_nothing(loop: Loop) -> None:
    event_id = report(loop)
    detail = event(loop, event_id)
    assert all(a["came_back"] is None for a in detail["assignments"])
    assert all(a["came_back"] is None for a in card_of(loop, event_id)["assignments"])


def test_a_rating_of_two_tells_the_parts_the_comment(loop: Loop) -> None:
    event_id = report(loop)
    resolve(loop, event_id)
    act(loop, "township", f"events/{event_id}/verify", {"passed": True})
    act(loop, "township", f"events/{event_id}/close")
    comment = "群众反映摊贩晚上又来了"
    act(loop, "township", f"events/{event_id}/rate", {"rating": 2, "note": comment})

    lead = assignment(event(loop, event_id, "zhifa"), "lead")
    assert lead["came_back"]["kind"] == "reopened"
    assert lead["came_back"]["note"] == comment and lead["came_back"]["rating"] == 2


def test_a_refused_return_tells_the_department_the_centres_reason(loop: Loop) -> None:
    event_id = report(loop, matter_code="C-005", description="小区门口乱堆装修垃圾")
    lead = assignment(event(loop, event_id), "lead")
    act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "不是我们的", "clause_code": "C-005"},
    )
    assert assignment(event(loop, event_id), "lead")["came_back"] is None
    why = "清单第30行明确由综合执法牵头"
    act(loop, "centre", f"assignments/{lead['id']}/refuse-return", {"reason": why})

    back = assignment(event(loop, event_id, "zhifa"), "lead")
    assert back["status"] == "pending"
    assert back["came_back"] == {
        "kind": "return_refused",
        "note": why,
        "at": back["came_back"]["at"],
        "rating": None,
    }
    on_card = next(a for a in card_of(loop, event_id)["assignments"] if a["id"] == lead["id"])
    assert on_card["came_back"]["kind"] == "return_refused"


def test_the_latest_reason_wins(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    body = {"reason": "非本局", "clause_code": "C-005"}
    act(loop, "zhifa", f"assignments/{lead['id']}/return", body)
    act(loop, "centre", f"assignments/{lead['id']}/refuse-return", {"reason": "属本局"})
    resolve(loop, event_id)
    act(loop, "township", f"events/{event_id}/verify", {"passed": False, "note": "未整改到位"})
    back = assignment(event(loop, event_id), "lead")["came_back"]
    assert back["kind"] == "verify_failed" and back["note"] == "未整改到位"


def test_cards_find_why_parts_came_back_in_one_query_per_batch(loop: Loop) -> None:
    ids = [report(loop) for _ in range(3)]
    for event_id in ids:
        resolve(loop, event_id)
        act(loop, "township", f"events/{event_id}/verify", {"passed": False, "note": "未整改"})

    def queries(event_ids: list[int]) -> int:
        seen: list[str] = []
        with Session(loop.engine) as session:
            rows = list(session.exec(select(Event).where(col(Event.id).in_(event_ids))))
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            sa_event.listen(loop.engine, "before_cursor_execute", listener)
            try:
                built = cards(session, rows)
            finally:
                sa_event.remove(loop.engine, "before_cursor_execute", listener)
        assert all(a["came_back"] for c in built for a in c["assignments"] if a["role"] == "lead")
        return len(seen)

    assert queries(ids[:1]) == queries(ids)


def history(loop: Loop, user: str, **params: Any) -> dict[str, Any]:
    """List a department's assignments as a user, expecting 200."""
    response = loop.client.get("/api/assignments", params=params, headers=loop.token(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_department_lists_and_searches_its_own_past_assignments(loop: Loop) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    done = report(loop, description="历史检索甲：菜场门口占道卖菜")
    resolve(loop, done)
    moved = report(loop, matter_code="C-005", description="历史检索乙：路边堆放建材")
    moved_lead = assignment(event(loop, moved), "lead")
    act(
        loop,
        "zhifa",
        f"assignments/{moved_lead['id']}/return",
        {"reason": "非本局", "clause_code": "C-005"},
    )
    with Session(loop.engine) as session:
        market = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    act(
        loop,
        "centre",
        f"assignments/{moved_lead['id']}/redispatch",
        {"department_id": market.id, "reason": "属市场监管"},
    )

    mine = history(loop, "zhifa", since=start.isoformat(), limit=200)
    by_event = {(a["event_id"], a["role"]): a for a in mine["data"]}
    assert by_event[(done, "lead")]["status"] == "fed_back"
    assert by_event[(moved, "lead")]["status"] == "cancelled"  # redispatched away: still its past
    assert by_event[(done, "lead")]["event_description"].startswith("历史检索甲")
    assert by_event[(done, "lead")]["matter_name"] and by_event[(done, "lead")]["township_name"]
    created = [a["created_at"] for a in mine["data"]]
    assert created == sorted(created, reverse=True)  # newest first
    assert mine["count"] == len(mine["data"])

    found = history(loop, "zhifa", q="历史检索乙")
    assert [a["event_id"] for a in found["data"]] == [moved]
    assert history(loop, "zhifa", q="历史检索", status="fed_back")["data"][0]["event_id"] == done
    assert {
        a["event_id"] for a in history(loop, "zhifa", q="历史检索", matter="C-005")["data"]
    } == {moved}
    assert history(loop, "zhifa", q="历史检索", until=start.isoformat())["count"] == 0
    paged = history(loop, "zhifa", q="历史检索", limit=1, offset=1)
    assert paged["count"] == 2 and len(paged["data"]) == 1 and paged["data"][0]["event_id"] == done
    assert history(loop, "zhifa", q="100%_不存在")["count"] == 0  # LIKE wildcards are text


def test_another_departments_clerk_does_not_see_them(loop: Loop) -> None:
    event_id = report(loop, description="历史隔离：占道经营")
    zhifa_part = assignment(event(loop, event_id), "lead")["id"]
    shichang_part = assignment(event(loop, event_id), "co")["id"]
    seen_by_market = {a["id"] for a in history(loop, "shichang", q="历史隔离")["data"]}
    assert shichang_part in seen_by_market and zhifa_part not in seen_by_market
    seen_by_zhifa = {a["id"] for a in history(loop, "zhifa", q="历史隔离")["data"]}
    assert zhifa_part in seen_by_zhifa and shichang_part not in seen_by_zhifa


def test_only_department_staff_list_a_departments_history(loop: Loop) -> None:
    for user in ("grid", "township", "centre", "admin"):
        response = loop.client.get("/api/assignments", headers=loop.token(user))
        assert response.status_code == 403, (user, response.text)
        assert "部门历史任务" in response.json()["detail"]["message"]
    assert loop.client.get("/api/assignments").status_code == 401


def test_a_grid_worker_verifies_on_site_in_their_own_township_only(loop: Loop) -> None:
    # Grid workers walk the township's grids every day: the on-site check (核查) is theirs too.
    event_id = report(loop)
    resolve(loop, event_id)
    passed = act(loop, "grid", f"events/{event_id}/verify", {"passed": True, "note": "现场已整改"})
    assert passed["status"] == "verified"
    assert passed["steps"][-1]["action"] == "verify_pass"

    lon, lat = demo_grid_point(HEKOU, nth=2)
    elsewhere = loop.client.post(
        "/api/events", json=report_body(lon=lon, lat=lat), headers=loop.token("grid")
    )
    assert elsewhere.status_code == 201, elsewhere.text
    loop.run_worker()
    refused = loop.client.post(
        f"/api/events/{elsewhere.json()['id']}/verify",
        json={"passed": True},
        headers=loop.token("grid"),
    )
    assert refused.status_code == 403
    assert "不能核查" in refused.json()["detail"]["message"]
