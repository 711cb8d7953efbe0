"""乡呼县应 over HTTP: a township calls the county in, the centre answers, a department signs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from dispatch.core.errors import Forbidden
from dispatch.events.models import Escalation, Event, Step
from dispatch.loop import escalation as escalation_service
from dispatch.loop.escalation import get_escalation, list_escalations, on_time, response_minutes
from dispatch.reference.models import Department
from dispatch.users.models import User, UserRole
from dispatch.users.policy import Actor
from tests.loop_fixtures import Loop
from tests.service.test_loop import act, assignment, event, report


def department_id(loop: Loop, name: str) -> int:
    with Session(loop.engine) as session:
        found = session.exec(select(Department).where(Department.name == name)).one()
        assert found.id is not None
        return found.id


def post(loop: Loop, user: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return loop.client.post(f"/api/{path}", json=body or {}, headers=loop.token(user))


def escalate(loop: Loop, event_id: int, reason: str = "现场人手不足，需县级部门处置") -> Any:
    response = post(loop, "township", f"events/{event_id}/escalate", {"reason": reason})
    assert response.status_code == 201, response.text
    return response.json()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_territorial_part_is_escalated_and_answered_by_a_named_department(loop: Loop) -> None:
    event_id = report(loop)  # C-004: lead 第二执法中队, co 新市市场监管所, territorial 新市镇
    territorial = assignment(event(loop, event_id), "territorial")
    called = escalate(loop, event_id)
    assert called["status"] == "waiting" and called["assignment_id"] == territorial["id"]
    assert called["township_code"] == "320999004" and called["role"] == "territorial"
    assert moment(called["respond_by"]) - moment(called["called_at"]) == timedelta(hours=2)
    steps = event(loop, event_id)["steps"]
    assert steps[-1]["action"] == "escalate" and "乡呼县应" in steps[-1]["reason"]

    # One waiting call per part.
    again = post(loop, "township", f"events/{event_id}/escalate", {"reason": "再次呼叫"})
    assert again.status_code == 409 and "待响应" in again.json()["detail"]["message"]

    # The centre's queue lists it, as do the township's and the staffing office's readings.
    for user in ("centre", "township", "bianban"):
        listed = loop.client.get("/api/escalations?status=waiting", headers=loop.token(user))
        assert listed.status_code == 200
        assert called["id"] in [e["id"] for e in listed.json()["data"]], user
    for user in ("zhifa", "grid"):
        refused = loop.client.get("/api/escalations", headers=loop.token(user))
        assert refused.status_code == 403, user
        one = loop.client.get(f"/api/escalations/{called['id']}", headers=loop.token(user))
        assert one.status_code == 403, user

    # By the list the lead is 县综合行政执法局, whose unit already leads: refused, not folded.
    by_list = post(loop, "centre", f"escalations/{called['id']}/answer", {"by_list": True})
    assert by_list.status_code == 409, by_list.text
    assert (
        by_list.json()["detail"]["code"] == "same_agency"
        and "第二执法中队" in by_list.json()["detail"]["message"]
    )

    police = department_id(loop, "新市派出所")
    answered = post(loop, "centre", f"escalations/{called['id']}/answer", {"department_id": police})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "answered" and body["department_id"] == police
    assert body["answered_at"] and body["answered_by"] and body["responded_at"] is None

    detail = event(loop, event_id)
    parts = {a["id"]: a for a in detail["assignments"]}
    assert parts[territorial["id"]]["status"] == "cancelled"
    fresh = parts[body["response_assignment_id"]]
    assert fresh["department_id"] == police and fresh["role"] == "co"
    assert fresh["status"] == "pending" and fresh["on_behalf_of_name"] == "县公安局"
    assert moment(fresh["sign_by"]) == moment(called["respond_by"])
    assert fresh["handle_by"] is not None
    cancel = [s for s in detail["steps"] if s["action"] == "cancel"]
    assert cancel and "乡呼县应" in cancel[-1]["reason"] and "新市派出所" in cancel[-1]["reason"]
    assert detail["steps"][-1]["action"] == "answer_escalation"

    twice = post(loop, "centre", f"escalations/{called['id']}/answer", {"department_id": police})
    assert twice.status_code == 409 and "已响应" in twice.json()["detail"]["message"]
    answered_list = loop.client.get(
        "/api/escalations?status=answered", headers=loop.token("centre")
    ).json()["data"]
    assert called["id"] in [e["id"] for e in answered_list]
    waiting = loop.client.get("/api/escalations?status=waiting", headers=loop.token("centre"))
    assert called["id"] not in [e["id"] for e in waiting.json()["data"]]


def test_a_self_handled_lead_goes_by_the_list_and_the_signature_is_timed(loop: Loop) -> None:
    event_id = report(loop, matter_code="C-012")  # 乱张贴: 乡镇自办, the list's lead 县综合执法局
    lead = assignment(event(loop, event_id), "lead")
    assert lead["department_name"].startswith("新市镇")
    act(loop, "township", f"assignments/{lead['id']}/sign")
    called = escalate(loop, event_id)
    assert called["role"] == "lead"
    answered = post(loop, "centre", f"escalations/{called['id']}/answer", {"by_list": True})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    # By the list: the lead department, through its unit stationed in the township.
    assert body["department_name"] == "第二执法中队"
    detail = event(loop, event_id)
    fresh = next(a for a in detail["assignments"] if a["id"] == body["response_assignment_id"])
    assert fresh["role"] == "lead" and fresh["round"] == 2
    assert moment(fresh["sign_by"]) == moment(called["respond_by"])
    assert assignment(detail, "lead")["id"] == fresh["id"]

    act(loop, "zhifa", f"assignments/{fresh['id']}/sign")
    signed = loop.client.get(f"/api/escalations/{called['id']}", headers=loop.token("centre"))
    result = signed.json()
    assert result["responded_at"] is not None
    assert result["response_minutes"] == 0 and result["on_time"] is True
    # responded_at is set once: a later signature (after a return) does not move it.
    with Session(loop.engine) as session:
        row = session.get(Escalation, called["id"])
        assert row is not None and row.responded_at is not None
        first = row.responded_at
    act(
        loop,
        "zhifa",
        f"assignments/{fresh['id']}/return",
        {"reason": "不属于本部门", "clause_code": "C-012"},
    )
    act(loop, "centre", f"assignments/{fresh['id']}/refuse-return", {"reason": "仍由你部门办理"})
    act(loop, "zhifa", f"assignments/{fresh['id']}/sign")
    with Session(loop.engine) as session:
        row = session.get(Escalation, called["id"])
        assert row is not None and row.responded_at == first


def test_answering_a_lead_folds_the_same_agencys_co_part(loop: Loop) -> None:
    event_id = report(loop, matter_code="A-001")  # 乡镇自办, co 县公安局 (新市派出所 on the spot)
    detail = event(loop, event_id)
    co = assignment(detail, "co")
    assert co["department_name"] == "新市派出所"
    called = escalate(loop, event_id)
    police = department_id(loop, "县公安局")
    answered = post(loop, "centre", f"escalations/{called['id']}/answer", {"department_id": police})
    assert answered.status_code == 200, answered.text
    detail = event(loop, event_id)
    parts = {a["id"]: a for a in detail["assignments"]}
    assert parts[co["id"]]["status"] == "cancelled"
    assert assignment(detail, "lead")["department_id"] == police
    folded = [
        s for s in detail["steps"] if s["action"] == "cancel" and "并入" in (s["reason"] or "")
    ]
    assert folded


def test_only_the_townships_own_open_platform_part_is_escalated(loop: Loop) -> None:
    event_id = report(loop)
    for user in ("zhifa", "centre", "grid", "bianban"):
        refused = post(loop, user, f"events/{event_id}/escalate", {"reason": "人手不足"})
        assert refused.status_code == 403, (user, refused.text)
    blank = post(loop, "township", f"events/{event_id}/escalate", {"reason": "   "})
    assert blank.status_code == 422 and blank.json()["detail"]["field"] == "reason"
    missing = post(loop, "township", f"events/{event_id}/escalate", {})
    assert missing.status_code == 422
    too_long = post(loop, "township", f"events/{event_id}/escalate", {"reason": "长" * 2001})
    assert too_long.status_code == 422

    territorial = assignment(event(loop, event_id), "territorial")
    act(loop, "township", f"assignments/{territorial['id']}/sign")
    act(loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "已劝导"})
    fed_back = post(loop, "township", f"events/{event_id}/escalate", {"reason": "人手不足"})
    assert fed_back.status_code == 409 and "已反馈" in fed_back.json()["detail"]["message"]

    # An event with no part of this township's platform: nothing to escalate.
    with Session(loop.engine) as session:
        row = session.get(Event, event_id)
        assert row is not None
    unknown = post(loop, "township", "events/999999999/escalate", {"reason": "人手不足"})
    assert unknown.status_code == 404


def test_answers_are_the_centres_and_name_a_county_department(loop: Loop) -> None:
    event_id = report(loop)
    called = escalate(loop, event_id)
    path = f"escalations/{called['id']}/answer"
    police = department_id(loop, "新市派出所")
    for user in ("township", "zhifa", "bianban"):
        refused = post(loop, user, path, {"department_id": police})
        assert refused.status_code == 403, user
    neither = post(loop, "centre", path, {})
    assert neither.status_code == 422 and neither.json()["detail"]["field"] == "department_id"
    both = post(loop, "centre", path, {"department_id": police, "by_list": True})
    assert both.status_code == 422
    platform = assignment(event(loop, event_id), "territorial")["department_id"]
    township = post(loop, "centre", path, {"department_id": platform})
    assert township.status_code == 422 and township.json()["detail"]["code"] == "not_county"
    unknown = post(loop, "centre", path, {"department_id": 999999999})
    assert unknown.status_code == 422
    assert (
        post(loop, "centre", "escalations/999999999/answer", {"by_list": True}).status_code == 404
    )

    # A matter the routing list does not name: by the list there is nobody to take it.
    with Session(loop.engine) as session:
        row = session.get(Event, event_id)
        assert row is not None
        row.matter_code = "Z-999"
        session.add(row)
        session.commit()
    no_lead = post(loop, "centre", path, {"by_list": True})
    assert no_lead.status_code == 422 and no_lead.json()["detail"]["field"] == "by_list"
    with Session(loop.engine) as session:
        assert session.get(Escalation, called["id"]).status == "waiting"  # type: ignore[union-attr]
        steps = session.exec(select(Step).where(Step.event_id == event_id)).all()
        assert not [s for s in steps if s.action == "answer_escalation"]


def test_the_response_time_counts_minutes_from_the_call() -> None:
    called = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    row = Escalation(
        event_id=1,
        assignment_id=1,
        reason="人手不足",
        called_at=called,
        respond_by=called + timedelta(hours=2),
    )
    assert response_minutes(row) is None and on_time(row) is None
    row.responded_at = called + timedelta(minutes=95, seconds=30)
    assert response_minutes(row) == 95 and on_time(row) is True
    row.responded_at = called + timedelta(hours=2, minutes=1)
    assert response_minutes(row) == 121 and on_time(row) is False


def test_a_township_reads_and_calls_only_its_own(loop: Loop) -> None:
    event_id = report(loop)
    called = escalate(loop, event_id)
    with Session(loop.engine) as session:
        other = Actor(id=10**9, role=UserRole.TOWNSHIP_OPERATOR, township_code="320999001")
        with pytest.raises(Forbidden):
            get_escalation(session, other, called["id"])
        assert list_escalations(session, other).count == 0
        user = session.exec(select(User).where(User.username == "township")).one()
        with pytest.raises(Forbidden):
            escalation_service.escalate(session, other, user, event_id, reason="人手不足")
        session.rollback()
