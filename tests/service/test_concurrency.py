"""Two people clicking at once never both win: each transition fired from 8 threads on PostgreSQL.

SQLite has a single writer, so it cannot show a lost update; PostgreSQL can, and every
transition must read its rows locked. Each test brings an event to the state a transition
needs, fires the same request from 8 threads through a real uvicorn server at the same
moment, and checks that exactly one succeeds, the other seven answer 409 naming the current
state, and the counts (parts, rounds, rework, steps) are those of one success.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from dispatch.events.models import Assignment, Event, Step
from dispatch.reference.models import Department
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_loop import act, assignment, event, report

pytestmark = pytest.mark.postgres

CLICKS = 8


@pytest.fixture
def server(loop: Loop) -> Iterator[LiveServer]:
    """Serve the loop's app over real HTTP, so requests really run side by side."""
    with LiveServer(loop.settings) as live:
        yield live


def fire(server: LiveServer, headers: dict[str, str], path: str, body: Any = None) -> list[int]:
    """POST the same request from CLICKS threads released together; return the statuses."""
    barrier = threading.Barrier(CLICKS)
    answers: list[tuple[int, str]] = []

    def click(_: int) -> tuple[int, str]:
        with server.client() as client:
            barrier.wait()
            response = client.post(f"/api/{path}", json=body or {}, headers=headers)
            return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=CLICKS) as pool:
        answers = list(pool.map(click, range(CLICKS)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * (CLICKS - 1), answers
    for status, text in answers:
        if status == 409:
            assert "当前状态" in text or "刷新后重试" in text, text
    return statuses


def count(loop: Loop, model: Any, *where: Any) -> int:
    """Count rows."""
    with Session(loop.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def steps(loop: Loop, event_id: int, action: str) -> int:
    """Count an event's steps of one action."""
    return count(loop, Step, Step.event_id == event_id, Step.action == action)


def lead_of(loop: Loop, event_id: int) -> dict[str, Any]:
    """Return the event's live lead part."""
    return assignment(event(loop, event_id), "lead")


def resolved_event(loop: Loop) -> int:
    """Report, route, and have every part (lead, cooperating, territorial) signed and fed back."""
    event_id = report(loop)
    detail = event(loop, event_id)
    for role, user in (("lead", "zhifa"), ("co", "shichang"), ("territorial", "township")):
        part = assignment(detail, role)
        act(loop, user, f"assignments/{part['id']}/sign")
        act(loop, user, f"assignments/{part['id']}/feedback", {"note": "已处置"})
    assert event(loop, event_id)["status"] == "resolved"
    return event_id


def returned_lead(loop: Loop) -> tuple[int, dict[str, Any]]:
    """Report, route, and have the lead return its part."""
    event_id = report(loop)
    lead = lead_of(loop, event_id)
    act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "不属于本部门职责", "clause_code": "C-005"},
    )
    return event_id, lead


def test_sign(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop)
    lead = lead_of(loop, event_id)
    fire(server, loop.token("zhifa"), f"assignments/{lead['id']}/sign")
    assert steps(loop, event_id, "sign") == 1
    assert steps(loop, event_id, "lead_sign") == 1


def test_return(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop)
    lead = lead_of(loop, event_id)
    body = {"reason": "不属于本部门职责", "clause_code": "C-005"}
    fire(server, loop.token("zhifa"), f"assignments/{lead['id']}/return", body)
    assert steps(loop, event_id, "return") == 1


def test_feedback(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop)
    lead = lead_of(loop, event_id)
    act(loop, "zhifa", f"assignments/{lead['id']}/sign")
    fire(server, loop.token("zhifa"), f"assignments/{lead['id']}/feedback", {"note": "已处置"})
    assert steps(loop, event_id, "feed_back") == 1


def test_the_last_two_feedbacks_at_once_resolve_the_event_once(
    loop: Loop, server: LiveServer
) -> None:
    event_id = report(loop)
    detail = event(loop, event_id)
    territorial = assignment(detail, "territorial")
    act(loop, "township", f"assignments/{territorial['id']}/sign")
    act(loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "已巡查"})
    parts = [(assignment(detail, "lead"), "zhifa"), (assignment(detail, "co"), "shichang")]
    for part, user in parts:
        act(loop, user, f"assignments/{part['id']}/sign")
    barrier = threading.Barrier(len(parts))

    def feed_back(item: tuple[dict[str, Any], str]) -> int:
        part, user = item
        headers = loop.token(user)
        with server.client() as client:
            barrier.wait()
            path = f"/api/assignments/{part['id']}/feedback"
            return client.post(path, json={"note": "已处置"}, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        assert list(pool.map(feed_back, parts)) == [200, 200]
    assert event(loop, event_id)["status"] == "resolved"
    assert steps(loop, event_id, "all_fed_back") == 1


def test_redispatch(loop: Loop, server: LiveServer) -> None:
    event_id, lead = returned_lead(loop)
    with Session(loop.engine) as session:
        market = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    body = {"department_id": market.id, "reason": "经研判属市场监管"}
    fire(server, loop.token("centre"), f"assignments/{lead['id']}/redispatch", body)
    live = count(
        loop,
        Assignment,
        Assignment.event_id == event_id,
        Assignment.role == "lead",
        col(Assignment.status).in_(("pending", "signed", "fed_back")),
    )
    assert live == 1, "exactly one live lead after the re-dispatch"
    assert count(loop, Assignment, Assignment.event_id == event_id, Assignment.round == 2) == 1


def test_refuse_return(loop: Loop, server: LiveServer) -> None:
    event_id, lead = returned_lead(loop)
    body = {"reason": "清单明确由综合执法牵头"}
    fire(server, loop.token("centre"), f"assignments/{lead['id']}/refuse-return", body)
    assert steps(loop, event_id, "refuse_return") == 1


@pytest.mark.parametrize("passed", [True, False])
def test_verify(loop: Loop, server: LiveServer, passed: bool) -> None:
    event_id = resolved_event(loop)
    body = {"passed": passed, "note": None if passed else "复查时问题仍在"}
    fire(server, loop.token("township"), f"events/{event_id}/verify", body)
    detail = event(loop, event_id)
    assert detail["status"] == ("verified" if passed else "in_progress")
    assert detail["rework_count"] == (0 if passed else 1)
    assert steps(loop, event_id, "verify_pass" if passed else "verify_fail") == 1
    assert steps(loop, event_id, "rework") == (0 if passed else 3)  # every part sent back once


def test_close(loop: Loop, server: LiveServer) -> None:
    event_id = resolved_event(loop)
    act(loop, "township", f"events/{event_id}/verify", {"passed": True})
    fire(server, loop.token("township"), f"events/{event_id}/close")
    assert steps(loop, event_id, "close") == 1


@pytest.mark.parametrize("rating", [5, 1])
def test_rate(loop: Loop, server: LiveServer, rating: int) -> None:
    event_id = resolved_event(loop)
    act(loop, "township", f"events/{event_id}/verify", {"passed": True})
    act(loop, "township", f"events/{event_id}/close")
    body = {"rating": rating, "note": "群众不满意" if rating < 3 else None}
    fire(server, loop.token("centre"), f"events/{event_id}/rate", body)
    detail = event(loop, event_id)
    assert detail["rework_count"] == (1 if rating < 3 else 0)
    action = "rate_satisfied" if rating >= 3 else "rate_unsatisfied"
    assert steps(loop, event_id, action) == 1


def test_triage(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop, matter_code=None, description="这里有点情况，请来看一下")
    assert event(loop, event_id)["status"] == "needs_triage"
    fire(server, loop.token("centre"), f"events/{event_id}/triage", {"matter_code": "C-005"})
    assert steps(loop, event_id, "triage_route") == 1
    assert count(loop, Assignment, Assignment.event_id == event_id, Assignment.role == "lead") == 1


def test_merge(loop: Loop, server: LiveServer) -> None:
    master = report(loop)
    duplicate = report(loop)
    fire(server, loop.token("centre"), f"events/{duplicate}/merge", {"into_id": master})
    assert steps(loop, master, "merged_in") == 1
    assert steps(loop, duplicate, "merge") == 1
    with Session(loop.engine) as session:
        found = session.get(Event, duplicate)
        assert found is not None and found.merged_into_id == master


def test_two_merges_into_each_other_at_once_leave_one_master(
    loop: Loop, server: LiveServer
) -> None:
    first, second = report(loop), report(loop)
    headers = loop.token("centre")
    barrier = threading.Barrier(2)

    def merge(pair: tuple[int, int]) -> int:
        duplicate, master = pair
        with server.client() as client:
            barrier.wait()
            path = f"/api/events/{duplicate}/merge"
            return client.post(path, json={"into_id": master}, headers=headers).status_code

    merges: list[tuple[int, int]] = [(first, second), (second, first)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(merge, merges))
    assert statuses[0] == 200 and statuses[1] in (409, 422), statuses
    merged = count(loop, Event, col(Event.id).in_((first, second)), Event.status == "merged")
    assert merged == 1, "never both merged into each other"
