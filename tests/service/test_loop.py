"""The whole closed loop over HTTP with a real RQ worker, and the faults it must survive."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlmodel import Session, func, select

from dispatch.core.redis import connect
from dispatch.core.settings import Settings
from dispatch.events.models import Assignment, Event
from dispatch.jobs.scheduler import sweep
from dispatch.reference.models import Department
from tests.helpers import demo_grid_point, image_bytes
from tests.loop_fixtures import LiveServer, Loop, RedisServer, run_burst_worker

XINSHI = "320999004"  # 新市镇: the demo users' township


def report_body(matter_code: str | None = "C-004", **extra: Any) -> dict[str, Any]:
    """Return a report from a grid of 新市镇 with a fresh client id."""
    lon, lat = demo_grid_point(XINSHI, nth=3)
    return {
        "client_id": str(uuid4()),
        "reported_at": "2026-11-20T09:30:00+08:00",
        "lon": lon,
        "lat": lat,
        "address": "新市镇东村三组",
        "description": "新市街菜场门口有流动摊贩占道卖菜，行人只能走机动车道",
        "matter_code": matter_code,
        **extra,
    }


def report(loop: Loop, **body: Any) -> int:
    """Report as the grid worker and route it with a burst worker; return the event id."""
    response = loop.client.post("/api/events", json=report_body(**body), headers=loop.token("grid"))
    assert response.status_code == 201, response.text
    loop.run_worker()
    return int(response.json()["id"])


def event(loop: Loop, event_id: int, user: str = "centre") -> dict[str, Any]:
    """Read an event as a user."""
    response = loop.client.get(f"/api/events/{event_id}", headers=loop.token(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assignment(detail: dict[str, Any], role: str) -> dict[str, Any]:
    """Return the live assignment of a role."""
    live = [a for a in detail["assignments"] if a["role"] == role and a["status"] != "cancelled"]
    assert len(live) == 1, detail["assignments"]
    return live[0]


def act(loop: Loop, user: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST an action as a user and expect it to succeed."""
    response = loop.client.post(f"/api/{path}", json=body or {}, headers=loop.token(user))
    assert response.status_code == 200, f"{path}: {response.text}"
    result: dict[str, Any] = response.json()
    return result


def test_report_to_rating_through_every_step(loop: Loop) -> None:
    event_id = report(loop)
    detail = event(loop, event_id, "grid")
    assert detail["status"] == "dispatched"
    assert detail["township_code"] == XINSHI and detail["matter_code"] == "C-004"
    lead, co = assignment(detail, "lead"), assignment(detail, "co")
    assert "执法中队" in lead["department_name"]
    assert lead["on_behalf_of_name"] == "县综合行政执法局"
    assert assignment(detail, "territorial")["department_name"].startswith("新市镇")

    assert act(loop, "zhifa", f"assignments/{lead['id']}/sign")["status"] == "in_progress"
    act(loop, "shichang", f"assignments/{co['id']}/sign")
    act(loop, "zhifa", f"assignments/{lead['id']}/feedback", {"note": "已劝离摊贩，清理现场"})
    handled = act(loop, "shichang", f"assignments/{co['id']}/feedback", {"note": "已登记摊贩信息"})
    assert handled["status"] == "in_progress"  # the township's own part is still open
    territorial = assignment(handled, "territorial")
    act(loop, "township", f"assignments/{territorial['id']}/sign")
    done = act(
        loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "已劝导并加强巡查"}
    )
    assert done["status"] == "resolved"

    failed = act(
        loop,
        "township",
        f"events/{event_id}/verify",
        {"passed": False, "note": "复查时摊贩又回来了"},
    )
    assert failed["status"] == "in_progress" and failed["rework_count"] == 1
    assert assignment(failed, "lead")["status"] == "signed"

    act(loop, "zhifa", f"assignments/{lead['id']}/feedback", {"note": "设置隔离带，每日巡查"})
    act(loop, "shichang", f"assignments/{co['id']}/feedback", {"note": "引导入市经营"})
    act(loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "每日巡查"})
    assert act(loop, "township", f"events/{event_id}/verify", {"passed": True})["status"] == (
        "verified"
    )
    assert act(loop, "township", f"events/{event_id}/close")["status"] == "closed"
    rated = act(loop, "centre", f"events/{event_id}/rate", {"rating": 5})
    assert rated["status"] == "rated" and rated["rating"] == 5

    actions = [s["action"] for s in rated["steps"]]
    assert actions[:2] == ["report", "route"]
    for expected in ("sign", "feed_back", "verify_fail", "rework", "verify_pass", "close"):
        assert expected in actions, actions
    assert actions[-1] == "rate_satisfied"
    assert all(s["actor"] for s in rated["steps"])


