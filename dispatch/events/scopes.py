"""An event and an assignment as the permission rules see them."""

from __future__ import annotations

from sqlmodel import Session, select

from dispatch.events.models import Assignment, Event
from dispatch.reference.jurisdictions import jurisdiction_name
from dispatch.reference.models import Department, DepartmentKind
from dispatch.users.policy import AssignmentScope, EventScope


def event_scope(session: Session, event: Event) -> EventScope:
    """Describe an event for the rules: its township and every department given a part in it."""
    departments = session.exec(
        select(Assignment.department_id).where(Assignment.event_id == event.id).distinct()
    ).all()
    return EventScope(
        township_code=event.township_code,
        department_ids_with_assignments=frozenset(departments),
        township_name=jurisdiction_name(session, event.township_code),
        reporter_id=event.reporter_id,
    )


def assignment_scope(session: Session, assignment: Assignment, event: Event) -> AssignmentScope:
    """Describe an assignment for the rules, marking a township platform's own work."""
    department = session.get(Department, assignment.department_id)
    platform_township = (
        department.township_code
        if department is not None and department.kind == DepartmentKind.TOWNSHIP_PLATFORM
        else None
    )
    return AssignmentScope(
        department_id=assignment.department_id,
        township_code=event.township_code,
        role=assignment.role,
        department_name=department.name if department is not None else None,
        platform_township_code=platform_township,
    )
