"""Reading an event back with its parts and its timeline."""

from __future__ import annotations

from sqlmodel import Session, col, select

from dispatch.events.models import Assignment, Step
from dispatch.reference.models import Department

# ---- Reading back ------------------------------------------------------------------------


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