def test_a_return_is_redispatched_and_another_refused(loop: Loop) -> None:
    event_id = report(loop, matter_code="C-005", description="路边堆了一大堆建材和杂物")
    lead = assignment(event(loop, event_id), "lead")
    returned = act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "堆放物为市场经营户货物", "clause_code": "B-009", "clause_note": "农贸市场"},
    )
    assert assignment(returned, "lead")["status"] == "returned"
    with Session(loop.engine) as session:
        market = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    moved = act(
        loop,
        "centre",
        f"assignments/{lead['id']}/redispatch",
        {"department_id": market.id, "reason": "经研判属市场监管"},
    )
    fresh = assignment(moved, "lead")
    assert fresh["department_name"] == "县市场监督管理局" and fresh["round"] == 2
    act(loop, "shichang", f"assignments/{fresh['id']}/sign")

    other = report(loop, matter_code="C-005", description="小区门口乱堆装修垃圾")
    other_lead = assignment(event(loop, other), "lead")
    act(
        loop,
        "zhifa",
        f"assignments/{other_lead['id']}/return",
        {"reason": "不是我们的", "clause_code": "C-005"},
    )
    refused = act(
        loop,
        "centre",
        f"assignments/{other_lead['id']}/refuse-return",
        {"reason": "清单第30行明确由综合执法牵头"},
    )
    assert assignment(refused, "lead")["status"] == "pending"
    assert act(loop, "zhifa", f"assignments/{other_lead['id']}/sign")["status"] == "in_progress"


def test_a_return_picks_its_clause_from_the_list_that_routed_the_event(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    listed = loop.client.get(f"/api/assignments/{lead['id']}/clauses", headers=loop.token("zhifa"))
    assert listed.status_code == 200, listed.text
    clauses = listed.json()
    assert [c["code"] for c in clauses["clauses"] if c["routed"]] == ["C-004"]
    assert {c["code"] for c in clauses["clauses"]} >= {"C-004", "B-009"}
    free_text = loop.client.post(
        f"/api/assignments/{lead['id']}/return",
        json={"reason": "不是我们的", "clause_code": "随便写的"},
        headers=loop.token("zhifa"),
    )
    assert free_text.status_code == 422
    assert free_text.json()["detail"]["field"] == "clause_code"
    assert assignment(event(loop, event_id), "lead")["status"] == "pending"
    returned = act(
        loop,
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "市场内经营", "clause_code": "B-009", "clause_note": "菜场内摊位"},
    )
    cited = assignment(returned, "lead")["return_clause"]
    assert f"清单第{clauses['list_version']}版 第25项" in cited and cited.endswith("菜场内摊位")


def test_the_verifier_closes_a_part_over_http_and_the_event_resolves(loop: Loop) -> None:
    event_id = report(loop)
    detail = event(loop, event_id)
    lead, co = assignment(detail, "lead"), assignment(detail, "co")
    territorial = assignment(detail, "territorial")
    act(loop, "zhifa", f"assignments/{lead['id']}/sign")
    act(loop, "zhifa", f"assignments/{lead['id']}/feedback", {"note": "已劝离"})
    act(loop, "township", f"assignments/{territorial['id']}/sign")
    act(loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "已巡查"})
    refused = loop.client.post(
        f"/api/assignments/{co['id']}/close", json={"reason": "不需要"}, headers=loop.token("zhifa")
    )
    assert refused.status_code == 403
    closed = act(loop, "township", f"assignments/{co['id']}/close", {"reason": "摊贩证照齐全"})
    assert closed["status"] == "resolved"
    assert [a["status"] for a in closed["assignments"] if a["id"] == co["id"]] == ["cancelled"]
    assert any(s["action"] == "close_part" for s in closed["steps"])


def test_triage_by_hand_routes_what_the_job_could_not(loop: Loop) -> None:
    event_id = report(loop, matter_code=None, description="这里有点情况，请来看一下")
    assert event(loop, event_id)["status"] == "needs_triage"
    routed = act(
        loop,
        "centre",
        f"events/{event_id}/triage",
        {"matter_code": "C-005", "note": "电话核实为乱堆放"},
    )
    assert routed["status"] == "dispatched" and routed["matter_code"] == "C-005"
    assert any(s["action"] == "triage_route" for s in routed["steps"])


