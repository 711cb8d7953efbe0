"""What every loop action on an assignment shares: loading it, moving it, naming it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.errors import InvalidInput, NotFound
from dispatch.events.lifecycle import (
    LIVE_PARTS,
    AssignmentAction,
    next_assignment_status,
)
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event
from dispatch.events.service import lock_event
from dispatch.events.steps import add_step
from dispatch.reference.models import Department
from dispatch.users.models import User

COMMAND_CENTRE = "县社会治理中心"
# Lead and cooperating parts must all be fed back before the township verifies.
HANDLING_ROLES = (AssignmentRole.LEAD, AssignmentRole.CO)


def lock_assignment(session: Session, assignment_id: int) -> tuple[Assignment, Event]:
    """Return an assignment and its event, both read afresh and locked, or raise NotFound.

    The event is locked first, then the part: every transition takes its locks in that
    order, so two actions on parts of one event queue up instead of deadlocking, and the
    checks that span parts (every handler fed back) see what the other committed.
    """
    found = session.get(Assignment, assignment_id)
    if found is None:
        raise NotFound(f"任务 {assignment_id} 不存在", field="assignment_id")
    event = lock_event(session, found.event_id)
    assignment = session.exec(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return assignment, event


def required_text(text: str | None, field: str, label: str) -> str:
    if text is None or not text.strip():
        raise InvalidInput(f"「{label}」为必填项", field=field, code="field_required")
    return text.strip()


def department_name(session: Session, department_id: int) -> str:
    department = session.get(Department, department_id)
    return department.name if department else str(department_id)


def move_assignment(
    session: Session,
    event: Event,
    assignment: Assignment,
    action: AssignmentAction,
    *,
    user: User | None,
    now: datetime,
    reason: str | None = None,
    from_org: str | None = None,
    to_org: str | None = None,
    data: dict[str, object] | None = None,
) -> None:
    before = assignment.status
    assignment.status = next_assignment_status(before, action)
    session.add(assignment)
    add_step(
        session,
        event,
        action=action.value,
        actor=user,
        assignment=assignment,
        from_org=from_org,
        to_org=to_org,
        from_status=before,
        to_status=assignment.status,
        reason=reason,
        data=data,
        at=now,
    )


def live_handlers(session: Session, event: Event) -> list[Assignment]:
    return list(
        session.exec(
            select(Assignment).where(
                Assignment.event_id == event.id,
                col(Assignment.role).in_(HANDLING_ROLES),
                col(Assignment.status).in_(LIVE_PARTS),
            )
        )
    )


def all_handlers_fed_back(session: Session, event: Event) -> bool:
    handlers = live_handlers(session, event)
    return bool(handlers) and all(a.status == AssignmentStatus.FED_BACK for a in handlers)
