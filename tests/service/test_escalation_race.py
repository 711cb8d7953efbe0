"""Two answers to one 乡呼 race on PostgreSQL: exactly one hands the part over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dispatch.events.models import Assignment, Escalation, EscalationStatus
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_concurrency import CLICKS, count, fire, steps
from tests.service.test_escalation import department_id, escalate
from tests.service.test_loop import report

pytestmark = pytest.mark.postgres


@pytest.fixture
def server(loop: Loop) -> Iterator[LiveServer]:
    """Serve the loop's app over real HTTP, so requests really run side by side."""
    with LiveServer(loop.settings) as live:
        yield live


def test_answer(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop)
    called = escalate(loop, event_id)
    police = department_id(loop, "新市派出所")
    path = f"escalations/{called['id']}/answer"
    fire(server, loop.token("centre"), path, {"department_id": police})
    assert steps(loop, event_id, "answer_escalation") == 1
    assert (
        count(loop, Assignment, Assignment.event_id == event_id, Assignment.department_id == police)
        == 1
    )
    assert (
        count(
            loop,
            Escalation,
            Escalation.id == called["id"],
            Escalation.status == EscalationStatus.ANSWERED,
        )
        == 1
    )


def test_escalate(loop: Loop, server: LiveServer) -> None:
    event_id = report(loop)
    headers = loop.token("township")
    barrier = threading.Barrier(CLICKS)

    def click(_: int) -> tuple[int, str]:
        with server.client() as client:
            barrier.wait()
            path = f"/api/events/{event_id}/escalate"
            response = client.post(path, json={"reason": "人手不足"}, headers=headers)
            return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=CLICKS) as pool:
        answers = list(pool.map(click, range(CLICKS)))
    assert sorted(s for s, _ in answers) == [201] + [409] * (CLICKS - 1), answers
    assert count(loop, Escalation, Escalation.event_id == event_id) == 1
