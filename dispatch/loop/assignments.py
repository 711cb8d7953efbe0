"""A department's part of the loop: sign, return, feed back; the centre's refuse and re-dispatch.

Each function checks permission, applies one transition from dispatch.events.lifecycle
and appends a step; none commits (the request does). A forbidden transition raises
Conflict naming the current state; a missing reason raises InvalidInput naming the
field."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.disputes.opening import after_return
from dispatch.events.lifecycle import (
    OPEN_PARTS,
    AssignmentAction,
    EventAction,
)
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Escalation,
    Event,
    EventStatus,
)
from dispatch.events.scopes import assignment_scope, event_scope
from dispatch.events.steps import add_step, move_event
from dispatch.loop.clauses import cite
from dispatch.loop.parts import (
    COMMAND_CENTRE,
    department_name,
    lock_assignment,
    move_assignment,
    new_round,
    required_text,
    resolve_if_done,
)
from dispatch.reference.models import Department, DepartmentKind
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize


def _authorize_assignment(
    session: Session, actor: Actor, action: Action, assignment: Assignment, event: Event
) -> None:
    authorize(actor, action, assignment=assignment_scope(session, assignment, event))


def sign(
    session: Session, actor: Actor, user: User, assignment_id: int, *, now: datetime | None = None
) -> Assignment:
    """Sign for an assignment (签收); the lead's signature puts the event in progress."""
    now = now or utcnow()
    assignment, event = lock_assignment(session, assignment_id)
    _authorize_assignment(session, actor, Action.SIGN, assignment, event)
    name = department_name(session, assignment.department_id)
    move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.SIGN,
        user=user,
        now=now,
        from_org=name,
        reason=f"{name} 签收",
    )
    assignment.signed_at = now
    _record_escalation_response(session, assignment, now)
    if assignment.role == AssignmentRole.LEAD and event.status in (
        EventStatus.DISPATCHED,
        EventStatus.REOPENED,
    ):
        move_event(
            session,
            event,
            EventAction.LEAD_SIGN,
            actor=user,
            at=now,
            reason=f"牵头单位 {name} 已签收",
        )
    return assignment


def _record_escalation_response(session: Session, assignment: Assignment, now: datetime) -> None:
    """Note when the county department an escalation (乡呼县应) was handed to signed, once."""
    for escalation in session.exec(
        select(Escalation)
        .where(
            Escalation.response_assignment_id == assignment.id,
            col(Escalation.responded_at).is_(None),
        )
        .with_for_update()
    ).all():
        escalation.responded_at = now
        session.add(escalation)


def return_assignment(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    reason: str | None,
    clause_code: str | None,
    clause_note: str | None = None,
    now: datetime | None = None,
) -> Assignment:
    """Return an assignment as "not ours" (退回), citing a row of the list that routed it."""
    now = now or utcnow()
    reason = required_text(reason, "reason", "退回理由")
    clause_code = required_text(clause_code, "clause_code", "所依据的清单条款")
    note = clause_note.strip() if clause_note and clause_note.strip() else None
    assignment, event = lock_assignment(session, assignment_id)
    _authorize_assignment(session, actor, Action.RETURN_ASSIGNMENT, assignment, event)
    citation, particulars = cite(session, event, clause_code, note)
    name = department_name(session, assignment.department_id)
    move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.RETURN,
        user=user,
        now=now,
        from_org=name,
        to_org=COMMAND_CENTRE,
        reason=reason,
        data={"clause": citation, "cited": particulars},
    )
    assignment.return_reason, assignment.return_clause = reason, citation
    after_return(session, event, user=user, now=now)
    return assignment


