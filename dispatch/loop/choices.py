"""Where a returned part may go: the departments grouped by kind, the list's lead first."""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel, select

from dispatch.core.errors import NotFound
from dispatch.events.models import Assignment
from dispatch.events.scopes import event_scope
from dispatch.events.service import get_event
from dispatch.reference.departments import department_list
from dispatch.reference.models import KIND_LABELS, DepartmentKind, Matter
from dispatch.reference.schemas import DepartmentPublic
from dispatch.users.policy import Action, Actor, authorize


class DepartmentGroup(SQLModel):
    """The departments of one kind, with the kind's Chinese name."""

    kind: DepartmentKind
    label: str
    departments: list[DepartmentPublic]


class RedispatchOptions(SQLModel):
    """The picker of a re-dispatch: the list's lead for the event's matter, then every group."""

    assignment_id: int
    lead: DepartmentPublic | None = Field(
        description="事件所依清单版本中该事项的牵头部门；无事项或无牵头部门时为 null"
    )
    groups: list[DepartmentGroup]


def redispatch_options(session: Session, actor: Actor, assignment_id: int) -> RedispatchOptions:
    """Return the departments a part may be re-dispatched to (not its holder), for the picker."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(f"任务 {assignment_id} 不存在", field="assignment_id")
    event = get_event(session, assignment.event_id)
    authorize(actor, Action.REDISPATCH, event=event_scope(session, event))
    lead_id: int | None = None
    if event.matter_code and event.matter_list_id is not None:
        lead_id = session.exec(
            select(Matter.lead_department_id).where(
                Matter.list_id == event.matter_list_id, Matter.code == event.matter_code
            )
        ).first()
    candidates = [
        d
        for d in department_list(session)
        if d.id != assignment.department_id
        and (
            d.kind is not DepartmentKind.TOWNSHIP_PLATFORM or d.township_code == event.township_code
        )
    ]
    lead = next((d for d in candidates if d.id == lead_id), None)
    groups = [
        DepartmentGroup(
            kind=kind,
            label=label,
            departments=[d for d in candidates if d.kind is kind and d.id != lead_id],
        )
        for kind, label in KIND_LABELS.items()
    ]
    return RedispatchOptions(
        assignment_id=assignment_id, lead=lead, groups=[g for g in groups if g.departments]
    )