def test_a_duplicate_report_is_merged_and_its_parts_cancelled(loop: Loop) -> None:
    master = report(loop)
    duplicate = report(loop)
    merged = act(loop, "centre", f"events/{duplicate}/merge", {"into_id": master})
    assert merged["status"] == "merged"
    assert {a["status"] for a in merged["assignments"]} == {"cancelled"}
    assert any(s["action"] == "merged_in" for s in event(loop, master)["steps"])
    again = loop.client.post(
        f"/api/events/{duplicate}/merge", json={"into_id": master}, headers=loop.token("centre")
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("user", "path", "body", "status"),
    [
        ("grid", "assignments/{lead}/sign", None, 403),
        ("township", "assignments/{lead}/sign", None, 403),
        ("shichang", "assignments/{lead}/sign", None, 403),
        ("centre", "assignments/{lead}/sign", None, 403),
        ("zhifa", "events/{event}/verify", {"passed": True}, 403),
        ("grid", "events/{event}/triage", {"matter_code": "C-005"}, 403),
        ("township", "assignments/{lead}/redispatch", {"department_id": 1, "reason": "x"}, 403),
        ("zhifa", "events/{event}/rate", {"rating": 5}, 403),
        ("zhifa", "events/{event}/close", None, 403),
        ("shichang", "events/{event}/invalid", {"reason": "x"}, 403),
        ("township", "events/{event}/merge", {"into_id": 1}, 403),
    ],
)
def test_each_role_is_refused_what_it_must_not_do(
    loop: Loop, user: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    url = "/api/" + path.format(lead=lead["id"], event=event_id)
    response = loop.client.post(url, json=body or {}, headers=loop.token(user))
    assert response.status_code == status, response.text
    assert response.json()["detail"]["message"]


def test_reading_is_scoped_and_signing_in_is_required(loop: Loop) -> None:
    enforcement = report(loop, matter_code="C-005", description="路边堆了一大堆建材")
    market = report(loop, matter_code="B-004", description="新开的小饭店没有营业执照")
    assert loop.client.get(f"/api/events/{market}").status_code == 401

    def listed(user: str) -> set[int]:
        response = loop.client.get("/api/events", params={"limit": 200}, headers=loop.token(user))
        assert response.status_code == 200, response.text
        return {e["id"] for e in response.json()["data"]}

    assert enforcement in listed("zhifa") and market not in listed("zhifa")
    assert market in listed("shichang") and enforcement not in listed("shichang")
    assert {enforcement, market} <= listed("grid")
    refused = loop.client.get(f"/api/events/{market}", headers=loop.token("zhifa"))
    assert refused.status_code == 403


def test_forbidden_transitions_answer_409_naming_the_state(loop: Loop) -> None:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    act(loop, "zhifa", f"assignments/{lead['id']}/sign")
    again = loop.client.post(f"/api/assignments/{lead['id']}/sign", headers=loop.token("zhifa"))
    assert again.status_code == 409
    assert "「处置中」" in again.json()["detail"]["message"]
    assert again.json()["detail"]["status"] == "signed"
    early = loop.client.post(f"/api/events/{event_id}/close", headers=loop.token("township"))
    assert early.status_code == 409 and early.json()["detail"]["status"] == "in_progress"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lon": 116.39, "lat": 39.9}, "lon"),
        ({"lon": 181}, "lon"),
        ({"matter_code": "X-404"}, "matter_code"),
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"description": "   "}, "description"),
        ({"source": "pigeon"}, "source"),
        ({"crs": "utm"}, "crs"),
    ],
)
def test_bad_reports_answer_422_naming_the_field_and_store_nothing(
    loop: Loop, change: dict[str, Any], field: str
) -> None:
    before = _count(loop, Event)
    response = loop.client.post(
        "/api/events", json={**report_body(), **change}, headers=loop.token("grid")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == field
    assert _count(loop, Event) == before


def test_malformed_json_and_oversized_bodies_are_refused(loop: Loop) -> None:
    headers = {**loop.token("grid"), "content-type": "application/json"}
    broken = loop.client.post("/api/events", content=b'{"lon": 119.', headers=headers)
    assert broken.status_code == 422
    huge = loop.client.post("/api/events", content=b"x" * (11 * 1024 * 1024), headers=headers)
    assert huge.status_code == 413
    assert huge.json()["detail"]["code"] == "too_large"
    assert "上限" in huge.json()["detail"]["message"]


def test_attachments_accept_photos_and_refuse_the_rest(loop: Loop) -> None:
    event_id = report(loop)
    headers = loop.token("grid")
    png = image_bytes("PNG")
    stored = loop.client.post(
        f"/api/events/{event_id}/attachments", files={"file": ("现场.png", png)}, headers=headers
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["content_type"] == "image/png"
    assert (loop.settings.data_dir / "attachments" / str(event_id)).is_dir()
    text = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("photo.jpg", b"#!/bin/sh\nrm -rf /", "image/jpeg")},
        headers=headers,
    )
    assert text.status_code == 422 and text.json()["detail"]["field"] == "file"
    big = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024))},
        headers=headers,
    )
    assert big.status_code == 413
    photo_id = stored.json()["id"]
    detail = event(loop, event_id)
    assert "attach" in [step["action"] for step in detail["steps"]]
    listed = detail["attachments"]
    assert [(a["id"], a["file_name"]) for a in listed] == [(photo_id, "现场.png")]
    fetched = loop.client.get(f"/api/attachments/{photo_id}", headers=headers)
    assert fetched.status_code == 200 and fetched.content == png
    assert fetched.headers["content-type"] == "image/png"
    elsewhere = loop.client.get(f"/api/attachments/{photo_id}", headers=loop.token("shichang"))
    assert elsewhere.status_code in (200, 403)  # 200 only if 市场监管 has a part in the event
    assert loop.client.get(f"/api/attachments/{photo_id}").status_code == 401
    assert loop.client.get("/api/attachments/999999", headers=headers).status_code == 404


