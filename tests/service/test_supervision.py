"""Supervision notices (督办) over HTTP and by the county rules on a moved clock.

The centre issues a notice on a live part, the department acknowledges it once (回复), and
the notice closes when the part is fed back (or stops being that department's). The
scheduler issues the county rules' notices: sign overdue → 普通, handling overdue by 1
working day → 黄牌, by 3 → 红牌, each once per assignment and level.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.core.clock import CHINA_TZ, utcnow
from dispatch.core.redis import connect
from dispatch.events.models import Assignment, Event, NoticeLevel, SupervisionNotice
from dispatch.events.steps import STEP_ACTION_LABELS
from dispatch.jobs.scheduler import supervise_by_rules
from dispatch.reference.models import CountyRules
from dispatch.supervision.rules import issue_rule_notices
from dispatch.transaction import transaction
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_concurrency import fire
from tests.service.test_health_cli import sipingtai
from tests.service.test_loop import act, assignment, event, report


def post(loop: Loop, user: str, path: str, body: dict[str, Any]) -> Any:
    """POST as a user and return the response, whatever its status."""
    return loop.client.post(f"/api/{path}", json=body, headers=loop.token(user))


def get(loop: Loop, user: str, path: str, **params: Any) -> Any:
    """GET as a user and return the response, whatever its status."""
    return loop.client.get(f"/api/{path}", params=params, headers=loop.token(user))


def supervise(loop: Loop, part_id: int, level: str = "yellow", note: str = "请加快处置") -> Any:
    """Issue a notice as the centre and expect it to be created."""
    response = post(
        loop, "centre", f"assignments/{part_id}/supervise", {"level": level, "note": note}
    )
    assert response.status_code == 201, response.text
    return response.json()


def ids_seen(loop: Loop, user: str, **params: Any) -> set[int]:
    """Return the ids of the notices a user lists."""
    response = get(loop, user, "supervision", limit=200, **params)
    assert response.status_code == 200, response.text
    return {n["id"] for n in response.json()["data"]}


def test_the_centre_issues_and_the_department_acknowledges_once(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    notice = supervise(loop, lead["id"], "yellow", "该事件群众反映强烈，请今日内处置")
    assert notice["level"] == "yellow" and notice["status"] == "open"
    assert notice["assignment_id"] == lead["id"] and notice["event_id"] == event_id
    assert notice["department_name"] == lead["department_name"]
    assert notice["automatic"] is False and notice["rule"] is None
    # by hand: about the running deadline, signing while the part is pending
    assert notice["deadline_kind"] == "sign" and notice["deadline"] == lead["sign_by"]
    assert notice["note"] == "该事件群众反映强烈，请今日内处置"
    steps = event(loop, event_id)["steps"]
    issued = [s for s in steps if s["action"] == "supervise"]
    assert len(issued) == 1 and issued[0]["assignment_id"] == lead["id"]
    assert "黄牌督办" in issued[0]["reason"] and STEP_ACTION_LABELS["supervise"] == "督办"

    # the lead's department (county staff acting for its unit) sees it; another does not
    assert notice["id"] in ids_seen(loop, "zhifa", status="open")
    assert notice["id"] not in ids_seen(loop, "shichang")
    assert notice["id"] not in ids_seen(loop, "township")  # not its platform's part
    assert get(loop, "shichang", f"supervision/{notice['id']}").status_code == 403
    assert notice["id"] in ids_seen(loop, "bianban")  # the staffing office reads all
    assert get(loop, "bianban", f"supervision/{notice['id']}").status_code == 200
    assert get(loop, "grid", "supervision").status_code == 403

    path = f"supervision/{notice['id']}/reply"
    refused = post(loop, "shichang", path, {"note": "收到"})
    assert refused.status_code == 403, refused.text
    assert post(loop, "bianban", path, {"note": "收到"}).status_code == 403
    blank = post(loop, "zhifa", path, {"note": "   "})
    assert blank.status_code == 422 and blank.json()["detail"]["field"] == "note", blank.text
    replied = post(loop, "zhifa", path, {"note": "已安排中队今日到场"})
    assert replied.status_code == 200, replied.text
    body = replied.json()
    assert body["status"] == "acknowledged" and body["reply"] == "已安排中队今日到场"
    assert body["replied_at"] is not None and body["replied_by"]
    again = post(loop, "zhifa", path, {"note": "再次回复"})
    assert again.status_code == 409 and "已回复" in again.json()["detail"]["message"], again.text
    assert "supervision_reply" in [s["action"] for s in event(loop, event_id)["steps"]]
    # acknowledged is not closed: it stays on the open lists until the part is fed back
    assert notice["id"] in ids_seen(loop, "centre", status=["open", "acknowledged"])
    assert notice["id"] not in ids_seen(loop, "centre", status="open")
    assert notice["id"] in ids_seen(loop, "centre", level="yellow")
    assert notice["id"] not in ids_seen(loop, "centre", level="red")


def test_only_the_centre_issues_with_a_note_and_a_known_level(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    path = f"assignments/{lead['id']}/supervise"
    blank = post(loop, "centre", path, {"level": "normal", "note": "  "})
    assert blank.status_code == 422 and blank.json()["detail"]["field"] == "note", blank.text
    assert post(loop, "centre", path, {"level": "purple", "note": "催办"}).status_code == 422
    assert post(loop, "zhifa", path, {"level": "red", "note": "催办"}).status_code == 403
    assert post(loop, "bianban", path, {"level": "red", "note": "催办"}).status_code == 403
    missing = post(
        loop, "centre", "assignments/999999999/supervise", {"level": "red", "note": "催"}
    )
    assert missing.status_code == 404
    assert get(loop, "centre", "supervision/999999999").status_code == 404
    assert post(loop, "zhifa", "supervision/999999999/reply", {"note": "收到"}).status_code == 404


def test_only_a_live_part_is_supervised(loop: Loop) -> None:
    event_id = report(loop)
    detail = event(loop, event_id)
    co, lead = assignment(detail, "co"), assignment(detail, "lead")
    act(loop, "shichang", f"assignments/{co['id']}/sign")
    act(loop, "shichang", f"assignments/{co['id']}/feedback", {"note": "已登记"})
    fed_back = post(
        loop, "centre", f"assignments/{co['id']}/supervise", {"level": "red", "note": "催"}
    )
    assert fed_back.status_code == 409 and "已反馈" in fed_back.json()["detail"]["message"], (
        fed_back.text
    )
    act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "不属于本单位职责", "clause_code": "C-004"},
    )
    returned = post(
        loop, "centre", f"assignments/{lead['id']}/supervise", {"level": "red", "note": "催"}
    )
    assert returned.status_code == 409 and "已退回" in returned.json()["detail"]["message"]


def test_a_notice_closes_when_its_part_is_fed_back(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    acknowledged = supervise(loop, lead["id"], "normal")
    act(loop, "zhifa", f"supervision/{acknowledged['id']}/reply", {"note": "收到"})
    unanswered = supervise(loop, lead["id"], "red", "再次催办")
    act(loop, "zhifa", f"assignments/{lead['id']}/sign")
    running = get(loop, "centre", f"supervision/{unanswered['id']}").json()
    assert running["status"] == "open" and running["deadline_kind"] == "handle"
    act(loop, "zhifa", f"assignments/{lead['id']}/feedback", {"note": "已劝离摊贩"})
    for notice in (acknowledged, unanswered):
        now = get(loop, "centre", f"supervision/{notice['id']}").json()
        assert now["status"] == "closed" and now["closed_at"] is not None
    closing = [s for s in event(loop, event_id)["steps"] if s["action"] == "supervision_closed"]
    assert len(closing) == 1 and closing[0]["assignment_id"] == lead["id"]
    assert acknowledged["id"] in ids_seen(loop, "centre", status="closed")
    late = post(loop, "zhifa", f"supervision/{unanswered['id']}/reply", {"note": "收到"})
    assert late.status_code == 409 and "已关闭" in late.json()["detail"]["message"]


def test_a_notice_closes_when_its_part_is_redispatched(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    notice = supervise(loop, lead["id"])
    act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "不属于本单位职责", "clause_code": "C-004"},
    )
    # a returned part may come back (refused return): its notice waits
    assert get(loop, "centre", f"supervision/{notice['id']}").json()["status"] == "open"
    options = get(loop, "centre", f"assignments/{lead['id']}/redispatch-options").json()
    target = next(
        d
        for group in options["groups"]
        for d in group["departments"]
        if group["kind"] == "county_department" and "市场" not in d["name"]
    )
    act(
        loop,
        "centre",
        f"assignments/{lead['id']}/redispatch",
        {"department_id": target["id"], "reason": "改由其他部门办理"},
    )
    assert get(loop, "centre", f"supervision/{notice['id']}").json()["status"] == "closed"


def test_the_township_acknowledges_its_platform_part(loop: Loop) -> None:
    event_id = report(loop)
    territorial = assignment(event(loop, event_id), "territorial")
    notice = supervise(loop, territorial["id"], "normal", "请属地加强巡查")
    assert notice["id"] in ids_seen(loop, "township")
    assert notice["id"] not in ids_seen(loop, "zhifa")
    assert (
        post(loop, "zhifa", f"supervision/{notice['id']}/reply", {"note": "收到"}).status_code
        == 403
    )
    replied = act(loop, "township", f"supervision/{notice['id']}/reply", {"note": "已安排巡查"})
    assert replied["status"] == "acknowledged"


def _set_deadlines(loop: Loop, part_id: int, sign_by: datetime, handle_by: datetime) -> str | None:
    with Session(loop.engine) as session:
        part = session.get(Assignment, part_id)
        assert part is not None
        part.sign_by, part.handle_by = sign_by, handle_by
        session.add(part)
        session.commit()
        found = session.get(Event, part.event_id)
        assert found is not None
        return found.county_code


def _rules(loop: Loop, now: datetime) -> list[tuple[int, str, str | None]]:
    with transaction(loop.engine, None) as session:
        issued = issue_rule_notices(session, now=now)
        return [(n.assignment_id, n.level.value, n.rule) for n in issued]


def _automatic(loop: Loop, part_id: int) -> list[str]:
    with Session(loop.engine) as session:
        return list(
            session.exec(
                select(SupervisionNotice.level)
                .where(SupervisionNotice.assignment_id == part_id, SupervisionNotice.automatic)
                .order_by(col(SupervisionNotice.id))
            ).all()
        )


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in China time (20th a Friday, 23rd a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA_TZ)


def test_the_county_rules_issue_each_level_once_on_a_moved_clock(loop: Loop) -> None:
    event_id = report(loop)
    detail = event(loop, event_id)
    pending, signed = assignment(detail, "co"), assignment(detail, "lead")
    act(loop, "zhifa", f"assignments/{signed['id']}/sign")
    for part in (pending, signed):
        _set_deadlines(loop, part["id"], sign_by=beijing(20, 9), handle_by=beijing(20, 10))

    assert _rules(loop, beijing(20, 8, 59)) == [] or all(
        a not in (pending["id"], signed["id"]) for a, _, _ in _rules(loop, beijing(20, 8, 59))
    )
    # Friday 09:30: sign overdue → 普通 for the pending part only (the signed one has signed)
    mine = {pending["id"], signed["id"]}
    first = [r for r in _rules(loop, beijing(20, 9, 30)) if r[0] in mine]
    assert first == [(pending["id"], "normal", "sign+0")]
    # Saturday: handling overdue, but not yet by a working day (the weekend does not count)
    assert [r for r in _rules(loop, beijing(22, 23)) if r[0] in mine] == []
    # Monday 10:00: one working day past the deadline → 黄牌 for both
    second = [r for r in _rules(loop, beijing(23, 10)) if r[0] in mine]
    assert sorted(second) == sorted(
        [(pending["id"], "yellow", "handle+1"), (signed["id"], "yellow", "handle+1")]
    )
    assert [r for r in _rules(loop, beijing(23, 12)) if r[0] in mine] == []  # once per level
    assert [r for r in _rules(loop, beijing(25, 9, 59)) if r[0] in mine] == []
    third = [r for r in _rules(loop, beijing(25, 10)) if r[0] in mine]
    assert sorted(third) == sorted(
        [(pending["id"], "red", "handle+3"), (signed["id"], "red", "handle+3")]
    )
    assert [r for r in _rules(loop, beijing(30, 10)) if r[0] in mine] == []
    assert _automatic(loop, pending["id"]) == ["normal", "yellow", "red"]
    assert _automatic(loop, signed["id"]) == ["yellow", "red"]

    listed = get(loop, "zhifa", "supervision", assignment=signed["id"]).json()["data"]
    assert {n["level"] for n in listed} == {"yellow", "red"}
    assert all(n["automatic"] and n["issued_by"] == "系统" for n in listed)
    assert all(n["deadline_kind"] == "handle" for n in listed)
    steps = [s for s in event(loop, event_id)["steps"] if s["action"] == "supervise"]
    assert len(steps) == 5 and all(s["actor"] == "系统" for s in steps)
    # a department can still acknowledge an automatic notice
    yellow = next(n for n in listed if n["level"] == "yellow")
    assert act(loop, "zhifa", f"supervision/{yellow['id']}/reply", {"note": "正在处置"})


def test_the_rules_leave_parts_that_are_not_live(loop: Loop) -> None:
    event_id = report(loop)
    co = assignment(event(loop, event_id), "co")
    act(loop, "shichang", f"assignments/{co['id']}/sign")
    act(loop, "shichang", f"assignments/{co['id']}/feedback", {"note": "已登记"})
    _set_deadlines(loop, co["id"], sign_by=beijing(20, 9), handle_by=beijing(20, 10))
    assert all(r[0] != co["id"] for r in _rules(loop, beijing(30, 10)))
    assert _automatic(loop, co["id"]) == []


def test_a_county_keeps_its_own_rules(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    county = _set_deadlines(loop, lead["id"], sign_by=beijing(20, 9), handle_by=beijing(20, 10))
    assert county is not None
    with Session(loop.engine) as session:
        session.add(
            CountyRules(
                county_code=county,
                supervision_rules=[
                    {"deadline": "handle", "overdue_working_days": 0, "level": "red"}
                ],
            )
        )
        session.commit()
    try:
        issued = [r for r in _rules(loop, beijing(20, 10, 1)) if r[0] == lead["id"]]
        assert issued == [(lead["id"], "red", "handle+0")]  # no 普通 for signing: not its rule
        assert [r for r in _rules(loop, beijing(30, 10)) if r[0] == lead["id"]] == []
    finally:
        with Session(loop.engine) as session:
            row = session.get(CountyRules, county)
            assert row is not None
            session.delete(row)
            session.commit()


def test_the_index_refuses_a_second_automatic_notice_of_a_level(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")

    def automatic(level: NoticeLevel) -> SupervisionNotice:
        return SupervisionNotice(
            event_id=event_id,
            assignment_id=lead["id"],
            level=level,
            automatic=True,
            note="规则督办",
        )

    with Session(loop.engine) as session:
        session.add(automatic(NoticeLevel.YELLOW))
        session.add(
            SupervisionNotice(
                event_id=event_id, assignment_id=lead["id"], level=NoticeLevel.YELLOW, note="人工"
            )
        )
        session.commit()
        session.add(automatic(NoticeLevel.YELLOW))
        with pytest.raises(IntegrityError):
            session.commit()


def test_the_scheduler_issues_rule_notices_each_round(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    past = utcnow() - timedelta(days=30)
    _set_deadlines(loop, lead["id"], sign_by=past, handle_by=past + timedelta(hours=1))
    connection = connect(loop.redis_url)
    assert supervise_by_rules(loop.engine, connection) >= 3
    assert _automatic(loop, lead["id"]) == ["normal", "yellow", "red"]
    assert supervise_by_rules(loop.engine, connection) == 0
    assert _automatic(loop, lead["id"]) == ["normal", "yellow", "red"]
    assert datetime.now(UTC) > past


def test_a_round_of_the_scheduler_issues_them(loop: Loop) -> None:
    event_id = report(loop)
    co = assignment(event(loop, event_id), "co")
    past = utcnow() - timedelta(days=30)
    _set_deadlines(loop, co["id"], sign_by=past, handle_by=past + timedelta(hours=1))
    once = sipingtai("scheduler", "--once")  # the loop's database and Redis, from the env
    assert once.returncode == 0, once.stderr
    assert _automatic(loop, co["id"]) == ["normal", "yellow", "red"]


@pytest.mark.postgres
def test_eight_replies_at_once_acknowledge_once(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    notice = supervise(loop, lead["id"])
    with LiveServer(loop.settings) as server:
        fire(server, loop.token("zhifa"), f"supervision/{notice['id']}/reply", {"note": "收到"})
    replies = [s for s in event(loop, event_id)["steps"] if s["action"] == "supervision_reply"]
    assert len(replies) == 1


@pytest.mark.postgres
def test_two_rule_scans_at_once_issue_each_level_once(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    _set_deadlines(loop, lead["id"], sign_by=beijing(20, 9), handle_by=beijing(20, 10))
    barrier = threading.Barrier(2)

    def scan(_: int) -> str:
        barrier.wait()
        try:
            _rules(loop, beijing(30, 10))
        except IntegrityError:
            return "refused"  # the index: a second copy is never committed
        return "ok"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(scan, range(2)))
    assert "ok" in outcomes
    assert sorted(_automatic(loop, lead["id"])) == ["normal", "red", "yellow"]
