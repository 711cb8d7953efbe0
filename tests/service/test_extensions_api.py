"""Extensions (延期) over HTTP: ask, approve or refuse, list within scope, and the errors.

The rules themselves are in tests/dispatch/test_extensions.py; here the routes, their
scopes, their 409s and 422s, a lapse that is saved while the decision answers 409, and
(on PostgreSQL) two approvals racing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, func, select

from dispatch.core.clock import utcnow
from dispatch.events.models import Assignment, ExtensionRequest, ExtensionStatus, Step
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_concurrency import fire
from tests.service.test_error_words import assert_worded
from tests.service.test_loop import assignment, event, report


def post(loop: Loop, user: str, path: str, body: dict[str, Any]) -> Any:
    return loop.client.post(f"/api/{path}", json=body, headers=loop.token(user))


def get(loop: Loop, user: str, path: str) -> Any:
    return loop.client.get(f"/api/{path}", headers=loop.token(user))


def lead_id(loop: Loop, event_id: int) -> int:
    return int(assignment(event(loop, event_id), "lead")["id"])


def ask(loop: Loop, part_id: int, days: int = 3, user: str = "zhifa") -> dict[str, Any]:
    response = post(
        loop,
        user,
        f"assignments/{part_id}/extension",
        {"working_days": days, "reason": "需联合整治"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_ask_then_approve_with_fewer_days(loop: Loop) -> None:
    event_id = report(loop)
    part_id = lead_id(loop, event_id)
    standing = get(loop, "zhifa", f"assignments/{part_id}/extension").json()
    assert standing["limit_days"] == 20 and standing["grantable_days"] == 20
    assert standing["may_request"] and standing["working_days_left"] > 0

    asked = ask(loop, part_id, 5)
    assert asked["status"] == "pending" and asked["working_days"] == 5
    assert asked["department_name"].endswith("执法中队") and asked["event_id"] == event_id
    assert asked["part"]["pending_id"] == asked["id"] and not asked["part"]["may_request"]
    before = asked["handle_by_before"]

    approved = post(
        loop, "centre", f"extensions/{asked['id']}/approve", {"working_days": 2, "note": "同意两天"}
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["granted_days"] == 2
    assert body["handle_by_before"] == before and body["handle_by_after"] > before
    assert body["part"]["handle_by"] == body["handle_by_after"]
    assert body["part"]["granted_days"] == 2 and body["part"]["grantable_days"] == 18
    assert body["decided_by"] and body["decision_note"] == "同意两天"

    detail = event(loop, event_id, "zhifa")
    assert assignment(detail, "lead")["handle_by"] == body["handle_by_after"]
    actions = [s["action"] for s in detail["steps"]]
    assert "extension_requested" in actions and "extension_approved" in actions


def test_refuse_and_list_by_status_within_scope(loop: Loop) -> None:
    event_id = report(loop)
    detail = event(loop, event_id)
    lead, co = assignment(detail, "lead"), assignment(detail, "co")
    lead_request = ask(loop, lead["id"])
    co_request = ask(loop, co["id"], 1, user="shichang")
    missing = post(loop, "centre", f"extensions/{co_request['id']}/refuse", {"note": ""})
    assert missing.status_code == 422
    refused = post(loop, "centre", f"extensions/{co_request['id']}/refuse", {"note": "不予延期"})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"

    def ids(user: str, status: str | None = None) -> set[int]:
        path = "extensions" + (f"?status={status}" if status else "")
        response = get(loop, user, path)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()["data"]}

    both = {lead_request["id"], co_request["id"]}
    assert both <= ids("centre") and both <= ids("bianban")
    assert lead_request["id"] in ids("centre", "pending")
    assert co_request["id"] not in ids("centre", "pending")
    assert co_request["id"] in ids("centre", "refused")
    assert lead_request["id"] in ids("zhifa") and co_request["id"] not in ids("zhifa")
    assert co_request["id"] in ids("shichang") and lead_request["id"] not in ids("shichang")
    assert_worded(get(loop, "grid", "extensions"), 403, "forbidden")
    assert get(loop, "shichang", f"extensions/{lead_request['id']}").status_code == 403
    assert get(loop, "zhifa", f"extensions/{lead_request['id']}").status_code == 200
    assert get(loop, "bianban", f"extensions/{lead_request['id']}").status_code == 200
    assert get(loop, "centre", "extensions?status=nonsense").status_code == 422
    assert get(loop, "centre", "extensions/999999999").status_code == 404


def test_scope_refusals_are_403(loop: Loop) -> None:
    event_id = report(loop)
    part_id = lead_id(loop, event_id)
    body = {"working_days": 2, "reason": "需联合整治"}
    for user in ("shichang", "township", "grid", "centre"):
        answer = post(loop, user, f"assignments/{part_id}/extension", body)
        assert_worded(answer, 403, "forbidden")
    assert get(loop, "shichang", f"assignments/{part_id}/extension").status_code == 403
    request = ask(loop, part_id)
    for user in ("zhifa", "township", "bianban", "grid"):
        answer = post(loop, user, f"extensions/{request['id']}/approve", {"note": "同意"})
        assert answer.status_code == 403, (user, answer.text)
        answer = post(loop, user, f"extensions/{request['id']}/refuse", {"note": "不同意"})
        assert answer.status_code == 403, (user, answer.text)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"working_days": 0, "reason": "理由"}, "working_days"),
        ({"working_days": 367, "reason": "理由"}, "working_days"),
        ({"working_days": 2**70, "reason": "理由"}, "working_days"),
        ({"working_days": 2}, "reason"),
        ({"working_days": 2, "reason": ""}, "reason"),
        ({"working_days": 2, "reason": "长" * 2001}, "reason"),
        ({"working_days": 2, "reason": "有\x00空字符"}, "reason"),
    ],
)
def test_bad_requests_are_422(loop: Loop, body: dict[str, Any], field: str) -> None:
    event_id = report(loop)
    answer = post(loop, "zhifa", f"assignments/{lead_id(loop, event_id)}/extension", body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_conflicts_are_409_naming_the_state(loop: Loop) -> None:
    event_id = report(loop)
    part_id = lead_id(loop, event_id)
    request = ask(loop, part_id, 3)
    second = post(
        loop, "zhifa", f"assignments/{part_id}/extension", {"working_days": 1, "reason": "再"}
    )
    assert_worded(second, 409, "extension_pending")
    too_many = post(
        loop, "centre", f"extensions/{request['id']}/approve", {"working_days": 4, "note": "同意"}
    )
    assert too_many.status_code == 422 and too_many.json()["detail"]["field"] == "working_days"
    assert (
        post(loop, "centre", f"extensions/{request['id']}/approve", {"note": "同意"}).status_code
        == 200
    )
    again = post(loop, "centre", f"extensions/{request['id']}/refuse", {"note": "不同意"})
    assert "「已批准」" in assert_worded(again, 409, "status_conflict")["message"]
    beyond = post(
        loop, "zhifa", f"assignments/{part_id}/extension", {"working_days": 18, "reason": "再"}
    )
    assert "已延期 3 个工作日" in assert_worded(beyond, 409, "extension_limit")["message"]


def test_a_late_decision_saves_the_lapse_and_answers_409(loop: Loop) -> None:
    event_id = report(loop)
    part_id = lead_id(loop, event_id)
    request = ask(loop, part_id)
    with Session(loop.engine) as session:  # the deadline passes while the request waits
        part = session.get(Assignment, part_id)
        assert part is not None
        part.handle_by = utcnow() - timedelta(minutes=1)
        session.add(part)
        session.commit()
    late = post(loop, "centre", f"extensions/{request['id']}/approve", {"note": "同意"})
    assert "已失效" in assert_worded(late, 409, "extension_lapsed")["message"]
    read = get(loop, "zhifa", f"extensions/{request['id']}").json()
    assert read["status"] == "lapsed" and read["granted_days"] is None
    asked_late = post(
        loop, "zhifa", f"assignments/{part_id}/extension", {"working_days": 1, "reason": "再"}
    )
    assert "已过" in assert_worded(asked_late, 409, "deadline_passed")["message"]


def test_feeding_back_lapses_the_pending_request(loop: Loop) -> None:
    event_id = report(loop)
    part_id = lead_id(loop, event_id)
    post(loop, "zhifa", f"assignments/{part_id}/sign", {})
    request = ask(loop, part_id)
    fed = post(loop, "zhifa", f"assignments/{part_id}/feedback", {"note": "已处置"})
    assert fed.status_code == 200, fed.text
    assert get(loop, "centre", f"extensions/{request['id']}").json()["status"] == "lapsed"
    assert "extension_lapsed" in [s["action"] for s in fed.json()["steps"]]


# ---- Two approvals racing (PostgreSQL) ---------------------------------------------------


@pytest.fixture
def server(loop: Loop) -> Iterator[LiveServer]:
    """Serve the loop's app over real HTTP, so requests really run side by side."""
    with LiveServer(loop.settings) as live:
        yield live


@pytest.mark.postgres
def test_two_approvals_race_and_exactly_one_wins(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop)
    part_id = lead_id(loop, event_id)
    request = ask(loop, part_id, 2)
    before = assignment(event(loop, event_id), "lead")["handle_by"]
    fire(server, loop.token("centre"), f"extensions/{request['id']}/approve", {"note": "同意"})
    with Session(loop.engine) as session:
        row = session.get(ExtensionRequest, request["id"])
        assert row is not None and row.status == ExtensionStatus.APPROVED and row.granted_days == 2
        approvals = session.exec(
            select(func.count())
            .select_from(Step)
            .where(Step.event_id == event_id, Step.action == "extension_approved")
        ).one()
        assert approvals == 1
    read = get(loop, "centre", f"extensions/{request['id']}").json()
    assert read["handle_by_before"] == before
    # Moved once by two working days, not twice.
    assert assignment(event(loop, event_id), "lead")["handle_by"] == read["handle_by_after"]
    assert read["part"]["granted_days"] == 2
