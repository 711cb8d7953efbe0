"""Bulk inserts: rows stored as given, and objects that say what was stored."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from dispatch.core.bulk import insert_many, insert_rows
from dispatch.core.clock import utcnow
from dispatch.events.intake import report_event
from dispatch.events.models import Step
from dispatch.routing.router import Router
from tests.helpers import new_report


def test_rows_inserted_without_a_read_back_are_stored_as_given_under_the_ids_returned(
    demo_session: Session, demo_router: Router
) -> None:
    event = report_event(demo_session, demo_router, new_report()).event
    at = utcnow()
    rows = [
        {
            "event_id": event.id,
            "assignment_id": None,
            "at": at + timedelta(seconds=n),
            "action": "comment",
            "actor_id": None,
            "actor": "系统",
            "from_org": None,
            "to_org": "某部门" if n else None,
            "from_status": None,
            "to_status": None,
            "reason": f"第{n}条",
            "data": {"n": n, "words": ["甲", "乙"]} if n % 2 else None,
        }
        for n in range(5)
    ]
    ids = insert_rows(demo_session, Step, rows)
    assert len(set(ids)) == 5 and all(ids)
    stored = {
        s.id: s.model_dump() for s in demo_session.exec(select(Step).where(col(Step.id).in_(ids)))
    }
    assert [stored[i] for i in ids] == [{**row, "id": i} for i, row in zip(ids, rows, strict=True)]


def test_many_rows_come_back_as_the_sessions_objects_in_the_order_given(
    demo_session: Session, demo_router: Router
) -> None:
    event = report_event(demo_session, demo_router, new_report()).event
    rows = [
        {
            "event_id": event.id,
            "at": utcnow(),
            "action": "comment",
            "reason": reason,
            "data": None,
        }
        for reason in ("丙", "甲", "乙")
    ]
    made = insert_many(demo_session, Step, rows)
    assert [s.reason for s in made] == ["丙", "甲", "乙"]
    assert all(s in demo_session for s in made)
