"""Where a returned part may go: the departments grouped by kind, the list's lead first."""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel, select

from dispatch.core.errors import NotFound
from dispatch.events.models import Assignment, AssignmentRole
from dispatch.events.scopes import event_scope
from dispatch.events.service import get_event
from dispatch.loop.assignments import agencies_of, agency_of, other_parts
from dispatch.reference.departments import department_list
from dispatch.reference.models import KIND_LABELS, Department, DepartmentKind, Matter
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
    """Return where a part may be re-dispatched, for the picker.

    Not to its holder; a cooperating or territorial part not to an agency (a department with
    its stationed units) already holding another part of the event, which
    `assignments.redispatch` refuses (for the lead it folds that part in instead).
    """
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
    rows = {d.id: d for d in session.exec(select(Department)).all()}
    # A lead may go to an agency already holding another part (redispatch folds that part
    # into the lead); any other part may not.
    taken = (
        set()
        if assignment.role == AssignmentRole.LEAD
        else agencies_of(other_parts(session, assignment))
    )
    here = event.township_code
    candidates = [
        d
        for d in department_list(session)
        if d.id != assignment.department_id
        and agency_of(rows[d.id]) not in taken
        and (d.kind is not DepartmentKind.TOWNSHIP_PLATFORM or d.township_code == here)
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