def feed_back(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    note: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Report back on handled work (反馈); when every part has, the event awaits verification."""
    now = now or utcnow()
    note = required_text(note, "note", "反馈内容")
    assignment, event = lock_assignment(session, assignment_id)
    _authorize_assignment(session, actor, Action.FEED_BACK, assignment, event)
    name = department_name(session, assignment.department_id)
    move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.FEED_BACK,
        user=user,
        now=now,
        from_org=name,
        reason=note,
    )
    assignment.feedback, assignment.fed_back_at = note, now
    resolve_if_done(session, event, user, now)
    return assignment


def refuse_return(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Refuse a department's return: the assignment goes back to it, pending again."""
    now = now or utcnow()
    reason = required_text(reason, "reason", "不予退回的理由")
    assignment, event = lock_assignment(session, assignment_id)
    authorize(actor, Action.REFUSE_RETURN, event=event_scope(session, event))
    name = department_name(session, assignment.department_id)
    move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.REFUSE_RETURN,
        user=user,
        now=now,
        from_org=COMMAND_CENTRE,
        to_org=name,
        reason=reason,
    )
    return assignment


def agency_of(department: Department) -> int:
    """Return the county department a stationed unit belongs to, or the department itself."""
    assert department.id is not None
    if department.kind == DepartmentKind.STATIONED_UNIT and department.parent_id is not None:
        return department.parent_id
    return department.id


def other_parts(session: Session, moving: Assignment) -> list[tuple[Assignment, Department]]:
    """Return the event's other parts that still count (open or fed back), with their holders."""
    return [
        (part, holder)
        for part, holder in session.exec(
            select(Assignment, Department)
            .join(Department, col(Department.id) == Assignment.department_id)
            .where(
                Assignment.event_id == moving.event_id,
                Assignment.id != moving.id,
                col(Assignment.status).in_((*OPEN_PARTS, AssignmentStatus.FED_BACK)),
            )
            .with_for_update(of=Assignment)
        ).all()
    ]


def agencies_of(parts: list[tuple[Assignment, Department]]) -> set[int]:
    """Return the agencies (county departments, their units folded in) holding these parts."""
    return {agency_of(holder) for _, holder in parts} | {
        part.on_behalf_of_id for part, _ in parts if part.on_behalf_of_id is not None
    }


def same_agency_parts(session: Session, moving: Assignment, target: Department) -> list[Assignment]:
    """Return the event's other parts held by the target's agency or one of its units."""
    agency = agency_of(target)
    return [
        part
        for part, holder in other_parts(session, moving)
        if agency_of(holder) == agency or part.on_behalf_of_id == agency
    ]


def redispatch(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    department_id: int,
    reason: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Give a returned assignment to another department, as a new round of the same part."""
    now = now or utcnow()
    reason = required_text(reason, "reason", "改派理由")
    assignment, event = lock_assignment(session, assignment_id)
    authorize(actor, Action.REDISPATCH, event=event_scope(session, event))
    target = session.get(Department, department_id)
    if target is None or target.id is None:
        raise InvalidInput(f"部门 {department_id} 不存在", field="department_id")
    if target.id == assignment.department_id:
        raise InvalidInput("改派对象与原单位相同", field="department_id")
    folded = same_agency_parts(session, assignment, target)
    if folded and assignment.role != AssignmentRole.LEAD:
        holder = department_name(session, folded[0].department_id)
        raise InvalidInput(
            f"{target.name} 已通过 {holder} 承担本事件的任务，不能再承担第二项",
            field="department_id",
        )
    old_name = department_name(session, assignment.department_id)
    move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.REDISPATCH,
        user=user,
        now=now,
        from_org=old_name,
        to_org=target.name,
        reason=reason,
    )
    fresh = new_round(
        session,
        event,
        department=target,
        role=AssignmentRole(assignment.role),
        like=assignment,
        sign_by=assignment.sign_by,
        handle_by=assignment.handle_by,
        now=now,
    )
    assert fresh.id is not None
    for part in folded:
        move_assignment(
            session,
            event,
            part,
            AssignmentAction.CANCEL,
            user=user,
            now=now,
            from_org=department_name(session, part.department_id),
            to_org=target.name,
            reason=f"并入牵头任务：{target.name} 改派为牵头单位，同一单位不重复承担",
        )
    outbox_of(session).hand_off(Handoff.DELIVERY, [fresh.id])
    add_step(
        session,
        event,
        action="dispatch",
        actor=user,
        assignment=fresh,
        from_org=COMMAND_CENTRE,
        to_org=target.name,
        to_status=fresh.status,
        reason=f"改派: {reason}",
        at=now,
    )
    return fresh
