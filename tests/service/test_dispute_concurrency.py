"""Two centre staff ruling one dispute at once on PostgreSQL: one ruling wins, whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_disputes import MINUTES, department_id, two_departments_returned
from tests.service.test_loop import event

pytestmark = pytest.mark.postgres


@pytest.fixture
def server(loop: Loop) -> Iterator[LiveServer]:
    """Serve the loop's app over real HTTP, so requests really run side by side."""
    with LiveServer(loop.settings) as live:
        yield live


def test_two_rulings_at_once_apply_exactly_one(loop: Loop, server: LiveServer) -> None:
    event_id, found = two_departments_returned(loop)
    market = department_id(loop, "县市场监督管理局")
    squad = department_id(loop, "执法中队")
    unit = department_id(loop, "新市市场监管所")
    rulings: list[dict[str, Any]] = [
        {"lead_department_id": market, "co_department_ids": [squad]},
        {"lead_department_id": squad, "co_department_ids": [unit]},
    ]
    headers = loop.token("centre")
    barrier = threading.Barrier(len(rulings))

    def click(ruling: dict[str, Any]) -> tuple[int, str]:
        body = {**ruling, "minutes_ref": MINUTES, "reasoning": "联席会议研究决定"}
        with server.client() as client:
            barrier.wait()
            response = client.post(f"/api/disputes/{found['id']}/rule", json=body, headers=headers)
            return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=len(rulings)) as pool:
        answers = list(pool.map(click, rulings))
    assert sorted(status for status, _ in answers) == [200, 409], answers
    loser = next(text for status, text in answers if status == 409)
    assert "已裁定" in loser
    winner = rulings[[status for status, _ in answers].index(200)]

    detail = event(loop, event_id)
    live = [a for a in detail["assignments"] if a["status"] != "cancelled"]
    leads = [a["department_id"] for a in live if a["role"] == "lead"]
    cos = sorted(a["department_id"] for a in live if a["role"] == "co")
    assert leads == [winner["lead_department_id"]]
    assert cos == sorted(winner["co_department_ids"])
    assert len([a for a in live if a["role"] == "territorial"]) == 1
    assert sum(1 for s in detail["steps"] if s["action"] == "dispute_rule") == 1
