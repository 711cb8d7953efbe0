"""Reading an event back with its parts and its timeline."""

from __future__ import annotations

from sqlmodel import Session, col, select

from dispatch.events.attachments import event_attachments
from dispatch.events.came_back import came_back_by_assignment
from dispatch.events.models import Assignment, Event, Step
from dispatch.events.schemas import AssignmentPublic, AttachmentPublic, EventDetail, StepPublic
from dispatch.reference.models import Department


def event_assignments(session: Session, event_id: int) -> list[tuple[Assignment, str, str | None]]:
    """Return the event's assignments with department and on-behalf-of names."""
    rows = session.exec(
        select(Assignment, Department.name)
        .join(Department, col(Department.id) == col(Assignment.department_id))
        .where(Assignment.event_id == event_id)
        .order_by(col(Assignment.id))
    ).all()
    parents = {
        d.id: d.name
        for d in session.exec(
            select(Department).where(
                col(Department.id).in_([a.on_behalf_of_id for a, _ in rows if a.on_behalf_of_id])
            )
        )
    }
    return [(a, name, parents.get(a.on_behalf_of_id or -1)) for a, name in rows]


def event_steps(session: Session, event_id: int) -> list[Step]:
    """Return the event's timeline, oldest first."""
    return list(
        session.exec(
            select(Step).where(Step.event_id == event_id).order_by(col(Step.at), col(Step.id))
        )
    )


def event_detail(session: Session, event: Event) -> EventDetail:
    """Return the full view of one event: itself, its parts, its timeline and its photos."""
    assert event.id is not None
    back = came_back_by_assignment(session, [event.id])
    assignments = [
        AssignmentPublic.model_validate(
            {
                **a.model_dump(),
                "department_name": name,
                "on_behalf_of_name": parent,
                "came_back": back.get(a.id or -1),
            }
        )
        for a, name, parent in event_assignments(session, event.id)
    ]
    steps = [StepPublic.model_validate(s.model_dump()) for s in event_steps(session, event.id)]
    photos = [
        AttachmentPublic.model_validate(a.model_dump())
        for a in event_attachments(session, event.id)
    ]
    return EventDetail.model_validate(
        {**event.model_dump(), "assignments": assignments, "steps": steps, "attachments": photos}
    )
