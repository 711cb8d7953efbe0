"""Disputes over HTTP: how they open by themselves and by hand, who reads them, the ruling."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from dispatch.disputes.models import (
    Dispute,
    DisputeStatus,
    ListChange,
    ListChangeEvent,
    ListChangeSource,
    ListChangeStatus,
)
from dispatch.events.models import Step
from dispatch.reference.models import Department
from tests.loop_fixtures import Loop
from tests.service.test_loop import act, assignment, event, report

RETURN = {"reason": "不属于本部门职责", "clause_code": "C-005"}
MINUTES = "县社治〔2026〕3号"


def department_id(loop: Loop, name: str) -> int:
    """Return a department's id by its exact name, or the one whose name contains it."""
    with Session(loop.engine) as session:
        found = session.exec(
            select(Department)
            .where(col(Department.name).contains(name))
            .order_by(col(Department.id))
        ).first()
        assert found is not None and found.id is not None, name
        return found.id


def disputes_of(loop: Loop, event_id: int, user: str = "centre") -> list[dict[str, Any]]:
    """List an event's disputes as a user."""
    response = loop.client.get(
        "/api/disputes", params={"event_id": event_id}, headers=loop.token(user)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def dispute(loop: Loop, dispute_id: int, user: str = "centre") -> dict[str, Any]:
    """Read a dispute as a user."""
    response = loop.client.get(f"/api/disputes/{dispute_id}", headers=loop.token(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def two_departments_returned(loop: Loop) -> tuple[int, dict[str, Any]]:
    """Route a C-004 event, have its lead and then its cooperating department return."""
    event_id = report(loop)
    detail = event(loop, event_id)
    lead, co = assignment(detail, "lead"), assignment(detail, "co")
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    assert disputes_of(loop, event_id) == []  # one return alone is no dispute
    act(
        loop,
        "shichang",
        f"assignments/{co['id']}/return",
        {"reason": "摊贩未办证，属占道经营", "clause_code": "C-004"},
    )
    [found] = disputes_of(loop, event_id)
    return event_id, found


def test_a_single_return_opens_no_dispute(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    assert disputes_of(loop, event_id) == []
    assert not any(s["action"] == "dispute_open" for s in event(loop, event_id)["steps"])


def test_two_departments_returning_open_a_dispute_with_both_sides(loop: Loop) -> None:
    event_id, found = two_departments_returned(loop)
    assert found["status"] == "open" and found["trigger"] == "two_departments"
    detail = dispute(loop, found["id"])
    sides = {p["role"]: p for p in detail["parties"]}
    assert set(sides) == {"lead", "co"}
    assert sides["lead"]["return_reason"] == "不属于本部门职责"
    assert sides["lead"]["clause_code"] == "C-005" and "清单第" in sides["lead"]["return_clause"]
    assert sides["co"]["clause_code"] == "C-004"
    assert detail["current_entry"]["code"] == "C-004"
    assert detail["current_entry"]["lead_department_name"]
    assert detail["matter_code"] == "C-004" and detail["event_id"] == event_id
    opened = [s for s in event(loop, event_id)["steps"] if s["action"] == "dispute_open"]
    assert len(opened) == 1 and "争议" in opened[0]["reason"]


def test_the_lead_returned_a_second_time_opens_a_dispute(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    act(loop, "centre", f"assignments/{lead['id']}/refuse-return", {"reason": "清单明确"})
    assert disputes_of(loop, event_id) == []
    act(loop, "zhifa", f"assignments/{lead['id']}/return", {**RETURN, "reason": "仍不属于我们"})
    [found] = disputes_of(loop, event_id)
    assert found["trigger"] == "second_return"
    [party] = dispute(loop, found["id"])["parties"]
    assert party["return_reason"] == "仍不属于我们"  # the latest return of that part


def test_reading_is_for_the_centre_the_staffing_office_and_the_parties(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    act(loop, "centre", f"assignments/{lead['id']}/refuse-return", {"reason": "清单明确"})
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    [found] = disputes_of(loop, event_id)
    assert dispute(loop, found["id"], "bianban")["id"] == found["id"]
    assert dispute(loop, found["id"], "zhifa")["id"] == found["id"]
    assert [d["id"] for d in disputes_of(loop, event_id, "zhifa")] == [found["id"]]
    refused = loop.client.get(f"/api/disputes/{found['id']}", headers=loop.token("shichang"))
    assert refused.status_code == 403
    assert disputes_of(loop, event_id, "shichang") == []
    township = loop.client.get("/api/disputes", headers=loop.token("township"))
    assert township.status_code == 403
    missing = loop.client.get("/api/disputes/999999", headers=loop.token("centre"))
    assert missing.status_code == 404
    opened = loop.client.get(
        "/api/disputes", params={"status": "open"}, headers=loop.token("centre")
    )
    assert found["id"] in [d["id"] for d in opened.json()["items"]]
    assert all(d["status"] == "open" for d in opened.json()["items"])


def test_the_centre_opens_a_dispute_by_hand_once(loop: Loop) -> None:
    event_id = report(loop)
    path = f"/api/events/{event_id}/dispute"
    blank = loop.client.post(path, json={"reason": "  "}, headers=loop.token("centre"))
    assert blank.status_code == 422 and blank.json()["detail"]["field"] == "reason"
    denied = loop.client.post(path, json={"reason": "职责不清"}, headers=loop.token("zhifa"))
    assert denied.status_code == 403
    opened = loop.client.post(path, json={"reason": "职责不清"}, headers=loop.token("centre"))
    assert opened.status_code == 201, opened.text
    assert opened.json()["trigger"] == "manual" and opened.json()["reason"] == "职责不清"
    again = loop.client.post(path, json={"reason": "再来一次"}, headers=loop.token("centre"))
    assert again.status_code == 409 and "待裁定" in again.json()["detail"]["message"]
    assert len(disputes_of(loop, event_id)) == 1


def rule_body(loop: Loop, **extra: Any) -> dict[str, Any]:
    """A ruling giving the lead to 县市场监督管理局 with 执法中队 cooperating."""
    return {
        "lead_department_id": department_id(loop, "县市场监督管理局"),
        "co_department_ids": [department_id(loop, "执法中队")],
        "minutes_ref": MINUTES,
        "reasoning": "经联席会议研究，无证占道经营由市场监管牵头",
        **extra,
    }


def test_a_ruling_re_dispatches_the_event_and_proposes_a_list_change(loop: Loop) -> None:
    event_id, found = two_departments_returned(loop)
    before = event(loop, event_id)
    territorial = assignment(before, "territorial")
    market = department_id(loop, "县市场监督管理局")
    body = rule_body(
        loop,
        list_change={
            "kind": "move_lead",
            "matter_code": "C-004",
            "lead_department_id": market,
            "basis": "县社治〔2026〕3号纪要",
            "reasons": "同类事件多次退回",
        },
    )
    ruled = act(loop, "centre", f"disputes/{found['id']}/rule", body)
    assert ruled["status"] == "ruled" and ruled["minutes_ref"] == MINUTES
    assert ruled["lead_department_id"] == market
    [change] = ruled["list_changes"]
    assert change["status"] == "pending" and change["kind"] == "move_lead"

    after = event(loop, event_id)
    lead, co = assignment(after, "lead"), assignment(after, "co")
    assert lead["department_id"] == market and lead["round"] == 2 and lead["status"] == "pending"
    assert co["department_name"].endswith("执法中队") and co["status"] == "pending"
    assert assignment(after, "territorial")["id"] == territorial["id"]
    old = {a["id"]: a for a in before["assignments"]}
    for part in after["assignments"]:
        if part["id"] in old and part["role"] in ("lead", "co"):
            assert part["status"] == "cancelled", part
    rule_steps = [s for s in after["steps"] if s["action"] == "dispute_rule"]
    assert len(rule_steps) == 1 and MINUTES in rule_steps[0]["reason"]
    assert sum(1 for s in after["steps"] if s["action"] == "dispatch") == 3 + 2

    with Session(loop.engine) as session:
        stored = session.exec(select(ListChange).where(ListChange.dispute_id == found["id"])).one()
        assert stored.source == ListChangeSource.RULING
        assert stored.status == ListChangeStatus.PENDING
        evidence = session.exec(
            select(ListChangeEvent.event_id).where(ListChangeEvent.change_id == stored.id)
        ).all()
        assert list(evidence) == [event_id]
        assert session.get(Dispute, found["id"]).status == DisputeStatus.RULED  # type: ignore[union-attr]

    again = loop.client.post(
        f"/api/disputes/{found['id']}/rule", json=rule_body(loop), headers=loop.token("centre")
    )
    assert again.status_code == 409 and "已裁定" in again.json()["detail"]["message"]
    assert len([s for s in event(loop, event_id)["steps"] if s["action"] == "dispute_rule"]) == 1


def test_a_ruling_keeping_the_lead_sends_its_return_back(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    act(loop, "centre", f"assignments/{lead['id']}/refuse-return", {"reason": "清单明确"})
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    [found] = disputes_of(loop, event_id)
    co = assignment(event(loop, event_id), "co")
    ruled = act(
        loop,
        "centre",
        f"disputes/{found['id']}/rule",
        {
            "lead_department_id": lead["department_id"],
            "co_department_ids": [co["department_id"]],
            "minutes_ref": MINUTES,
            "reasoning": "维持清单",
        },
    )
    assert ruled["status"] == "ruled"
    after = event(loop, event_id)
    kept = assignment(after, "lead")
    assert kept["id"] == lead["id"] and kept["status"] == "pending"
    assert assignment(after, "co")["id"] == co["id"]
    # A later return after the ruling alone opens no new dispute.
    act(loop, "zhifa", f"assignments/{lead['id']}/return", RETURN)
    assert [d["status"] for d in disputes_of(loop, event_id)] == ["ruled"]


def test_a_ruling_refuses_bad_input(loop: Loop) -> None:
    event_id, found = two_departments_returned(loop)
    path = f"/api/disputes/{found['id']}/rule"
    headers = loop.token("centre")
    market = department_id(loop, "县市场监督管理局")

    def refused(body: dict[str, Any], status: int = 422) -> str:
        response = loop.client.post(path, json=body, headers=headers)
        assert response.status_code == status, response.text
        field: str = response.json()["detail"].get("field") or ""
        return field

    assert refused(rule_body(loop, minutes_ref=" ")) == "minutes_ref"
    assert refused(rule_body(loop, minutes_ref="号" * 101)) == "minutes_ref"
    assert refused(rule_body(loop, reasoning="")) == "reasoning"
    assert refused(rule_body(loop, co_department_ids=[market])) == "co_department_ids"
    unit = department_id(loop, "新市市场监管所")
    assert refused(rule_body(loop, co_department_ids=[unit])) == "co_department_ids"
    platform = department_id(loop, "新市镇综合执法平台")
    assert refused(rule_body(loop, lead_department_id=platform)) == "lead_department_id"
    assert refused(rule_body(loop, lead_department_id=99999999)) == "lead_department_id"
    bad_change = {"kind": "move_lead", "matter_code": "C-004", "reasons": "理由"}
    assert refused(rule_body(loop, list_change=bad_change)) == "lead_department_id"
    forbidden = loop.client.post(path, json=rule_body(loop), headers=loop.token("bianban"))
    assert forbidden.status_code == 403
    # Nothing of the refused rulings stuck.
    assert dispute(loop, found["id"])["status"] == "open"
    with Session(loop.engine) as session:
        assert not session.exec(
            select(Step).where(Step.event_id == event_id, Step.action == "dispute_rule")
        ).first()
        assert not session.exec(
            select(ListChange).where(ListChange.dispute_id == found["id"])
        ).first()
