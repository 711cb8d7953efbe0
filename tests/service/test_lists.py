"""List change requests over HTTP: applying, the staffing office's review, the draft, publishing.

The tests of this module share one committed demo county and run in order: the first
accepted request makes the draft of version 3, later ones fold into it, and publishing it
makes it the version new events are routed by.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from dispatch.core.clock import local_date, utcnow
from dispatch.events.models import Assignment, Event
from dispatch.reference.models import Department
from dispatch.routing.cache import CHECK_EVERY_S
from tests.loop_fixtures import Loop
from tests.service.test_loop import assignment, event, report

COUNTY = "320999"
# 占道经营: lead 县综合行政执法局 (its unit 执法中队 in 新市镇), co 县市场监督管理局
MATTER = "C-004"


def departments(loop: Loop) -> dict[str, int]:
    answer = loop.client.get("/api/departments")
    assert answer.status_code == 200
    return {d["name"]: d["id"] for d in answer.json()}


def in_force(loop: Loop, user: str = "centre") -> dict[str, Any]:
    versions = loop.client.get("/api/lists", headers=loop.token(user)).json()
    (found,) = [v for v in versions if v["in_force"]]
    return dict(found)


def all_versions(loop: Loop) -> dict[int, dict[str, Any]]:
    versions = loop.client.get("/api/lists", headers=loop.token("centre")).json()
    return {v["id"]: v for v in versions}


def matter(loop: Loop, list_id: int, code: str = MATTER) -> dict[str, Any]:
    detail = loop.client.get(f"/api/lists/{list_id}", headers=loop.token("centre")).json()
    (found,) = [m for m in detail["matters"] if m["code"] == code]
    return dict(found)


def apply(loop: Loop, user: str, **body: Any) -> Any:
    return loop.client.post(
        "/api/list-changes",
        json={"matter_code": MATTER, "reasons": "多次退回，职责不清", **body},
        headers=loop.token(user),
    )


def post(loop: Loop, user: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return loop.client.post(f"/api/{path}", json=body or {}, headers=loop.token(user))


def routed_by(loop: Loop, event_id: int) -> int | None:
    """Return the list version that routed an event."""
    with Session(loop.engine) as session:
        stored = session.get(Event, event_id)
        assert stored is not None
        return stored.matter_list_id


def lead_department(loop: Loop, event_id: int) -> tuple[int, int | None]:
    """Return the lead part's department and that department's parent."""
    with Session(loop.engine) as session:
        part = session.exec(
            select(Assignment).where(Assignment.event_id == event_id, Assignment.role == "lead")
        ).first()
        assert part is not None
        department = session.get(Department, part.department_id)
        assert department is not None and department.id is not None
        return department.id, department.parent_id


def test_a_written_application_is_checked_and_only_proposers_may_file(loop: Loop) -> None:
    names = departments(loop)
    refused = apply(loop, "grid", kind="add_keywords", keywords=["摊点"])
    assert refused.status_code == 403, refused.text
    no_reason = apply(loop, "zhifa", kind="add_keywords", keywords=["摊点"], reasons="")
    assert no_reason.status_code == 422 and no_reason.json()["detail"]["field"] == "reasons"
    same_lead = apply(loop, "zhifa", kind="move_lead", lead_department_id=names["县综合行政执法局"])
    assert same_lead.status_code == 422, same_lead.text
    assert same_lead.json()["detail"]["field"] == "lead_department_id"
    bad_kind = apply(loop, "zhifa", kind="swap", keywords=["摊点"])
    assert bad_kind.status_code == 422 and bad_kind.json()["detail"]["field"] == "kind"

    filed = apply(loop, "zhifa", kind="add_keywords", keywords=["摊点"], basis="三定方案")
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["status"] == "pending" and body["source"] == "written"
    assert body["applicant"] == "县综合行政执法局"
    assert body["matter"]["code"] == MATTER and body["matter"]["lead_name"] == "县综合行政执法局"
    assert "摊点" in body["summary"]

    own = loop.client.get("/api/list-changes", headers=loop.token("zhifa")).json()
    assert body["id"] in [c["id"] for c in own]
    everyone = loop.client.get(
        "/api/list-changes?status=pending", headers=loop.token("bianban")
    ).json()
    assert body["id"] in [c["id"] for c in everyone]
    township = loop.client.get("/api/list-changes", headers=loop.token("township")).json()
    assert body["id"] not in [c["id"] for c in township]
    hidden = loop.client.get(f"/api/list-changes/{body['id']}", headers=loop.token("township"))
    assert hidden.status_code == 403
    grid = loop.client.get("/api/list-changes", headers=loop.token("grid"))
    assert grid.status_code == 403


def test_review_folds_changes_into_one_draft_and_publishing_routes_new_events_by_it(
    loop: Loop,
) -> None:
    names = departments(loop)
    before = in_force(loop)
    old_entry = matter(loop, before["id"])
    assert old_entry["lead_name"] == "县综合行政执法局"
    earlier = report(loop)  # routed by the version in force now
    assert routed_by(loop, earlier) == before["id"]
    earlier_lead = lead_department(loop, earlier)

    # A department asks to move the lead; the centre may not review, the staffing office may.
    new_lead = names["县市场监督管理局"]
    move = apply(loop, "zhifa", kind="move_lead", lead_department_id=new_lead)
    assert move.status_code == 201, move.text
    move_id = move.json()["id"]
    assert post(loop, "centre", f"list-changes/{move_id}/accept").status_code == 403
    accepted = post(loop, "bianban", f"list-changes/{move_id}/accept", {"note": "同意"})
    assert accepted.status_code == 200, accepted.text
    draft_id = accepted.json()["draft_list_id"]
    assert accepted.json()["status"] == "accepted" and draft_id is not None
    again = post(loop, "bianban", f"list-changes/{move_id}/accept")
    assert again.status_code == 409 and "已采纳" in again.json()["detail"]["message"]
    versions = all_versions(loop)
    draft = versions[draft_id]
    assert draft["status"] == "draft" and draft["version"] == before["version"] + 1
    assert draft["matter_count"] == before["matter_count"] and draft["change_count"] == 1
    assert matter(loop, draft_id)["lead_name"] == "县市场监督管理局"
    assert "县市场监督管理局" not in matter(loop, draft_id)["co_names"]
    assert matter(loop, before["id"])["lead_name"] == "县综合行政执法局"  # in force: unchanged

    # A township's request folds into the same draft; a stale one is refused, one rejected.
    words = apply(loop, "township", kind="add_keywords", keywords=["早市"])
    assert words.status_code == 201, words.text
    folded = post(loop, "bianban", f"list-changes/{words.json()['id']}/accept")
    assert folded.status_code == 200 and folded.json()["draft_list_id"] == draft_id
    stale = apply(loop, "shichang", kind="move_lead", lead_department_id=new_lead)
    assert stale.status_code == 201, stale.text  # still applies to the list in force
    refused = post(loop, "bianban", f"list-changes/{stale.json()['id']}/accept")
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"]["code"] == "change_stale"
    assert "已不适用" in refused.json()["detail"]["message"]
    no_note = post(loop, "bianban", f"list-changes/{stale.json()['id']}/reject", {"note": ""})
    assert no_note.status_code == 422 and no_note.json()["detail"]["field"] == "note"
    rejected = post(
        loop, "bianban", f"list-changes/{stale.json()['id']}/reject", {"note": "已由另一申请调整"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    twice = post(loop, "bianban", f"list-changes/{stale.json()['id']}/reject", {"note": "再次"})
    assert twice.status_code == 409 and "未采纳" in twice.json()["detail"]["message"]

    # A new matter is appended with the next row number.
    fresh = apply(
        loop,
        "centre",
        kind="new_matter",
        matter_code="X-101",
        name="共享单车乱停放",
        lead_department_id=names["县综合行政执法局"],
        co_department_ids=[new_lead],
        keywords=["共享单车"],
        township_duties_text="巡查发现并劝阻",
        handle_days=3,
    )
    assert fresh.status_code == 201, fresh.text
    assert post(loop, "bianban", f"list-changes/{fresh.json()['id']}/accept").status_code == 200
    rows = loop.client.get(f"/api/lists/{draft_id}", headers=loop.token("grid")).json()["matters"]
    assert rows[-1]["code"] == "X-101"
    assert rows[-1]["row_number"] == max(m["row_number"] for m in rows[:-1]) + 1
    searched = loop.client.get(f"/api/lists/{draft_id}?q=共享单车", headers=loop.token("grid"))
    assert [m["code"] for m in searched.json()["matters"]] == ["X-101"]

    # The diff: matter by matter, column by column, with the requests folded in.
    diff = loop.client.get(f"/api/lists/{draft_id}/diff", headers=loop.token("bianban")).json()
    assert diff["against"]["id"] == before["id"]
    by_code = {m["code"]: m for m in diff["matters"]}
    assert set(by_code) == {MATTER, "X-101"}
    assert by_code["X-101"]["change"] == "added"
    columns = {c["column"]: c for c in by_code[MATTER]["columns"]}
    assert by_code[MATTER]["change"] == "changed"
    assert columns["lead"]["old"] == "县综合行政执法局"
    assert columns["lead"]["new"] == "县市场监督管理局"
    assert columns["keywords"]["new"].endswith("、早市")
    assert "县市场监督管理局" in columns["co"]["old"]
    assert set(columns) == {"lead", "co", "keywords"}
    assert sorted(c["id"] for c in diff["changes"]) == sorted(
        [move_id, words.json()["id"], fresh.json()["id"]]
    )

    # Publishing: only the staffing office, only a draft; it supersedes the version in force.
    today = local_date(utcnow()).isoformat()
    centre = post(loop, "centre", f"lists/{draft_id}/publish", {"effective_from": today})
    assert centre.status_code == 403
    not_draft = post(loop, "bianban", f"lists/{before['id']}/publish", {"effective_from": today})
    assert not_draft.status_code == 409 and "只有草稿" in not_draft.json()["detail"]["message"]
    yesterday = (local_date(utcnow()) - timedelta(days=1)).isoformat()
    past = post(loop, "bianban", f"lists/{draft_id}/publish", {"effective_from": yesterday})
    assert past.status_code == 422 and past.json()["detail"]["field"] == "effective_from"
    published = post(loop, "bianban", f"lists/{draft_id}/publish", {"effective_from": today})
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["in_force"]
    versions = all_versions(loop)
    assert versions[before["id"]]["status"] == "superseded"
    assert in_force(loop)["id"] == draft_id
    done = loop.client.get(f"/api/list-changes/{move_id}", headers=loop.token("zhifa")).json()
    assert done["status"] == "published"
    assert done["matter"]["lead_name"] == "县市场监督管理局"

    # Every process rebuilds its router within CHECK_EVERY_S of the generation moving.
    time.sleep(CHECK_EVERY_S + 0.2)
    later = report(loop)
    later_detail = event(loop, later)
    assert routed_by(loop, later) == draft_id
    lead_id, lead_parent = lead_department(loop, later)
    assert new_lead in (lead_id, lead_parent), assignment(later_detail, "lead")
    # The earlier event keeps the version that routed it, and its lead.
    assert routed_by(loop, earlier) == before["id"]
    assert lead_department(loop, earlier) == earlier_lead
    assert names["县综合行政执法局"] in earlier_lead
