"""Intake and the routing job's work, on the demo county, without HTTP or Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from dispatch.core.clock import utcnow
from dispatch.events.intake import report_event
from dispatch.events.models import Assignment, AssignmentRole, Event, EventStatus
from dispatch.events.read import event_steps
from dispatch.events.schemas import EventCreate
from dispatch.loop.dispatching import route_events
from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.routing.router import Router
from tests.helpers import new_report


@pytest.fixture
def calendar(demo_session: Session) -> WorkCalendar:
    """Return the work calendar of the demo database."""
    return load_calendar(demo_session)


def count(session: Session, model: type, *where: ColumnElement[bool] | bool) -> int:
    """Count rows of a table."""
    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def test_report_is_located_and_waits_for_routing(
    demo_session: Session, demo_router: Router
) -> None:
    intake = report_event(demo_session, demo_router, new_report("320999004"))
    event = intake.event
    assert intake.created
    assert event.status == EventStatus.REPORTED
    assert event.township_code == "320999004"
    assert event.grid_code is not None and event.grid_code.startswith("320999004")
    assert [s.action for s in event_steps(demo_session, event.id or 0)] == ["report"]


def test_the_same_client_id_twice_is_one_event(demo_session: Session, demo_router: Router) -> None:
    report = new_report()
    first = report_event(demo_session, demo_router, report)
    again = report_event(demo_session, demo_router, report)
    assert not again.created
    assert again.event.id == first.event.id
    assert count(demo_session, Event, Event.client_id == str(report.client_id)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lon": 116.39, "lat": 39.9}, "lon"),  # Beijing: outside every jurisdiction
        ({"matter_code": "Z-999"}, "matter_code"),
        ({"reported_at": utcnow() + timedelta(hours=3)}, "reported_at"),
    ],
)
def test_bad_reports_are_refused_naming_the_field_and_nothing_is_written(
    demo_session: Session, demo_router: Router, change: dict[str, object], field: str
) -> None:
    before = count(demo_session, Event)
    report = EventCreate.model_validate({**new_report().model_dump(), **change})
    with pytest.raises(Exception) as caught:
        report_event(demo_session, demo_router, report)
    assert getattr(caught.value, "field", None) == field, caught.value
    assert count(demo_session, Event) == before


def test_routing_dispatches_lead_and_territorial_with_deadlines(
    demo_session: Session, demo_router: Router, calendar: WorkCalendar
) -> None:
    event = report_event(demo_session, demo_router, new_report("320999004")).event
    routed = route_events(demo_session, demo_router, calendar, [event.id or 0])
    assert [r.outcome for r in routed] == [EventStatus.DISPATCHED]
    assert event.status == EventStatus.DISPATCHED
    assert event.matter_code == "C-001"
    roles = sorted(
        demo_session.exec(select(Assignment.role).where(Assignment.event_id == event.id)).all()
    )
    assert roles == ["co", "co", "lead", "territorial"]  # C-001 违法建设 has two cooperators
    assert event.sign_by is not None and event.handle_by is not None
    assert event.received_at < event.sign_by < event.handle_by
    actions = [s.action for s in event_steps(demo_session, event.id or 0)]
    assert actions == ["report", "route", "dispatch", "dispatch", "dispatch", "dispatch"]


def test_routing_twice_creates_nothing_more(
    demo_session: Session, demo_router: Router, calendar: WorkCalendar
) -> None:
    event = report_event(demo_session, demo_router, new_report()).event
    route_events(demo_session, demo_router, calendar, [event.id or 0])
    first = count(demo_session, Assignment, Assignment.event_id == event.id)
    again = route_events(demo_session, demo_router, calendar, [event.id or 0])
    assert again == []
    assert first > 0
    assert count(demo_session, Assignment, Assignment.event_id == event.id) == first


def test_the_database_refuses_a_second_copy_of_an_assignment(
    demo_session: Session, demo_router: Router, calendar: WorkCalendar
) -> None:
    event = report_event(demo_session, demo_router, new_report()).event
    route_events(demo_session, demo_router, calendar, [event.id or 0])
    lead = demo_session.exec(
        select(Assignment).where(Assignment.event_id == event.id, Assignment.role == "lead")
    ).one()
    copy = Assignment(
        event_id=lead.event_id, department_id=lead.department_id, role=AssignmentRole.LEAD
    )
    with pytest.raises(IntegrityError), demo_session.begin_nested():
        demo_session.add(copy)
        demo_session.flush()


def test_what_was_done_on_the_spot_is_in_the_timeline(
    demo_session: Session, demo_router: Router
) -> None:
    report = new_report(matter_code="C-004", handled_on_site=True, on_site_note="  已劝离摊贩  ")
    event = report_event(demo_session, demo_router, report).event
    reasons = {s.action: s.reason for s in event_steps(demo_session, event.id or 0)}
    assert reasons["handle_on_site"] == "即报即办: 现场已处置，待核查。处置情况：已劝离摊贩"


def test_a_note_without_handling_on_the_spot_is_not_recorded(
    demo_session: Session, demo_router: Router
) -> None:
    report = new_report(matter_code="C-004", on_site_note="已劝离")
    event = report_event(demo_session, demo_router, report).event
    steps = event_steps(demo_session, event.id or 0)
    assert [s.action for s in steps] == ["report"]
    assert all("已劝离" not in (s.reason or "") for s in steps)


def test_a_vague_description_needs_triage_with_reasons(
    demo_session: Session, demo_router: Router, calendar: WorkCalendar
) -> None:
    report = new_report(matter_code=None, description="这里有点情况，请来看一下")
    event = report_event(demo_session, demo_router, report).event
    route_events(demo_session, demo_router, calendar, [event.id or 0])
    assert event.status == EventStatus.NEEDS_TRIAGE
    assert event.routing is not None and event.routing["triage_reasons"]
    assert count(demo_session, Assignment, Assignment.event_id == event.id) == 0


def test_handled_on_site_goes_straight_to_verification(
    demo_session: Session, demo_router: Router
) -> None:
    report = new_report(matter_code="C-004", handled_on_site=True)
    event = report_event(demo_session, demo_router, report).event
    assert event.status == EventStatus.RESOLVED
    ids = demo_session.exec(
        select(Event.id).where(col(Event.status) == EventStatus.REPORTED, Event.id == event.id)
    ).all()
    assert ids == []