def test_the_same_client_id_posted_at_once_is_one_event(loop: Loop) -> None:
    body = report_body()
    headers = loop.token("grid")
    barrier = threading.Barrier(6)
    with LiveServer(loop.settings) as server:

        def post(_: int) -> tuple[int, int]:
            with server.client() as client:
                barrier.wait()
                response = client.post("/api/events", json=body, headers=headers)
                return response.status_code, int(response.json()["id"])

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(post, range(6)))
    assert sorted(code for code, _ in results) == [200, 200, 200, 200, 200, 201]
    assert len({event_id for _, event_id in results}) == 1
    assert _count(loop, Event, Event.client_id == body["client_id"]) == 1


def test_intake_survives_redis_being_down(
    loop: Loop, loop_database_url: str, tmp_path: Path
) -> None:
    own = RedisServer(tmp_path)
    own.start()
    settings = Settings(
        DATABASE_URL=loop_database_url, REDIS_URL=own.url, data_dir=tmp_path, demo=True
    )
    try:
        own.stop()
        with LiveServer(settings) as server, server.client() as client:
            response = client.post("/api/events", json=report_body(), headers=loop.token("grid"))
        assert response.status_code == 201, response.text
        event_id = int(response.json()["id"])
        own.start()
        with Session(loop.engine) as session:
            stored = session.get(Event, event_id)
            assert stored is not None and stored.status == "reported"
            stored.received_at = stored.received_at.replace(year=2025)  # past the grace period
            session.add(stored)
            session.commit()
        assert sweep(loop.engine, connect(own.url)) >= 1
        run_burst_worker(own.url)
        assert event(loop, event_id)["status"] == "dispatched"
        assert _count(loop, Assignment, Assignment.event_id == event_id) == 3
    finally:
        own.stop()


def _count(loop: Loop, model: type, *where: Any) -> int:
    with Session(loop.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def test_a_grid_worker_lists_what_they_reported_in_a_neighbouring_township(loop: Loop) -> None:
    lon, lat = demo_grid_point("320999006")  # 沙河镇, next to the grid worker's 新市镇
    created = loop.client.post(
        "/api/events",
        json={**report_body(), "lon": lon, "lat": lat, "address": "沙河镇"},
        headers=loop.token("grid"),
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    at_home = report(loop)
    listed = loop.client.get("/api/events", params={"limit": 200}, headers=loop.token("grid"))
    ids = {e["id"] for e in listed.json()["data"]}
    assert {event_id, at_home} <= ids
    # The township's operator sees their own township's events, not the neighbour's.
    township = loop.client.get("/api/events", params={"limit": 200}, headers=loop.token("township"))
    township_ids = {e["id"] for e in township.json()["data"]}
    assert at_home in township_ids and event_id not in township_ids
