"""The command centre's reads: the re-dispatch picker, and the board feed's recent history."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import Session, select

from dispatch.reference.models import Department
from service.live import FEED_HISTORY
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_boards_ws import open_board, receive, token
from tests.service.test_loop import act, assignment, event, report


def options(loop: Loop, assignment_id: int, user: str = "centre") -> httpx.Response:
    """GET the re-dispatch options of an assignment as a user."""
    return loop.client.get(
        f"/api/assignments/{assignment_id}/redispatch-options", headers=loop.token(user)
    )


def test_redispatch_options_put_the_lists_lead_first_and_group_by_kind(loop: Loop) -> None:
    event_id = report(loop, matter_code="C-004")
    lead = assignment(event(loop, event_id), "lead")
    act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "不归我", "clause_code": "B-004"},
    )
    response = options(loop, lead["id"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    # 占道经营's lead in the list version that routed it; the holder (执法中队) is left out.
    assert body["lead"]["name"] == "县综合行政执法局"
    assert [g["label"] for g in body["groups"]] == ["县级部门", "派驻机构", "乡镇平台"]
    every = [d for g in body["groups"] for d in g["departments"]]
    ids = [d["id"] for d in every]
    assert lead["department_id"] not in ids and body["lead"]["id"] not in ids
    assert len(ids) == len(set(ids))
    for group in body["groups"]:
        assert {d["kind"] for d in group["departments"]} == {group["kind"]}
    # 市场监管所 co-handles it for 县市场监督管理局: the lead may still go to that agency
    # (the re-dispatch folds the co part into the lead, so it never holds two parts) ...
    detail = event(loop, event_id)
    co = assignment(detail, "co")
    names = {d["name"] for d in every}
    assert co["on_behalf_of_name"] == "县市场监督管理局"
    assert "县市场监督管理局" in names and "县住房和城乡建设局" in names
    # ... but the co part may not go to the lead's agency, units and all.
    refusal = {"reason": "非本局", "clause_code": "C-004"}
    act(loop, "shichang", f"assignments/{co['id']}/return", refusal)
    co_options = options(loop, co["id"]).json()
    co_names = {d["name"] for g in co_options["groups"] for d in g["departments"]}
    if co_options["lead"]:
        co_names.add(co_options["lead"]["name"])
    assert "县综合行政执法局" not in co_names and "县住房和城乡建设局" in co_names
    # Only the platforms of the event's own township.
    platforms = next(g for g in body["groups"] if g["kind"] == "township_platform")
    assert {d["township_code"] for d in platforms["departments"]} == {"320999004"}
    with Session(loop.engine) as session:
        assert body["lead"]["id"] == (
            session.exec(select(Department.id).where(Department.name == "县综合行政执法局")).one()
        )


def test_redispatch_options_are_the_command_centres(loop: Loop) -> None:
    event_id = report(loop, matter_code="C-004")
    lead = assignment(event(loop, event_id), "lead")
    assert options(loop, lead["id"], "zhifa").status_code == 403
    assert options(loop, lead["id"], "admin").status_code == 200
    missing = options(loop, 999_999_999)
    assert missing.status_code == 404 and missing.json()["detail"]["field"] == "assignment_id"


def test_the_county_snapshot_carries_the_recent_feed_newest_first(loop: Loop) -> None:
    first = report(loop)
    second = report(loop)
    with LiveServer(loop.settings) as live:
        ws = open_board(live.url, "/ws/boards/county", token(live.url, "centre"))
        try:
            snapshot = receive(ws)
        finally:
            ws.close()
    assert snapshot["type"] == "snapshot"
    recent = snapshot["recent"]
    assert 0 < len(recent) <= FEED_HISTORY
    seqs = [d["seq"] for d in recent]
    assert seqs == sorted(seqs, reverse=True) and seqs[0] == snapshot["seq"]
    assert {"type", "id", "at", "v", "p", "set"} <= set(recent[0])
    ids = [d["id"] for d in recent]
    assert ids.index(second) < ids.index(first)
