"""GET /api/auth/me says what the pages may offer: the policy's actions and the boards."""

from __future__ import annotations

import pytest

from tests.loop_fixtures import Loop

EXPECTED = {
    "grid": ({"report", "view_event", "verify"}, ["township"]),
    "township": (
        {"report", "view_event", "verify", "close", "rate", "sign", "return_assignment"},
        ["township"],
    ),
    "zhifa": ({"view_event", "sign", "return_assignment", "feed_back"}, ["department"]),
    "centre": ({"report", "triage_route", "mark_invalid", "redispatch", "close"}, ["county"]),
}
NEVER = {
    "grid": {"sign", "return_assignment", "feed_back", "close", "triage_route", "manage_reference"},
    "zhifa": {"report", "verify", "close", "triage_route"},
    "centre": {"sign", "feed_back", "verify", "manage_reference"},
}


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_me_lists_the_actions_and_boards_of_the_role(loop: Loop, username: str) -> None:
    me = loop.client.get("/api/auth/me", headers=loop.token(username)).json()
    actions, boards = EXPECTED[username]
    assert actions <= set(me["actions"]), me["actions"]
    assert not NEVER.get(username, set()) & set(me["actions"]), me["actions"]
    assert me["boards"] == boards


def test_the_sign_in_answer_carries_them_too(loop: Loop) -> None:
    signed = loop.client.post("/api/auth/token", data={"username": "grid", "password": "demo-2026"})
    assert signed.status_code == 200
    assert "sign" not in signed.json()["user"]["actions"]
    assert signed.json()["user"]["boards"] == ["township"]
